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
// bytes, the rate, the time left and the image being written.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
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
	for _, line := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if strings.Contains(line, "unpack volume") {
			bar = line
		}
	}
	// The bar ends naming the image whose blob was written last: one of
	// the layout's, or its SBOM (a referrer, named by its digest, which
	// may be cut in the middle). Which one depends on the blob order, and
	// the bar is redrawn too seldom to catch each.
	named := false
	for ref := range l.Refs {
		named = named || strings.HasSuffix(bar, " "+ref)
	}
	named = named || strings.Contains(bar, " "+l.Referrer.String()[:24])
	if !named {
		t.Errorf("the bar does not end with an image of the layout (%v or %s): %q", l.Refs, l.Referrer, bar)
	}
	for _, want := range []string{"volume ", " of ", "MiB", "/s", "left", "%"} {
		if !strings.Contains(bar, want) {
			t.Fatalf("no progress bar with %q on the terminal; last bar line %q\n%s", want, bar, b)
		}
	}
}
