package bundle

import (
	"context"
	"io"
	"sync"

	"github.com/airgap-bundle/bundle/format"
)

// Prefetching: volumes are written in one ordered stream, but a registry
// answers each blob request after a round trip. The next few blobs of
// remote sources are opened and read ahead into bounded buffers while the
// writer copies the current one, so round trips overlap. Every blob is read
// by a goroutine apart from the writer, so reading and hashing overlap
// writing. Memory is bounded
// by prefetchBlobs × prefetchChunks × prefetchChunkSize (8 MiB).
const (
	prefetchBlobs  = 4
	prefetchChunks = 16
	// prefetchLocalChunks is the read-ahead of a local blob.
	prefetchLocalChunks = 2
	prefetchChunkSize   = ioChunk
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, prefetchChunkSize); return &b }}

// prefetcher hands out the stored bytes of blobs in order.
type prefetcher struct {
	ctx    context.Context
	cancel context.CancelFunc
	blobs  []*packBlob
	x      *format.Index
	slots  map[int]*prefetchSlot
	next   int // first blob not yet started
}

type prefetchSlot struct {
	chunks chan []byte // each *[]byte from chunkPool, resliced to what was read
	err    error       // set before chunks is closed
	cur    []byte
	buf    *[]byte
	done   chan struct{}
}

func newPrefetcher(ctx context.Context, x *format.Index, blobs []*packBlob) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	return &prefetcher{ctx: ctx, cancel: cancel, blobs: blobs, x: x, slots: map[int]*prefetchSlot{}}
}

// open returns the stored bytes of blob i; blobs must be opened in order.
func (p *prefetcher) open(i int) (io.ReadCloser, error) {
	if !isRemote(p.blobs[i].src) {
		// A local blob is read (and hashed, and compressed) by a goroutine
		// of its own while the writer writes, so that hashing and writing
		// use two cores; it is not opened before its turn.
		return p.start(i), nil
	}
	// Keep the remote blobs from i to i+prefetchBlobs-1 in flight.
	if p.next < i {
		p.next = i
	}
	for ; p.next < len(p.blobs) && p.next < i+prefetchBlobs; p.next++ {
		if isRemote(p.blobs[p.next].src) {
			p.slots[p.next] = p.start(p.next)
		}
	}
	s, ok := p.slots[i]
	if !ok {
		s = p.start(i)
	}
	delete(p.slots, i)
	return s, nil
}

func (p *prefetcher) start(i int) *prefetchSlot {
	depth := prefetchChunks
	if !isRemote(p.blobs[i].src) {
		// A local read is quick: keep the chunks few, so that the writer
		// copies bytes still in the CPU's cache (measured: 2 chunks ahead
		// instead of 16 takes a quarter off a pack's time).
		depth = prefetchLocalChunks
	}
	s := &prefetchSlot{chunks: make(chan []byte, depth), done: make(chan struct{})}
	go func() {
		defer close(s.chunks)
		rc, err := openStored(p.ctx, p.blobs[i].src, &p.x.Blobs[i])
		if err != nil {
			s.err = err
			return
		}
		defer rc.Close()
		for {
			bp := chunkPool.Get().(*[]byte)
			n, err := fill(rc, *bp)
			if n > 0 {
				select {
				case s.chunks <- (*bp)[:n]:
				case <-s.done:
					chunkPool.Put(bp)
					return
				case <-p.ctx.Done():
					chunkPool.Put(bp)
					s.err = p.ctx.Err()
					return
				}
			} else {
				chunkPool.Put(bp)
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				s.err = err
				return
			}
		}
	}()
	return s
}

func (s *prefetchSlot) Read(b []byte) (int, error) {
	for len(s.cur) == 0 {
		if s.buf != nil {
			chunkPool.Put(s.buf)
			s.buf = nil
		}
		c, ok := <-s.chunks
		if !ok {
			if s.err != nil {
				return 0, s.err
			}
			return 0, io.EOF
		}
		s.cur = c
		full := c[:cap(c)]
		s.buf = &full
	}
	n := copy(b, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// Close tells the reader's goroutine to stop, without waiting for it: it
// may be blocked on the network until the prefetcher's context ends.
func (s *prefetchSlot) Close() error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	if s.buf != nil {
		chunkPool.Put(s.buf)
		s.buf = nil
	}
	s.cur = nil
	return nil
}

// close abandons whatever is still being read ahead.
func (p *prefetcher) close() {
	p.cancel()
	for i, s := range p.slots {
		s.Close()
		delete(p.slots, i)
	}
}

// fill reads until buf is full or the reader fails; unlike io.ReadFull it
// keeps io.EOF (the end) apart from a reader's own io.ErrUnexpectedEOF (a
// broken stream).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
