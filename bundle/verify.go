package bundle

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sort"
	"sync"

	"github.com/airgap-bundle/bundle/sign"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// Key is the signer's public key. Without it, only AllowUnsigned lets a
	// bundle pass, and its signature is not checked.
	Key           *sign.Verifier
	AllowUnsigned bool
	// Partial accepts a set with volumes missing: those present are checked.
	Partial bool
	// Workers bounds how many volumes are read at once (default: one per core).
	Workers int
	// Progress is called as bytes are checked, never from two goroutines
	// at once.
	Progress func(Progress)
}

// Report is what Verify found.
type Report struct {
	Set      *Set
	Verified []int // volumes whose every byte checked out
	Failed   []int // volumes present but damaged
	Missing  []int
}

// Verify checks the volumes found in paths against their signed index:
// every byte of every volume present, tar headers and padding included.
// Volumes are read in parallel. The error joins every problem found; each
// is typed (CorruptError, MissingVolumesError, ForeignVolumeError,
// DuplicateVolumeError, or wraps ErrUnsigned, ErrWrongKey, ErrBadSignature).
func Verify(ctx context.Context, paths []string, o VerifyOptions) (*Report, error) {
	s, err := OpenSet(ctx, paths)
	if err != nil {
		return nil, err
	}
	r := &Report{Set: s, Missing: s.Missing()}
	if err := s.CheckSignature(o.Key, o.AllowUnsigned); err != nil {
		return r, err
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
	// Volumes are read in parallel; the callback is called from one at a
	// time.
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
	errs := make([]error, len(nums))
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i, n := range nums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.verifyVolume(ctx, n, report)
		}()
	}
	wg.Wait()
	problems := append([]error{}, s.Problems...)
	for i, n := range nums {
		if errs[i] != nil {
			r.Failed = append(r.Failed, n)
			problems = append(problems, errs[i])
		} else {
			r.Verified = append(r.Verified, n)
		}
	}
	if len(r.Missing) > 0 && !o.Partial {
		problems = append(problems, &MissingVolumesError{BundleID: s.Index.BundleID, Total: len(s.Index.Volumes), Missing: r.Missing})
	}
	return r, errors.Join(problems...)
}

func (s *Set) verifyVolume(ctx context.Context, n int, report func(int64)) error {
	f, br, h, err := s.openVolume(n)
	if err != nil {
		return err
	}
	defer f.Close()
	report(s.Index.prefixSize(len(s.IndexBytes)))
	body := newBodyReader(br, h, report)
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, data, ok, err := body.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if _, err := io.CopyBuffer(io.Discard, data, buf); err != nil {
			return err
		}
		if err := body.End(); err != nil {
			return err
		}
	}
	return body.Close()
}
