package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// IndexLen is len(MarshalIndex(x)), found without building the bytes: a
// writer needs it to lay out volumes (PrefixSize) before the index is
// final.
func IndexLen(x *Index) (int, error) {
	s, err := newIndexSizer(x)
	if err != nil {
		return 0, err
	}
	return s.size(x), nil
}

// MarshalIndex gives the bytes json.Marshal(x) gives, built in one buffer
// of the exact size: json.Marshal grows a buffer by doubling and then
// copies it, which for a large index takes three times its size. The
// long arrays (manifests, images, blobs) are encoded an element at a
// time into that buffer, so that no other copy of them is ever whole.
func MarshalIndex(x *Index) ([]byte, error) {
	sizer, err := newIndexSizer(x)
	if err != nil {
		return nil, err
	}
	head, err := marshalHead(x)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, sizer.size(x))
	out = append(out, head...)
	if out, err = appendArray(out, "manifests", x.Manifests); err != nil {
		return nil, err
	}
	if out, err = appendArray(out, "images", x.Images); err != nil {
		return nil, err
	}
	if x.FormatVersion == VersionV2 {
		// Version 2: the blob tables in place of the blobs.
		tables, err := json.Marshal(x.BlobTables)
		if err != nil {
			return nil, err
		}
		out = append(out, `"blobTables":`...)
		out = append(out, tables...)
		out = append(out, ',')
	} else {
		out = append(out, `"blobs":[`...)
		for i := range x.Blobs {
			if i > 0 {
				out = append(out, ',')
			}
			b, err := json.Marshal(&x.Blobs[i])
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
		out = append(out, `],`...)
	}
	vols, err := json.Marshal(x.Volumes)
	if err != nil {
		return nil, err
	}
	out = append(out, `"volumes":`...)
	out = append(out, vols...)
	out = append(out, '}')
	if len(out) != cap(out) {
		return nil, fmt.Errorf("internal error: index is %d bytes, planned %d", len(out), cap(out))
	}
	x.indexLen = len(out)
	return out, nil
}

// headTail is how json.Marshal ends an index whose long arrays are empty:
// they are its last members.
const headTail = `"manifests":[],"images":[],"blobs":[],"volumes":[]}`

// marshalHead is json.Marshal(x) up to its manifests member: the small
// members before the long arrays.
func marshalHead(x *Index) ([]byte, error) {
	y := *x
	y.Manifests, y.Images, y.Blobs, y.Volumes = []ocispec.Descriptor{}, []Image{}, []Blob{}, []Volume{}
	y.BlobTables = nil
	head, err := json.Marshal(&y)
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(head, []byte(headTail)) {
		return nil, errors.New("internal error: unexpected index encoding")
	}
	return head[:len(head)-len(headTail)], nil
}

// appendArray appends member name, holding list, as json.Marshal encodes
// it (null when nil), element by element, and the comma after it.
func appendArray[T any](out []byte, name string, list []T) ([]byte, error) {
	out = append(out, '"')
	out = append(out, name...)
	out = append(out, `":`...)
	if list == nil {
		return append(out, `null,`...), nil
	}
	out = append(out, '[')
	for i := range list {
		if i > 0 {
			out = append(out, ',')
		}
		b, err := json.Marshal(&list[i])
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return append(out, `],`...), nil
}

// arrayLen is len of what appendArray appends.
func arrayLen[T any](name string, list []T) (int, error) {
	n := len(`"":,`) + len(name)
	if list == nil {
		return n + len("null"), nil
	}
	n += len("[]") + max(len(list)-1, 0)
	for i := range list {
		b, err := json.Marshal(&list[i])
		if err != nil {
			return 0, err
		}
		n += len(b)
	}
	return n, nil
}

// indexSizer says how long json.Marshal(x) is without building it, as
// planning asks again and again while offsets settle: each blob entry
// without its placements is measured once, and placements and volumes,
// which planning changes, are counted digit by digit.
type indexSizer struct {
	rest      int   // everything but blob placements and volumes
	blobFixed []int // blob i's entry with "placements":[]
}

func newIndexSizer(x *Index) (*indexSizer, error) {
	head, err := marshalHead(x)
	if err != nil {
		return nil, err
	}
	manifests, err := arrayLen("manifests", x.Manifests)
	if err != nil {
		return nil, err
	}
	images, err := arrayLen("images", x.Images)
	if err != nil {
		return nil, err
	}
	// The head, the two arrays, and the blobs and volumes empty: size
	// counts their elements. Version 2: the blob tables in place of the
	// blobs.
	rest := len(head) + manifests + images + len(`"blobs":[],"volumes":[]}`)
	if x.FormatVersion == VersionV2 {
		rest = len(head) + manifests + images + len(`"blobTables":[],"volumes":[]}`)
	}
	s := &indexSizer{rest: rest, blobFixed: make([]int, len(x.Blobs))}
	for i := range x.Blobs {
		c := x.Blobs[i]
		c.Placements = []Placement{}
		b, err := json.Marshal(&c)
		if err != nil {
			return nil, err
		}
		s.blobFixed[i] = len(b)
	}
	return s, nil
}

func (s *indexSizer) size(x *Index) int {
	n := s.rest
	if x.FormatVersion == VersionV2 {
		for i, t := range x.BlobTables {
			if i > 0 {
				n++
			}
			n += blobTableEntryLen(t)
		}
		return n + volumesLen(x.Volumes)
	}
	for i := range x.Blobs {
		if i > 0 {
			n++ // ","
		}
		n += s.blobFixed[i]
		for j, p := range x.Blobs[i].Placements {
			if j > 0 {
				n++
			}
			n += placementLen(p)
		}
	}
	return n + volumesLen(x.Volumes)
}

// volumesLen is the length of the elements of the volumes array and the
// commas between them.
func volumesLen(vols []Volume) int {
	n := 0
	for i, v := range vols {
		if i > 0 {
			n++
		}
		// {"number":N,"size":S}
		n += len(`{"number":,"size":}`) + decimalLen(int64(v.Number)) + decimalLen(v.Size)
	}
	return n
}

// blobTableEntryLen is the length of t's blobTables entry:
// {"volume":N,"digest":"D","size":S,"count":C}.
func blobTableEntryLen(t BlobTable) int {
	return len(`{"volume":,"digest":"","size":,"count":}`) + decimalLen(int64(t.Volume)) + len(t.Digest) + decimalLen(t.Size) + decimalLen(int64(t.Count))
}

// placementLen is the length of p's entry in a blob's placements:
// {"volume":V,"offset":O,"length":L,"digest":"D"}.
func placementLen(p Placement) int {
	return len(`{"volume":,"offset":,"length":,"digest":""}`) + decimalLen(int64(p.Volume)) + decimalLen(p.Offset) + decimalLen(p.Length) + len(p.Digest)
}

// blobEntryLen is the length of blob i's entry, placements included.
func (s *indexSizer) blobEntryLen(x *Index, i int) int {
	n := s.blobFixed[i]
	for j, p := range x.Blobs[i].Placements {
		if j > 0 {
			n++
		}
		n += placementLen(p)
	}
	return n
}

// tableLens is the length of each volume's blob table (version 2):
// {"volume":N,"blobs":[…]} with the entries TableBlobs lists.
func (s *indexSizer) tableLens(x *Index) (lens []int64, counts []int) {
	lens = make([]int64, len(x.Volumes))
	counts = make([]int, len(x.Volumes))
	for i := range x.Blobs {
		b := &x.Blobs[i]
		var e int64 = -1
		last := 0
		for _, p := range b.Placements {
			if p.Volume == last || p.Volume < 1 || p.Volume > len(lens) {
				continue
			}
			if e < 0 {
				e = int64(s.blobEntryLen(x, i))
			}
			lens[p.Volume-1] += e
			counts[p.Volume-1]++
			last = p.Volume
		}
		if b.Base != "" && len(lens) > 0 {
			lens[0] += int64(s.blobEntryLen(x, i))
			counts[0]++
		}
	}
	for v := range lens {
		lens[v] += int64(len(`{"volume":,"blobs":[]}`)+decimalLen(int64(v+1))) + int64(max(counts[v]-1, 0))
	}
	return lens, counts
}

func decimalLen(v int64) int {
	n := 1
	if v < 0 {
		n, v = 2, -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
