package bundle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/airgap-bundle/bundle/format"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// Partial accepts a set with volumes missing: those present are checked.
	Partial bool
	// Workers bounds how many goroutines read and hash at once (default:
	// one per core). Volumes are cut into ranges of whole members that are
	// checked in parallel, so even a single volume uses them all.
	Workers int
	// Progress is called as bytes are checked, never from two goroutines
	// at once.
	Progress func(Progress)
}

// Report is what Verify found.
type Report struct {
	Set      *Set
	Verified []int // volumes whose every byte checked out
	Failed   []int // volumes given but damaged (those refused when the set was opened have no header in Set.Volumes: Path gives their file)
	Missing  []int // volumes not given

	damaged map[int]string // of Failed, those refused at open: their files
}

// Verify checks the volumes of the set against its signed index: every
// byte of every volume present, tar headers and padding included. Volumes,
// and ranges of members inside each volume, are read in parallel. The
// error joins every problem found, those met when the set was opened
// included; each is typed (CorruptError, MissingVolumesError,
// ForeignVolumeError, DuplicateVolumeError). Trust must have passed.
func (s *Set) Verify(ctx context.Context, o VerifyOptions) (*Report, error) {
	return s.verify(ctx, o, 0)
}

// verify is Verify with ranges of about chunk bytes (0: chosen from the
// size of the set and the number of workers).
func (s *Set) verify(ctx context.Context, o VerifyOptions, chunk int64) (*Report, error) {
	r := s.UncheckedReport()
	if !s.trusted {
		return r, fmt.Errorf("bundle %s: %w", s.Index.BundleID, ErrNotTrusted)
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var nums []int
	var total int64
	for n, h := range s.Volumes {
		nums = append(nums, n)
		total += h.Size()
	}
	sort.Ints(nums)
	if chunk <= 0 {
		chunk = verifyChunk(total, workers)
	}
	// The callback is called from one goroutine at a time.
	var mu sync.Mutex
	var done int64
	report := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		done += n
		if o.Progress != nil {
			o.Progress(Progress{Op: "verify", Done: done, Total: total})
		}
	}
	errs := s.checkVolumes(ctx, nums, s.volumeSource(ctx), workers, chunk, report)
	problems := append([]error{}, s.Problems...)
	for i, n := range nums {
		if errs[i] != nil {
			r.Failed = append(r.Failed, n)
			problems = append(problems, errs[i])
		} else {
			r.Verified = append(r.Verified, n)
		}
	}
	sort.Ints(r.Failed)
	if len(r.Missing) > 0 && !o.Partial {
		problems = append(problems, &MissingVolumesError{BundleID: s.Index.BundleID, Total: len(s.Index.Volumes), Missing: r.Missing})
	}
	return r, errors.Join(problems...)
}

// UncheckedReport is the report of the set before any byte is checked (no
// volume verified), for a caller whose Trust failed: what is missing and
// what was found damaged when the set was opened, as Verify reports them.
func (s *Set) UncheckedReport() *Report {
	r := &Report{Set: s}
	r.damaged, r.Missing = s.damagedVolumes(s.Missing())
	for n := range r.damaged {
		r.Failed = append(r.Failed, n)
	}
	sort.Ints(r.Failed)
	return r
}

// damagedVolumes splits missing, the volumes the set has no header of,
// into those a file given was refused for (a CorruptError at open naming
// the volume, from its header or, when the header is too damaged to say,
// from its file name): they are there but damaged, and are reported as
// such, with their path, not as missing as well; and the rest.
func (s *Set) damagedVolumes(missing []int) (damaged map[int]string, rest []int) {
	blamed := map[int]string{}
	for _, p := range s.Problems {
		var ce *format.CorruptError
		if !errors.As(p, &ce) || ce.Path == "" {
			continue
		}
		n := ce.Volume
		if n == 0 {
			if name := filepath.Base(ce.Path); format.IsVolumeFileName(name) {
				var total int
				if _, err := fmt.Sscanf(name, "vol-%d-of-%d.tar", &n, &total); err != nil || total != len(s.Index.Volumes) {
					n = 0
				}
			}
		}
		if _, seen := blamed[n]; n > 0 && !seen {
			blamed[n] = ce.Path
		}
	}
	for _, n := range missing {
		if path, ok := blamed[n]; ok {
			if damaged == nil {
				damaged = map[int]string{}
			}
			damaged[n] = path
		} else {
			rest = append(rest, n)
		}
	}
	return damaged, rest
}

// Path is the file of volume n: the one read, or the damaged one given
// for it ("" for a volume not given).
func (r *Report) Path(n int) string {
	if v := r.Set.Volumes[n]; v != nil {
		return v.Path
	}
	return r.damaged[n]
}
