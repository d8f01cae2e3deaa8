package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPackSaysItReplacedAnEarlierPack: a pack into a directory that holds
// an earlier pack's volumes says it replaced them, and with --quiet says
// nothing (a notice the CLI printed itself under --quiet was a nil
// function called, and the command panicked).
func TestPackSaysItReplacedAnEarlierPack(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pack", "--unsigned", "--max-size", "40K", "--out", out, "oci:" + example}, ""},
		{[]string{"pack", "--unsigned", "--out", out, "oci:" + example + ":app:v1"}, "volume files of an earlier pack: this one replaced them"},
		{[]string{"pack", "--unsigned", "--out", out, "oci:" + example + ":app:v2"}, "held a volume file of an earlier pack: this one replaced it"},
		{[]string{"-q", "pack", "--unsigned", "--out", out, "oci:" + example + ":app:v1"}, ""},
		{[]string{"pack", "-q", "--unsigned", "--out", out, "oci:" + example + ":app:v2"}, ""},
	} {
		code, output := runCLI(t, nil, c.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, output)
		}
		if got := strings.Contains(output, "earlier pack"); got != (c.want != "") || !strings.Contains(output, c.want) {
			t.Errorf("%v said:\n%s\nwant %q", c.args, output, c.want)
		}
	}
}
