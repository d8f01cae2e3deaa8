package main_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	out := mustRun(t, 0, nil, "version")
	if !strings.HasPrefix(out, "bundle ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("bundle version: %q", out)
	}
	if v := mustRun(t, 0, nil, "--version"); !strings.Contains(v, runtime.Version()) {
		t.Errorf("bundle --version: %q", v)
	}
}

// TestBuiltBinary builds the command as go build does, where the other
// tests run the same main in the test binary (main_test.go's TestMain):
// the built one says the same help, names the commit it was built from
// (when go build recorded one: -buildvcs=auto, as make build), and packs
// and verifies.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command again, a second compile and link; the other tests run its main in the test binary, skipped by -short")
	}
	t.Parallel()
	dir := t.TempDir()
	built := filepath.Join(dir, "bundle")
	if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", built, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(want int, args ...string) string {
		t.Helper()
		return mustRunProgram(t, built, want, []string{"SOURCE_DATE_EPOCH=1700000000"}, args...)
	}
	out := run(0, "version")
	// The help says the version, the build's: the rest is the same.
	testVersion := strings.TrimSpace(mustRun(t, 0, nil, "version"))
	for _, args := range [][]string{{"--help"}, {"pack", "--help"}, {"unpack", "--help"}} {
		want := strings.ReplaceAll(mustRun(t, 0, nil, args...), strings.TrimPrefix(testVersion, "bundle "), strings.TrimPrefix(strings.TrimSpace(out), "bundle "))
		if got := run(0, args...); got != want {
			t.Errorf("built bundle %s differs from the test binary's:\n%s\nwant:\n%s", strings.Join(args, " "), got, want)
		}
	}
	if !strings.HasPrefix(out, "bundle ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("built bundle version: %q", out)
	}
	meta, err := exec.Command("go", "version", "-m", built).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	if _, rev, ok := strings.Cut(string(meta), "vcs.revision="); ok {
		rev, _, _ = strings.Cut(rev, "\n")
		if len(rev) < 12 || !strings.Contains(out, "(commit "+rev[:12]) {
			t.Errorf("built bundle version does not name commit %s: %q", rev, out)
		}
	} else {
		t.Logf("go build recorded no commit (not a git checkout, or -buildvcs=false): %s", out)
	}
	vols := filepath.Join(dir, "vols")
	run(0, "--quiet", "pack", "--unsigned", "--max-size", "40K", "--out", vols, "oci:"+example)
	run(2, "verify", vols) // neither --key nor --allow-unsigned
	run(0, "verify", "--allow-unsigned", vols)
	run(0, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+filepath.Join(dir, "dest"), vols)
}
