package bundle

// The prefetcher: order, exact bytes, errors on the right blob, bounded
// concurrency, and no goroutine left behind.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pfStore holds blobs in memory and counts the fetches open on them.
type pfStore struct {
	name  string
	blobs map[digest.Digest][]byte
	// fetchErr fails Fetch; readErr fails a read once half the blob is
	// read; gates hold reads of a blob until the channel is closed (or the
	// fetch's context ends).
	fetchErr map[digest.Digest]error
	readErr  map[digest.Digest]error
	gates    map[digest.Digest]chan struct{}

	mu                     sync.Mutex
	open, maxOpen, fetches int
	fetched                map[digest.Digest]int
}

func newPfStore(name string) *pfStore {
	return &pfStore{name: name, blobs: map[digest.Digest][]byte{}, fetchErr: map[digest.Digest]error{},
		readErr: map[digest.Digest]error{}, gates: map[digest.Digest]chan struct{}{}, fetched: map[digest.Digest]int{}}
}

func (s *pfStore) String() string { return "pf:" + s.name }

func (s *pfStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	s.fetched[d.Digest]++
	if err := s.fetchErr[d.Digest]; err != nil {
		return nil, err
	}
	data, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: no blob %s", s, d.Digest)
	}
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	errAt := -1
	if s.readErr[d.Digest] != nil {
		errAt = len(data) / 2
	}
	return &pfReader{s: s, ctx: ctx, data: data, errAt: errAt, err: s.readErr[d.Digest], gate: s.gates[d.Digest]}, nil
}

func (s *pfStore) Roots(context.Context) ([]ocispec.Descriptor, error) { return nil, nil }

func (s *pfStore) Referrers(context.Context, digest.Digest) ([]ocispec.Descriptor, error) {
	return nil, nil
}

func (s *pfStore) stats() (open, maxOpen, fetches int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open, s.maxOpen, s.fetches
}

type pfReader struct {
	s      *pfStore
	ctx    context.Context
	data   []byte
	off    int
	errAt  int
	err    error
	gate   chan struct{}
	closed sync.Once
}

func (r *pfReader) Read(p []byte) (int, error) {
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	end := len(r.data)
	if r.errAt >= 0 {
		if r.off >= r.errAt {
			return 0, r.err
		}
		end = r.errAt
	}
	if r.off >= end {
		return 0, io.EOF
	}
	n := copy(p, r.data[r.off:end])
	r.off += n
	return n, nil
}

func (r *pfReader) Close() error {
	r.closed.Do(func() {
		r.s.mu.Lock()
		r.s.open--
		r.s.mu.Unlock()
	})
	return nil
}

// pfLocal is a source read without round trips; pfRemote pays one per
// fetch, so the prefetcher reads it ahead.
type (
	pfLocal  struct{ *pfStore }
	pfRemote struct{ *pfStore }
)

func (pfRemote) Remote() bool { return true }

var (
	_ Source       = pfLocal{}
	_ RemoteSource = pfRemote{}
)

// pfBlob is one blob of a prefetch test: its content and where it is.
type pfBlob struct {
	data   []byte
	remote bool
}

// pfPlan builds the index and the pack blobs for blobs, stored in a local
// and a remote store.
func pfPlan(blobs []pfBlob) (x *format.Index, pbs []*packBlob, local, remote *pfStore) {
	local, remote = newPfStore("local"), newPfStore("remote")
	x = &format.Index{Blobs: make([]format.Blob, len(blobs))}
	for i, b := range blobs {
		d := digest.FromBytes(b.data)
		x.Blobs[i] = format.Blob{Digest: d, Size: int64(len(b.data)), MediaType: ocispec.MediaTypeImageLayer, Encoding: format.CompressionNone,
			StoredSize: int64(len(b.data)), StoredDigest: d}
		var src Source = pfLocal{local}
		st := local
		if b.remote {
			src, st = pfRemote{remote}, remote
		}
		st.blobs[d] = b.data
		pbs = append(pbs, &packBlob{Blob: &x.Blobs[i], src: src})
	}
	return x, pbs, local, remote
}

// pfData is deterministic content; seed tells blobs of one size apart.
func pfData(n, seed int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// readBlob reads blob i as writeAll does: open, read all, close.
func readBlob(p *prefetcher, i int) ([]byte, error) {
	rc, err := p.open(i)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestPrefetchOrderAndBytes(t *testing.T) {
	t.Parallel(
	// Digests are unique in an index: one empty blob per store at most.
	)

	big := prefetchChunkSize*prefetchChunks + 12345 // more than a slot buffers
	var blobs []pfBlob
	for i, spec := range []struct {
		size   int
		remote bool
	}{
		{0, true}, {1, true}, {big, true}, {prefetchChunkSize, true}, {100, false},
		{0, false}, {prefetchChunkSize + 1, true}, {big, false}, {7, true}, {2, true},
		{3 * prefetchChunkSize, true}, {prefetchChunkSize - 1, true}, {10, false}, {5, true},
	} {
		blobs = append(blobs, pfBlob{pfData(spec.size, i), spec.remote})
	}
	x, pbs, local, remote := pfPlan(blobs)
	p := newPrefetcher(context.Background(), x, pbs)
	defer p.close()
	remotes := 0
	for i, b := range blobs {
		got, err := readBlob(p, i)
		if err != nil {
			t.Fatalf("blob %d (%d bytes, remote %v): %v", i, len(b.data), b.remote, err)
		}
		if !bytes.Equal(got, b.data) {
			t.Fatalf("blob %d (%d bytes, remote %v): got %d bytes, digest %s, want %s", i, len(b.data), b.remote, len(got), digest.FromBytes(got), x.Blobs[i].Digest)
		}
		if b.remote {
			remotes++
		}
	}
	p.close()
	if open, maxOpen, fetches := remote.stats(); open != 0 || maxOpen > prefetchBlobs+1 || fetches != remotes {
		t.Errorf("remote fetches: %d still open, at most %d at once (limit %d), %d in all for %d remote blobs", open, maxOpen, prefetchBlobs+1, fetches, remotes)
	}
	for d, n := range remote.fetched {
		if n != 1 {
			t.Errorf("remote blob %s fetched %d times", d, n)
		}
	}
	if open, _, _ := local.stats(); open != 0 {
		t.Errorf("%d local fetches still open", open)
	}
}

// TestPrefetchBoundsRemoteFetches holds every read until the writer gets
// to the blob, so the read-ahead is as deep as it will ever be.
func TestPrefetchBoundsRemoteFetches(t *testing.T) {
	var blobs []pfBlob
	for i := range 12 {
		blobs = append(blobs, pfBlob{pfData(1000+i, i), i%5 != 2})
	}
	x, pbs, _, remote := pfPlan(blobs)
	for _, b := range x.Blobs {
		remote.gates[b.Digest] = make(chan struct{})
	}
	p := newPrefetcher(context.Background(), x, pbs)
	defer p.close()
	// remote blobs among i..i+prefetchBlobs-1 that are not yet read
	ahead := func(i int) int {
		n := 0
		for j := i; j < len(blobs) && j < i+prefetchBlobs; j++ {
			if blobs[j].remote {
				n++
			}
		}
		return n
	}
	for i, b := range blobs {
		rc, err := p.open(i)
		if err != nil {
			t.Fatal(err)
		}
		if b.remote {
			want := ahead(i)
			if !waitFor(func() bool { open, _, _ := remote.stats(); return open >= want }) {
				open, _, _ := remote.stats()
				t.Fatalf("at blob %d: %d remote fetches open, want the %d remote blobs of the next %d read ahead", i, open, want, prefetchBlobs)
			}
		}
		if open, maxOpen, _ := remote.stats(); maxOpen > prefetchBlobs+1 {
			t.Fatalf("at blob %d: %d remote fetches open, at most %d at once; want at most %d", i, open, maxOpen, prefetchBlobs+1)
		}
		close(remote.gates[x.Blobs[i].Digest])
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, b.data) {
			t.Fatalf("blob %d: %d bytes, %v", i, len(got), err)
		}
	}
	if _, maxOpen, _ := remote.stats(); maxOpen > prefetchBlobs+1 {
		t.Errorf("%d remote fetches open at once, want at most %d", maxOpen, prefetchBlobs+1)
	}
}

func TestPrefetchErrorsStayWithTheirBlob(t *testing.T) {
	t.Parallel()
	errFetch := errors.New("fetch refused")
	errRead := errors.New("connection reset in the middle")
	cases := []struct {
		name string
		// fail is set on blob 2 (remote); blobs 0, 1, 3 and 4 must read fine.
		fail func(s *pfStore, d digest.Digest)
		want error
	}{
		{"Fetch fails", func(s *pfStore, d digest.Digest) { s.fetchErr[d] = errFetch }, errFetch},
		{"read fails halfway", func(s *pfStore, d digest.Digest) { s.readErr[d] = errRead }, errRead},
		// A source that reports a cut body as io.ErrUnexpectedEOF (as
		// net/http does for a short body) must not pass for a blob that
		// ended where it should.
		{"read ends with io.ErrUnexpectedEOF", func(s *pfStore, d digest.Digest) { s.readErr[d] = io.ErrUnexpectedEOF }, io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		for _, size := range []int{1000, prefetchChunkSize*2 + 10} {
			t.Run(fmt.Sprintf("%s, %d bytes", c.name, size), func(t *testing.T) {
				blobs := []pfBlob{
					{pfData(size, 0), true}, {pfData(size, 1), true}, {pfData(size, 2), true},
					{pfData(size, 3), true}, {pfData(size, 4), false},
				}
				x, pbs, _, remote := pfPlan(blobs)
				c.fail(remote, x.Blobs[2].Digest)
				p := newPrefetcher(context.Background(), x, pbs)
				defer p.close()
				for i, b := range blobs {
					got, err := readBlob(p, i)
					if i == 2 {
						if !errors.Is(err, c.want) {
							t.Errorf("blob 2: %d bytes, error %v; want %v", len(got), err, c.want)
						}
						continue
					}
					if err != nil || !bytes.Equal(got, b.data) {
						t.Errorf("blob %d: %d bytes, error %v; want its %d bytes", i, len(got), err, len(b.data))
					}
				}
			})
		}
	}
}

func TestPrefetchCloseLeavesNothingBehind(t *testing.T) {
	big := prefetchChunkSize*(prefetchChunks+2) + 3 // fills a slot's buffers, then waits
	cases := []struct {
		name string
		// gated blobs never get their reads released.
		blobs     []pfBlob
		gated     []int
		readFirst int  // bytes of blob 0 read before close
		closeRC   bool // close blob 0's reader before the prefetcher (writeAll does)
	}{
		{"slots waiting on a slow source", []pfBlob{{pfData(1000, 0), true}, {pfData(1000, 1), true}, {pfData(1000, 2), true}, {pfData(1000, 3), true}, {pfData(1000, 4), true}}, []int{1, 2, 3, 4}, 10, true},
		{"slots with full buffers", []pfBlob{{pfData(big, 0), true}, {pfData(big, 1), true}, {pfData(big, 2), true}, {pfData(big, 3), true}, {pfData(big, 4), true}}, nil, 1 << 10, true},
		{"open reader not closed, full buffers", []pfBlob{{pfData(big, 0), true}, {pfData(big, 1), true}, {pfData(big, 2), true}}, nil, 1 << 10, false},
		{"open reader not closed, source slow", []pfBlob{{pfData(big, 0), true}, {pfData(1000, 1), true}, {pfData(10, 2), false}}, []int{0, 1}, 0, false},
		{"mixed", []pfBlob{{pfData(100, 0), false}, {pfData(big, 1), true}, {pfData(5, 2), false}, {pfData(1000, 3), true}}, []int{3}, 50, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			x, pbs, local, remote := pfPlan(c.blobs)
			for _, i := range c.gated {
				remote.gates[x.Blobs[i].Digest] = make(chan struct{})
			}
			p := newPrefetcher(context.Background(), x, pbs)
			rc, err := p.open(0)
			if err != nil {
				t.Fatal(err)
			}
			if c.readFirst > 0 {
				if _, err := io.ReadFull(rc, make([]byte, c.readFirst)); err != nil {
					t.Fatal(err)
				}
			}
			// Let the read-ahead get going.
			time.Sleep(20 * time.Millisecond)
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				if c.closeRC {
					rc.Close()
				}
				p.close()
			}()
			select {
			case <-finished:
			case <-time.After(2 * time.Second):
				t.Fatalf("close did not return:\n%s", goroutines())
			}
			if !c.closeRC {
				// The reader handed out ends instead of blocking: with an
				// error, or (the read-ahead may still finish) the whole blob.
				done := make(chan error, 1)
				var rest int64
				go func() {
					var err error
					rest, err = io.Copy(io.Discard, rc)
					done <- err
				}()
				select {
				case err := <-done:
					if want := int64(len(c.blobs[0].data) - c.readFirst); err == nil && rest != want {
						t.Errorf("reading the rest of an abandoned blob gave %d bytes and no error; want %d or an error", rest, want)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("reading an abandoned blob blocks:\n%s", goroutines())
				}
				rc.Close()
			}
			if !waitFor(func() bool { return runtime.NumGoroutine() <= before }) {
				t.Errorf("%d goroutines before, %d after close:\n%s", before, runtime.NumGoroutine(), goroutines())
			}
			if !waitFor(func() bool { open, _, _ := remote.stats(); return open == 0 }) {
				open, _, _ := remote.stats()
				t.Errorf("%d remote fetches left open", open)
			}
			if open, _, _ := local.stats(); open != 0 {
				t.Errorf("%d local fetches left open", open)
			}
		})
	}
}

func goroutines() string {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}
