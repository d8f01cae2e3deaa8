package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
)

// Format version 2 (SPEC 18): the same content packed in both versions
// unpacks to the same layout; every volume of version 2 verifies alone;
// only volume 1 carries index.json; no volume carries another volume's
// blob entries.
func TestFormatV2RoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		max    int64
		signed bool
	}{
		{"one volume", 0, false},
		{"small volumes, signed", 40 << 10, true},
		{"blobs split over many volumes", 24 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := PackOptions{MaxVolumeSize: tc.max, FormatVersion: format.Version}
			pol := TrustPolicy{AllowUnsigned: true}
			if tc.signed {
				opts.Signer = testSigner(t)
				v, err := sign.NewVerifier(opts.Signer.Public())
				if err != nil {
					t.Fatal(err)
				}
				pol = TrustPolicy{Key: v}
			}
			v1dir, v1 := packLayout(t, opts)
			opts.FormatVersion = format.VersionV2
			dir, x := packLayout(t, opts)
			if x.FormatVersion != format.VersionV2 || x.MediaType != format.MediaTypeIndexV2 || v1.FormatVersion != format.Version {
				t.Fatalf("versions %d (%s) and %d", x.FormatVersion, x.MediaType, v1.FormatVersion)
			}
			if x.BundleID == v1.BundleID {
				t.Errorf("both versions have bundle id %s", x.BundleID)
			}
			vols := volumeFiles(t, dir)
			if len(vols) != len(x.Volumes) || len(x.BlobTables) != len(vols) {
				t.Fatalf("%d volume files, %d in the index, %d blob tables", len(vols), len(x.Volumes), len(x.BlobTables))
			}
			if tc.max > 0 && len(vols) < 3 {
				t.Fatalf("%d volumes, want several", len(vols))
			}
			split := false
			for i := range x.Blobs {
				p := x.Blobs[i].Placements
				split = split || (len(p) > 1 && p[0].Volume != p[len(p)-1].Volume)
			}
			if tc.max == 24<<10 && !split {
				t.Fatal("no blob spans volumes")
			}
			for i, v := range vols {
				data := mustRead(t, v)
				if tc.max > 0 && int64(len(data)) > tc.max {
					t.Errorf("%s: %d bytes, limit %d", v, len(data), tc.max)
				}
				members, _ := scanVolume(t, data)
				hasLayoutIndex := false
				for _, m := range members {
					hasLayoutIndex = hasLayoutIndex || m.Name == format.MemberOCIIndex
				}
				if hasLayoutIndex != (i == 0) {
					t.Errorf("%s: index.json present: %v", v, hasLayoutIndex)
				}
				// The table lists the blobs with a segment here and no other.
				table := findMember(t, members, format.MemberBlobTable)
				blobs, err := format.ParseBlobTable(x, i+1, data[table.DataOff:table.DataOff+table.Size])
				if err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				for _, b := range blobs {
					here := false
					for _, p := range b.Placements {
						here = here || p.Volume == i+1
					}
					if !here && b.Base == "" {
						t.Errorf("%s lists blob %s, which has no segment in it", v, b.Digest)
					}
				}
				// Each volume verifies alone.
				r, err := verifyFiles(ctx, []string{v}, verifyOpts{Key: pol.Key, AllowUnsigned: pol.AllowUnsigned, Partial: true})
				if err != nil || len(r.Verified) != 1 {
					t.Errorf("verify %s alone: %v (%v)", v, err, r)
				}
			}
			if r, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: pol.Key, AllowUnsigned: pol.AllowUnsigned}); err != nil || len(r.Verified) != len(vols) {
				t.Fatalf("verify: %v (%v)", err, r)
			}
			want := filepath.Join(t.TempDir(), "v1")
			if _, err := unpackFiles(ctx, []string{v1dir}, want, unpackOpts{Key: pol.Key, AllowUnsigned: pol.AllowUnsigned}); err != nil {
				t.Fatalf("unpack version 1: %v", err)
			}
			got := filepath.Join(t.TempDir(), "v2")
			ux, err := unpackFiles(ctx, []string{dir}, got, unpackOpts{Key: pol.Key, AllowUnsigned: pol.AllowUnsigned})
			if err != nil {
				t.Fatalf("unpack version 2: %v", err)
			}
			if len(ux.Blobs) != len(v1.Blobs) {
				t.Errorf("the set holds %d blobs, version 1 had %d", len(ux.Blobs), len(v1.Blobs))
			}
			// The history records the bundle id, which differs.
			a, b := treeHash(t, want), treeHash(t, got)
			delete(a, HistoryFileName)
			delete(b, HistoryFileName)
			if !maps.Equal(a, b) {
				t.Errorf("layouts unpacked from versions 1 and 2 differ:\n%v\n%v", a, b)
			}
		})
	}
}

// A version 2 volume whose blob table was altered is refused, naming the
// volume and blobs.json, even though bundle.json is intact.
func TestFormatV2TableTampered(t *testing.T) {
	t.Parallel()
	dir, x := packLayout(t, PackOptions{FormatVersion: format.VersionV2, MaxVolumeSize: 40 << 10})
	vols := volumeFiles(t, dir)
	data := mustRead(t, vols[1])
	members, _ := scanVolume(t, data)
	table := findMember(t, members, format.MemberBlobTable)
	// Same length, another digit in an offset.
	i := bytes.Index(data[table.DataOff:table.DataOff+table.Size], []byte(`"offset":`)) + int(table.DataOff) + len(`"offset":`)
	data[i] = '0' + (data[i]-'0'+1)%10
	if err := os.WriteFile(vols[1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := verifyFiles(context.Background(), vols[1:2], verifyOpts{AllowUnsigned: true, Partial: true})
	var ce *format.CorruptError
	if err == nil || !errors.As(err, &ce) || ce.Member != format.MemberBlobTable || ce.Volume != 2 {
		t.Fatalf("tampered table of %s (bundle %s): got %v", vols[1], x.BundleID, err)
	}
}

// A version 2 bundle pushed into a registry: every image by its tag with
// its digest, and every blob of the merged tables there.
func TestFormatV2Push(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a docker-registry; TestFormatV2RoundTrip unpacks version 2 into a layout in -short")
	}
	ctx := context.Background()
	reg := testregistry.Start(t, testregistry.Options{})
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeEmptyAuth(t), Insecure: []string{reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	dir, x := packLayout(t, PackOptions{FormatVersion: format.VersionV2, MaxVolumeSize: 24 << 10})
	s, err := OpenFiles(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Unpack(ctx, NewRegistryDestination(regs, mirror.Mapping{Mirror: reg.Host, Prefix: "v2"}, RegistryDestinationOptions{}), UnpackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Images) == 0 || r.BlobsPut == 0 {
		t.Fatalf("pushed %d images, %d blobs", len(r.Images), r.BlobsPut)
	}
	for _, im := range r.Images {
		host, path, _ := strings.Cut(im.Target, "/")
		path, tag, _ := strings.Cut(path, ":")
		repo, err := regs.Repository(ctx, host, path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(ctx, tag)
		if err != nil || d.Digest != im.Digest {
			t.Errorf("%s: %v, digest %s, want %s", im.Target, err, d.Digest, im.Digest)
		}
	}
	if len(s.Index.Blobs) != len(x.Blobs) {
		t.Errorf("the set holds %d blobs, the bundle %d", len(s.Index.Blobs), len(x.Blobs))
	}
}

// Tables that match the signed digests but break a rule are the packer's
// mistake: the error says to have the bundle packed again, not to copy
// the volume again.
func TestFormatV2PackedWrongAdvice(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		packed bool
		want   string
	}{
		{"corrupt-blobs-json-altered", false, "copy this volume again"},
		{"corrupt-table-not-tiling", true, "packed wrong"},
		{"corrupt-split-blob-tables-differ", true, "packed wrong"},
	} {
		t.Run(c.name, func(t *testing.T) {
			paths, _ := filepath.Glob(filepath.Join("..", "testdata", "vectors", "v2", c.name, "*.tar"))
			if len(paths) == 0 {
				t.Fatalf("no volumes for vector %s", c.name)
			}
			_, err := verifyFiles(context.Background(), paths, verifyOpts{AllowUnsigned: true, Partial: true})
			var ce *format.CorruptError
			if !errors.As(err, &ce) || ce.Packed != c.packed || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v (%+v), want Packed %v and %q", err, ce, c.packed, c.want)
			}
		})
	}
}

// SPEC.md 16.4 shows the version 2 bundle the command it gives writes:
// the bundle id, table digests and volume sizes it quotes are those this
// writer makes of the same input, so the example cannot go stale.
func TestSpecExampleV2(t *testing.T) {
	t.Parallel()
	spec := string(mustRead(t, filepath.Join("..", "SPEC.md")))
	start := strings.Index(spec, "### 16.4 ")
	end := strings.Index(spec, "## 17.")
	if start < 0 || end < start {
		t.Fatal("no section 16.4 in SPEC.md")
	}
	example := spec[start:end]
	_, x := packSources(t, []Source{layoutSource(t, exampleLayout, "app:v1")}, PackOptions{FormatVersion: format.VersionV2,
		MaxVolumeSize: 26624, Packer: "bundle 0.1.0-dev", Created: time.Unix(1700000000, 0)})
	want := []string{x.BundleID, x.LayoutIndex.Digest.String()}
	for _, bt := range x.BlobTables {
		want = append(want, bt.Digest.String(), fmt.Sprintf(`"size": %d`, bt.Size))
	}
	for _, v := range x.Volumes {
		want = append(want, fmt.Sprintf(`"size": %d`, v.Size))
	}
	for _, w := range want {
		if !strings.Contains(example, w) {
			t.Errorf("SPEC.md 16.4 does not show %s, which the writer makes of its input: regenerate the example", w)
		}
	}
}

// A bundle of format version 2 as the base of a delta: given as the
// directory of its volumes, or as its one volume file, it supplies the
// blobs its tables list; one volume of several, or its bare bundle.json,
// is refused, as they do not list its blobs.
func TestFormatV2Base(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	one, x1 := packLayout(t, PackOptions{FormatVersion: format.VersionV2})
	several, _ := packLayout(t, PackOptions{FormatVersion: format.VersionV2, MaxVolumeSize: 40 << 10})
	for _, path := range []string{one, volumeFiles(t, one)[0], several} {
		b, err := LoadBase(ctx, path, nil)
		if err != nil {
			t.Fatalf("LoadBase(%s): %v", path, err)
		}
		if len(b.Index.Blobs) != len(x1.Blobs) {
			t.Errorf("LoadBase(%s): %d blobs, the bundle has %d", path, len(b.Index.Blobs), len(x1.Blobs))
		}
		_, d := packLayout(t, PackOptions{FormatVersion: format.VersionV2, Bases: []*BaseBundle{b}})
		carried := 0
		for _, blob := range d.Blobs {
			if blob.Base == "" {
				carried++
			}
		}
		if carried == len(d.Blobs) {
			t.Errorf("a delta against %s carries every blob", path)
		}
	}
	bare := filepath.Join(t.TempDir(), "bundle.json")
	data := mustRead(t, volumeFiles(t, one)[0])
	members, _ := scanVolume(t, data)
	m := findMember(t, members, format.MemberIndex)
	mustWrite(t, bare, data[m.DataOff:m.DataOff+m.Size])
	for _, path := range []string{volumeFiles(t, several)[1], bare} {
		if _, err := LoadBase(ctx, path, nil); err == nil || !strings.Contains(err.Error(), "format version 2") {
			t.Errorf("LoadBase(%s): %v, want a refusal naming format version 2", path, err)
		}
	}
}

// bundle.json read again, once Trust released it, from a volume of
// format version 2 other than the first: it starts earlier there (no
// index.json), and a second Trust and a countersignature need it.
func TestFormatV2IndexReadAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, _ := packLayout(t, PackOptions{FormatVersion: format.VersionV2, MaxVolumeSize: 40 << 10, Signer: testSigner(t)})
	v, err := sign.NewVerifier(testSigner(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenFiles(ctx, volumeFiles(t, dir)[1:2])
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(s.IndexBytes)
	if err := s.Trust(TrustPolicy{Key: v}); err != nil {
		t.Fatal(err)
	}
	if s.IndexBytes != nil {
		t.Fatal("Trust kept bundle.json: the test proves nothing")
	}
	got, err := s.ReadIndexBytes(ctx)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("bundle.json read again from volume 2: %v", err)
	}
	if err := s.Trust(TrustPolicy{Key: v}); err != nil {
		t.Errorf("second Trust: %v", err)
	}
}
