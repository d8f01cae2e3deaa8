package bundle

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestOpenFilesCountsVolumeNumbers: between two bundles created at the same
// second, the one with more volumes among the files is chosen, and copies
// of one volume count once (SPEC.md 11.3). Bundle a is given as three
// copies of its volume 1, bundle b as its volumes 1 and 2: b has more
// volumes, a more files.
func TestOpenFilesCountsVolumeNumbers(t *testing.T) {
	t.Parallel()
	dirA, a := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Packer: "bundle-test a"})
	dirB, b := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Packer: "bundle-test b"})
	if a.Created != b.Created || a.BundleID == b.BundleID {
		t.Fatalf("want two bundles of the same time: %s %s, %s %s", a.BundleID, a.Created, b.BundleID, b.Created)
	}
	for _, tc := range []struct {
		name      string
		aCopies   int // copies of a's volume 1
		aVolume2  bool
		bVolumes  int // b's volumes 1..bVolumes
		wantID    string
		wantDups  int // duplicate volume numbers reported
		wantForgn int // foreign volumes reported
	}{
		{"more files, fewer volumes", 3, false, 2, b.BundleID, 0, 3},
		// a: volumes 1 (twice) and 2; b: volume 1.
		{"more volumes", 2, true, 1, a.BundleID, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Renamed copies are found when named explicitly (a directory
			// yields only files named like volumes, SPEC 11.3).
			dir := t.TempDir()
			va := volumeFiles(t, dirA)
			vb := volumeFiles(t, dirB)
			var files []string
			put := func(name string, data []byte) {
				files = append(files, filepath.Join(dir, name))
				mustWrite(t, files[len(files)-1], data)
			}
			for i := range tc.aCopies {
				put(fmt.Sprintf("a-copy%d.tar", i), mustRead(t, va[0]))
			}
			if tc.aVolume2 {
				put("a-vol2.tar", mustRead(t, va[1]))
			}
			for i := range tc.bVolumes {
				put(fmt.Sprintf("b-vol%d.tar", i+1), mustRead(t, vb[i]))
			}
			s, err := OpenFiles(context.Background(), files)
			if err != nil {
				t.Fatal(err)
			}
			if s.Index.BundleID != tc.wantID {
				t.Fatalf("chose bundle %s, want %s", s.Index.BundleID, tc.wantID)
			}
			var dups, foreign int
			for _, p := range s.Problems {
				var de *DuplicateVolumeError
				var fe *ForeignVolumeError
				switch {
				case errors.As(p, &de):
					dups++
				case errors.As(p, &fe):
					foreign++
				default:
					t.Errorf("unexpected problem: %v", p)
				}
			}
			if dups != tc.wantDups || foreign != tc.wantForgn {
				t.Errorf("%d duplicate and %d foreign volumes reported, want %d and %d: %v", dups, foreign, tc.wantDups, tc.wantForgn, s.Problems)
			}
		})
	}
}
