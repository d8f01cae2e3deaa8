package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
)

// TestParseIndexStrictJSON: documents that encoding/json alone would read
// one way and another reader another way are refused (SPEC.md 6.1), and
// the ones that differ only in harmless ways still pass. Each "bad" case
// passes ParseIndex without checkStrictJSON.
func TestParseIndexStrictJSON(t *testing.T) {
	t.Parallel()
	dir, _ := packLayout(t, PackOptions{})
	good, _ := readBundleIndexBytes(t, dir)
	if _, err := format.ParseIndex(good); err != nil {
		t.Fatal(err)
	}
	s := string(good)
	replace := func(old, new string) []byte {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("%q not in the index", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	// Offsets in the index depend on its length: an accepted variant must
	// keep it, which trailing spaces do.
	sameLen := func(b []byte) []byte {
		if len(b) < len(good) {
			return append(b, bytes.Repeat([]byte(" "), len(good)-len(b))...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		want string // "" means accepted
	}{
		{"as packed", good, ""},
		{"escaped member name", sameLen(replace(`"packer"`, `"p\u0061cker"`)), ""},
		{"whitespace", sameLen(replace(`"formatVersion":1`, `"formatVersion" : 1`)), ""},
		{"case variant top level", replace(`"formatVersion"`, `"FormatVersion"`), "unknown field \"FormatVersion\""},
		{"case variant nested", replace(`"storedSize"`, `"storedsize"`), "unknown field \"storedsize\""},
		{"case variant in descriptor", replace(`"artifactType"`, `"ArtifactType"`), "unknown field \"ArtifactType\""},
		{"case variant in platform", replace(`"architecture"`, `"Architecture"`), "unknown field \"Architecture\""},
		{"long s folds to s", replace(`"size"`, "\"\u017fize\""), "unknown field"},
		{"kelvin sign folds to k", replace(`"packer"`, "\"pac\u212aer\""), "unknown field"},
		{"duplicate top level", replace(`"packer":"bundle-test"`, `"packer":"x","packer":"bundle-test"`), "appears twice"},
		{"duplicate nested", replace(`"encoding":"none"`, `"encoding":"zstd","encoding":"none"`), "appears twice"},
		{"duplicate annotation", replace(`"annotations":{`, `"annotations":{"a":"1","a":"2",`), "appears twice"},
		{"duplicate by escape", replace(`"packer":"bundle-test"`, `"packer":"x","p\u0061cker":"bundle-test"`), "appears twice"},
		{"invalid UTF-8 in a string", replace(`"packer":"bundle-test"`, "\"packer\":\"bundle-\xfftest\""), "invalid UTF-8"},
		{"invalid UTF-8 in whitespace", sameLen(append(bytes.Clone(good), 0xc3)), "invalid UTF-8"},
		{"lone high surrogate", replace(`"packer":"bundle-test"`, `"packer":"bundle-\ud800test"`), "surrogate"},
		{"lone low surrogate", replace(`"packer":"bundle-test"`, `"packer":"bundle-\udc00test"`), "surrogate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := format.ParseIndex(tc.doc)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ParseIndex: %v, want it accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ParseIndex: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestCheckStrictJSON covers the scanner on its own: annotations keep free
// member names (case variants of each other are distinct names there), and
// an escaped surrogate pair is a character like any other.
func TestCheckStrictJSON(t *testing.T) {
	t.Parallel()
	idx := reflect.TypeFor[format.Index]()
	for _, tc := range []struct {
		doc, want string
	}{
		{`{"manifests":[{"annotations":{"a":"1","A":"2"}}]}`, ""},
		{`{"packer":"\ud83d\ude00"}`, ""},
		{`{"packer":"\\ud800"}`, ""}, // an escaped backslash, then text
		{`{"manifests":[{"annotations":{"a":"1","a":"1"}}]}`, "appears twice"},
		{`{"manifests":[{"platform":{"os.version":"1","OS.version":"1"}}]}`, "unknown field"},
		{`{"bases":[{"bundleId":"x","index":"y","Index":"y"}]}`, "unknown field"},
		{`{"blobs":[{"placements":[{"volume":1,"volume":2}]}]}`, "appears twice"},
		{`{"packer":"\ud800\u0041"}`, "surrogate"},
		{`{"packer":"x`, "unterminated"},
		{`{"packer" 1}`, "want :"},
		{strings.Repeat("[", format.MaxJSONDepth+2), "nested too deeply"},
	} {
		err := format.CheckStrictJSON([]byte(tc.doc), idx)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%.60s: %v, want %q", tc.doc, err, tc.want)
		}
	}
	// Objects with many members switch to a map for duplicates.
	var b strings.Builder
	b.WriteString(`{"manifests":[{"annotations":{`)
	for i := range 100 {
		b.WriteString(`"k` + strings.Repeat("x", i) + `":"v",`)
	}
	b.WriteString(`"kxxxxx":"v"}}]}`)
	if err := format.CheckStrictJSON([]byte(b.String()), idx); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate among 101 annotations: %v", err)
	}
}

// TestParseInventoryStrictJSON: inventories are read with the same rules.
func TestParseInventoryStrictJSON(t *testing.T) {
	t.Parallel()
	v := &Inventory{Destination: "oci:/srv/mirror", Created: "2026-11-21T10:00:00Z", Blobs: []format.Content{{Digest: digest.FromString("a"), Size: 3}}}
	b, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, tc := range []struct{ name, doc, want string }{
		{"case variant", strings.Replace(s, `"verified"`, `"Verified"`, 1), "unknown field \"Verified\""},
		{"duplicate", strings.Replace(s, `"verified":false`, `"verified":true,"verified":false`, 1), "appears twice"},
		{"duplicate nested", strings.Replace(s, `"size":3`, `"size":4,"size":3`, 1), "appears twice"},
		{"invalid UTF-8", strings.Replace(s, `oci:/srv/mirror`, "oci:/srv/\xffmirror", 1), "invalid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseInventory([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseInventory: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// strictByTokens is an independent, slower statement of the strict rules
// for the fuzz target: json.Decoder tokens, every object's names distinct,
// and no two names of one object equal under Unicode case folding unless
// the object is annotations.
func strictByTokens(b []byte) error {
	if !utf8Valid(b) {
		return errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj    bool
		names  []string
		free   bool
		expKey bool
	}
	var stack []*frame
	lastKey := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, isKey := tok.(string); isKey && top != nil && top.obj && top.expKey {
			for _, n := range top.names {
				if n == k || (!top.free && strings.EqualFold(n, k)) {
					return errors.New("duplicate or case variant " + k)
				}
			}
			top.names = append(top.names, k)
			top.expKey = false
			lastKey = k
			continue
		}
		if top != nil && top.obj {
			top.expKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, expKey: true, free: lastKey == "annotations"})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].expKey = true
			}
		}
	}
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\x00") == string(b) }
