package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUnpackJobsFlag: --jobs wants 1 or more, and a docker:// destination
// (a layout is written one blob at a time); both refusals come before
// any volume is read.
func TestUnpackJobsFlag(t *testing.T) {
	t.Parallel()
	vols := filepath.Join(t.TempDir(), "none")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--jobs", "0", "--to", "docker://127.0.0.1:1/m"}, "--jobs 0: want 1 or more"},
		{[]string{"--jobs", "2", "--to", "oci:" + filepath.Join(t.TempDir(), "l")}, "--jobs applies to docker:// destinations only"},
	} {
		code, out := runCLI(t, nil, append(append([]string{"unpack", "--allow-unsigned"}, tc.args...), vols)...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("unpack %v: exit %d, want 2 saying %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}
