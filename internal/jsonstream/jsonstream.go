// Package jsonstream reads a JSON document that is one object with one
// large array member (an OCI index.json and its manifests, the rollback
// record and its bundles) an element at a time, so that a reader holds one
// element of the array, not the array.
package jsonstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadObject reads one JSON value from r: an object, or null (then it
// reads nothing more and returns array false). The member named arrayName,
// matched in any case as encoding/json matches names, must be null or an
// array; elem decodes its elements from dec one at a time (i counts them
// from 0), and array reports that it was an array. other gets every other
// member, its name and its bytes. The member given again replaces what it
// gave before, as json.Unmarshal has it: restart is called before each
// occurrence after the first to forget what elem was given; a nil restart
// refuses a second occurrence instead. It refuses a value that is not an
// object, and anything after the value but white space. Errors are json's
// or those of elem and other, unwrapped: the caller names the file.
func ReadObject(r io.Reader, arrayName string, restart func(), elem func(dec *json.Decoder, i int) error, other func(name string, raw json.RawMessage) error) (array bool, err error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return false, err
	}
	switch tok {
	case nil: // null: json.Unmarshal leaves the value as it is
	case json.Delim('{'):
		if array, err = members(dec, arrayName, restart, elem, other); err != nil {
			return false, err
		}
	default:
		return false, fmt.Errorf("starts with %v, not an object", tok)
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, errors.New("data after the object")
	}
	return array, nil
}

// members reads the members of the object dec is in, and its end.
func members(dec *json.Decoder, arrayName string, restart func(), elem func(dec *json.Decoder, i int) error, other func(name string, raw json.RawMessage) error) (array bool, err error) {
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		name, _ := tok.(string)
		if !strings.EqualFold(name, arrayName) {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return false, err
			}
			if err := other(name, raw); err != nil {
				return false, err
			}
			continue
		}
		if seen {
			if restart == nil {
				return false, fmt.Errorf("%q given twice", arrayName)
			}
			restart()
		}
		seen, array = true, false
		if tok, err = dec.Token(); err != nil {
			return false, err
		}
		if tok == nil {
			continue
		}
		if tok != json.Delim('[') {
			return false, fmt.Errorf("%q is %v, not an array", arrayName, tok)
		}
		array = true
		for i := 0; dec.More(); i++ {
			if err := elem(dec, i); err != nil {
				return false, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return false, err
		}
	}
	_, err = dec.Token() // the object's end
	return array, err
}
