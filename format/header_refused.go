package format

import (
	"bytes"
	"encoding/json"
)

// IndexRefusedError is a volume whose bundle.json HeaderReader.VerifyIndex
// refused, with what its header says of it, read without decoding the
// index: a reader tells a volume of the bundle it reads, whose signature
// fails, from a volume of another bundle lying beside it (SPEC 11.3).
// BundleID, Created and Total come from bytes nobody vouched for; Number
// is 0 unless volume.json agrees with them.
type IndexRefusedError struct {
	Path     string
	BundleID string
	Created  string
	Number   int
	Total    int
	Err      error
}

func (e *IndexRefusedError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *IndexRefusedError) Unwrap() error { return e.Err }

// refused describes the volume whose index b VerifyIndex refused with
// err; p is past the signature member, at volume.json.
func (p *prefixReader) refused(b []byte, err error) *IndexRefusedError {
	e := &IndexRefusedError{Path: p.path, Err: err}
	scanTop(b, func(key string, raw []byte) {
		switch key {
		case "bundleId":
			json.Unmarshal(raw, &e.BundleID)
		case "created":
			json.Unmarshal(raw, &e.Created)
		case "volumes":
			e.Total = countElements(raw)
		}
	})
	if len(e.BundleID) > 64 || len(e.Created) > 64 {
		// Not what a writer makes: nothing to say about it.
		e.BundleID, e.Created = "", ""
	}
	if marker, _, merr := p.member(MemberVolume, BlockSize-1); merr == nil && e.BundleID != "" {
		var m markerJSON
		if json.Unmarshal(marker, &m) == nil && m.Volume >= 1 && m.Volume <= e.Total &&
			bytes.Equal(marker, VolumeMarker(e.BundleID, m.Volume, e.Total)) {
			e.Number = m.Volume
		}
	}
	return e
}

// scanTop calls f with each top-level member of the object b and the raw
// bytes of its value, in one pass that decodes nothing; it stops at the
// first thing that is not JSON.
func scanTop(b []byte, f func(key string, raw []byte)) bool {
	s := &costScanner{b: b, limit: 1 << 62}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	s.space()
	for s.i < len(s.b) && s.b[s.i] != '}' {
		key, ok := s.str()
		if !ok {
			return false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		at := s.i
		s.value(nil, 1)
		if s.bad {
			return false
		}
		f(string(key), s.b[at:s.i])
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
		}
	}
	return s.i < len(s.b)
}

// countElements is the number of elements of the JSON array raw (0 if
// it is not one).
func countElements(raw []byte) int {
	s := &costScanner{b: raw, limit: 1 << 62}
	if len(raw) < 2 || raw[0] != '[' {
		return 0
	}
	s.i = 1
	s.space()
	n := 0
	for s.i < len(s.b) && s.b[s.i] != ']' {
		s.value(nil, 1)
		if s.bad {
			return n
		}
		n++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			s.space()
		}
	}
	return n
}

// Generic decoding (into any, as the comparison of index.json's manifests
// with bundle.json's does, SPEC 5.2) makes a record for every value: an
// interface, and a slice or a map. Two equal JSON values have the same
// values in the same structure, so the same structural count below; one
// that differs is not equal, and is refused without being decoded: an
// index.json of 64 MiB of "[[],[],…]" would otherwise decode to gigabytes
// before trust, whatever bundle.json holds.
const (
	genericScalar = 16 // an interface holding a string, number or literal
	genericArray  = 40 // an interface and a slice header
	genericElem   = 16 // a slot of the slice
	genericObject = 48 // an interface and a map
	genericMember = 64 // a map entry
)

// genericCost is the structural count of the JSON value raw (decoded into
// any), or -1 when raw is not JSON.
func genericCost(raw []byte) int64 {
	s := &costScanner{b: raw, limit: 1 << 62, generic: true}
	s.space()
	s.value(nil, 0)
	if s.bad {
		return -1
	}
	return s.cost
}

// sameStructure reports whether the manifests of index.json and of
// bundle.json can be equal JSON values: it is false for values whose
// structure differs, which need not be decoded to be told apart.
func sameStructure(layoutIndex, indexBytes []byte) bool {
	got, ok1 := rawTopMember(layoutIndex, "manifests")
	want, ok2 := rawTopMember(indexBytes, "manifests")
	if !ok1 || !ok2 || bytes.Equal(got, want) {
		return true // the comparison decides, without decoding
	}
	return genericCost(got) == genericCost(want)
}
