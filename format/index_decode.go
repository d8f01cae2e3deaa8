package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"unsafe"

	"github.com/airgap-bundle/bundle/internal/intern"
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

// indexDecoding is what an index is decoded into: the Index, but for its
// blobs, which decode one at a time (blobStream), each sharing its
// strings as soon as it is decoded. Decoded whole, the copies (a third of
// the decoded index) would all be live at once, on top of the raw bytes,
// at the reader's peak of memory. The outer Blobs field hides the
// embedded one from encoding/json (the shallower field wins); the
// members accepted, and where they go, are the same.
type indexDecoding struct {
	Index
	Blobs blobStream      `json:"blobs"`
	has   map[string]bool // top-level members present, of those versions differ in
}

// blobStream decodes the blobs array element by element.
type blobStream struct {
	blobs []Blob
	names *intern.Table
}

func (s *blobStream) UnmarshalJSON(b []byte) error {
	// b is well-formed: the decoder checked the whole document before it
	// decodes any of it.
	if string(b) == "null" {
		s.blobs = nil
		return nil
	}
	if len(b) == 0 || b[0] != '[' {
		return &json.UnmarshalTypeError{Value: "non-array", Type: reflectBlobs, Field: "blobs"}
	}
	if s.blobs == nil {
		s.blobs = []Blob{} // [] decodes to an empty slice, not nil
	}
	// Each element is decoded where it is: a json.Decoder would copy it
	// into its buffer first, and a crafted blob can be the whole index
	// (TestHostileIndexMemory).
	sc := &costScanner{b: b, i: 1, limit: 1 << 62}
	sc.space()
	for sc.i < len(b) && b[sc.i] != ']' {
		start := sc.i
		sc.value(nil, 1)
		if sc.bad {
			return fmt.Errorf("blobs: malformed element at byte %d", start)
		}
		s.blobs = append(s.blobs, Blob{})
		blob := &s.blobs[len(s.blobs)-1]
		// Unknown members need no refusing here: CheckStrictJSON, which
		// runs before any decoding, refused them.
		if err := json.Unmarshal(b[start:sc.i], blob); err != nil {
			return fmt.Errorf("blobs: %w", err)
		}
		blob.share(s.names)
		sc.space()
		if sc.i < len(b) && b[sc.i] == ',' {
			sc.i++
			sc.space()
		}
	}
	return nil
}

// decodeIndex decodes the index b holds, with its large slices presized
// and its repeated strings shared. Both callers ran CheckStrictJSON
// first, which refuses unknown members anywhere; strict (ParseIndex)
// keeps its decoder's own refusal of them as well, outside the blobs.
func decodeIndex(b []byte, strict bool) (*Index, error) {
	d := &indexDecoding{Blobs: blobStream{names: intern.New()}, has: map[string]bool{}}
	presize(d, b)
	if strict {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(d); err != nil {
			return nil, err
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("data after the JSON object")
		}
	} else if err := json.Unmarshal(b, d); err != nil {
		return nil, err
	}
	x := &d.Index
	x.Blobs = d.Blobs.blobs
	x.share(d.Blobs.names)
	// Which members a version has (SPEC 6.2): a member that is null
	// decodes as one that is absent, so presence is read from the bytes.
	if x.FormatVersion == VersionV2 && d.has["blobs"] {
		return nil, fmt.Errorf("blobs in an index of format version 2")
	}
	if x.FormatVersion != VersionV2 && d.has["blobTables"] {
		return nil, fmt.Errorf("blobTables in an index of format version %d", x.FormatVersion)
	}
	return x, nil
}

// presize gives d's large slices (blobs, manifests, images) the capacity
// of the arrays b holds, so that decoding fills them in place instead of
// growing them by doubling (up to twice their size, and the copies). It
// reads b without allocating; what is not well-formed it leaves to the
// decoder, which comes next and refuses it.
func presize(d *indexDecoding, b []byte) {
	scanTop(b, func(key string, raw []byte) {
		switch key {
		case "blobs", "images", "blobTables":
			d.has[key] = true
		}
		n := min(countElements(raw), len(raw)/minElementBytes)
		if n == 0 {
			return
		}
		switch key {
		case "blobs":
			d.Blobs.blobs = make([]Blob, 0, n)
		case "manifests":
			d.Manifests = make([]ocispec.Descriptor, 0, n)
		case "images":
			d.Images = make([]Image, 0, n)
		}
	})
}

// share makes the strings of b that repeat its digest that string
// (storedDigest and a single placement's digest are its digest when it is
// stored unencoded), and its media type, encoding and base those of t.
func (b *Blob) share(t *intern.Table) {
	if b.StoredDigest == b.Digest {
		b.StoredDigest = b.Digest
	}
	b.MediaType, b.Encoding, b.Base = t.String(b.MediaType), t.String(b.Encoding), t.String(b.Base)
	for j := range b.Placements {
		if p := &b.Placements[j]; p.Digest == b.StoredDigest {
			p.Digest = b.StoredDigest
		}
	}
}

// shareDigest makes d, equal to b's digest, the string of b's digest and
// of the digests that repeat it (see share).
func (b *Blob) shareDigest(d digest.Digest) {
	if b.Digest != d {
		return
	}
	if b.StoredDigest == b.Digest {
		b.StoredDigest = d
	}
	for j := range b.Placements {
		if p := &b.Placements[j]; p.Digest == b.Digest {
			p.Digest = d
		}
	}
	b.Digest = d
}

// share makes the equal strings of a decoded index one string each: a
// manifest's digest and its blob's (and its image's), and the few media
// types, platforms and annotation names every entry repeats (each blob
// shared its own when it was decoded). The copies become garbage the
// collector takes back.
func (x *Index) share(t *intern.Table) {
	manifests := make(map[digest.Digest]digest.Digest, len(x.Manifests))
	for i := range x.Manifests {
		m := &x.Manifests[i]
		m.MediaType = t.String(m.MediaType)
		manifests[m.Digest] = m.Digest
		for k, v := range m.Annotations {
			if ik := t.String(k); !sameString(ik, k) {
				// The same key, held by the shared string: the map does
				// not grow (deleting and setting a key while ranging is
				// allowed, and k is not seen again as another key).
				delete(m.Annotations, k)
				m.Annotations[ik] = v
			}
		}
		if p := m.Platform; p != nil {
			p.OS, p.Architecture, p.Variant = t.String(p.OS), t.String(p.Architecture), t.String(p.Variant)
		}
	}
	for i := range x.Images {
		im := &x.Images[i]
		im.MediaType = t.String(im.MediaType)
		if d, ok := manifests[im.Digest]; ok {
			im.Digest = d
		}
		// An image summarises the entry of the same place (a writer makes
		// them so): one string for its ref name, 14 MB at 300,000 images.
		if i < len(x.Manifests) && x.Manifests[i].Digest == im.Digest {
			if ref := x.Manifests[i].Annotations[ocispec.AnnotationRefName]; ref == im.Ref {
				im.Ref = ref
			}
		}
		if d, ok := manifests[im.Subject]; ok {
			im.Subject = d
		}
		for j, p := range im.Platforms {
			im.Platforms[j] = t.String(p)
		}
	}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if d, ok := manifests[b.Digest]; ok {
			b.Digest = d
			b.share(t)
		}
	}
}

// sameString reports whether a and b are the same bytes in memory, not
// just equal.
func sameString(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

var reflectBlobs = reflect.TypeFor[[]Blob]()
