package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testkeys"
)

// pack decrypts its key while it reads the sources and writes the blobs.
// A wrong password still fails it with the key's own error (naming the
// file, saying to check the password), and leaves --out as it was: an
// earlier bundle there untouched, a directory that was not there not
// made. The right one packs a bundle that verifies with the .pub key.
func TestPackOpensKeyWhilePacking(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := filepath.Join(dir, "k")
	right := []string{"BUNDLE_PASSWORD=right", "SOURCE_DATE_EPOCH=1700000000"}
	wrong := []string{"BUNDLE_PASSWORD=wrong", "SOURCE_DATE_EPOCH=1700000000"}
	testkeys.WriteEncrypted(t, k, "right") // encrypted, as the bench's key, with Legacy scrypt: half the cost
	earlier := filepath.Join(dir, "earlier")
	mustRun(t, 0, right, "-q", "pack", "--unsigned", "--max-size", "40K", "--out", earlier, "oci:"+example)

	for _, c := range []struct {
		name string
		env  []string
		out  string
		long bool // not under -short: an scrypt more
	}{
		{name: "wrong password, earlier bundle there", env: wrong, out: earlier},
		{name: "wrong password, no directory", env: wrong, out: filepath.Join(dir, "new")},
		{name: "right password", env: right, out: filepath.Join(dir, "signed"), long: true},
	} {
		if c.long && testing.Short() {
			continue
		}
		before := map[string]string{}
		if _, err := os.Stat(c.out); err == nil {
			before = snapshot(t, c.out)
		}
		args := []string{"-q", "pack", "--key", k + ".key", "--max-size", "40K", "--out", c.out, "oci:" + example}
		if c.env[0] == wrong[0] {
			out := mustRun(t, 1, c.env, args...)
			if !strings.Contains(out, k+".key") || !strings.Contains(out, "check the password") {
				t.Errorf("%s: the error does not name the key and say to check the password:\n%s", c.name, out)
			}
			after := map[string]string{}
			if _, err := os.Stat(c.out); err == nil {
				after = snapshot(t, c.out)
			}
			if len(after) != len(before) {
				t.Errorf("%s: %d files in %s after, %d before", c.name, len(after), c.out, len(before))
			}
			for p, v := range before {
				if p == c.out {
					// The directory itself: its mtime moves when the
					// partial volumes written are removed.
					continue
				}
				if after[p] != v {
					t.Errorf("%s: %s changed: %s, was %s", c.name, p, after[p], v)
				}
			}
			continue
		}
		mustRun(t, 0, c.env, args...)
		mustRun(t, 0, nil, "-q", "verify", "--key", k+".pub", c.out)
	}
}
