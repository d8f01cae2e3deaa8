package oci

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestWriteIndexJSON: index.json written an entry at a time is the bytes
// json.Marshal makes of the whole, whatever members the index has
// (annotations that mention "manifests" included).
func TestWriteIndexJSON(t *testing.T) {
	d := digest.FromString("m")
	entry := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 7,
		Annotations: map[string]string{ocispec.AnnotationRefName: "a<b>&c", "x": `"manifests":null`},
		Platform:    &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}
	cases := map[string]ocispec.Index{
		"nil manifests":   {MediaType: ocispec.MediaTypeImageIndex},
		"empty manifests": {MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}},
		"one":             {MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{entry}},
		"three, subject and annotations": {MediaType: ocispec.MediaTypeImageIndex, ArtifactType: `"manifests":null`,
			Manifests:   []ocispec.Descriptor{entry, {MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: 1}, entry},
			Subject:     &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 7},
			Annotations: map[string]string{"manifests": "null"}},
	}
	for name, idx := range cases {
		idx.SchemaVersion = 2
		want, err := json.Marshal(&idx)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := WriteIndexJSON(&got, &idx); err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: %v\n got %s\nwant %s", name, err, got.Bytes(), want)
		}
	}
}

// TestIndexSharesStrings: the entries of a layout's index.json, as Index
// reads them, hold one string for each media type and annotation name
// they repeat, not a copy each.
func TestIndexSharesStrings(t *testing.T) {
	dir := t.TempDir()
	var idx ocispec.Index
	idx.SchemaVersion, idx.MediaType = 2, ocispec.MediaTypeImageIndex
	for i := range 3 {
		idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
			Digest: digest.FromString(string(rune('a' + i))), Size: 7, Annotations: map[string]string{ocispec.AnnotationRefName: string(rune('a' + i))},
			Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}})
	}
	b, err := json.Marshal(&idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LayoutFile), LayoutFileContent, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Index()
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	key := func(m map[string]string) string {
		for k := range m {
			return k
		}
		return ""
	}
	first := got.Manifests[0]
	for i, e := range got.Manifests[1:] {
		if !same(e.MediaType, first.MediaType) || !same(key(e.Annotations), key(first.Annotations)) || !same(e.Platform.OS, first.Platform.OS) {
			t.Errorf("entry %d holds its own copies", i+1)
		}
		if e.Annotations[ocispec.AnnotationRefName] != string(rune('b'+i)) {
			t.Errorf("entry %d: ref %q", i+1, e.Annotations[ocispec.AnnotationRefName])
		}
	}
}
