package format

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
)

// JSON value equality (SPEC.md 5.2): index.json's manifests must be equal
// to bundle.json's as JSON values. Comparing through float64, as decoding
// into any does, makes 9007199254740993 equal 9007199254740992, so numbers
// are compared as exact decimals here.

// manifestsAgree reports whether the manifests member of index.json
// (layoutIndex) and that of bundle.json (indexBytes, already checked by
// ParseIndex) are equal JSON values. index.json must itself be strict JSON
// (checkStrictJSON): with a member twice, its value would depend on the
// reader.
func manifestsAgree(layoutIndex, indexBytes []byte) bool {
	got, ok := rawTopMember(layoutIndex, "manifests")
	if !ok {
		return false
	}
	want, ok := rawTopMember(indexBytes, "manifests")
	if !ok {
		return false
	}
	if CheckStrictJSON(layoutIndex, reflect.TypeFor[any]()) != nil {
		return false
	}
	// The same bytes (what the reference writer produces) are the same value.
	return bytes.Equal(got, want) || jsonValuesEqual(got, want)
}

// rawTopMember returns the bytes of the value of member name of the object
// b holds; ok is false when b is not an object or has no such member, or
// has it twice.
func rawTopMember(b []byte, name string) (raw []byte, ok bool) {
	s := &strictScanner{b: b}
	s.space()
	if s.i >= len(b) || b[s.i] != '{' {
		return nil, false
	}
	s.i++
	s.space()
	for s.i < len(b) && b[s.i] != '}' {
		if b[s.i] != '"' {
			return nil, false
		}
		key, err := s.str()
		if err != nil {
			return nil, false
		}
		s.space()
		if s.i >= len(b) || b[s.i] != ':' {
			return nil, false
		}
		s.i++
		s.space()
		start := s.i
		if err := s.value(nil, 1); err != nil {
			return nil, false
		}
		if string(key) == name {
			if raw != nil {
				return nil, false
			}
			raw = b[start:s.i]
		}
		s.space()
		if s.i < len(b) && b[s.i] == ',' {
			s.i++
			s.space()
		}
	}
	return raw, raw != nil
}

// jsonValuesEqual reports whether a and b hold equal JSON values: the same
// kind of value; objects with the same set of member names and equal values
// for each name, in any order; arrays of the same length with equal
// elements in order; strings with the same sequence of code points after
// unescaping (no normalization); numbers with the same decimal value (1,
// 1.0, 1e0 and 10E-1 are equal, and -0 equals 0); true, false and null only
// to themselves. Invalid JSON, or an object with a member twice, is equal
// to nothing.
func jsonValuesEqual(a, b []byte) bool {
	x, ok := decodeJSONValue(a)
	if !ok {
		return false
	}
	y, ok := decodeJSONValue(b)
	return ok && valuesEqual(x, y)
}

func decodeJSONValue(b []byte) (any, bool) {
	if CheckStrictJSON(b, reflect.TypeFor[any]()) != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return v, true
}

func valuesEqual(x, y any) bool {
	switch x := x.(type) {
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !valuesEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := y.(json.Number)
		return ok && decimalEqual(string(x), string(y))
	case string, bool, nil:
		return x == y
	}
	return false
}

// decimalEqual compares two JSON numbers as exact decimals, without
// building their values: 1e999999999 is compared as a digit string and an
// exponent, not expanded.
func decimalEqual(a, b string) bool {
	na, ea, oka := canonicalDecimal(a)
	nb, eb, okb := canonicalDecimal(b)
	return oka && okb && na == nb && ea.Cmp(eb) == 0
}

// canonicalDecimal writes a JSON number as sign and significant digits
// (no leading or trailing zero; "0" for zero, without sign) and the power
// of ten they are multiplied by.
func canonicalDecimal(s string) (digits string, exp *big.Int, ok bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	exp = new(big.Int)
	if hasExp {
		if _, ok := exp.SetString(strings.TrimPrefix(e, "+"), 10); !ok {
			return "", nil, false
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	d := intPart + frac
	exp.Sub(exp, big.NewInt(int64(len(frac))))
	for _, c := range d {
		if c < '0' || c > '9' {
			return "", nil, false
		}
	}
	d = strings.TrimLeft(d, "0")
	if d == "" {
		return "0", new(big.Int), true
	}
	t := strings.TrimRight(d, "0")
	exp.Add(exp, big.NewInt(int64(len(d)-len(t))))
	if neg {
		t = "-" + t
	}
	return t, exp, true
}
