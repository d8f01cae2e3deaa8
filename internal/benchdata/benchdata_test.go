package benchdata

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-bundle/bundle/oci"
)

// check opens dir with the oci package, walks every tagged manifest and
// index, and checks: every blob hashes to its name and has its size, every
// layer is a gzip'd tar whose uncompressed digest is the config's diff id,
// blobs/sha256 holds exactly the blobs reached, and info counts them right.
func check(t *testing.T, dir string, info *Info) {
	t.Helper()
	ctx := context.Background()
	l, err := oci.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tagged, err := l.Tagged("")
	if err != nil {
		t.Fatal(err)
	}
	if len(tagged) != len(info.Tags) {
		t.Fatalf("%d tagged entries, info lists %d tags", len(tagged), len(info.Tags))
	}
	seen := map[digest.Digest]bool{}
	reached := map[digest.Digest]int64{}
	platformsSeen := 0
	for i, top := range tagged {
		if got := top.Annotations[ocispec.AnnotationRefName]; got != info.Tags[i] {
			t.Fatalf("tag %d: %q, info says %q", i, got, info.Tags[i])
		}
		err := oci.Walk(ctx, l, top, oci.WalkOptions{}, seen, func(desc ocispec.Descriptor, content []byte) error {
			reached[desc.Digest] = desc.Size
			if content != nil {
				if oci.IsIndex(desc.MediaType) {
					var idx ocispec.Index
					if err := json.Unmarshal(content, &idx); err != nil {
						t.Fatal(err)
					}
					platformsSeen = max(platformsSeen, len(idx.Manifests))
					return nil
				}
				checkManifest(t, l, content)
				return nil
			}
			rc, err := l.Fetch(ctx, desc)
			if err != nil {
				return err
			}
			defer rc.Close()
			h := digest.SHA256.Digester()
			n, err := io.Copy(h.Hash(), rc)
			if err != nil {
				return err
			}
			if h.Digest() != desc.Digest || n != desc.Size {
				t.Errorf("blob %s: %d bytes hash to %s", desc.Digest, n, h.Digest())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if platformsSeen < 2 {
		t.Errorf("no multi-platform index (largest index has %d manifests)", platformsSeen)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		size, ok := reached[d]
		if !ok {
			t.Errorf("blob %s is not referenced", e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(b) != d || int64(len(b)) != size {
			t.Errorf("blob %s: content hashes to %s, %d bytes (descriptor: %d)", e.Name(), digest.FromBytes(b), len(b), size)
		}
		total += size
	}
	if len(ents) != len(reached) || info.Blobs != len(ents) || info.Bytes != total {
		t.Errorf("%d files, %d blobs reached, %d bytes; info says %d blobs, %d bytes", len(ents), len(reached), total, info.Blobs, info.Bytes)
	}
	if info.SharedLayers == 0 || info.Configs == 0 || info.Indexes != 1 || info.Layers+info.Configs+info.Manifests+info.Indexes != info.Blobs {
		t.Errorf("info: %+v", *info)
	}
}

// checkManifest checks that the layers are gzip'd tars matching the diff
// ids of the config.
func checkManifest(t *testing.T, l *oci.Layout, content []byte) {
	t.Helper()
	ctx := context.Background()
	var m ocispec.Manifest
	if err := json.Unmarshal(content, &m); err != nil {
		t.Fatal(err)
	}
	cb, err := oci.ReadManifest(ctx, l, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: m.Config.Digest, Size: m.Config.Size})
	if err != nil {
		t.Fatal(err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cb, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		t.Fatalf("config has %d diff ids for %d layers", len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	for i, ld := range m.Layers {
		rc, err := l.Fetch(ctx, ld)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(rc)
		if err != nil {
			t.Fatalf("layer %s: %v", ld.Digest, err)
		}
		h := digest.SHA256.Digester()
		tr := tar.NewReader(io.TeeReader(zr, h.Hash()))
		files := 0
		for {
			_, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", ld.Digest, err)
			}
			files++
		}
		io.Copy(io.Discard, zr) // the zero blocks after the trailer
		rc.Close()
		if h.Digest() != cfg.RootFS.DiffIDs[i] || files == 0 {
			t.Errorf("layer %s: %d files, tar digest %s, config says %s", ld.Digest, files, h.Digest(), cfg.RootFS.DiffIDs[i])
		}
	}
}

func TestSizeMode(t *testing.T) {
	o := Options{Size: 3 << 20, Seed: 7}
	a, b := t.TempDir(), t.TempDir()
	info, err := Generate(a, o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, a, info)
	if info.Bytes < o.Size*9/10 || info.Bytes > o.Size*11/10 {
		t.Errorf("%d bytes for a size of %d", info.Bytes, o.Size)
	}
	if info.LargestLayer < o.Size/8 || info.SmallestLayer > 16<<10 || len(info.Tags) < 8 {
		t.Errorf("layers from %d to %d bytes, %d tags", info.SmallestLayer, info.LargestLayer, len(info.Tags))
	}
	if !o.Matches(info) || (Options{Size: o.Size, Seed: 8}).Matches(info) {
		t.Error("Matches")
	}
	// The same options give the same bytes (index.json names them all).
	if _, err := Generate(b, Options{Size: o.Size, Seed: 7, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	ia, _ := os.ReadFile(filepath.Join(a, "index.json"))
	ib, _ := os.ReadFile(filepath.Join(b, "index.json"))
	if !bytes.Equal(ia, ib) {
		t.Error("two runs with one seed gave different layouts")
	}
	if _, err := Generate(a, o); err == nil {
		t.Error("Generate into a non-empty directory did not fail")
	}
}

func TestScaleMode(t *testing.T) {
	o := Options{Blobs: 500, Seed: 3}
	dir := t.TempDir()
	info, err := Generate(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, dir, info)
	if info.Blobs < o.Blobs || info.Blobs > o.Blobs+4 || info.LargestLayer > 16<<10 || !o.Matches(info) {
		t.Errorf("asked for %d blobs: %+v", o.Blobs, *info)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"2G": 2 << 30, "512M": 512 << 20, "4GiB": 4 << 30, "1.5g": 3 << 29, "100k": 100 << 10, "1048576": 1 << 20, "1MB": 1 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "2X", "abc", "NaN"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) did not fail", in)
		}
	}
}

func TestSplitShape(t *testing.T) {
	o := Options{Size: 4 << 20, Split: true, Seed: 5}
	dir := t.TempDir()
	info, err := Generate(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, dir, info)
	// One layer of about half the set, which volumes of a quarter of it
	// split; few blobs, as in a real set of a few images.
	if info.Mode != "split" || info.LargestLayer < o.Size*45/100 || info.Blobs != 24 || info.Bytes < o.Size*9/10 || info.Bytes > o.Size*11/10 {
		t.Errorf("split shape of %d bytes: %+v", o.Size, *info)
	}
	if !o.Matches(info) || (Options{Size: o.Size, Seed: o.Seed}).Matches(info) {
		t.Error("Matches: the split shape and the size mode are different data sets")
	}
	if _, err := Generate(t.TempDir(), Options{Blobs: 100, Split: true}); err == nil {
		t.Error("the split shape with Blobs did not fail")
	}
}
