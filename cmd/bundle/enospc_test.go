//go:build linux

package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/internal/benchdata"
)

// mountTmpfs mounts a tmpfs of size (mount's size=, e.g. "2m") and returns
// its directory. The test is skipped, saying why, where mounting is not
// allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is simulated with a small tmpfs, which only root can mount")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("a full disk is simulated with a small tmpfs, and mounting one failed: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// growTmpfs makes room on the tmpfs at dir: what freeing space does.
func growTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+size); err != nil {
		t.Fatalf("remount %s: %v", dir, err)
	}
}

// A disk that fills up during an unpack: the free space measured is
// enough for the blobs' bytes, but each tiny blob takes a page of the
// tmpfs. The unpack fails naming the disk's error, leaves every file of
// the layout as it was and no temporary file, and a re-run with room
// completes as an uninterrupted unpack does.
func TestUnpackDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("large data (800 blobs) onto a tmpfs; TestPackDiskFull keeps a full disk in -short, skipped by -short")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if _, err := benchdata.Generate(src, benchdata.Options{Blobs: 800, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--out", vols, "oci:"+src)
	ref := filepath.Join(dir, "ref")
	copyTree(t, example, ref)
	mustRun(t, 0, nil, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+ref, vols)
	want := recordTree(t, ref)

	mnt := mountTmpfs(t, "2m")
	dest := filepath.Join(mnt, "layout")
	copyTree(t, example, dest)
	before := tree(t, dest)
	out := mustRun(t, 1, nil, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+dest, vols)
	t.Logf("unpack on a full disk: %s", out)
	if !strings.Contains(out, "no space left on device") || !strings.Contains(out, dest) {
		t.Errorf("the error does not say the disk under %s is full:\n%s", dest, out)
	}
	got := tree(t, dest)
	for k, v := range before {
		if got[k] != v {
			t.Errorf("%s changed", k)
		}
	}
	for k, v := range got {
		if _, ok := before[k]; ok || v == "dir" {
			continue
		}
		if debris.MatchString(k) {
			t.Errorf("%s left behind", k)
		} else if !strings.HasPrefix(k, "blobs/sha256/") || strings.TrimPrefix(k, "blobs/sha256/") != v {
			t.Errorf("%s is not a verified blob", k)
		}
	}
	// The layout is whole: index.json names only what is there.
	mustRun(t, 0, nil, "--quiet", "inventory", "--verify", "--to", "oci:"+dest, "--out", filepath.Join(dir, "inv.json"))

	growTmpfs(t, mnt, "16m")
	mustRun(t, 0, nil, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+dest, vols)
	if got := recordTree(t, dest); !sameMap(got, want) {
		t.Fatalf("after the re-run the layout differs from an uninterrupted unpack's:\n%s", diffTree(got, want))
	}
}

// A pack into a directory without room for its volumes refuses before
// writing; one whose disk fills up while it writes (another process takes
// the room) fails naming the disk's error. Either way the earlier bundle
// there stays, nothing else is left, and a re-run with room completes.
func TestPackDiskFull(t *testing.T) {
	dir := t.TempDir()
	src := genLayout(t, 6<<20)
	oldRef, newRef := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--max-size", "40K", "--out", oldRef, "oci:"+example)
	args := func(out string) []string {
		return []string{"--quiet", "pack", "--unsigned", "--max-size", "1M", "--out", out, "oci:" + src}
	}
	mustRun(t, 0, killEnv, args(newRef)...)
	oldTree, newTree := tree(t, oldRef), tree(t, newRef)

	// Not enough room from the start.
	mnt := mountTmpfs(t, "2m")
	out := filepath.Join(mnt, "out")
	copyTree(t, oldRef, out)
	msg := mustRun(t, 1, killEnv, args(out)...)
	t.Logf("pack without room: %s", msg)
	if !strings.Contains(msg, "free") || !strings.Contains(msg, out) {
		t.Errorf("the refusal does not say %s lacks room:\n%s", out, msg)
	}
	if got := tree(t, out); !sameMap(got, oldTree) {
		t.Fatalf("a refused pack changed the directory:\n%s", diffTree(got, oldTree))
	}

	// Room at the start, taken by another process once the pack writes:
	// the pack is stopped when its first volume appears, the disk filled,
	// and the pack let go on.
	growTmpfs(t, mnt, "12m")
	cmd := exec.Command(bin, args(out)...)
	cmd.Env = append(os.Environ(), killEnv...)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		m, _ := filepath.Glob(filepath.Join(out, ".vol-*.partial-*"))
		if len(m) > 0 {
			cmd.Process.Signal(syscall.SIGSTOP)
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	cmd.Process.Signal(syscall.SIGCONT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("pack on a full disk: %v, want exit 1\n%s", err, buf.String())
	}
	t.Logf("pack on a disk filled while it writes: %s", buf.String())
	if !strings.Contains(buf.String(), "no space left on device") {
		t.Errorf("the error does not say the disk is full:\n%s", buf.String())
	}
	if got := tree(t, out); !sameMap(got, oldTree) {
		t.Fatalf("a pack that ran out of room changed the directory:\n%s", diffTree(got, oldTree))
	}

	os.Remove(filler)
	mustRun(t, 0, killEnv, args(out)...)
	if got := tree(t, out); !sameMap(got, newTree) {
		t.Fatalf("after the re-run the directory differs from an uninterrupted pack's:\n%s", diffTree(got, newTree))
	}
}

// Temporary files that killed unpacks left in a layout are not counted
// as taken space: the next unpack removes them before it measures the
// free space. Here they fill most of the disk, and the unpack still fits.
func TestUnpackDebrisNotCounted(t *testing.T) {
	dir := t.TempDir()
	src := genLayout(t, 1<<20)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--out", vols, "oci:"+src)
	ref := filepath.Join(dir, "ref")
	mustRun(t, 0, nil, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+ref, vols)
	want := recordTree(t, ref)

	mnt := mountTmpfs(t, "4m")
	dest := filepath.Join(mnt, "layout")
	copyTree(t, ref, dest)
	// What killed unpacks leave: blobs on their way in, the blobs
	// themselves gone (an unpack into a new layout killed early).
	os.RemoveAll(filepath.Join(dest, "index.json"))
	var need int64
	for _, e := range must(os.ReadDir(filepath.Join(dest, "blobs", "sha256"))) {
		need += must(e.Info()).Size()
		os.Remove(filepath.Join(dest, "blobs", "sha256", e.Name()))
	}
	// As much debris as leaves less free space than the blobs need.
	for i := 0; ; i++ {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		if int64(st.Bavail)*st.Bsize < need {
			break
		}
		junk := make([]byte, 128<<10)
		if err := os.WriteFile(filepath.Join(dest, "blobs", "sha256", ".tmp-0123456789abcdef-"+strconv.Itoa(i)), junk, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, 0, nil, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+dest, vols)
	if got := recordTree(t, dest); !sameMap(got, want) {
		t.Fatalf("the layout differs from an unpack into an empty one:\n%s", diffTree(got, want))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
