package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testlayout"
)

// TestProgressOnTerminal runs unpack on a pseudo-terminal (script(1), with
// a window size as a real terminal has): the bar shows the volume, the
// bytes, the rate and the time left.
func TestProgressOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("packs tens of MB")
	}
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatal("script (util-linux) is needed for this test")
	}
	dir := t.TempDir()
	l, err := testlayout.Build(filepath.Join(dir, "layout"), testlayout.Options{LayerSize: 6 << 20, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, nil, "-q", "pack", "--unsigned", "--max-size", "16M", "--out", vols, "oci:"+l.Dir)
	typescript := filepath.Join(dir, "typescript")
	line := "stty cols 160 rows 40; " + bin + " unpack --allow-unsigned --to oci:" + filepath.Join(dir, "out") + " " + vols
	if out, err := exec.Command("script", "-qfec", line, typescript).CombinedOutput(); err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	b, err := os.ReadFile(typescript)
	if err != nil {
		t.Fatal(err)
	}
	var bar string
	for _, l := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if strings.Contains(l, "unpack volume") {
			bar = l
		}
	}
	for _, want := range []string{"volume ", " of ", "MiB", "/s", "left", "%"} {
		if !strings.Contains(bar, want) {
			t.Fatalf("no progress bar with %q on the terminal; last bar line %q\n%s", want, bar, b)
		}
	}
}
