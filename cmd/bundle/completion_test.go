package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletion runs the bash completion script in a real bash: commands
// complete from a prefix, a command's flags after a dash.
func TestCompletion(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is needed for this test")
	}
	script := filepath.Join(t.TempDir(), "bundle.bash")
	if err := os.WriteFile(script, []byte(mustRun(t, 0, nil, "completion", "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		line := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _bundle_complete; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", append([]string{"-c", line, "bash", script, bin}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("ver"); got != "verify version" {
		t.Errorf("completing ver: %q", got)
	}
	if got := complete("pack", "--max"); got != "--max-size" {
		t.Errorf("completing pack --max: %q", got)
	}
	if got := complete("unpack", "--t"); got != "--threshold --to --tag-manifests --tag-pattern" {
		t.Errorf("completing unpack --t: %q", got)
	}
	for _, shell := range []string{"zsh", "fish"} {
		if out := mustRun(t, 0, nil, "completion", shell); !strings.Contains(out, "bundle") {
			t.Errorf("completion %s:\n%s", shell, out)
		}
	}
	mustRun(t, 2, nil, "completion", "tcsh")

	man := mustRun(t, 0, nil, "man")
	for _, want := range []string{".TH bundle 1", "pack", "--max-size", "verify", "unpack", "--emit-mirror-config"} {
		if !strings.Contains(man, want) {
			t.Errorf("man page lacks %q", want)
		}
	}
}
