package reposcan

// What Scan selects equals what skopeo sync copies for the same
// repositories, with images, images-by-tag-regex and images-by-semver.

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// skopeoSync runs skopeo sync --src yaml --dest dir --scoped over a source
// YAML whose registry entry is body (indented under the host), and returns
// what it copied, as repo:tag or repo@digest, sorted, and its output.
func skopeoSync(t *testing.T, host, body string) ([]string, string) {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "sync.yaml")
	yaml := fmt.Sprintf("%q:\n  tls-verify: false\n  credentials:\n    username: %s\n    password: %s\n%s", host, user, password, body)
	if err := os.WriteFile(src, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, output, err := testregistry.RunSkopeo(t, "sync", "--src", "yaml", "--dest", "dir", "--scoped", src, out)
	if err != nil {
		t.Fatalf("skopeo sync: %v\n%s\n%s", err, yaml, output)
	}
	root := filepath.Join(out, host)
	var got []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "manifest.json" {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		got = append(got, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(got)
	t.Logf("skopeo sync copied %v", got)
	return got, output
}

// scanAll runs the rules and returns what they select, as skopeoSync does;
// a rule that selects nothing adds nothing.
func scanAll(t *testing.T, f *fixture, rules []Rule) []string {
	t.Helper()
	var got []string
	for _, r := range rules {
		r.Registry = f.reg.Host
		res, err := Scan(context.Background(), f.regs, r)
		if err != nil {
			if _, ok := err.(*NothingSelectedError); ok {
				continue
			}
			t.Fatalf("Scan(%s): %v", r, err)
		}
		for _, m := range res.Matches {
			if m.Digest != "" {
				got = append(got, m.Repository+"@"+string(m.Digest))
			} else {
				got = append(got, m.Repository+":"+m.Tag)
			}
		}
	}
	sort.Strings(got)
	return got
}

func TestScanAsSkopeoSync(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: skopeo sync against a real docker-registry; TestScan keeps the scan in -short, skipped by -short")
	}
	f := setup(t)
	host := f.reg.Host
	re := regexp.MustCompile

	t.Run("images", func(t *testing.T) {
		want, _ := skopeoSync(t, host, fmt.Sprintf(`  images:
    a/b: []
    opensuse/leap: []
    other/y: ["latest", %q]
    untagged/z: [%q]
`, f.image, f.untagged))
		got := scanAll(t, f, []Rule{
			{Repository: "a/b"},
			{Repository: "opensuse/leap"},
			{Repository: "other/y", References: []string{"latest", string(f.image)}},
			{Repository: "untagged/z", References: []string{string(f.untagged)}},
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Scan selects\n  %v\nskopeo sync copied\n  %v", got, want)
		}
	})

	t.Run("images without tags", func(t *testing.T) {
		// skopeo cannot list the tags of a repository that has none (404
		// NAME_UNKNOWN): it copies nothing from it, and goes on.
		want, output := skopeoSync(t, host, `  images:
    untagged/z: []
    other/y: []
`)
		got := scanAll(t, f, []Rule{{Repository: "untagged/z"}, {Repository: "other/y"}})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Scan selects\n  %v\nskopeo sync copied\n  %v\n%s", got, want, output)
		}
	})

	t.Run("images-by-tag-regex", func(t *testing.T) {
		want, _ := skopeoSync(t, host, `  images-by-tag-regex:
    a/b: '^1\.'
    opensuse/leap: '^15\.5'
    kubic/x: '-'
    a/b/c: 'rc'
    other/y: 'nomatch'
`)
		got := scanAll(t, f, []Rule{
			{Repository: "a/b", Tags: re(`^1\.`)},
			{Repository: "opensuse/leap", Tags: re(`^15\.5`)},
			{Repository: "kubic/x", Tags: re(`-`)},
			{Repository: "a/b/c", Tags: re(`rc`)},
			{Repository: "other/y", Tags: re(`nomatch`)},
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Scan selects\n  %v\nskopeo sync copied\n  %v", got, want)
		}
	})

	t.Run("images-by-semver", func(t *testing.T) {
		want, output := skopeoSync(t, host, `  images-by-semver:
    a/b: '>= 1.1'
    a/b/c: '>= 2.1.0'
    kubic/x: '~1.2'
    other/y: '> 0.1'
    opensuse/leap: '>= 15.5'
`)
		if len(want) == 0 && strings.Contains(output, "No images specified") {
			t.Skipf("this skopeo (%s) predates images-by-semver (skopeo 1.15): it ignores the key", strings.TrimSpace(testregistry.Skopeo(t, "--version")))
		}
		got := scanAll(t, f, []Rule{
			{Repository: "a/b", Semver: ">= 1.1"},
			{Repository: "a/b/c", Semver: ">= 2.1.0"},
			{Repository: "kubic/x", Semver: "~1.2"},
			{Repository: "other/y", Semver: "> 0.1"},
			{Repository: "opensuse/leap", Semver: ">= 15.5"},
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Scan selects\n  %v\nskopeo sync copied\n  %v", got, want)
		}
	})
}
