package jsonstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// read is ReadObject with the elements and other members collected.
func read(in string) (elems []string, others []string, array bool, err error) {
	array, err = ReadObject(strings.NewReader(in), "items", nil, func(dec *json.Decoder, i int) error {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		elems = append(elems, string(raw))
		return nil
	}, func(name string, raw json.RawMessage) error {
		others = append(others, name+"="+string(raw))
		return nil
	})
	return elems, others, array, err
}

func TestReadObject(t *testing.T) {
	for _, c := range []struct {
		in            string
		elems, others string // joined by " "
		array         bool
		err           string // in the error; "" none
	}{
		{in: `null`},
		{in: ` {} `},
		{in: `{"items":null,"a":1}`, others: "a=1"},
		{in: `{"items":[]}`, array: true},
		{in: `{"x":{"items":[9]},"ITEMS":[1,{"b":[2]},"s"],"y":[3]}`, elems: `1 {"b":[2]} "s"`, others: `x={"items":[9]} y=[3]`, array: true},
		{in: `{"items":[1],"Items":[2]}`, err: `"items" given twice`},
		{in: `{"items":{}}`, err: "not an array"},
		{in: `[1]`, err: "not an object"},
		{in: `{} {}`, err: "data after"},
		{in: `null x`, err: "data after"},
		{in: `{"items":[1,]}`, err: "invalid character"},
		{in: `{"items":[1]`, err: "EOF"},
		{in: ``, err: "EOF"},
	} {
		elems, others, array, err := read(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want an error saying %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(elems, " ") != c.elems || strings.Join(others, " ") != c.others || array != c.array {
			t.Errorf("%s: %q %q %v %v", c.in, elems, others, array, err)
		}
	}
	// Given again, the member replaces what it gave, as in Unmarshal.
	var got []string
	restarts := 0
	array, err := ReadObject(strings.NewReader(`{"items":[1,2],"x":0,"Items":[3],"ITEMS":null}`), "items", func() { got, restarts = nil, restarts+1 }, func(dec *json.Decoder, i int) error {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		got = append(got, string(raw))
		return err
	}, func(string, json.RawMessage) error { return nil })
	if err != nil || array || len(got) != 0 || restarts != 2 {
		t.Errorf("the member given three times, the last null: %v, %q, %d restarts, array %v", err, got, restarts, array)
	}
	stop := errors.New("stop")
	if _, err := ReadObject(strings.NewReader(`{"items":[1,2]}`), "items", nil, func(*json.Decoder, int) error { return stop }, nil); err != stop {
		t.Errorf("elem's error: %v", err)
	}
	if _, err := ReadObject(strings.NewReader(`{"a":1}`), "items", nil, nil, func(string, json.RawMessage) error { return stop }); err != stop {
		t.Errorf("other's error: %v", err)
	}
}

// FuzzReadObject holds ReadObject to json.Unmarshal of the whole.
func FuzzReadObject(f *testing.F) {
	for _, s := range []string{`null`, `{}`, `{"items":[1,"a",{"b":null}],"x":2}`, `{"ITEMS":null}`, `{"items":[],"items":[]}`, `[]`, `{} 1`, `{"items":[1,]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var elems []json.RawMessage
		_, err := ReadObject(bytes.NewReader(in), "items", func() { elems = elems[:0] }, func(dec *json.Decoder, i int) error {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			elems = append(elems, raw)
			return err
		}, func(string, json.RawMessage) error { return nil })
		var whole struct {
			Items []json.RawMessage `json:"items"`
		}
		werr := json.Unmarshal(in, &whole)
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(in, &obj) == nil // an object or null
		switch {
		case err == nil && werr != nil:
			t.Fatalf("%q read; Unmarshal: %v", in, werr)
		case err == nil && len(elems)+len(whole.Items) > 0:
			if len(elems) != len(whole.Items) {
				t.Fatalf("%q: %d elements, Unmarshal %d", in, len(elems), len(whole.Items))
			}
			for i := range elems {
				if !bytes.Equal(elems[i], whole.Items[i]) {
					t.Fatalf("%q: element %d is %s, Unmarshal %s", in, i, elems[i], whole.Items[i])
				}
			}
		case err != nil && werr == nil && isObject:
			t.Fatalf("%q refused (%v); Unmarshal reads it", in, err)
		}
	})
}
