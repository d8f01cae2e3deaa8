package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// cutSink is a DirSink whose process dies at the commit: the journal is
// written, then only the first steps of it are carried out (renames, then
// removals, as applyJournal orders them), and the lock goes as a killed
// process's would.
type cutSink struct {
	*DirSink
	steps int // -1: killed before the journal
}

func (c *cutSink) Commit() error {
	if c.steps < 0 {
		for _, tmp := range c.written {
			if err := syncFile(tmp); err != nil {
				return err
			}
		}
	} else {
		j, err := c.commitPoint()
		if err != nil {
			return err
		}
		var ops []func() error
		for _, r := range j.Rename {
			ops = append(ops, func() error { return os.Rename(filepath.Join(c.Dir, r.From), filepath.Join(c.Dir, r.To)) })
		}
		for _, n := range j.Remove {
			ops = append(ops, func() error { return os.Remove(filepath.Join(c.Dir, n)) })
		}
		for _, op := range ops[:min(c.steps, len(ops))] {
			if err := op(); err != nil {
				return err
			}
		}
	}
	c.release()
	c.written = nil // what a dead process's Abort would not remove
	return nil
}

// packInto packs the example layout into dir through sink, as one bundle
// ("old", volumes of 40K) or another ("new", one volume).
func packInto(t *testing.T, sink Sink, which string) error {
	t.Helper()
	o := PackOptions{Created: testCreated, Packer: "bundle-test"}
	if which == "old" {
		o.MaxVolumeSize = 40_000
	}
	_, err := Pack(context.Background(), []Source{layoutSource(t, exampleLayout, "")}, sink, o)
	return err
}

func reference(t *testing.T, which string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if err := packInto(t, &DirSink{Dir: dir}, which); err != nil {
		t.Fatal(err)
	}
	return treeHash(t, dir)
}

func sameTree(t *testing.T, dir string, want map[string]string) bool {
	t.Helper()
	got := treeHash(t, dir)
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// A pack killed at any step of its commit leaves a directory that the next
// reader, or the next pack, brings to exactly the new bundle; killed before
// its commit point, exactly the old one, its temporary files removed by the
// next pack.
func TestDirSinkKilledInCommit(t *testing.T) {
	t.Parallel()
	oldTree, newTree := reference(t, "old"), reference(t, "new")
	if len(oldTree) < 3 {
		t.Fatalf("the old bundle should have several volumes: %v", oldTree)
	}
	steps := len(oldTree) + 1 // one rename, len(oldTree) removals at most
	for cut := -1; cut <= steps; cut++ {
		for _, then := range []string{"read", "pack"} {
			dir := filepath.Join(t.TempDir(), "out")
			if err := packInto(t, &DirSink{Dir: dir}, "old"); err != nil {
				t.Fatal(err)
			}
			if err := packInto(t, &cutSink{DirSink: &DirSink{Dir: dir}, steps: cut}, "new"); err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			switch then {
			case "read":
				s, err := OpenFiles(context.Background(), []string{dir})
				if err != nil {
					t.Fatalf("cut at %d: read: %v", cut, err)
				}
				want := newTree
				if cut < 0 {
					want = oldTree
				}
				if s.Index.BundleID == "" || len(s.Missing()) != 0 {
					t.Fatalf("cut at %d: the directory does not read as one complete bundle (missing %v)", cut, s.Missing())
				}
				// Hidden temporary files of a pack killed before its
				// commit point are the next pack's to remove; the
				// volumes are the old ones.
				got := treeHash(t, dir)
				for k, v := range want {
					if got[k] != v {
						t.Fatalf("cut at %d: after a read, %s is %q, want %q", cut, k, got[k], v)
					}
				}
				for k := range got {
					if _, ok := want[k]; !ok && !(cut < 0 && isPartial(k)) {
						t.Fatalf("cut at %d: after a read, %s is left", cut, k)
					}
				}
			case "pack":
				// A later pack completes the commit, then replaces the
				// bundle: the old one here, so that both the roll
				// forward and its own commit count.
				if err := packInto(t, &DirSink{Dir: dir}, "old"); err != nil {
					t.Fatalf("cut at %d: the next pack: %v", cut, err)
				}
				if !sameTree(t, dir, oldTree) {
					t.Fatalf("cut at %d: after the next pack, the directory holds %v, want exactly %v", cut, treeHash(t, dir), oldTree)
				}
			}
		}
	}
}

// A second pack into a directory that a pack holds fails at once, naming
// the directory, and writes nothing.
func TestDirSinkBusy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	x := &format.Index{Volumes: []format.Volume{{Number: 1, Size: 1024}}}
	first := &DirSink{Dir: dir}
	if err := first.Begin(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	err := packInto(t, &DirSink{Dir: dir}, "new")
	if !errors.Is(err, ErrDirBusy) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second pack: %v, want ErrDirBusy naming %s", err, dir)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the refused pack wrote %v", entries)
	}
	first.Abort()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an aborted pack left the directory it made: %v", err)
	}
	if err := packInto(t, &DirSink{Dir: dir}, "new"); err != nil {
		t.Fatalf("pack once the first is gone: %v", err)
	}
}

// A rename that fails past the commit point (here a directory in the way of
// a new volume) fails the pack and keeps the journal; once the obstacle is
// gone, the next reader completes the commit.
func TestDirSinkRenameFails(t *testing.T) {
	t.Parallel()
	newTree := reference(t, "new")
	dir := filepath.Join(t.TempDir(), "out")
	if err := packInto(t, &DirSink{Dir: dir}, "old"); err != nil {
		t.Fatal(err)
	}
	var name string
	for k := range newTree {
		name = k
	}
	obstacle := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(obstacle, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := packInto(t, &DirSink{Dir: dir}, "new")
	if err == nil || !strings.Contains(err.Error(), commitJournal) {
		t.Fatalf("pack with a directory in the way: %v, want an error naming the journal", err)
	}
	if _, err := OpenFiles(context.Background(), []string{dir}); err == nil {
		t.Fatal("a directory whose commit cannot complete reads as a bundle")
	}
	os.RemoveAll(obstacle)
	if _, err := OpenFiles(context.Background(), []string{dir}); err != nil {
		t.Fatalf("read once the obstacle is gone: %v", err)
	}
	if !sameTree(t, dir, newTree) {
		t.Fatalf("after the commit completed: %v, want exactly %v", treeHash(t, dir), newTree)
	}
}

// TestDirSinkReplaced: a pack into a directory says how many volume files
// of an earlier pack its commit replaced (those with a new volume's name
// as well as those removed), and none into a new directory.
func TestDirSinkReplaced(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	first := &DirSink{Dir: dir}
	if err := packInto(t, first, "old"); err != nil {
		t.Fatal(err)
	}
	if first.Replaced() != 0 {
		t.Errorf("a pack into a new directory replaced %d volume files", first.Replaced())
	}
	old := len(volumeFiles(t, dir))
	if old < 2 {
		t.Fatalf("the old bundle has %d volumes, want several", old)
	}
	// A stranger that is not named like a volume is neither counted nor touched.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	second := &DirSink{Dir: dir}
	if err := packInto(t, second, "new"); err != nil {
		t.Fatal(err)
	}
	if second.Replaced() != old {
		t.Errorf("replaced %d volume files, want the old bundle's %d", second.Replaced(), old)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Error(err)
	}
}
