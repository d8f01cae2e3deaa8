package format

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Memory before trust (SPEC 15). A bundle.json that nobody has vouched for
// yet may be up to MaxIndexSize bytes of anything. Decoded as it is, a
// document of empty objects (`"placements":[{},{},…]`, three bytes per
// placement) makes encoding/json allocate a 40-byte Placement for each,
// and growing the slice doubles that: 256 MiB of such bytes took 11.5 GB
// before validation could refuse them. So the header reader estimates,
// in one linear pass that allocates nothing, what decoding will allocate
// besides the strings (those are never longer decoded than written), and
// refuses an index whose estimate exceeds its own length plus
// DecodeSlack. A real index holds digests, sizes and media types in every
// object and estimates at under half its own length.

// DecodeCost is the estimate CheckDecodeCost compares with its limit, for
// tests and measurements.
func DecodeCost(b []byte, t reflect.Type) int64 {
	s := &costScanner{b: b, limit: 1 << 62}
	s.space()
	s.value(shapeOf(t), 0)
	return s.cost
}

// DecodeRatio: the estimate may be at most the index's length divided by
// this (plus DecodeSlack). Real indexes estimate at 0.45 to 0.5 of their
// length (the example layout; 300 images with a ref each): 1 leaves them
// twice that, and bounds the heap of a decode to about 5 times the
// index's length (TestHostileIndexMemory measures 4.9 at the limit).
const DecodeRatio = 1

// DecodeSlack is the estimated decoded size beyond the index's own length
// that a small index may need (a few objects with short members).
const DecodeSlack = 1 << 20

// ErrIndexTooDense is an index whose decoded form would take more memory
// than its length allows (see DecodeSlack): no writer produces one.
var ErrIndexTooDense = fmt.Errorf("bundle index would decode to more than %d bytes beyond its length", DecodeSlack)

// mapEntryCost is what one member of a map (annotations) takes once
// decoded, besides its strings: two string headers and the map's share.
const mapEntryCost = 64

// CheckDecodeCost refuses b, a document meant to decode into a value of
// type t, when decoding it would allocate more than len(b)+DecodeSlack
// bytes besides its strings (ErrIndexTooDense). It reads b once and
// allocates nothing but escaped member names; what is not JSON it leaves
// to the strict check and the decoder, which come next.
func CheckDecodeCost(b []byte, t reflect.Type) error {
	s := &costScanner{b: b, limit: int64(len(b))/DecodeRatio + DecodeSlack}
	s.space()
	s.value(shapeOf(t), 0)
	if s.over {
		return fmt.Errorf("%w (%d bytes long; stopped at byte %d)", ErrIndexTooDense, len(b), s.i)
	}
	return nil
}

type costScanner struct {
	b     []byte
	i     int
	cost  int64
	limit int64
	over  bool // the estimate passed the limit
	bad   bool // not JSON: stop, the strict check will say why
	// generic: count what decoding into any makes (genericCost), not
	// what decoding into the shapes makes.
	generic bool
}

func (s *costScanner) add(n int64) {
	s.cost += n
	if s.cost > s.limit {
		s.over = true
	}
}

func (s *costScanner) stop() bool { return s.over || s.bad }

func (s *costScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans the value at s.i, whose place is sh (nil: one that
// allocates nothing, or that the decoder refuses).
func (s *costScanner) value(sh *jsonShape, depth int) {
	if depth > MaxJSONDepth || s.i >= len(s.b) {
		s.bad = true
		return
	}
	if s.generic {
		switch s.b[s.i] {
		case '{':
			s.add(genericObject)
		case '[':
			s.add(genericArray)
		default:
			s.add(genericScalar)
		}
	}
	switch s.b[s.i] {
	case '{':
		s.object(sh, depth)
	case '[':
		var elem *jsonShape
		if sh != nil && sh.isList {
			elem = sh.elem
		}
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return
		}
		for !s.stop() {
			if elem != nil {
				// Each element is a slot of the slice (and growing the
				// slice copies slots: counted in the budget of SPEC 15).
				s.add(elem.size)
			}
			if s.generic {
				s.add(genericElem)
			}
			s.value(elem, depth+1)
			s.space()
			if s.stop() || s.i >= len(s.b) {
				s.bad = true
				return
			}
			switch s.b[s.i] {
			case ',':
				s.i++
				s.space()
			case ']':
				s.i++
				return
			default:
				s.bad = true
				return
			}
		}
	case '"':
		s.str()
	default:
		start := s.i
		for s.i < len(s.b) && !isJSONDelim(s.b[s.i]) {
			s.i++
		}
		if s.i == start {
			s.bad = true
		}
	}
}

func (s *costScanner) object(sh *jsonShape, depth int) {
	if sh != nil && sh.deref > 0 {
		s.add(sh.deref)
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return
	}
	for !s.stop() {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			s.bad = true
			return
		}
		key, ok := s.str()
		if !ok {
			return
		}
		var next *jsonShape
		switch {
		case sh != nil && sh.fields != nil:
			next = sh.fields[string(key)]
		case sh != nil && sh.isMap:
			s.add(mapEntryCost)
			next = sh.elem
		}
		if s.generic {
			s.add(genericMember)
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			s.bad = true
			return
		}
		s.i++
		s.space()
		s.value(next, depth+1)
		s.space()
		if s.stop() || s.i >= len(s.b) {
			s.bad = true
			return
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return
		default:
			s.bad = true
			return
		}
	}
}

// str skips the string at s.i and returns its value when it has no
// escape, or when it is short enough to unescape (member names: the
// strict check unescapes them too, so `"pl\u0061cements"` is placements).
func (s *costScanner) str() ([]byte, bool) {
	start := s.i
	s.i++
	escaped := false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.i++
			raw := s.b[start:s.i]
			if !escaped {
				return raw[1 : len(raw)-1], true
			}
			var v string
			if len(raw) > 1024 || json.Unmarshal(raw, &v) != nil {
				// No member name is this long: the place is unknown.
				return nil, true
			}
			return []byte(v), true
		case '\\':
			escaped = true
			s.i += 2
		default:
			s.i++
		}
	}
	s.bad = true
	return nil, false
}

// IndexSigner is the signer member of the bundle index b, found without
// decoding the rest: a reader given a key needs it to tell a wrong key
// from a bad signature before it trusts, and so decodes, anything else.
// It is nil when the member is null or absent.
func IndexSigner(b []byte) (*Signer, error) {
	var sg *Signer
	var err error
	found := false
	if !scanTop(b, func(key string, raw []byte) {
		if key == "signer" && !found {
			found = true
			if uerr := json.Unmarshal(raw, &sg); uerr != nil {
				err = fmt.Errorf("bundle index: signer: %w", uerr)
			}
		}
	}) {
		return nil, fmt.Errorf("bundle index: not a JSON object")
	}
	return sg, err
}

// parseIndexBounded is ParseIndex for bytes not yet trusted: the decode
// cost is checked first (CheckDecodeCost), and the bytes are decoded
// where they are (json.Unmarshal), not copied into a decoder's buffer as
// json.Decoder does (a second copy of up to MaxIndexSize bytes, grown by
// doubling). Unknown members are refused by CheckStrictJSON, as
// DisallowUnknownFields does in ParseIndex; the rules checked are the
// same (Validate), and TestParseIndexBoundedAgrees holds the two together.
func parseIndexBounded(b []byte) (*Index, error) {
	if len(b) > MaxIndexSize { // rule 1
		return nil, fmt.Errorf("bundle index is %d bytes, more than %d", len(b), MaxIndexSize)
	}
	t := reflect.TypeFor[Index]()
	if err := CheckDecodeCost(b, t); err != nil {
		return nil, err
	}
	if err := CheckStrictJSON(b, t); err != nil { // rule 2
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	// Presized within the budget: CheckDecodeCost counted every slot.
	x, err := decodeIndex(b, false)
	if err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	x.indexLen = len(b)
	if err := x.Validate(len(b)); err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	return x, nil
}
