package oci

import (
	"bytes"
	"encoding/json"
	"testing"

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
