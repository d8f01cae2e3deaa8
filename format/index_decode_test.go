package format

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestDecodeIndexSame: the index decoded blob by blob, presized and with
// its strings shared, is the one encoding/json decodes whole, value for
// value; and the strings are shared.
func TestDecodeIndexSame(t *testing.T) {
	docs := [][]byte{sealed(t, testIndex())}
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "vectors", "index-valid", "bundle.json")); err == nil {
		docs = append(docs, b)
	} else {
		t.Fatal(err)
	}
	docs = append(docs, []byte(`{"blobs":[]}`), []byte(`{"blobs":null}`), []byte(`{}`))
	for i, b := range docs {
		var want Index
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		for _, strict := range []bool{false, true} {
			got, err := decodeIndex(b, strict)
			if err != nil {
				t.Fatalf("doc %d: %v", i, err)
			}
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("doc %d (strict %v): decoded\n%+v\nwant\n%+v", i, strict, got, &want)
			}
		}
	}
	x, err := decodeIndex(docs[0], true)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range x.Blobs {
		if b.Encoding == CompressionNone && len(b.Placements) == 1 && (unsafe.StringData(string(b.StoredDigest)) != unsafe.StringData(string(b.Digest)) ||
			unsafe.StringData(string(b.Placements[0].Digest)) != unsafe.StringData(string(b.Digest))) {
			t.Errorf("blob %s: its digests are copies", b.Digest)
		}
	}
	refs := 0
	for _, b := range docs[:2] {
		x, err := decodeIndex(b, true)
		if err != nil {
			t.Fatal(err)
		}
		for i, im := range x.Images {
			if ref := x.Manifests[i].Annotations[ocispec.AnnotationRefName]; im.Ref != "" && unsafe.StringData(im.Ref) != unsafe.StringData(ref) {
				t.Errorf("image %d: its ref name %q is a copy of its entry's", i, im.Ref)
			}
			refs += len(im.Ref)
		}
	}
	if refs == 0 {
		t.Fatal("no image with a ref name to check")
	}
	if len(x.Blobs) > 1 && x.Blobs[0].MediaType == x.Blobs[1].MediaType &&
		unsafe.StringData(x.Blobs[0].MediaType) != unsafe.StringData(x.Blobs[1].MediaType) {
		t.Error("media types are copies")
	}
}

// TestDecodeIndexRefuses: what the decoder refused whole it refuses blob
// by blob; an unknown member of a blob, which the decoder of each blob
// does not look for, ParseIndex refuses before decoding (CheckStrictJSON).
func TestDecodeIndexRefuses(t *testing.T) {
	for _, doc := range []string{`{"blobs":5}`, `{"blobs":{}}`, `{"blobs":[{"size":"x"}]}`, `{"blobs":[1]}`, `{"blobs":[{"size":1},"x"]}`} {
		var x Index
		werr := json.Unmarshal([]byte(doc), &x)
		for _, strict := range []bool{false, true} {
			if _, err := decodeIndex([]byte(doc), strict); (err == nil) != (werr == nil) {
				t.Errorf("%s (strict %v): %v, encoding/json says %v", doc, strict, err, werr)
			}
		}
	}
	doc := sealed(t, testIndex())
	bogus := strings.Replace(string(doc), `"storedSize":`, `"bogus":1,"storedSize":`, 1)
	if _, err := ParseIndex([]byte(bogus)); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("an unknown member of a blob: %v", err)
	}
}
