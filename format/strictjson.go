package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Strict JSON (SPEC.md 6.1). encoding/json matches member names without
// regard to case ("FormatVersion" fills formatVersion, and so may
// "ſize", with a long s, fill size), keeps the last of duplicate members
// and replaces invalid UTF-8 and lone surrogate escapes with U+FFFD. Readers
// in other languages do otherwise (first member wins, or an error), so the
// same signed bytes could mean two things. checkStrictJSON refuses every
// such document before it is decoded, so that what this reader accepts
// means one thing to every conforming reader.

// jsonShape is what the format allows at one place of a document: an object
// with fixed member names (a Go struct), an object with free member names
// (a Go map), an array, or anything else (scalars, and places the decoder
// will reject anyway).
type jsonShape struct {
	fields map[string]*jsonShape // struct: member name -> shape of its value
	elem   *jsonShape            // map value or array element
	isMap  bool
	isList bool
	// size is the bytes a value of this place's declared type takes (a
	// slice header, a pointer, a struct) and deref, for a pointer, those
	// of what it points to, allocated when present: what CheckDecodeCost
	// counts.
	size, deref int64
}

var jsonShapes sync.Map // reflect.Type -> *jsonShape

// shapeOf derives the shape of t from its json tags, so that it follows the
// types ParseIndex and ParseInventory decode into.
func shapeOf(t reflect.Type) *jsonShape {
	if s, ok := jsonShapes.Load(t); ok {
		return s.(*jsonShape)
	}
	s := buildShape(t, map[reflect.Type]*jsonShape{})
	jsonShapes.Store(t, s)
	return s
}

func buildShape(t reflect.Type, seen map[reflect.Type]*jsonShape) *jsonShape {
	if s := seen[t]; s != nil {
		return s
	}
	s := &jsonShape{size: int64(t.Size())}
	seen[t] = s
	base := t
	if t.Kind() == reflect.Pointer {
		base = t.Elem()
		s.deref = int64(base.Size())
	}
	switch base.Kind() {
	case reflect.Struct:
		s.fields = map[string]*jsonShape{}
		addFields(s, base, seen)
	case reflect.Map:
		s.isMap, s.elem = true, buildShape(base.Elem(), seen)
	case reflect.Slice, reflect.Array:
		if base.Elem().Kind() != reflect.Uint8 { // []byte is a base64 string
			s.isList, s.elem = true, buildShape(base.Elem(), seen)
		}
	}
	return s
}

func addFields(s *jsonShape, t reflect.Type, seen map[reflect.Type]*jsonShape) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(s, ft, seen)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.fields[name] = buildShape(f.Type, seen)
	}
}

// MaxJSONDepth is encoding/json's nesting limit; deeper documents are
// refused by the decoder anyway.
const MaxJSONDepth = 10000

// checkStrictJSON checks that b, a JSON document meant to decode into a
// value of type t, has valid UTF-8 everywhere (escapes included: no lone
// surrogate), no object with two members of the same name, and, in every
// object that t gives fixed member names, only member names byte-equal to
// those. It checks no more of the syntax than it needs to: the decoder
// that runs next rejects the rest.
func CheckStrictJSON(b []byte, t reflect.Type) error {
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, n := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return fmt.Errorf("invalid UTF-8 at byte %d", off)
	}
	s := &strictScanner{b: b}
	s.space()
	return s.value(shapeOf(t), 0)
}

type strictScanner struct {
	b []byte
	i int
}

func (s *strictScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *strictScanner) syntax(what string) error {
	return fmt.Errorf("invalid JSON at byte %d: %s", s.i, what)
}

// value scans one value at s.i whose place has shape sh (nil: anything).
func (s *strictScanner) value(sh *jsonShape, depth int) error {
	if depth > MaxJSONDepth {
		return s.syntax("nested too deeply")
	}
	if s.i >= len(s.b) {
		return s.syntax("unexpected end")
	}
	switch s.b[s.i] {
	case '{':
		return s.object(sh, depth)
	case '[':
		var elem *jsonShape
		if sh != nil && sh.isList {
			elem = sh.elem
		}
		s.i++
		s.space()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.value(elem, depth+1); err != nil {
				return err
			}
			s.space()
			if s.i >= len(s.b) {
				return s.syntax("unexpected end in array")
			}
			switch s.b[s.i] {
			case ',':
				s.i++
				s.space()
			case ']':
				s.i++
				return nil
			default:
				return s.syntax("want , or ] in array")
			}
		}
	case '"':
		_, err := s.str()
		return err
	default:
		// A number or a literal: the decoder checks its syntax.
		start := s.i
		for s.i < len(s.b) && !isJSONDelim(s.b[s.i]) {
			s.i++
		}
		if s.i == start {
			return s.syntax("want a value")
		}
		return nil
	}
}

// object scans an object; the member names of a struct shape must be those
// of its fields, byte for byte.
func (s *strictScanner) object(sh *jsonShape, depth int) error {
	objStart := s.i
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	// On the stack for the usual objects (a blob has 8 members): grown
	// on the heap for each of an index's 300,000 objects, these names
	// were more than half of what reading the header allocated.
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	var seenMap map[string]bool // for objects with many members
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax("want a member name")
		}
		keyAt := s.i
		key, err := s.str()
		if err != nil {
			return err
		}
		var next *jsonShape
		switch {
		case sh != nil && sh.fields != nil:
			f, ok := sh.fields[string(key)]
			if !ok {
				return fmt.Errorf("unknown field %q at byte %d (member names are case-sensitive)", key, keyAt)
			}
			next = f
		case sh != nil && sh.isMap:
			next = sh.elem
		}
		dup := false
		if seenMap != nil {
			dup = seenMap[string(key)]
			seenMap[string(key)] = true
		} else {
			for _, k := range seen {
				if bytes.Equal(k, key) {
					dup = true
				}
			}
			seen = append(seen, key)
			if len(seen) > 32 {
				seenMap = map[string]bool{}
				for _, k := range seen {
					seenMap[string(k)] = true
				}
			}
		}
		if dup {
			return fmt.Errorf("member %q at byte %d appears twice in the object at byte %d", key, keyAt, objStart)
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax("want : after a member name")
		}
		s.i++
		s.space()
		if err := s.value(next, depth+1); err != nil {
			return err
		}
		s.space()
		if s.i >= len(s.b) {
			return s.syntax("unexpected end in object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("want , or } in object")
		}
	}
}

// str scans a string at s.i and returns its value (unescaped). Escaped
// surrogates must come in pairs: a lone one is not a Unicode character, and
// decoders disagree on what to make of it.
func (s *strictScanner) str() ([]byte, error) {
	start := s.i
	s.i++
	// Fast path: no escape before the closing quote. (Control characters
	// are left to the decoder, which refuses them.)
	if q := bytes.IndexByte(s.b[s.i:], '"'); q >= 0 && bytes.IndexByte(s.b[s.i:s.i+q], '\\') < 0 {
		s.i += q + 1
		return s.b[start+1 : s.i-1], nil
	}
	escaped := false
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			raw := s.b[start:s.i]
			if !escaped {
				return raw[1 : len(raw)-1], nil
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("invalid JSON string at byte %d: %w", start, err)
			}
			return []byte(v), nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return nil, s.syntax("unexpected end in string")
			}
			if s.b[s.i+1] != 'u' {
				s.i += 2
				continue
			}
			r, ok := s.hex4(s.i + 2)
			if !ok {
				return nil, s.syntax("bad \\u escape")
			}
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return nil, s.syntax("lone low surrogate escape")
			case r >= 0xD800 && r <= 0xDBFF:
				lo, ok := rune(0), s.i+7 < len(s.b) && s.b[s.i+6] == '\\' && s.b[s.i+7] == 'u'
				if ok {
					lo, ok = s.hex4(s.i + 8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return nil, s.syntax("lone high surrogate escape")
				}
				s.i += 12
			default:
				s.i += 6
			}
		case c < 0x20:
			return nil, s.syntax("control character in string")
		default:
			s.i++
		}
	}
	s.i = start
	return nil, s.syntax("unterminated string")
}

func (s *strictScanner) hex4(at int) (rune, bool) {
	if at+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[at:at+4]), 16, 16)
	return rune(v), err == nil
}

func isJSONDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}', ':', '"', '{', '[':
		return true
	}
	return false
}
