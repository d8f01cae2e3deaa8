package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
// copies it, which for a large index takes three times its size.
func MarshalIndex(x *Index) ([]byte, error) {
	sizer, err := newIndexSizer(x)
	if err != nil {
		return nil, err
	}
	y := *x
	y.Blobs, y.Volumes = []Blob{}, []Volume{}
	head, err := json.Marshal(&y)
	if err != nil {
		return nil, err
	}
	// Blobs and volumes are the last members: head ends with them empty.
	const tail = `"blobs":[],"volumes":[]}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, errors.New("internal error: unexpected index encoding")
	}
	out := make([]byte, 0, sizer.size(x))
	out = append(out, head[:len(head)-len(tail)]...)
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
	vols, err := json.Marshal(x.Volumes)
	if err != nil {
		return nil, err
	}
	out = append(out, `],"volumes":`...)
	out = append(out, vols...)
	out = append(out, '}')
	if len(out) != cap(out) {
		return nil, fmt.Errorf("internal error: index is %d bytes, planned %d", len(out), cap(out))
	}
	return out, nil
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
	y := *x
	y.Blobs, y.Volumes = []Blob{}, []Volume{}
	b, err := json.Marshal(&y)
	if err != nil {
		return nil, err
	}
	s := &indexSizer{rest: len(b), blobFixed: make([]int, len(x.Blobs))}
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
	for i := range x.Blobs {
		if i > 0 {
			n++ // ","
		}
		n += s.blobFixed[i]
		for j, p := range x.Blobs[i].Placements {
			if j > 0 {
				n++
			}
			// {"volume":V,"offset":O,"length":L,"digest":"D"}
			n += len(`{"volume":,"offset":,"length":,"digest":""}`) + decimalLen(int64(p.Volume)) + decimalLen(p.Offset) + decimalLen(p.Length) + len(p.Digest)
		}
	}
	for i, v := range x.Volumes {
		if i > 0 {
			n++
		}
		// {"number":N,"size":S}
		n += len(`{"number":,"size":}`) + decimalLen(int64(v.Number)) + decimalLen(v.Size)
	}
	return n
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
