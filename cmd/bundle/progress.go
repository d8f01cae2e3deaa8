package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/urfave/cli/v2"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress draws bundle.Progress: on a terminal a bar with the volume,
// bytes, rate, time left and image; otherwise a plain line every few
// seconds with the same; nothing with --quiet.
type progress struct {
	mu      sync.Mutex
	op      string
	quiet   bool
	tty     bool
	out     io.Writer
	every   time.Duration // between plain lines
	p       *mpb.Progress
	bar     *mpb.Bar
	start   time.Time
	last    time.Time
	cur     bundle.Progress
	volumes int // 0 when not known (pack plans them as it goes)
	stopped bool
	// volume and image are what the bar shows of the volume and the
	// image; the bar's own goroutine reads them, so not under mu (update
	// holds mu while it feeds the bar).
	volume atomic.Pointer[string]
	image  atomic.Pointer[string]
}

// barWidth is the width of the bar itself (mpb.WithWidth).
const barWidth = 30

// maxPlainImage bounds the image name on a plain line: no terminal width
// applies there, but a name from a source or a bundle may be of any length.
const maxPlainImage = 120

// imageText is the image name as shown: escaped, since it comes from a
// source or a bundle (bundle.Printable), and cut in the middle to at most
// width runes, keeping its head (registry, repository) and its tail (tag
// or digest), which tell images apart.
func imageText(name string, width int) string {
	r := []rune(bundle.Printable(name))
	if len(r) <= width {
		return string(r)
	}
	if width < 3 {
		return ""
	}
	head := (width - 1) / 2
	tail := width - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

func newProgress(c *cli.Context, op string) *progress {
	now := time.Now()
	return &progress{op: op, quiet: quiet(c), tty: consoleOf(c).stderrTerminal, out: consoleOf(c).stderr, every: 5 * time.Second, start: now, last: now}
}

// volumeText is "volume n of N" (or "volume n" when N is not known).
func (p *progress) volumeText(u bundle.Progress) string {
	if u.Volume == 0 {
		return ""
	}
	if p.volumes > 0 {
		return fmt.Sprintf("volume %d of %d", u.Volume, p.volumes)
	}
	return fmt.Sprintf("volume %d", u.Volume)
}

// rate and left are the average speed so far and the time the rest takes
// at it.
func (p *progress) rate(u bundle.Progress, now time.Time) (perSecond float64, left time.Duration, ok bool) {
	elapsed := now.Sub(p.start).Seconds()
	if elapsed <= 0 || u.Done <= 0 {
		return 0, 0, false
	}
	perSecond = float64(u.Done) / elapsed
	if u.Total > u.Done {
		left = time.Duration(float64(u.Total-u.Done) / perSecond * float64(time.Second))
	}
	return perSecond, left.Round(time.Second), true
}

// line is the plain progress line.
func (p *progress) line(u bundle.Progress, now time.Time) string {
	pct := 0.0
	if u.Total > 0 {
		pct = 100 * float64(u.Done) / float64(u.Total)
	}
	s := fmt.Sprintf("bundle: %s %.0f%% (%s of %s", p.op, pct, bytesize.Format(u.Done), bytesize.Format(u.Total))
	if v := p.volumeText(u); v != "" {
		s += ", " + v
	}
	if u.Image != "" {
		s += ", image " + imageText(u.Image, maxPlainImage)
	}
	if r, left, ok := p.rate(u, now); ok {
		s += fmt.Sprintf(", %s/s, %s left", bytesize.Format(int64(r)), left)
	}
	return s + ")"
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
	p.cur = u
	if p.tty {
		if p.p == nil {
			p.p = mpb.New(mpb.WithOutput(p.out), mpb.WithWidth(barWidth))
			p.bar = p.p.AddBar(u.Total,
				mpb.PrependDecorators(decor.Name(p.op+" "), decor.Any(func(decor.Statistics) string {
					if v := p.volume.Load(); v != nil && *v != "" {
						return *v + " "
					}
					return ""
				}), decor.CountersKibiByte("% .1f / % .1f")),
				mpb.AppendDecorators(decor.Percentage(), decor.Any(func(st decor.Statistics) string {
					// The rate since the start, and the time left at it:
					// the same numbers as the plain lines.
					r, left, ok := p.rate(bundle.Progress{Done: st.Current, Total: st.Total}, time.Now())
					if !ok {
						return ""
					}
					return fmt.Sprintf(" %s/s %s left", bytesize.Format(int64(r)), left)
				}), decor.Any(func(st decor.Statistics) string {
					// Last, in what the other parts and the bar (and
					// the two spaces around it) leave of the line.
					im := p.image.Load()
					if im == nil || *im == "" {
						return ""
					}
					return " " + imageText(*im, st.AvailableWidth-barWidth-2-1)
				})))
		}
		v := p.volumeText(u)
		p.volume.Store(&v)
		im := u.Image
		p.image.Store(&im)
		p.bar.SetCurrent(u.Done)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintln(p.out, p.line(u, now))
	}
}

// stop ends the bar: complete when all was done (drawn once), else left as
// it stood.
func (p *progress) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	bar, pr, done := p.bar, p.p, p.cur.Total > 0 && p.cur.Done >= p.cur.Total
	p.mu.Unlock()
	if pr == nil {
		return
	}
	if done {
		bar.SetTotal(-1, true)
	} else {
		bar.Abort(false)
	}
	pr.Wait()
}
