package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// sealed marshals x after laying its blobs out in order over its volumes
// (SPEC 7), to the fixed point where the offsets it holds are those the
// length of its own bytes gives.
func sealed(t testing.TB, x *Index) []byte {
	t.Helper()
	var b []byte
	for range 10 {
		prefix := x.PrefixSize(len(b))
		used := map[int]int64{}
		for i := range x.Blobs {
			for j := range x.Blobs[i].Placements {
				p := &x.Blobs[i].Placements[j]
				off, ok := used[p.Volume]
				if !ok {
					off = prefix
				}
				p.Offset = off + BlockSize
				used[p.Volume] = off + MemberSize(p.Length)
			}
		}
		for v := range x.Volumes {
			end, ok := used[v+1]
			if !ok {
				end = prefix
			}
			x.Volumes[v].Size = end + 2*BlockSize
		}
		nb, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(nb, b) {
			return b
		}
		b = nb
	}
	t.Fatal("no fixed point")
	return nil
}

func dg(s string) digest.Digest { return digest.FromString(s) }

// testIndex is a valid index of two volumes: a manifest, a layer split
// across both volumes, and a blob expected from a base.
func testIndex() *Index {
	layer := Blob{Digest: dg("layer"), Size: 3000, MediaType: ocispec.MediaTypeImageLayer, Encoding: CompressionNone,
		StoredSize: 3000, StoredDigest: dg("layer"),
		Placements: []Placement{{Volume: 1, Length: 1000, Digest: dg("part1")}, {Volume: 2, Length: 2000, Digest: dg("part2")}}}
	manifest := Blob{Digest: dg("manifest"), Size: 100, MediaType: ocispec.MediaTypeImageManifest, Encoding: CompressionNone,
		StoredSize: 100, StoredDigest: dg("manifest"), Placements: []Placement{{Volume: 1, Length: 100, Digest: dg("manifest")}}}
	fromBase := Blob{Digest: dg("config"), Size: 10, MediaType: ocispec.MediaTypeImageConfig, Base: strings.Repeat("b", 32), Placements: []Placement{}}
	return &Index{
		MediaType: MediaTypeIndex, FormatVersion: Version, BundleID: strings.Repeat("a", 32), Created: "2026-12-03T00:00:00Z",
		Packer: "test", Bases: []Base{{BundleID: strings.Repeat("b", 32), Index: dg("base")}}, Compression: CompressionZstd,
		LayoutIndex: Content{Digest: dg("index.json"), Size: 300},
		Manifests:   []ocispec.Descriptor{{MediaType: manifest.MediaType, Digest: manifest.Digest, Size: manifest.Size}},
		Images:      []Image{}, Blobs: []Blob{manifest, layer, fromBase}, Volumes: []Volume{{Number: 1}, {Number: 2}},
	}
}

// TestBaseRepositories: a base's repository lists are optional: without
// them the index is the bytes it was before they existed; with them they
// parse back as written.
func TestBaseRepositories(t *testing.T) {
	x := testIndex()
	b := sealed(t, x)
	if bytes.Contains(b, []byte("epositories")) {
		t.Fatalf("a base without repositories writes the member: %s", b)
	}
	x.Bases[0].Repositories = []string{"app", "localhost:5000/team/tool", "quay.io/ns/app", "team/x"}
	x.Bases[0].MirrorRepositories = []string{"airgap/quay.io/ns/app", "airgap/registry.example_5000/ns/app"}
	got, err := ParseIndex(sealed(t, x))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Bases) != fmt.Sprint(x.Bases) {
		t.Errorf("bases %v, want %v", got.Bases, x.Bases)
	}
}

// TestParseIndexRules breaks each rule of SPEC 6.5 that ParseIndex checks,
// one at a time, in an index that is valid otherwise.
func TestParseIndexRules(t *testing.T) {
	if _, err := ParseIndex(sealed(t, testIndex())); err != nil {
		t.Fatalf("the valid index: %v", err)
	}
	cases := []struct {
		rule   string
		break_ func(x *Index)
		raw    func(b []byte) []byte // applied to the sealed bytes instead
		want   string
	}{
		{rule: "1", raw: func(b []byte) []byte { return untouched(t, b, MaxIndexSize+1) }, want: "more than"},
		{rule: "2 unknown member", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"mediaType"`), []byte(`{"x":1,"mediaType"`), 1)
		}, want: "unknown field"},
		{rule: "2 data after", raw: func(b []byte) []byte { return append(b, "{}"...) }, want: "data after"},
		{rule: "2 wrong type", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"formatVersion":1`), []byte(`"formatVersion":"1"`), 1)
		}, want: "cannot unmarshal"},
		{rule: "3", break_: func(x *Index) { x.MediaType = "application/json" }, want: "mediaType"},
		{rule: "4", break_: func(x *Index) { x.FormatVersion = 3 }, want: "formatVersion 3"},
		{rule: "5", break_: func(x *Index) { x.BundleID = strings.Repeat("A", 32) }, want: "bundleId"},
		{rule: "6 offset", break_: func(x *Index) { x.Created = "2026-12-03T00:00:00+01:00" }, want: "created"},
		{rule: "6 fraction", break_: func(x *Index) { x.Created = "2026-12-03T00:00:00.5Z" }, want: "created"},
		{rule: "6 before 1970", break_: func(x *Index) { x.Created = "1969-12-31T23:59:59Z" }, want: "created"},
		{rule: "6 expires before created", break_: func(x *Index) { x.Expires = "2026-12-02T00:00:00Z" }, want: "expires"},
		{rule: "6 expires at created", break_: func(x *Index) { x.Expires = x.Created }, want: "expires"},
		{rule: "6 expires with offset", break_: func(x *Index) { x.Expires = "2027-12-03T00:00:00+01:00" }, want: "expires"},
		{rule: "6 expires not a time", break_: func(x *Index) { x.Expires = "next year" }, want: "expires"},
		{rule: "7", break_: func(x *Index) { x.Signer = &Signer{KeyID: "k"} }, want: "signer"},
		{rule: "8", break_: func(x *Index) { x.Compression = "gzip" }, want: "compression"},
		{rule: "9", break_: func(x *Index) { x.MaxVolumeSize = -1 }, want: "maxVolumeSize"},
		{rule: "10", break_: func(x *Index) { x.LayoutIndex.Digest = "sha512:00" }, want: "layoutIndex"},
		{rule: "11", break_: func(x *Index) { x.LayoutIndex.Size = 0 }, want: "layoutIndex size"},
		{rule: "12 id", break_: func(x *Index) { x.Bases[0].BundleID = "b" }, want: "base"},
		{rule: "12 twice", break_: func(x *Index) { x.Bases = append(x.Bases, x.Bases[0]) }, want: "listed twice"},
		{rule: "12 repositories unsorted", break_: func(x *Index) { x.Bases[0].Repositories = []string{"quay.io/ns/b", "quay.io/ns/a"} }, want: "not sorted"},
		{rule: "12 repositories twice", break_: func(x *Index) { x.Bases[0].Repositories = []string{"app", "app"} }, want: "listed twice"},
		{rule: "12 repositories tag", break_: func(x *Index) { x.Bases[0].Repositories = []string{"quay.io/ns/app:v1"} }, want: "repositories"},
		{rule: "12 repositories uppercase", break_: func(x *Index) { x.Bases[0].Repositories = []string{"quay.io/NS/app"} }, want: "path component"},
		{rule: "12 repositories empty name", break_: func(x *Index) { x.Bases[0].Repositories = []string{""} }, want: "repository name of 0 bytes"},
		{rule: "12 repositories long name", break_: func(x *Index) {
			x.Bases[0].Repositories = []string{"quay.io/" + strings.Repeat("a", MaxRepositoryLength)}
		}, want: "repository name of 263 bytes"},
		{rule: "12 repositories count", break_: func(x *Index) {
			for i := range MaxBaseRepositories + 1 {
				x.Bases[0].Repositories = append(x.Bases[0].Repositories, fmt.Sprintf("r%05d", i))
			}
		}, want: "1025 repositories, more than 1024"},
		{rule: "12 mirrorRepositories registry", break_: func(x *Index) { x.Bases[0].MirrorRepositories = []string{"mirror:5000/ns/app"} }, want: "mirrorRepositories"},
		{rule: "12 mirrorRepositories empty component", break_: func(x *Index) { x.Bases[0].MirrorRepositories = []string{"airgap//app"} }, want: "path component"},
		{rule: "2 repositories case variant", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"index":"`), []byte(`"Repositories":["app"],"index":"`), 1)
		}, want: "Repositories"},
		{rule: "2 repositories twice", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"index":"`), []byte(`"repositories":["a"],"repositories":["b"],"index":"`), 1)
		}, want: "repositories"},
		{rule: "13", break_: func(x *Index) { x.Volumes = nil }, want: "0 volumes"},
		{rule: "14 number", raw: func(b []byte) []byte { return bytes.Replace(b, []byte(`"number":2`), []byte(`"number":3`), 1) }, want: "listed as number"},
		{rule: "14 limit", break_: func(x *Index) { x.MaxVolumeSize = 1024 }, want: "within the limit"},
		{rule: "15 digest", break_: func(x *Index) { x.Blobs[1].Digest = "sha256:AB" }, want: "blob 1"},
		{rule: "15 twice", break_: func(x *Index) { x.Blobs[2].Digest = x.Blobs[1].Digest }, want: "listed twice"},
		{rule: "16", break_: func(x *Index) { x.Blobs[2].Size = -1 }, want: "negative size"},
		{rule: "17 unknown base", break_: func(x *Index) { x.Blobs[2].Base = strings.Repeat("c", 32) }, want: "not among bases"},
		{rule: "17 manifest from a base", break_: func(x *Index) { x.Blobs[2].MediaType = ocispec.MediaTypeImageIndex }, want: "cannot come from a base"},
		{rule: "18 encoding", break_: func(x *Index) { x.Blobs[1].Encoding = "gzip" }, want: "encoding"},
		{rule: "18 none", break_: func(x *Index) { x.Blobs[1].StoredDigest = dg("other") }, want: "unencoded"},
		{rule: "19", break_: func(x *Index) { x.Blobs[1].Placements = []Placement{} }, want: "0 placements"},
		{rule: "20 volume", break_: func(x *Index) { x.Blobs[1].Placements[1].Volume = 3 }, want: "volume 3 of 2"},
		{rule: "20 order", break_: func(x *Index) { x.Blobs[1].Placements[0].Volume, x.Blobs[1].Placements[1].Volume = 2, 1 }, want: "out of volume order"},
		{rule: "20 sum", break_: func(x *Index) { x.Blobs[1].Placements[1].Length = 1999 }, want: "storedSize"},
		{rule: "20 single digest", break_: func(x *Index) { x.Blobs[0].Placements[0].Digest = dg("x") }, want: "single placement"},
		{rule: "21", raw: func(b []byte) []byte {
			var x Index
			json.Unmarshal(b, &x)
			from := fmt.Sprintf(`{"number":1,"size":%d}`, x.Volumes[0].Size)
			return bytes.Replace(b, []byte(from), []byte(fmt.Sprintf(`{"number":1,"size":%d}`, x.Volumes[0].Size+512)), 1)
		}, want: "members end at"},
		{rule: "22", break_: func(x *Index) { x.Manifests[0].Digest = dg("nothing") }, want: "not among the blobs"},
		{rule: "23", break_: func(x *Index) {
			// The layer's first segment now follows the manifest, but a
			// new blob comes between its two segments.
			x.Blobs = append(x.Blobs, Blob{Digest: dg("other"), Size: 1, MediaType: "x", Encoding: CompressionNone, StoredSize: 1,
				StoredDigest: dg("other"), Placements: []Placement{{Volume: 1, Length: 1, Digest: dg("other")}}})
		}, want: "interrupted by"},
		{rule: "24", break_: func(x *Index) {
			x.Compression = CompressionNone
			x.Blobs[1].Encoding = CompressionZstd
		}, want: "zstd-encoded"},
		{rule: "25", break_: func(x *Index) { x.Manifests[0].Size = 99 }, want: "size or media type"},
	}
	for _, c := range cases {
		t.Run("rule "+c.rule, func(t *testing.T) {
			x := testIndex()
			if c.break_ != nil {
				c.break_(x)
			}
			b := sealed(t, x)
			if c.raw != nil {
				b = c.raw(b)
			}
			got, err := ParseIndex(b)
			if err == nil || got != nil {
				t.Fatalf("accepted (%v)", got != nil)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestVersionError(t *testing.T) {
	x := testIndex()
	x.FormatVersion = 3
	_, err := ParseIndex(sealed(t, x))
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Version != 3 {
		t.Fatalf("want a *VersionError for version 3, got %v", err)
	}
}

func TestCheckDigest(t *testing.T) {
	for _, c := range []struct {
		d  digest.Digest
		ok bool
	}{
		{dg("x"), true},
		{"sha256:" + digest.Digest(strings.Repeat("A", 64)), false},
		{"sha256:" + digest.Digest(strings.Repeat("a", 63)), false},
		{"sha512:" + digest.Digest(strings.Repeat("a", 128)), false},
		{"", false},
		{"nocolon", false},
	} {
		if err := CheckDigest(c.d); (err == nil) != c.ok {
			t.Errorf("CheckDigest(%q) = %v, want ok %v", c.d, err, c.ok)
		}
	}
}

// TestExpiresValid: an expiry after the creation time parses, and
// ExpiresTime gives it; none gives the zero time.
func TestExpiresValid(t *testing.T) {
	x := testIndex()
	if e, err := x.ExpiresTime(); err != nil || !e.IsZero() {
		t.Fatalf("no expiry: %v %v", e, err)
	}
	x.Expires = "2027-03-03T00:00:00Z"
	y, err := ParseIndex(sealed(t, x))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := y.ExpiresTime(); err != nil || e.Format("2006-01-02") != "2027-03-03" {
		t.Fatalf("expires %v %v", e, err)
	}
}
