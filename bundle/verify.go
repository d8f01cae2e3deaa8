package bundle

import (
	"context"
	"errors"
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
	Failed   []int // volumes present but damaged
	Missing  []int
}

// Verify checks the volumes found in paths against their signed index:
// every byte of every volume present, tar headers and padding included.
// Volumes, and ranges of members inside each volume, are read in parallel.
// The error joins every problem found; each is typed (CorruptError,
// MissingVolumesError, ForeignVolumeError, DuplicateVolumeError, or wraps
// ErrUnsigned, ErrWrongKey, ErrBadSignature).
func Verify(ctx context.Context, paths []string, o VerifyOptions) (*Report, error) {
	return verify(ctx, paths, o, 0)
}

// verify is Verify with ranges of about chunk bytes (0: chosen from the
// size of the set and the number of workers).
func verify(ctx context.Context, paths []string, o VerifyOptions, chunk int64) (*Report, error) {
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
	errs := s.checkVolumes(ctx, nums, s.volumeFile, workers, chunk, report)
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
