package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/urfave/cli/v2"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress draws bundle.Progress: a bar on a terminal, a plain line every
// few seconds otherwise, nothing with --quiet.
type progress struct {
	mu      sync.Mutex
	op      string
	quiet   bool
	tty     bool
	p       *mpb.Progress
	bar     *mpb.Bar
	last    time.Time
	stopped bool
}

func newProgress(c *cli.Context, op string) *progress {
	return &progress{op: op, quiet: quiet(c), tty: term.IsTerminal(int(os.Stderr.Fd())), last: time.Now()}
}

func (p *progress) update(u bundle.Progress) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	if p.tty {
		if p.p == nil {
			p.p = mpb.New(mpb.WithOutput(os.Stderr), mpb.WithWidth(40))
			p.bar = p.p.AddBar(u.Total,
				mpb.PrependDecorators(decor.Name(p.op+" "), decor.CountersKibiByte("% .1f / % .1f")),
				mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
		}
		p.bar.SetCurrent(u.Done)
		return
	}
	if time.Since(p.last) >= 5*time.Second {
		p.last = time.Now()
		pct := 0.0
		if u.Total > 0 {
			pct = 100 * float64(u.Done) / float64(u.Total)
		}
		fmt.Fprintf(os.Stderr, "bundle: %s %.0f%% (%s of %s)\n", p.op, pct, bytesize.Format(u.Done), bytesize.Format(u.Total))
	}
}

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if p.p != nil {
		p.bar.Abort(false)
		p.p.Wait()
	}
}
