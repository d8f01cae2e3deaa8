package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIncrementalCLI: pack app:v1, then the whole example layout against
// it with --base and --base-key; inspect shows the base; unpack refuses
// where the base was not unpacked and succeeds after it.
func TestIncrementalCLI(t *testing.T) {
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, env, args...) }
	k, other := filepath.Join(dir, "k"), filepath.Join(dir, "other")
	must(0, "keygen", "--out", k)
	must(0, "keygen", "--type", "ed25519", "--out", other)
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	must(0, "pack", "--key", k+".key", "--out", v1, "oci:"+example+":app:v1")

	must(4, "pack", "--key", k+".key", "--base", v1, "--base-key", other+".pub", "--out", v2, "oci:"+example)
	must(2, "pack", "--key", k+".key", "--base-key", k+".pub", "--out", v2, "oci:"+example)
	out := must(0, "pack", "--key", k+".key", "--base", v1, "--base-key", k+".pub", "--out", v2, "oci:"+example)
	if strings.Contains(out, "without checking") || !strings.Contains(out, "expected at the destination") {
		t.Errorf("pack --base output:\n%s", out)
	}
	out = must(0, "pack", "--key", k+".key", "--base", v1, "--out", filepath.Join(dir, "v2-unchecked"), "oci:"+example)
	if !strings.Contains(out, "without checking its signature") {
		t.Errorf("pack --base without --base-key does not say the base is unchecked:\n%s", out)
	}

	var s1, s2 struct {
		BundleID      string `json:"bundleId"`
		Bases         []struct{ BundleID, Index string }
		CarriedBlobs  int `json:"carriedBlobs"`
		FromBaseBlobs int `json:"fromBaseBlobs"`
	}
	if err := json.Unmarshal([]byte(must(0, "inspect", "--json", v1)), &s1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(must(0, "inspect", "--json", v2)), &s2); err != nil {
		t.Fatal(err)
	}
	if len(s1.Bases) != 0 || len(s2.Bases) != 1 || s2.Bases[0].BundleID != s1.BundleID || !strings.HasPrefix(s2.Bases[0].Index, "sha256:") ||
		s2.FromBaseBlobs == 0 || s2.CarriedBlobs == 0 {
		t.Errorf("inspect --json: v1 %+v, v2 %+v", s1, s2)
	}
	out = must(0, "inspect", "--key", k+".pub", v2)
	for _, want := range []string{"bases:", s1.BundleID, "carried:", "from bases:"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if out := must(0, "inspect", v1); strings.Contains(out, "bases:") {
		t.Errorf("inspect of a full bundle shows bases:\n%s", out)
	}

	dest := filepath.Join(dir, "dest")
	out = must(5, "unpack", "--key", k+".pub", "--to", "oci:"+dest, v2)
	if !strings.Contains(out, s1.BundleID) || !strings.Contains(out, "first") {
		t.Errorf("unpack of a delta without its base:\n%s", out)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("the refused unpack created %s", dest)
	}
	must(0, "unpack", "--key", k+".pub", "--to", "oci:"+dest, v1)
	must(0, "unpack", "--key", k+".pub", "--verify-base", "--to", "oci:"+dest, v2)
	must(2, "unpack", "--key", k+".pub", "--verify-base", "--to", "docker://localhost:1/x", v2)
}
