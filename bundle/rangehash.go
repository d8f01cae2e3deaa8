package bundle

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
)

// rangeHasher hashes ranges of files just written, on a goroutine of its
// own, and compares the hashes with the digests they must have. Copying a
// blob into a file can then be left to the kernel (copy_file_range) while
// the bytes are hashed on another core, and the bytes hashed are the bytes
// written, not a second read of the source.
//
// Jobs run in the order they are given. A file must stay open until wait
// returns.
type rangeHasher struct {
	jobs chan hashJob
	done chan struct{}

	mu  sync.Mutex
	err error // first failure
}

type hashJob struct {
	f      io.ReaderAt
	name   string // of f, for messages
	off, n int64
	check  *hashCheck    // compare the hash of the ranges since the last check
	idle   chan struct{} // closed once every earlier job is done
	// release, once every earlier job is done, drops this hasher's hold
	// on a file: the last hasher to let it go closes it.
	release *sharedClose
}

// sharedClose closes a file once every hasher reading it back is past it,
// so that the writer goes on to the next volume without waiting for the
// hashers to catch up with the last.
type sharedClose struct {
	c    io.Closer
	name string
	mu   sync.Mutex
	n    int // holders left
}

// done drops one hold; the last closes the file.
func (s *sharedClose) done() error {
	s.mu.Lock()
	s.n--
	last := s.n == 0
	s.mu.Unlock()
	if !last {
		return nil
	}
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.name, err)
	}
	return nil
}

// hashCheck is what the ranges hashed since the last check must hash to.
type hashCheck struct {
	want digest.Digest
	size int64
	// record, when set, receives the digest instead of a comparison with
	// want (a segment digest found while writing); size is still checked.
	record *digest.Digest
	// prefix makes the check look at the bytes since the last check
	// without ending their range: the hash goes on over the ranges added
	// after it, up to the next check. So the digest of the first segment
	// of a split blob is the blob's hash so far (Sum does not change the
	// state), and its bytes are hashed once, not by both hashers.
	prefix bool
	// fail describes a mismatch: got is what the bytes hash to.
	fail func(got digest.Digest, size int64) error
	// done, when set, is closed once the check is made.
	done chan struct{}
}

// rangeHasherDepth bounds how far hashing may trail the copying, in jobs:
// close enough that the bytes are still in the page cache.
const rangeHasherDepth = 4

func newRangeHasher() *rangeHasher {
	r := &rangeHasher{jobs: make(chan hashJob, rangeHasherDepth), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *rangeHasher) run() {
	defer close(r.done)
	h := sha256.New()
	var n int64
	var buf []byte
	for j := range r.jobs {
		switch {
		case j.idle != nil:
			close(j.idle)
		case j.release != nil:
			if err := j.release.done(); err != nil {
				r.fail(err)
			}
		case j.check != nil:
			c := j.check
			got := digest.NewDigest(digest.SHA256, h)
			switch {
			case r.failed() != nil:
			case c.record != nil && n == c.size:
				*c.record = got
			case c.record != nil || got != c.want || n != c.size:
				r.fail(c.fail(got, n))
			}
			if !c.prefix {
				h.Reset()
				n = 0
			}
			if c.done != nil {
				close(c.done)
			}
		default:
			if r.failed() != nil {
				continue
			}
			if buf == nil {
				buf = make([]byte, ioChunk)
			}
			k, err := hashRange(h, j.f, j.off, j.n, buf)
			n += k
			if err != nil {
				r.fail(fmt.Errorf("read back %s: %w", j.name, err))
			}
		}
	}
}

// hashRange hashes n bytes of f from off.
func hashRange(h io.Writer, f io.ReaderAt, off, n int64, buf []byte) (int64, error) {
	var done int64
	for done < n {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), n-done)], off+done)
		h.Write(buf[:k])
		done += int64(k)
		if err == io.EOF && done < n {
			return done, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return done, err
		}
	}
	return done, nil
}

func (r *rangeHasher) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

// failed returns the first failure so far, without waiting.
func (r *rangeHasher) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// add queues n bytes of f from off for hashing.
func (r *rangeHasher) add(f *os.File, off, n int64) { r.addFrom(f, f.Name(), off, n) }

// addFrom is add for any f; name names it in messages.
func (r *rangeHasher) addFrom(f io.ReaderAt, name string, off, n int64) {
	r.jobs <- hashJob{f: f, name: name, off: off, n: n}
}

// expect queues a check of everything added since the last check.
func (r *rangeHasher) expect(c *hashCheck) { r.jobs <- hashJob{check: c} }

// release queues the dropping of this hasher's hold on a file (see
// sharedClose): after every range of it added so far.
func (r *rangeHasher) release(s *sharedClose) { r.jobs <- hashJob{release: s} }

// wait returns once every job so far is done, with the first failure.
func (r *rangeHasher) wait() error {
	idle := make(chan struct{})
	r.jobs <- hashJob{idle: idle}
	<-idle
	return r.failed()
}

// close waits for the jobs and stops the goroutine.
func (r *rangeHasher) close() error {
	close(r.jobs)
	<-r.done
	return r.failed()
}
