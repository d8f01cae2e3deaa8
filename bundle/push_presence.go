package bundle

import (
	"context"
	"slices"
	"sync"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// presenceWindow bounds how many blobs ahead of the walk the
// destination is asked about: enough to keep the workers busy while the
// walk reads, few enough that the answers are fresh and a failure stops
// the push early.
const presenceWindow = 256

// presenceAhead asks the destination which repositories hold each blob
// the volumes carry, a few at a time and ahead of the walk, so that the
// walk does not wait for one round trip per blob and repository before
// each upload (on a registry, a HEAD request each). Only the answers
// travel ahead: the walk still decides, in volume order, what to skip,
// mount or put.
type presenceAhead struct {
	ctx    context.Context
	cancel context.CancelFunc
	dest   Destination
	blobs  []ocispec.Descriptor // in volume order
	repos  [][]string           // the repositories each goes into
	at     map[digest.Digest]int
	res    []presence
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	next     int // the next blob to ask about
	consumed int // the blobs the walk has taken the answers of
	stopped  bool
}

type presence struct {
	done chan struct{}
	have []bool // for each of the blob's repositories
	err  error
}

// startPresence starts jobs workers asking about the carried blobs of x
// other than manifests, in volume order.
func startPresence(ctx context.Context, dest Destination, x *format.Index, where func(digest.Digest) []string, jobs int) *presenceAhead {
	var bs []*format.Blob
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base == "" && len(b.Placements) > 0 && !format.IsManifestMediaType(b.MediaType) && len(where(b.Digest)) > 0 {
			bs = append(bs, b)
		}
	}
	slices.SortFunc(bs, func(a, b *format.Blob) int {
		pa, pb := a.Placements[0], b.Placements[0]
		if pa.Volume != pb.Volume {
			return pa.Volume - pb.Volume
		}
		return int(min(max(pa.Offset-pb.Offset, -1), 1))
	})
	ctx, cancel := context.WithCancel(ctx)
	p := &presenceAhead{ctx: ctx, cancel: cancel, dest: dest, at: map[digest.Digest]int{}}
	p.cond = sync.NewCond(&p.mu)
	for i, b := range bs {
		p.blobs = append(p.blobs, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
		p.repos = append(p.repos, where(b.Digest))
		p.res = append(p.res, presence{done: make(chan struct{})})
		p.at[b.Digest] = i
	}
	for range max(jobs, 1) {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *presenceAhead) work() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		for !p.stopped && p.next < len(p.blobs) && p.next >= p.consumed+presenceWindow {
			p.cond.Wait()
		}
		if p.stopped || p.next >= len(p.blobs) {
			p.mu.Unlock()
			return
		}
		i := p.next
		p.next++
		p.mu.Unlock()
		r := &p.res[i]
		r.have = make([]bool, len(p.repos[i]))
		for k, repo := range p.repos[i] {
			if r.have[k], r.err = p.dest.Exists(p.ctx, repo, p.blobs[i]); r.err != nil {
				break
			}
		}
		close(r.done)
	}
}

// answer returns which of desc's repositories hold it, as asked ahead;
// ok is false for a blob not asked about.
func (p *presenceAhead) answer(desc ocispec.Descriptor) (have []bool, ok bool, err error) {
	i, ok := p.at[desc.Digest]
	if !ok {
		return nil, false, nil
	}
	r := &p.res[i]
	select {
	case <-r.done:
	case <-p.ctx.Done():
		return nil, true, p.ctx.Err()
	}
	p.mu.Lock()
	p.consumed = max(p.consumed, i+1)
	p.cond.Broadcast()
	p.mu.Unlock()
	return r.have, true, r.err
}

// stop ends the workers and waits for them.
func (p *presenceAhead) stop() {
	p.mu.Lock()
	p.stopped = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}
