package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// mergeWhole is AddManifests as it was, on the whole index decoded at
// once: the oracle the streaming merge is held to. It returns the
// index.json bytes after (nil: left as they were) and the changes.
func mergeWhole(t *testing.T, old []byte, descs []ocispec.Descriptor) ([]byte, []IndexChange) {
	t.Helper()
	idx := &ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if old != nil {
		if err := json.Unmarshal(old, idx); err != nil {
			t.Fatalf("oracle: %v", err)
		}
	}
	type key struct {
		ref    string
		digest digest.Digest
	}
	keyOf := func(d ocispec.Descriptor) key {
		if ref := d.Annotations[ocispec.AnnotationRefName]; ref != "" {
			return key{ref: ref}
		}
		return key{digest: d.Digest}
	}
	at := map[key]int{}
	for i, e := range idx.Manifests {
		if _, ok := at[keyOf(e)]; !ok {
			at[keyOf(e)] = i
		}
	}
	var changes []IndexChange
	for _, d := range descs {
		ref := d.Annotations[ocispec.AnnotationRefName]
		k := keyOf(d)
		i, found := at[k]
		switch {
		case !found:
			changes = append(changes, IndexChange{Ref: ref, New: d.Digest})
			at[k] = len(idx.Manifests)
			idx.Manifests = append(idx.Manifests, d)
		case idx.Manifests[i].Digest != d.Digest:
			changes = append(changes, IndexChange{Ref: ref, Old: idx.Manifests[i].Digest, New: d.Digest})
			idx.Manifests[i] = d
		}
	}
	if len(changes) == 0 && old != nil {
		return nil, nil
	}
	if idx.MediaType == "" {
		idx.MediaType = ocispec.MediaTypeImageIndex
	}
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return b, changes
}

// TestAddManifestsAgreesWithWholeMerge: merging an entry at a time gives
// index.json the bytes, and the caller the changes, that merging the
// decoded whole gave, over random indexes (tags moved, untagged entries,
// duplicate keys on both sides, null and missing manifests, other
// members in any case) and random entries to add.
func TestAddManifestsAgreesWithWholeMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var blobs []ocispec.Descriptor
	for i := range 3 {
		content := fmt.Appendf(nil, "manifest %d", i)
		blobs = append(blobs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(content), Size: int64(len(content))})
		p := filepath.Join(dir, "blobs", "sha256", digest.FromBytes(content).Encoded())
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, LayoutFile), []byte(LayoutFileContent), 0o644)
	rng := rand.New(rand.NewPCG(1, 2))
	entry := func() ocispec.Descriptor {
		d := blobs[rng.IntN(len(blobs))]
		if ref := []string{"", "a", "b", "c"}[rng.IntN(4)]; ref != "" {
			d.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
			if rng.IntN(3) == 0 {
				d.Annotations["x"] = "y"
			}
		}
		return d
	}
	cases := 400
	if testing.Short() {
		cases = 100
	}
	for c := range cases {
		var old []byte
		switch rng.IntN(8) {
		case 0: // no index.json
		case 1:
			old = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}`)
		case 2:
			old = []byte(`{"schemaVersion":2,"manifests":null,"Annotations":{"k":"v"}}`)
		default:
			var entries []string
			for range rng.IntN(6) {
				b, _ := json.Marshal(entry())
				entries = append(entries, string(b))
			}
			old = fmt.Appendf(nil, `{"MANIFESTS":[%s],"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","annotations":{"manifests":"x"}}`, strings.Join(entries, ","))
		}
		var descs []ocispec.Descriptor
		for range rng.IntN(5) {
			descs = append(descs, entry())
		}
		index := filepath.Join(dir, IndexFile)
		os.Remove(index)
		if old != nil {
			if err := os.WriteFile(index, old, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, wantChanges := mergeWhole(t, old, descs)
		l, err := openForWriting(dir)
		if err != nil {
			t.Fatal(err)
		}
		changes, err := l.AddManifests(descs)
		l.Close()
		if err != nil {
			t.Fatalf("case %d: %v", c, err)
		}
		got, _ := os.ReadFile(index)
		if want == nil {
			want = old
		}
		if !bytes.Equal(got, want) || !reflect.DeepEqual(changes, wantChanges) && len(changes)+len(wantChanges) > 0 {
			t.Fatalf("case %d: index.json %s, adding %+v:\n got %s, %+v\nwant %s, %+v", c, old, descs, got, changes, want, wantChanges)
		}
	}
}

// TestAddManifestsRefusesBadIndex: an index.json that is not one is
// reported with its path, and left as it is.
func TestAddManifestsRefusesBadIndex(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`{"manifests":[{}`, `{"manifests":[],"manifests":[]}`, `{"manifests":{}}`, `[]`, `{} {}`, `{"schemaVersion":"2"}`} {
		dir := t.TempDir()
		l, err := Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		index := filepath.Join(dir, IndexFile)
		os.WriteFile(index, []byte(bad), 0o644)
		_, err = l.AddManifests(nil)
		l.Close()
		if err == nil || !strings.Contains(err.Error(), index) {
			t.Errorf("%s: %v", bad, err)
		}
		if b, _ := os.ReadFile(index); string(b) != bad {
			t.Errorf("%s: index.json is now %s", bad, b)
		}
	}
}
