package oci_test

import (
	"context"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestWalkParsedMatchesWalk: WalkParsed visits what Walk visits, in the
// same order, and hands over what Children and Subject say of each
// manifest and index, parsed once.
func TestWalkParsedMatchesWalk(t *testing.T) {
	l, err := oci.Open(example)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	idx, err := l.Index()
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range idx.Manifests {
		var want []digest.Digest
		if err := oci.Walk(context.Background(), l, root, oci.WalkOptions{}, nil, func(d ocispec.Descriptor, _ []byte) error {
			want = append(want, d.Digest)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var got []digest.Digest
		seen := map[digest.Digest]bool{}
		err := oci.WalkParsed(context.Background(), l, root, oci.WalkOptions{}, func(d digest.Digest) bool { return seen[d] },
			func(d ocispec.Descriptor, m *oci.Parsed) error {
				seen[d.Digest] = true
				got = append(got, d.Digest)
				isMeta := oci.IsIndex(d.MediaType) || oci.IsManifest(d.MediaType)
				if (m != nil) != isMeta {
					t.Errorf("%s (%s): parsed %v", d.Digest, d.MediaType, m != nil)
				}
				if m == nil {
					return nil
				}
				kids, err := oci.Children(d, m.Content)
				if err != nil || !reflect.DeepEqual(kids, m.Children) {
					t.Errorf("%s: children %v, Children says %v (%v)", d.Digest, m.Children, kids, err)
				}
				if s := oci.Subject(m.Content); !reflect.DeepEqual(s, m.Subject) {
					t.Errorf("%s: subject %v, Subject says %v", d.Digest, m.Subject, s)
				}
				var typed ocispec.Manifest
				if ok := json.Unmarshal(m.Content, &typed) == nil; ok != m.ManifestTyped {
					t.Errorf("%s: ManifestTyped %v", d.Digest, m.ManifestTyped)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("root %s: WalkParsed visits %v, Walk %v", root.Digest, got, want)
		}
	}
}

// memFetcher serves contents by digest.
type memFetcher map[digest.Digest][]byte

func (f memFetcher) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(string(f[d.Digest]))), nil
}

// TestWalkParsedManifestTyped: a member Children does not read but an
// ocispec.Manifest types (schemaVersion, artifactType, annotations) of the
// wrong type does not fail the walk; ManifestTyped says so, as decoding
// into an ocispec.Manifest would. A member Children reads of the wrong type
// fails it, as before.
func TestWalkParsedManifestTyped(t *testing.T) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2}`
	for _, tc := range []struct {
		content string
		typed   bool
		fails   bool
	}{
		{`{"schemaVersion":2,"config":` + cfg + `,"annotations":{"a":"b"}}`, true, false},
		{`{"schemaVersion":"2","config":` + cfg + `}`, false, false},
		{`{"schemaVersion":2,"artifactType":5,"config":` + cfg + `}`, false, false},
		{`{"schemaVersion":2,"annotations":{"a":1},"config":` + cfg + `}`, false, false},
		{`{"schemaVersion":2,"annotations":null,"config":` + cfg + `,"subject":null}`, true, false},
		{`{"schemaVersion":2,"config":` + cfg + `,"layers":5}`, false, true},
	} {
		var typed ocispec.Manifest
		if ok := json.Unmarshal([]byte(tc.content), &typed) == nil; ok != tc.typed && !tc.fails {
			t.Fatalf("%s: the test expects typed %v, json says %v", tc.content, tc.typed, ok)
		}
		root := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(tc.content), Size: int64(len(tc.content))}
		f := memFetcher{root.Digest: []byte(tc.content)}
		var parsed *oci.Parsed
		seen := map[digest.Digest]bool{}
		err := oci.WalkParsed(context.Background(), f, root, oci.WalkOptions{}, func(d digest.Digest) bool { return seen[d] },
			func(d ocispec.Descriptor, m *oci.Parsed) error {
				seen[d.Digest] = true
				if d.Digest == root.Digest {
					parsed = m
				}
				return nil
			})
		if (err != nil) != tc.fails {
			t.Fatalf("%s: %v", tc.content, err)
		}
		if tc.fails {
			continue
		}
		if parsed.ManifestTyped != tc.typed || parsed.Config == nil || len(parsed.Children) != 1 {
			t.Errorf("%s: typed %v, config %v, children %v", tc.content, parsed.ManifestTyped, parsed.Config, parsed.Children)
		}
	}
}
