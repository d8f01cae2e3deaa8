package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The numbers of a push (RegistryDestination): how many uploads run at
// once, and how much memory reading ahead of them may take.
const (
	// DefaultPushJobs is the number of blob uploads in flight when
	// neither UnpackOptions.Jobs nor RegistryDestinationOptions.Jobs says:
	// enough to hide a registry's per-blob latency (its own hashing, its
	// storage writes, the round trips of an upload) behind the next
	// blobs, few enough not to swamp a small mirror.
	DefaultPushJobs = 4
	// pushBudget bounds the memory of all blobs held at once: the walk
	// stops reading ahead when it is spent, until uploads finish.
	pushBudget = 32 << 20
	// pushAttempts bounds the uploads of one blob; a failed one is
	// replayed (from memory, or read again from the volumes) only when
	// its failure is transient (oci.Transient).
	pushAttempts = 3
	// pushBackoff is the wait before the second attempt, doubled before
	// each next one: long enough for a registry to come back from a
	// hiccup, short enough not to stall a push.
	pushBackoff = 250 * time.Millisecond
)

// pushBufferMax is the largest blob held whole in memory while it waits
// for, and goes through, its upload. A larger blob streams from the volume
// into its upload as it is read and checked. (A variable so that the push
// tests take both ways with a few MiB of blobs, not tens.)
var pushBufferMax int64 = 8 << 20

// BlobPushError is a blob that could not be uploaded into a registry:
// refused, or failing every attempt. It names the blob, the volume it is
// read from, and the repository; Err is the registry's last answer (an
// *oci.AuthError, *oci.PathRefusedError, *oci.UnreachableError ...).
type BlobPushError struct {
	Digest     digest.Digest
	Path       string // the volume the blob starts in
	Volume     int
	Repository string // host/path of the repository
	Attempts   int
	Err        error
}

func (e *BlobPushError) Error() string {
	what := "refused"
	if e.Attempts > 1 {
		what = fmt.Sprintf("failed %d attempts", e.Attempts)
	} else if oci.Transient(e.Err) {
		what = "failed"
	}
	return fmt.Sprintf("blob %s from %s (volume %d): upload into %s %s: %v", e.Digest, e.Path, e.Volume, e.Repository, what, e.Err)
}

func (e *BlobPushError) Unwrap() error { return e.Err }

// blobOrigin is where a blob comes from in the volumes: for messages, and
// to read it again when its upload must be replayed.
type blobOrigin struct {
	path   string
	volume int
	// reread gives the blob's content again, its segments checked against
	// the signed index as they are read (nil: it cannot be read again).
	reread func(ctx context.Context) (io.ReadCloser, error)
}

// replayable is a BlobWriter that can read its blob again from the
// volumes to replay a failed upload.
type replayable interface{ replayFrom(blobOrigin) }

// afterStorer is a BlobWriter whose Commit returns before the blob is
// stored: then runs once it is (mounts into the other repositories that
// need it).
type afterStorer interface {
	afterStored(then func(ctx context.Context) error)
}

// blobWaiter is a destination that can store committed blobs in the
// background. beginBlobs starts doing so, up to jobs at once (0: its
// default), and returns how many; waitBlobs waits for all of them and
// returns the first failure (abort cancels those not done first).
type blobWaiter interface {
	beginBlobs(ctx context.Context, jobs int) int
	waitBlobs(abort bool) error
}

// pushPool runs the blob uploads of one push, up to jobs at once. The
// walk hands it blobs in volume order: a small one once it is read whole
// and checked, a large one as it starts streaming (its last byte held
// back until checked). A failure that is not transient, or the last
// attempt's, stops the push: the walk learns of it at its next blob.
type pushPool struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{} // one per upload in flight
	wg     sync.WaitGroup

	mu      sync.Mutex
	used    int64         // bytes of blobs held in memory
	freed   chan struct{} // closed (and replaced) when memory is given back
	err     error
	backoff time.Duration
}

func newPushPool(ctx context.Context, jobs int) *pushPool {
	ctx, cancel := context.WithCancel(ctx)
	return &pushPool{ctx: ctx, cancel: cancel, slots: make(chan struct{}, jobs), freed: make(chan struct{}), backoff: pushBackoff}
}

// failed is the pool's first failure, or that of its context.
func (p *pushPool) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	return p.ctx.Err()
}

// fail records err as the push's failure, if it is the first, and stops
// the other uploads.
func (p *pushPool) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.cancel()
}

// acquire takes an upload slot, waiting for one.
func (p *pushPool) acquire() error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-p.ctx.Done():
		return p.failed()
	}
}

func (p *pushPool) release() { <-p.slots }

// reserve takes n bytes of the memory budget, waiting until uploads give
// enough back. n is at most pushBufferMax, less than the budget.
func (p *pushPool) reserve(n int64) error {
	for {
		p.mu.Lock()
		if p.used == 0 || p.used+n <= pushBudget {
			p.used += n
			p.mu.Unlock()
			return nil
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-p.ctx.Done():
			return p.failed()
		}
	}
}

func (p *pushPool) unreserve(n int64) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// wait waits for every upload; abort cancels them first, and returns
// only an upload's own failure, if one failed before.
func (p *pushPool) wait(abort bool) error {
	if abort {
		p.cancel()
	}
	p.wg.Wait()
	err := p.failed()
	p.cancel()
	if abort {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
	return err
}

// run finishes a blob's upload in the background, holding the slot the
// caller took: first is the first attempt (under way already, for a
// streamed blob), replayed while its failure is transient.
func (p *pushPool) run(w *pushWriter, first func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.release()
		defer p.unreserve(w.reserved)
		err, attempts := first(), 1
		for ; err != nil && oci.Transient(err) && attempts < pushAttempts && w.canReplay(); attempts++ {
			select {
			case <-time.After(p.backoff << (attempts - 1)):
			case <-p.ctx.Done():
				return // the push failed elsewhere, or was cancelled
			}
			err = w.replay(p.ctx)
		}
		if err == nil && w.then != nil {
			err = w.then(p.ctx)
		}
		if err != nil {
			if p.ctx.Err() != nil {
				return // cancelled: the first failure is what counts
			}
			p.fail(w.failure(err, attempts))
		}
	}()
}

// pushWriter is a BlobWriter of a RegistryDestination. A blob of up to
// pushBufferMax bytes is held in memory and uploaded once it checked out;
// a larger one streams into its upload as it is written, its last byte
// held back until it checked out (uploadSink). Either way Commit returns
// before the registry is done, and the pool replays a failed upload.
type pushWriter struct {
	p      *pushPool
	repo   *oci.Repository
	desc   ocispec.Descriptor
	origin blobOrigin
	then   func(ctx context.Context) error

	// Held in memory: the bytes, their hash, and the budget they hold.
	buf      []byte
	h        hash.Hash
	reserved int64
	// Streamed: the upload under way. Once it fails transiently, up
	// only hashes the rest (lost is set), and the blob is replayed.
	up *uploadSink

	ended bool // committed or aborted
}

func newPushWriter(p *pushPool, repo *oci.Repository, desc ocispec.Descriptor) (*pushWriter, error) {
	if err := p.failed(); err != nil {
		return nil, err
	}
	w := &pushWriter{p: p, repo: repo, desc: desc}
	if desc.Size <= pushBufferMax {
		if err := p.reserve(desc.Size); err != nil {
			return nil, err
		}
		w.reserved = desc.Size
		w.buf = make([]byte, 0, desc.Size)
		w.h = sha256.New()
		return w, nil
	}
	if err := p.acquire(); err != nil {
		return nil, err
	}
	w.up = newUploadSink(p.ctx, repo, desc)
	w.up.keepHashing = true
	return w, nil
}

func (w *pushWriter) replayFrom(o blobOrigin) { w.origin = o }

func (w *pushWriter) afterStored(then func(ctx context.Context) error) { w.then = then }

func (w *pushWriter) Write(b []byte) (int, error) {
	if w.up != nil {
		return w.up.Write(b)
	}
	if int64(len(w.buf)+len(b)) > w.desc.Size {
		return 0, fmt.Errorf("blob %s is longer than its %d bytes", w.desc.Digest, w.desc.Size)
	}
	w.h.Write(b)
	w.buf = append(w.buf, b...)
	return len(b), nil
}

// Commit checks the blob and leaves its upload to the pool. An error is
// the content's (not the blob the index describes), or the registry's
// refusal of a streamed upload; a failure of the upload after Commit is
// the pool's (waitBlobs, or the next Put).
func (w *pushWriter) Commit() error {
	w.ended = true
	if w.up != nil {
		if err := w.up.check(); err != nil {
			w.up.Abort()
			w.p.release()
			return err
		}
		if lost := w.up.lost; lost != nil {
			w.up.Abort()
			w.p.run(w, func() error { return lost })
			return nil
		}
		w.p.run(w, w.up.finish)
		return nil
	}
	if n := int64(len(w.buf)); n != w.desc.Size {
		w.p.unreserve(w.reserved)
		return fmt.Errorf("blob %s: %d bytes, want %d", w.desc.Digest, n, w.desc.Size)
	}
	if got := digest.NewDigest(digest.SHA256, w.h); got != w.desc.Digest {
		w.p.unreserve(w.reserved)
		return fmt.Errorf("blob %s: content hashes to %s", w.desc.Digest, got)
	}
	if err := w.p.acquire(); err != nil {
		// The push failed already (another blob, or cancelled): that
		// failure is the one to report, by the next Put or waitBlobs.
		w.p.unreserve(w.reserved)
		return nil
	}
	w.p.run(w, func() error { return w.uploadBuffer(w.p.ctx) })
	return nil
}

func (w *pushWriter) Abort() {
	if w.ended {
		return
	}
	w.ended = true
	if w.up != nil {
		w.up.Abort()
		w.p.release()
		return
	}
	w.p.unreserve(w.reserved)
}

// uploadBuffer uploads the blob held in memory, checked already. The
// reader hides that it is a bytes.Reader: the HTTP client would resend
// it itself, into the same upload session, where a fresh upload is what
// replays cleanly.
func (w *pushWriter) uploadBuffer(ctx context.Context) error {
	return oci.Refusal(w.repo, w.repo.Push(ctx, w.desc, struct{ io.Reader }{bytes.NewReader(w.buf)}))
}

func (w *pushWriter) canReplay() bool { return w.up == nil || w.origin.reread != nil }

// replay uploads the blob again: from memory, or read again from the
// volumes and checked again on the way (uploadSink holds its last byte
// back until the whole blob hashes to its digest).
func (w *pushWriter) replay(ctx context.Context) error {
	if w.up == nil {
		return w.uploadBuffer(ctx)
	}
	rc, err := w.origin.reread(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	u := newUploadSink(ctx, w.repo, w.desc)
	if _, err := io.CopyBuffer(u, rc, make([]byte, ioChunk)); err != nil {
		u.Abort()
		if errors.As(err, new(*decodeError)) {
			// Stored bytes that decoded the first time and no longer do.
			return &format.CorruptError{Path: w.origin.path, Volume: w.origin.volume, Digest: w.desc.Digest, Reason: "read again to replay its upload: " + err.Error()}
		}
		return err
	}
	if err := u.Commit(); err != nil {
		var de *destError
		if errors.As(err, &de) {
			return de.err
		}
		// Every segment matched the index again, yet the blob does not:
		// the volume changed under the read, or the index lies.
		return &format.CorruptError{Path: w.origin.path, Volume: w.origin.volume, Digest: w.desc.Digest, Reason: "read again to replay its upload: " + err.Error()}
	}
	return nil
}

// failure is the push's error for the blob's last failure: the
// registry's, naming the blob, its volume and the repository; or the
// volume's (a CorruptError), as it is.
func (w *pushWriter) failure(err error, attempts int) error {
	var de *destError
	if errors.As(err, &de) {
		err = de.err
	}
	if errors.As(err, new(*format.CorruptError)) {
		return err
	}
	return &BlobPushError{Digest: w.desc.Digest, Path: w.origin.path, Volume: w.origin.volume, Repository: w.repo.Name, Attempts: attempts, Err: err}
}
