package bundle

import (
	"errors"
	"sync/atomic"
)

// asyncMin is the stored size from which unpack writes a blob from a
// goroutine of its own: reading and hashing the volume then runs on one
// core while the destination's writes (a file, a decoder, an upload) run
// on another. Smaller blobs gain nothing from it.
const asyncMin = 1 << 20

// asyncDepth bounds the chunks in flight (each prefetchChunkSize bytes): few,
// so that the writer copies bytes still in the CPU's cache.
const asyncDepth = 2

// asyncSink hands a blob sink's writes to a goroutine. A write that fails
// there fails the next Write, and Commit: nothing is committed before
// every write is done.
type asyncSink struct {
	inner  blobSink
	ch     chan asyncChunk
	done   chan struct{}
	err    error // first write error; set before failed
	failed atomic.Bool
	closed bool
}

type asyncChunk struct {
	buf *[]byte
	n   int
}

func newAsyncSink(inner blobSink) *asyncSink {
	a := &asyncSink{inner: inner, ch: make(chan asyncChunk, asyncDepth), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for c := range a.ch {
			if a.err == nil {
				if _, err := a.inner.Write((*c.buf)[:c.n]); err != nil {
					a.err = err
					a.failed.Store(true)
				}
			}
			chunkPool.Put(c.buf)
		}
	}()
	return a
}

func (a *asyncSink) Write(p []byte) (int, error) {
	if a.failed.Load() {
		return 0, a.err
	}
	n := 0
	for len(p) > 0 {
		bp := chunkPool.Get().(*[]byte)
		k := copy(*bp, p)
		a.ch <- asyncChunk{buf: bp, n: k}
		p, n = p[k:], n+k
	}
	return n, nil
}

// drain waits for every write and returns the first error.
func (a *asyncSink) drain() error {
	if !a.closed {
		a.closed = true
		close(a.ch)
	}
	<-a.done
	return a.err
}

func (a *asyncSink) Commit() error {
	if err := a.drain(); err != nil {
		a.inner.Abort()
		var de *destError
		if errors.As(err, &de) {
			return err
		}
		// A write that failed is the destination's failure (a full disk,
		// a stream that does not decode), as it would be unwrapped.
		return &destError{err}
	}
	return a.inner.Commit()
}

func (a *asyncSink) Abort() {
	a.drain()
	a.inner.Abort()
}
