package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// TestImageSetRegistries selects from a registry behind auth whose catalog
// takes several pages, with nested repositories and one without tags: by
// the scope shorthand, by an ImageSet registry rule (regular expressions,
// newest), and by a skopeo sync file (its own credentials and tls-verify),
// whose selection must equal what skopeo sync copies.
func TestImageSetRegistries(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry, skipped by -short")
	}
	reg := testregistry.Start(t, testregistry.Options{Users: map[string]string{"u": "pw"}, CatalogMaxEntries: 2})
	push := testimages.Registry{Host: reg.Host, Username: "u", Password: "pw"}
	h := reg.Host
	digests := map[string]string{} // repo:tag → digest
	for _, im := range []struct{ repo, tag string }{
		{"apps/web", "v1"}, {"apps/web", "v1.1"}, {"apps/web", "v2"}, {"apps/web", "latest"},
		{"apps/db", "v2"}, {"apps/deep/x", "1.0"}, {"apps-other/q", "1"}, {"other/y", "latest"}, {"other/y", "old"},
	} {
		d := push.Push(t, im.repo, testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{im.repo: []byte(im.tag)})), im.tag)
		digests[im.repo+":"+im.tag] = d.Digest.String()
	}
	push.Push(t, "apps/untagged", testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"u": []byte("u")})))
	dir := t.TempDir()
	auth := authFile(t, dir, h, "u", "pw")
	env := []string{"SOURCE_DATE_EPOCH=1700000000", "REGISTRY_AUTH_FILE=/nonexistent/auth.json"}
	want := func(tags ...string) []string {
		var out []string
		for _, rt := range tags {
			out = append(out, h+"/"+rt+"@"+digests[rt])
		}
		return sorted(out)
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s selected\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	got, _ := dryRunImages(t, env, "--authfile", auth, "--insecure-registry", h, "docker://"+h+"/apps/*")
	check("docker://HOST/apps/*", got, want("apps/web:v1", "apps/web:v1.1", "apps/web:v2", "apps/web:latest", "apps/db:v2", "apps/deep/x:1.0"))
	got, _ = dryRunImages(t, env, "--authfile", auth, "--insecure-registry", h, "docker://"+h+"/other/y:*")
	check("docker://HOST/other/y:*", got, want("other/y:latest", "other/y:old"))

	imageSet := filepath.Join(dir, "set.yaml")
	os.WriteFile(imageSet, []byte(fmt.Sprintf(`apiVersion: airgap-bundle.github.io/v1alpha1
kind: ImageSet
mirror:
  registries:
  - registry: %s
    repositories: ^apps/(web|db)$
    tags: ^v
    newest: 1
`, h)), 0o644)
	got, titles := dryRunImages(t, env, "--authfile", auth, "--insecure-registry", h, "--config", imageSet)
	check("ImageSet rule", got, want("apps/web:v2", "apps/db:v2"))
	if !slices.Contains(titles, "registry rule ("+imageSet+":5)") {
		t.Errorf("groups %q", titles)
	}

	// A skopeo sync file carries its own credentials and TLS setting: no
	// auth file, no insecure flag.
	syncFile := filepath.Join(dir, "sync.yaml")
	os.WriteFile(syncFile, []byte(fmt.Sprintf(`%s:
  tls-verify: false
  credentials:
    username: u
    password: pw
  images:
    apps/web:
    - v1
    - v2
    apps/db: []
  images-by-tag-regex:
    other/y: ^lat
`, h)), 0o644)
	got, _ = dryRunImages(t, env, "--config", syncFile)
	check("skopeo sync file", got, want("apps/web:v1", "apps/web:v2", "apps/db:v2", "other/y:latest"))
	// skopeo sync of the same file copies the same images.
	out := filepath.Join(dir, "skopeo")
	testregistry.Skopeo(t, "sync", "--src", "yaml", "--dest", "dir", "--scoped", syncFile, out)
	var copied []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "manifest.json" {
			rel, _ := filepath.Rel(filepath.Join(out, h), filepath.Dir(p))
			copied = append(copied, h+"/"+rel+"@"+digests[rel])
		}
		return nil
	})
	check("skopeo sync", sorted(copied), got)

	// Wrong credentials in the file: the error names the registry.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(mustReadString(t, syncFile), "password: pw", "password: nope", 1)), 0o644)
	code, msg := runCLI(t, env, "pack", "--unsigned", "--dry-run", "--config", bad)
	if code == 0 || !strings.Contains(msg, h) {
		t.Errorf("wrong credentials: exit %d\n%s", code, msg)
	}
}

func mustReadString(t *testing.T, p string) string { return string(mustReadFile(t, p)) }
