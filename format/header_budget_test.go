package format

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseIndexBoundedAgrees: the header reader's decode (no copy, the
// decode cost checked first) accepts and refuses what ParseIndex does, on
// the index vectors and on damaged copies of the valid one.
func TestParseIndexBoundedAgrees(t *testing.T) {
	files, _ := filepath.Glob("../testdata/vectors/index-*/bundle.json")
	if len(files) == 0 {
		t.Fatal("no index vectors")
	}
	var docs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	valid, _ := os.ReadFile("../testdata/vectors/index-valid/bundle.json")
	for i := 0; i < len(valid); i += 7 {
		for _, c := range []byte{'x', '"', '{', '}', ',', ' ', '0'} {
			d := bytes.Clone(valid)
			d[i] = c
			docs = append(docs, d)
		}
	}
	docs = append(docs, append(bytes.Clone(valid), " x"...), append(bytes.Clone(valid), " {}"...), []byte("null"), []byte(""))
	for i, d := range docs {
		_, err1 := ParseIndex(d)
		_, err2 := parseIndexBounded(d)
		if (err1 == nil) != (err2 == nil) {
			t.Errorf("doc %d: ParseIndex: %v; parseIndexBounded: %v\n%s", i, err1, err2, d)
		}
	}
}

// TestCheckDecodeCost: documents whose objects are emptier than any writer
// makes are refused before decoding, member names escaped or not; real
// ones pass with room.
func TestCheckDecodeCost(t *testing.T) {
	idx := reflect.TypeFor[Index]()
	many := func(prefix, elem string, n int) []byte {
		return []byte(prefix + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + `]}]}`)
	}
	n := 2*DecodeSlack/40 + 1000
	for name, doc := range map[string][]byte{
		"empty placements":         many(`{"blobs":[{"placements":[`, `{}`, n),
		"escaped member name":      many(`{"blobs":[{"pl\u0061cements":[`, `{}`, n),
		"empty blobs":              []byte(`{"blobs":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}`),
		"annotations":              []byte(`{"manifests":[{"annotations":{` + strings.TrimSuffix(strings.Repeat(`"":"",`, n), ",") + `}}]}`),
		"nested in unknown places": many(`{"blobs":[{"placements":[`, `{"x":[[[]]]}`, n),
		// Three bytes, a string header of 16: a base's repository lists
		// are counted as every other list is.
		"empty repository names": many(`{"bases":[{"repositories":[`, `""`, DecodeSlack/8),
		"empty mirror paths":     many(`{"bases":[{"mirrorRepositories":[`, `""`, DecodeSlack/8),
	} {
		// (Repeated annotation names are the strict check's to refuse:
		// the estimate counts every member.)
		if err := CheckDecodeCost(doc, idx); !errors.Is(err, ErrIndexTooDense) {
			t.Errorf("%s: %v, want ErrIndexTooDense", name, err)
		}
	}
	valid, _ := os.ReadFile("../testdata/vectors/index-valid/bundle.json")
	if c := DecodeCost(valid, idx); c > int64(len(valid)) || CheckDecodeCost(valid, idx) != nil {
		t.Errorf("a real index estimates at %d for %d bytes", c, len(valid))
	}
	// Not JSON: left to the strict check.
	for _, bad := range []string{"", "{", `{"blobs":[{"placements":[{}`, `"\`, "[[[[", "}"} {
		if err := CheckDecodeCost([]byte(bad), idx); err != nil {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestIndexSigner(t *testing.T) {
	for doc, want := range map[string]string{
		`{"mediaType":"x","signer":{"keyId":"k","algorithm":"a"},"blobs":[{}]}`: "k/a",
		`{"blobs":[{"x":"}"}],"signer":{"keyId":"k2","algorithm":"a"}}`:         "k2/a",
		`{"signer":null}`: "",
		`{"blobs":[]}`:    "",
	} {
		s, err := IndexSigner([]byte(doc))
		got := ""
		if s != nil {
			got = s.KeyID + "/" + s.Algorithm
		}
		if err != nil || got != want {
			t.Errorf("IndexSigner(%s) = %q, %v; want %q", doc, got, err, want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"signer":{"keyId":1}}`, `{"signer":`} {
		if _, err := IndexSigner([]byte(bad)); err == nil {
			t.Errorf("IndexSigner(%s): no error", bad)
		}
	}
}

// TestSameStructure: equal JSON values have the same structural count
// however written; values of another structure are told apart unread.
func TestSameStructure(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{`[{"a":1,"b":[1,2]}]`, `[ {"b":[1, 2.0], "a":1e0} ]`, true},
		{`[{"a":"x"}]`, `[{"\u0061":"\u0078"}]`, true},
		{`[[],[]]`, `[{}]`, false},
		{`[{"a":1}]`, `[{"a":1},{"a":1}]`, false},
		{`[{"a":[]}]`, `[{"a":{}}]`, false},
	} {
		li := []byte(`{"manifests":` + c.a + `}`)
		bi := []byte(`{"manifests":` + c.b + `}`)
		if got := sameStructure(li, bi); got != c.same {
			t.Errorf("sameStructure(%s, %s) = %v", c.a, c.b, got)
		}
		if c.same && !manifestsAgree(li, bi) {
			t.Errorf("%s and %s: not equal values", c.a, c.b)
		}
	}
}
