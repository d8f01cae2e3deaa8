package bundle

import (
	"hash/maphash"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
)

// blobPlaces finds a blob's place in an index's Blobs by its digest. It
// is an open-addressed table of places, 8 bytes a blob and no pointers:
// a map from the digest strings took 55 MB at a million blobs, and the
// collector scanned all of it at every collection (unpack at a million
// blobs spent half its CPU in the collector, issue 15).
type blobPlaces struct {
	blobs []format.Blob
	slots []int32 // a place plus one; 0: empty
	seed  maphash.Seed
}

func newBlobPlaces(blobs []format.Blob) *blobPlaces {
	n := 1
	for n < 2*len(blobs) { // at most half full: probes stay short
		n <<= 1
	}
	p := &blobPlaces{blobs: blobs, slots: make([]int32, n), seed: maphash.MakeSeed()}
	mask := uint64(n - 1)
	for i := range blobs {
		s := maphash.String(p.seed, string(blobs[i].Digest)) & mask
		for p.slots[s] != 0 {
			s = (s + 1) & mask
		}
		p.slots[s] = int32(i + 1)
	}
	return p
}

// find is the place of the blob of digest d.
func (p *blobPlaces) find(d digest.Digest) (int, bool) {
	mask := uint64(len(p.slots) - 1)
	for s := maphash.String(p.seed, string(d)) & mask; ; s = (s + 1) & mask {
		v := p.slots[s]
		if v == 0 {
			return 0, false
		}
		if p.blobs[v-1].Digest == d {
			return int(v - 1), true
		}
	}
}
