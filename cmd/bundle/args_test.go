package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagsAnywhere: flags after the arguments work as before them, as in
// skopeo, podman and cosign; usage errors exit 2 with a "did you mean".
func TestFlagsAnywhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	k := filepath.Join(dir, "k")
	keygen(t, env, k)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, env, "pack", "oci:"+example, "--max-size", "40K", "--key", k+".key", "--out", vols)
	if out := mustRun(t, 0, env, "verify", vols, "--key", k+".pub"); !strings.Contains(out, "ok") {
		t.Errorf("verify DIR --key:\n%s", out)
	}
	if out := mustRun(t, 0, env, "verify", vols, "--quiet", "--key="+k+".pub"); out != "" {
		t.Errorf("verify DIR --quiet printed:\n%s", out)
	}
	if out := mustRun(t, 0, env, "verify", vols, "-q", "--key", k+".pub"); out != "" {
		t.Errorf("verify DIR -q printed:\n%s", out)
	}
	mustRun(t, 0, env, "unpack", vols, "--key", k+".pub", "--to", "oci:"+filepath.Join(dir, "layout"))

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"pack", "--kye", "x", "oci:" + example}, "did you mean --key?"},
		{[]string{"verify", vols, "--allow-unsinged"}, "did you mean --allow-unsigned?"},
		{[]string{"verfy", vols}, "did you mean verify?"},
		{[]string{"frobnicate"}, "not a command"},
		{[]string{"verify", vols, "--key"}, "--key needs a value"},
		{[]string{"pack", "--unsigned", "--out", filepath.Join(dir, "x")}, "give at least one SOURCE"},
	} {
		out := mustRun(t, 2, env, tt.args...)
		if !strings.Contains(out, tt.want) || strings.Contains(out, "USAGE:") {
			t.Errorf("bundle %s: want %q and no help dump:\n%s", strings.Join(tt.args, " "), tt.want, out)
		}
	}
	// "--" ends the flags: what follows is an argument even if it looks
	// like a flag.
	if out := mustRun(t, 1, env, "verify", "--key", k+".pub", "--", "--not-a-flag"); !strings.Contains(out, "stat --not-a-flag") {
		t.Errorf("verify -- --not-a-flag:\n%s", out)
	}
}
