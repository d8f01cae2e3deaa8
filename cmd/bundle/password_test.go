package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPasswordSources: BUNDLE_PASSWORD, else COSIGN_PASSWORD, else the first
// line of a piped standard input; an empty password gets a warning.
func TestPasswordSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(env []string, stdin string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "SOURCE_DATE_EPOCH=1700000000"}, env...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	k := filepath.Join(dir, "k")
	if out, err := run([]string{"COSIGN_PASSWORD=cosign-pw"}, "", "keygen", "--out", k); err != nil {
		t.Fatalf("keygen with COSIGN_PASSWORD: %v\n%s", err, out)
	}
	pack := func(env []string, stdin string) (string, error) {
		return run(env, stdin, "-q", "pack", "--key", k+".key", "--out", filepath.Join(dir, "out"), "oci:"+example+":app:v1")
	}
	if out, err := pack(nil, "cosign-pw\n"); err != nil {
		t.Errorf("password piped on stdin: %v\n%s", err, out)
	}
	if !testing.Short() {
		// Each pack decrypts the key (scrypt). -short leaves the order of
		// the sources and the line's end to TestReadPassword; keygen
		// above took COSIGN_PASSWORD, and the other tests BUNDLE_PASSWORD.
		if out, err := pack(nil, "cosign-pw"); err != nil {
			t.Errorf("password piped without a newline: %v\n%s", err, out)
		}
		if out, err := pack([]string{"COSIGN_PASSWORD=cosign-pw"}, ""); err != nil {
			t.Errorf("COSIGN_PASSWORD: %v\n%s", err, out)
		}
		if out, err := pack([]string{"BUNDLE_PASSWORD=cosign-pw", "COSIGN_PASSWORD=wrong"}, ""); err != nil {
			t.Errorf("BUNDLE_PASSWORD first: %v\n%s", err, out)
		}
	}
	if out, err := pack(nil, "wrong\n"); err == nil || !strings.Contains(out, "password") {
		t.Errorf("wrong password on stdin: %v\n%s", err, out)
	}
	if out, err := pack(nil, ""); err == nil || !strings.Contains(out, "COSIGN_PASSWORD") {
		t.Errorf("no password at all: %v\n%s", err, out)
	}
	out, err := run([]string{"BUNDLE_PASSWORD="}, "", "keygen", "--out", filepath.Join(dir, "empty"))
	if err != nil || !strings.Contains(out, "not protected by a password") {
		t.Errorf("keygen with an empty password: %v\n%s", err, out)
	}
}
