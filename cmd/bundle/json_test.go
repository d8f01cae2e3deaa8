package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stdout runs the binary and returns its standard output alone, and its
// exit code.
func stdout(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestJSONResults: verify --json and unpack --json print one JSON document
// on standard output, also when verification fails, for audit logs.
func TestJSONResults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	k := filepath.Join(dir, "k")
	keygen(t, env, k)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, env, "pack", "--key", k+".key", "--max-size", "40K", "--out", vols, "oci:"+example)

	type verifyResult struct {
		BundleID   string
		Trusted    bool
		Passed     bool
		Error      string
		Signatures []struct{ KeyID, State string }
		Volumes    []struct {
			Number        int
			Path, Verdict string
		}
	}
	out, code := stdout(t, env, "verify", "--json", "--key", k+".pub", vols)
	var v verifyResult
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 {
		t.Fatalf("verify --json: exit %d, %v\n%s", code, err, out)
	}
	if !v.Passed || !v.Trusted || len(v.Signatures) != 1 || v.Signatures[0].State != "valid" || len(v.Volumes) < 2 || v.Volumes[0].Verdict != "ok" {
		t.Errorf("verify --json: %+v", v)
	}

	// A damaged last volume: exit 3, and the JSON says which.
	last := v.Volumes[len(v.Volumes)-1].Path
	b, _ := os.ReadFile(last)
	b[len(b)-2048] ^= 1
	os.WriteFile(last, b, 0o644)
	out, code = stdout(t, env, "verify", "--json", "--key", k+".pub", vols)
	v = verifyResult{}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 3 {
		t.Fatalf("verify --json of a damaged volume: exit %d, %v\n%s", code, err, out)
	}
	if v.Passed || v.Error == "" || v.Volumes[len(v.Volumes)-1].Verdict != "failed" || v.Volumes[0].Verdict != "ok" {
		t.Errorf("verify --json of a damaged volume: %+v", v)
	}
	os.WriteFile(last, func() []byte { b[len(b)-2048] ^= 1; return b }(), 0o644)

	out, code = stdout(t, env, "unpack", "--json", "--key", k+".pub", "--to", "oci:"+filepath.Join(dir, "layout"), vols)
	var u struct {
		BundleID    string
		Destination string
		Images      []struct{ Source, Target, Digest string }
		Names       []struct{ Name, New string }
		NamesSet    int
	}
	if err := json.Unmarshal([]byte(out), &u); err != nil || code != 0 {
		t.Fatalf("unpack --json: exit %d, %v\n%s", code, err, out)
	}
	// Four names set; the referrer's entry is listed, without a name, and
	// not counted as one.
	if u.BundleID != v.BundleID || !strings.HasPrefix(u.Destination, "oci:") || len(u.Images) != 4 || u.NamesSet != 4 || len(u.Names) != 5 || u.Names[4].Name != "" {
		t.Errorf("unpack --json: %+v", u)
	}
}
