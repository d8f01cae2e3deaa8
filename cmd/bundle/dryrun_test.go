package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRun: pack --dry-run plans what a pack of the same sources and
// options writes (images, blobs, what a base leaves out, the number of
// volumes) and writes nothing, not even the --out directory.
func TestDryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, env, args...) }
	k := filepath.Join(dir, "k")
	keygen(t, env, k)
	v1 := filepath.Join(dir, "v1")
	must(0, "pack", "--key", k+".key", "--out", v1, "oci:"+example+":app:v1")

	type plan struct {
		Groups []struct {
			Title  string
			Images []struct{ Ref, Digest string }
		}
		Images, Referrers, Blobs, FromBaseBlobs, CarriedBlobs, Volumes int
		HeaderBytes, MaxVolumeSize                                     int64
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"one volume", nil},
		{"small volumes", []string{"--max-size", "40K"}},
		{"small volumes on a base", []string{"--max-size", "40K", "--base", v1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.name == "small volumes" {
				t.Skip("\"small volumes on a base\" plans small volumes too, skipped by -short")
			}
			out := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			args := append([]string{"-q", "pack", "--key", k + ".key"}, tt.args...)
			var p plan
			js := must(0, append(args, "--dry-run", "--json", "--out", out, "oci:"+example)...)
			if err := json.Unmarshal([]byte(js), &p); err != nil {
				t.Fatalf("%v\n%s", err, js)
			}
			if p.HeaderBytes < 3*512 || (p.MaxVolumeSize > 0 && p.HeaderBytes >= p.MaxVolumeSize) {
				t.Errorf("header bytes %d (limit %d)", p.HeaderBytes, p.MaxVolumeSize)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("--dry-run made %s (%v)", out, err)
			}
			text := must(0, append(args, "--dry-run", "oci:"+example)...)
			must(0, append(args, "--out", out, "oci:"+example)...)
			var s struct {
				Images               []struct{ Ref, Digest string }
				Blobs, FromBaseBlobs int
				CarriedBlobs         int
				Volumes              []struct{ Number int }
			}
			if err := json.Unmarshal([]byte(must(0, "inspect", "--json", out)), &s); err != nil {
				t.Fatal(err)
			}
			if p.Images+p.Referrers != len(s.Images) || p.Blobs != s.Blobs || p.FromBaseBlobs != s.FromBaseBlobs ||
				p.CarriedBlobs != s.CarriedBlobs || p.Volumes != len(s.Volumes) {
				t.Errorf("dry run planned %+v; pack wrote %d images, %d blobs (%d from bases, %d carried), %d volumes",
					p, len(s.Images), s.Blobs, s.FromBaseBlobs, s.CarriedBlobs, len(s.Volumes))
			}
			for _, im := range s.Images {
				if im.Ref != "" && !strings.Contains(text, im.Ref) || !strings.Contains(text, im.Digest) && im.Ref != "" {
					t.Errorf("dry run text does not list %s %s:\n%s", im.Ref, im.Digest, text)
				}
			}
			if !strings.Contains(text, "command line: 4 images") {
				t.Errorf("dry run text:\n%s", text)
			}
		})
	}
	must(2, "pack", "--unsigned", "oci:"+example)
	// pack --json: what was packed, as inspect --json describes it.
	packed := filepath.Join(dir, "x")
	var a, b struct {
		BundleID, Signature string
		Images              []struct{ Ref, Digest string }
		Volumes             []struct{ Number int }
	}
	if err := json.Unmarshal([]byte(must(0, "-q", "pack", "--key", k+".key", "--max-size", "40K", "--json", "--out", packed, "oci:"+example)), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(must(0, "inspect", "--json", "--key", k+".pub", packed)), &b); err != nil {
		t.Fatal(err)
	}
	if a.BundleID != b.BundleID || a.Signature != "verified" || b.Signature != "verified" || len(a.Images) != len(b.Images) || len(a.Volumes) != len(b.Volumes) || len(a.Volumes) < 2 {
		t.Errorf("pack --json %+v, inspect --json %+v", a, b)
	}
}
