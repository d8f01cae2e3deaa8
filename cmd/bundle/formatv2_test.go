package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Format version 2 through the command line: pack --format-version 2
// says which version it wrote, every volume verifies alone, unpack gives
// the layout version 1 gives, inspect reads it, and skopeo reads what was
// unpacked; a bad version is a usage error.
func TestFormatVersion2CLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"SOURCE_DATE_EPOCH=1700000000"}
	vols := filepath.Join(dir, "v2")
	mustRun(t, 2, env, "pack", "--unsigned", "--format-version", "3", "--out", vols, "oci:"+example)
	out := mustRun(t, 0, env, "pack", "--unsigned", "--format-version", "2", "--max-size", "40K", "--out", vols, "oci:"+example)
	if !strings.Contains(out, "(format version 2)") {
		t.Errorf("pack does not say it wrote version 2: %s", out)
	}
	dry := mustRun(t, 0, env, "pack", "--unsigned", "--format-version", "2", "--max-size", "40K", "--dry-run", "oci:"+example)
	if !strings.Contains(dry, "volumes (format version 2)") {
		t.Errorf("the dry run does not say the format version: %s", dry)
	}
	files, _ := filepath.Glob(filepath.Join(vols, "vol-*.tar"))
	if len(files) < 2 {
		t.Fatalf("%d volumes, want several", len(files))
	}
	for _, f := range files {
		mustRun(t, 0, env, "verify", "--allow-unsigned", "--partial", f)
	}
	mustRun(t, 0, env, "verify", "--allow-unsigned", vols)

	var sum struct {
		FormatVersion int `json:"formatVersion"`
		Images        []struct {
			Ref string `json:"ref"`
		} `json:"images"`
	}
	js := mustRun(t, 0, env, "-q", "inspect", "--json", vols)
	if err := json.Unmarshal([]byte(js), &sum); err != nil || len(sum.Images) == 0 || sum.FormatVersion != 2 {
		t.Fatalf("inspect --json: %v: %s", err, js)
	}

	v1 := filepath.Join(dir, "v1")
	mustRun(t, 0, env, "pack", "--unsigned", "--format-version", "1", "--max-size", "40K", "--out", v1, "oci:"+example)
	l1, l2 := filepath.Join(dir, "l1"), filepath.Join(dir, "l2")
	mustRun(t, 0, env, "unpack", "--allow-unsigned", "--to", "oci:"+l1, v1)
	mustRun(t, 0, env, "unpack", "--allow-unsigned", "--to", "oci:"+l2, vols)
	i1, err1 := os.ReadFile(filepath.Join(l1, "index.json"))
	i2, err2 := os.ReadFile(filepath.Join(l2, "index.json"))
	if err1 != nil || err2 != nil || string(i1) != string(i2) {
		t.Errorf("index.json unpacked from versions 1 and 2 differ (%v, %v):\n%s\n%s", err1, err2, i1, i2)
	}
	if testing.Short() {
		return
	}
	if out, err := exec.Command("skopeo", "inspect", "oci:"+l2+":app:v1").CombinedOutput(); err != nil {
		t.Fatalf("skopeo inspect of the layout unpacked from version 2: %v\n%s", err, out)
	}
}
