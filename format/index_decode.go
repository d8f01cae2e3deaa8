package format

import (
	"unsafe"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Memory of a decoded index (issue 15). A reader holds the decoded index
// for as long as it reads the bundle, and its size grows with the blobs:
// at 100,000 blobs encoding/json left 78 MiB, of which a third was
// copies of the same strings (a blob's digest, its storedDigest and its
// placement's digest are three copies of one 71-byte string when it is
// stored unencoded; media types and encodings are a handful of strings
// repeated for every blob) and a third the slack of slices grown by
// doubling. presize and share remove both without changing what is
// decoded: the values compare equal, only fewer bytes hold them.

// minElementBytes bounds how many elements presize reserves room for: no
// real element of the index's arrays is shorter (a blob, a manifest, an
// image each hold at least a 71-byte digest), and the bound keeps an
// array of crafted tiny elements (`[1,1,1,…]`, which the decoder refuses
// at its first element) from reserving more than about twice its length.
const minElementBytes = 64

// presize gives x's large slices (blobs, manifests, images) the capacity
// of the arrays b holds, so that decoding fills them in place instead of
// growing them by doubling (up to twice their size, and the copies). It
// reads b without allocating; what is not well-formed it leaves to the
// decoder, which comes next and refuses it.
func presize(x *Index, b []byte) {
	scanTop(b, func(key string, raw []byte) {
		n := min(countElements(raw), len(raw)/minElementBytes)
		if n == 0 {
			return
		}
		switch key {
		case "blobs":
			x.Blobs = make([]Blob, 0, n)
		case "manifests":
			x.Manifests = make([]ocispec.Descriptor, 0, n)
		case "images":
			x.Images = make([]Image, 0, n)
		}
	})
}

// share makes the equal strings of a decoded index one string each: the
// digests a blob repeats (storedDigest and a placement's digest are
// mostly its digest), a manifest's digest and its blob's, and the few
// media types, encodings, platforms and annotation names every entry
// repeats. The copies become garbage the collector takes back.
func (x *Index) share() {
	// Small strings repeated across entries. Bounded: a crafted index of
	// distinct media types only makes the table stop growing.
	names := map[string]string{}
	intern := func(s string) string {
		if v, ok := names[s]; ok {
			return v
		}
		if len(names) < 1024 && len(s) <= 256 {
			names[s] = s
		}
		return s
	}
	manifests := make(map[digest.Digest]digest.Digest, len(x.Manifests))
	for i := range x.Manifests {
		m := &x.Manifests[i]
		m.MediaType = intern(m.MediaType)
		manifests[m.Digest] = m.Digest
		for k, v := range m.Annotations {
			if ik := intern(k); !sameString(ik, k) {
				// The same key, held by the shared string: the map does
				// not grow (deleting and setting a key while ranging is
				// allowed, and k is not seen again as another key).
				delete(m.Annotations, k)
				m.Annotations[ik] = v
			}
		}
		if p := m.Platform; p != nil {
			p.OS, p.Architecture, p.Variant = intern(p.OS), intern(p.Architecture), intern(p.Variant)
		}
	}
	for i := range x.Images {
		im := &x.Images[i]
		im.MediaType = intern(im.MediaType)
		if d, ok := manifests[im.Digest]; ok {
			im.Digest = d
		}
		if d, ok := manifests[im.Subject]; ok {
			im.Subject = d
		}
		for j, p := range im.Platforms {
			im.Platforms[j] = intern(p)
		}
	}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if d, ok := manifests[b.Digest]; ok {
			b.Digest = d
		}
		if b.StoredDigest == b.Digest {
			b.StoredDigest = b.Digest
		}
		b.MediaType, b.Encoding, b.Base = intern(b.MediaType), intern(b.Encoding), intern(b.Base)
		for j := range b.Placements {
			if p := &b.Placements[j]; p.Digest == b.StoredDigest {
				p.Digest = b.StoredDigest
			}
		}
	}
}

// sameString reports whether a and b are the same bytes in memory, not
// just equal.
func sameString(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}
