package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// TestVerifyDamagedHeaderIsNotAlsoMissing: a volume given whose header is
// too damaged to be read is reported as that volume, failed, with its
// path, and not a second time as a volume not given (which told the user
// to look for media they had given). A damaged file whose name does not
// say which volume it is leaves that volume missing, as nothing else can
// tell.
func TestVerifyDamagedHeaderIsNotAlsoMissing(t *testing.T) {
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	if len(x.Volumes) < 3 {
		t.Fatalf("want at least 3 volumes, got %d", len(x.Volumes))
	}
	ctx := context.Background()
	for _, c := range []struct {
		name        string
		off         int64 // in volume 2
		rename      string
		wantFailed  []int
		wantMissing []int
	}{
		{name: "padding of the first member", off: 600, wantFailed: []int{2}},
		{name: "first tar header", off: 0, wantFailed: []int{2}},
		{name: "name says nothing", off: 600, rename: "second.tar", wantMissing: []int{2}},
		{name: "name of another set", off: 600, rename: format.VolumeFileName(2, len(x.Volumes)+1), wantMissing: []int{2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBundle(t, orig)
			path := volumeFiles(t, dir)[1]
			xorByte(t, path, c.off, 0x01)
			paths := []string{dir}
			if c.rename != "" {
				// Given by name, as a user gives a file off a medium.
				to := filepath.Join(t.TempDir(), c.rename)
				if err := os.Rename(path, to); err != nil {
					t.Fatal(err)
				}
				path = to
				paths = append(paths, to)
			}
			r, err := verifyFiles(ctx, paths, verifyOpts{AllowUnsigned: true})
			if err == nil {
				t.Fatal("Verify passed a damaged volume")
			}
			if !errors.As(err, new(*format.CorruptError)) {
				t.Errorf("error is not a CorruptError: %v", err)
			}
			if r == nil {
				t.Fatalf("no report: %v", err)
			}
			if !slices.Equal(r.Failed, c.wantFailed) || !slices.Equal(r.Missing, c.wantMissing) {
				t.Errorf("failed %v, missing %v; want failed %v, missing %v", r.Failed, r.Missing, c.wantFailed, c.wantMissing)
			}
			// What a caller whose Trust failed reports, before any check.
			if u := r.Set.UncheckedReport(); !slices.Equal(u.Failed, c.wantFailed) || !slices.Equal(u.Missing, c.wantMissing) || len(u.Verified) != 0 {
				t.Errorf("unchecked report: verified %v, failed %v, missing %v", u.Verified, u.Failed, u.Missing)
			}
			var me *MissingVolumesError
			if gotMissing := errors.As(err, &me); gotMissing != (len(c.wantMissing) > 0) {
				t.Errorf("error reports missing volumes: %v, want %v: %v", gotMissing, len(c.wantMissing) > 0, err)
			}
			for _, n := range c.wantFailed {
				if r.Path(n) != path {
					t.Errorf("volume %d's path %q, want the damaged file %s", n, r.Path(n), path)
				}
			}
			res := r.Result(err)
			for _, v := range res.Volumes {
				want := "ok"
				switch {
				case slices.Contains(c.wantFailed, v.Number):
					want = "failed"
				case slices.Contains(c.wantMissing, v.Number):
					want = "missing"
				}
				if v.Verdict != want {
					t.Errorf("volume %d: verdict %q, want %q", v.Number, v.Verdict, want)
				}
			}
		})
	}
}

// TestUnpackIntoAFile: a layout destination that is a file is refused by
// its path, before anything is read under it (the rollback record was
// named before: "open FILE/airgap-bundle-history.json: not a
// directory"), and the file is left as it was.
func TestUnpackIntoAFile(t *testing.T) {
	t.Parallel()
	dir, _ := packLayout(t, PackOptions{})
	file := filepath.Join(t.TempDir(), "afile")
	mustWrite(t, file, []byte("mine"))
	for _, tag := range []string{"", ":v1"} {
		_, err := unpackFiles(context.Background(), []string{dir}, "oci:"+file+tag, unpackOpts{AllowUnsigned: true})
		if err == nil || !strings.Contains(err.Error(), file+" is a file, not a directory") {
			t.Errorf("unpack into oci:%s%s: %v", file, tag, err)
		}
		if got := string(mustRead(t, file)); got != "mine" {
			t.Errorf("the file holds %q", got)
		}
	}
}
