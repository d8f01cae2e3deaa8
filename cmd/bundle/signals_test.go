//go:build unix

package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// signalWhen starts the binary, sends it sig as soon as a file matching
// glob appears, and returns its exit code and output.
func signalWhen(t *testing.T, sig syscall.Signal, glob string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), killEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		for {
			select {
			case <-exited:
				return
			default:
			}
			if m, _ := filepath.Glob(glob); len(m) > 0 {
				cmd.Process.Signal(sig)
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	err := cmd.Wait()
	close(exited)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// SIGINT, SIGTERM and SIGHUP (a closed terminal) stop a pack the same way:
// it removes what it wrote, says so, and exits 1; the output directory
// holds the earlier bundle as it was.
func TestPackSignals(t *testing.T) {
	dir := t.TempDir()
	src := genLayout(t, 24<<20)
	oldRef := filepath.Join(dir, "old")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--max-size", "40K", "--out", oldRef, "oci:"+example)
	oldTree := tree(t, oldRef)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		out := filepath.Join(dir, sig.String())
		copyTree(t, oldRef, out)
		code, msg := signalWhen(t, sig, filepath.Join(out, ".vol-*.partial-*"), "--quiet", "pack", "--unsigned", "--max-size", "1M", "--out", out, "oci:"+src)
		if code == 0 {
			t.Logf("%v: the pack ended before the signal came; nothing to check", sig)
			continue
		}
		t.Logf("%v: exit %d: %s", sig, code, msg)
		name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP"}[sig]
		if code != 1 || !strings.Contains(msg, "interrupted by "+name) || !strings.Contains(msg, "nothing was written to "+out) {
			t.Errorf("pack stopped by %s: exit %d, want 1 and a message saying nothing was written to %s:\n%s", name, code, out, msg)
		}
		if got := tree(t, out); !sameMap(got, oldTree) {
			t.Errorf("pack stopped by %s changed its output directory:\n%s", name, diffTree(got, oldTree))
		}
	}
	// Into a directory it made: the directory goes too.
	out := filepath.Join(dir, "new")
	if code, msg := signalWhen(t, syscall.SIGHUP, filepath.Join(out, ".vol-*.partial-*"), "--quiet", "pack", "--unsigned", "--out", out, "oci:"+src); code == 1 {
		if _, err := os.Stat(out); err == nil {
			t.Errorf("a pack stopped by SIGHUP left the directory it made:\n%s", msg)
		}
	}
}

// SIGHUP stops an unpack as SIGINT does: the layout keeps every file it
// had, no temporary file is left, and the exit code is 1.
func TestUnpackSIGHUP(t *testing.T) {
	dir := t.TempDir()
	src := genLayout(t, 24<<20)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--out", vols, "oci:"+src)
	dest := filepath.Join(dir, "dest")
	copyTree(t, example, dest)
	before := tree(t, dest)
	code, msg := signalWhen(t, syscall.SIGHUP, filepath.Join(dest, "blobs", "sha256", ".tmp-*"), "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+dest, vols)
	if code == 0 {
		t.Skip("the unpack ended before the signal came")
	}
	if code != 1 || !strings.Contains(msg, "interrupted by SIGHUP") {
		t.Errorf("unpack stopped by SIGHUP: exit %d, want 1 and a message naming the signal:\n%s", code, msg)
	}
	got := tree(t, dest)
	for k, v := range before {
		if got[k] != v {
			t.Errorf("%s changed", k)
		}
	}
	for k := range got {
		if debris.MatchString(k) {
			t.Errorf("%s left behind", k)
		}
	}
}
