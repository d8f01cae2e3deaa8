package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/catalog"
	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/oci"
	"gopkg.in/yaml.v3"
)

const catalogRepo = "redhat/redhat-operator-index"

// pushOperatorCatalog pushes, into the world's registry, operator bundle
// images and their related images (untagged, by digest, as catalogs name
// them) and a catalog image (tag v4.18) whose /configs names them:
//
//	foo: stable (default) foo.v1.0.0 <- foo.v1.1.0 <- foo.v1.2.0 (skipRange <1.2.0);
//	     fast foo.v1.2.0 <- foo.v2.0.0
//	bar: alpha (default) bar.v0.1.0 <- bar.v0.2.0 (skips bar.v0.1.0)
//	baz: stable baz.v1.0.0
//
// It returns the images of each bundle (bundle image first), by digest.
func (w *imageSetWorld) pushOperatorCatalog(t *testing.T) map[string][]string {
	images := map[string][]string{}
	bundle := func(pkg, version string) map[string]any {
		name := pkg + ".v" + version
		img := func(kind string) string {
			d := w.push.Push(t, "operators/"+pkg+"-"+kind, testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{kind: []byte(name)})))
			return w.host + "/operators/" + pkg + "-" + kind + "@" + d.Digest.String()
		}
		b, op := img("bundle"), img("operator")
		images[name] = []string{b, op}
		return testimages.FBCBundle(pkg, name, version, b, "operator", op)
	}
	type E = testimages.FBCEntry
	foo := testimages.JSONStream(testimages.FBCPackage("foo", "stable"),
		testimages.FBCChannel("foo", "stable", E{Name: "foo.v1.0.0"}, E{Name: "foo.v1.1.0", Replaces: "foo.v1.0.0"},
			E{Name: "foo.v1.2.0", Replaces: "foo.v1.1.0", SkipRange: "<1.2.0"}),
		testimages.FBCChannel("foo", "fast", E{Name: "foo.v1.2.0"}, E{Name: "foo.v2.0.0", Replaces: "foo.v1.2.0"}),
		bundle("foo", "1.0.0"), bundle("foo", "1.1.0"), bundle("foo", "1.2.0"), bundle("foo", "2.0.0"))
	bar := testimages.JSONStream(testimages.FBCPackage("bar", "alpha"),
		testimages.FBCChannel("bar", "alpha", E{Name: "bar.v0.1.0"}, E{Name: "bar.v0.2.0", Replaces: "bar.v0.1.0", Skips: []string{"bar.v0.1.0"}}),
		bundle("bar", "0.1.0"), bundle("bar", "0.2.0"))
	baz := testimages.JSONStream(testimages.FBCPackage("baz", "stable"), testimages.FBCChannel("baz", "stable", E{Name: "baz.v1.0.0"}), bundle("baz", "1.0.0"))
	base := testimages.Files(map[string][]byte{"bin/opm": []byte("#!/bin/sh\n"), "tmp/cache/cache.json": []byte(`{"digest":"prebuilt"}`)})
	configs := testimages.Files(map[string][]byte{"configs/foo/catalog.json": foo, "configs/bar/catalog.json": bar, "configs/baz/catalog.json": baz})
	im := testimages.ConfiguredImage(testimages.ImageConfig{Platform: "linux/amd64", Labels: map[string]string{catalog.ConfigsLabel: "/configs"},
		Entrypoint: []string{"/bin/opm"}, Cmd: []string{"serve", "/configs", "--cache-dir=/tmp/cache"}}, base, configs)
	w.push.Push(t, catalogRepo, im, "v4.18")
	return images
}

// TestImageSetOperators: an image set file selecting packages of a catalog
// carries exactly the bundle and related images of the bundles its filter
// keeps and a filtered catalog image (the same digest from two packs) that
// lists exactly them; pushed into a mirror, it gets a CatalogSource.
func TestImageSetOperators(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: operator catalogs in a real docker-registry, skipped by -short")
	}
	w := newImageSetWorld(t)
	images := w.pushOperatorCatalog(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "imageset.yaml")
	catalogRef := w.host + "/" + catalogRepo + ":v4.18"
	os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  operators:
  - catalog: %s
    packages:
    - name: foo
      channels:
      - name: stable
        minVersion: 1.1.0
    - name: bar
`, catalogRef)), 0o644)
	var want []string
	for _, b := range []string{"foo.v1.1.0", "foo.v1.2.0", "bar.v0.2.0"} {
		want = append(want, images[b]...)
	}
	args := []string{"--insecure-registry", w.host, "--config", config}
	got, titles := dryRunImages(t, w.env(), args...)
	var filtered string
	got = slices.DeleteFunc(got, func(s string) bool {
		if strings.HasPrefix(s, catalogRef+"@") {
			filtered = s
			return true
		}
		return false
	})
	if filtered == "" || !slices.Equal(got, sorted(want)) {
		t.Fatalf("dry run selected\n%s\nand catalog %q; want\n%s", strings.Join(got, "\n"), filtered, strings.Join(sorted(want), "\n"))
	}
	if !slices.Contains(titles, "operator foo from "+catalogRef+" ("+config+":5)") || !slices.Contains(titles, "catalog "+catalogRef+" ("+config+":5)") {
		t.Errorf("groups %q", titles)
	}
	// The filtered catalog is the same image whenever it is built.
	again, _ := dryRunImages(t, w.env(), args...)
	if !slices.Contains(again, filtered) {
		t.Errorf("second build of the filtered catalog differs: %s not in\n%s", filtered, strings.Join(again, "\n"))
	}

	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, w.env(), append([]string{"pack", "--unsigned", "--max-size", "64K", "--out", vols}, args...)...)
	mirror := testregistry.Start(t, testregistry.Options{})
	cfg := filepath.Join(dir, "cluster")
	mustRun(t, 0, w.env(), "unpack", "--allow-unsigned", "--insecure-registry", mirror.Host, "--to", "docker://"+mirror.Host+"/mirror",
		"--emit-mirror-config", cfg, vols)

	// The CatalogSource pulls the filtered catalog from the mirror.
	matches, _ := filepath.Glob(filepath.Join(cfg, "*-catalogsources.yaml"))
	if len(matches) != 1 {
		t.Fatalf("catalog sources: %v", matches)
	}
	var cs struct {
		Metadata struct{ Name string }
		Spec     struct {
			Image      string
			SourceType string `yaml:"sourceType"`
		}
	}
	if err := yaml.Unmarshal(mustReadFile(t, matches[0]), &cs); err != nil {
		t.Fatal(err)
	}
	if cs.Metadata.Name != "cs-redhat-operator-index-v4-18" || !strings.HasPrefix(cs.Spec.Image, mirror.Host+"/mirror/") ||
		!strings.HasSuffix(cs.Spec.Image, "/"+catalogRepo+":v4.18") || cs.Spec.SourceType != "grpc" {
		t.Errorf("CatalogSource %+v, want the catalog's image in %s/mirror", cs, mirror.Host)
	}

	// The catalog in the mirror lists exactly the bundles carried, and its
	// bundle images are there.
	regs, err := oci.NewRegistries(oci.RegistryOptions{Insecure: []string{mirror.Host}, AuthFile: "/dev/null"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	repoPath := strings.TrimPrefix(cs.Spec.Image, mirror.Host+"/")
	repoPath, tag, _ := strings.Cut(repoPath, ":")
	repo, err := regs.Repository(ctx, mirror.Host, repoPath)
	if err != nil {
		t.Fatal(err)
	}
	root, err := repo.Resolve(ctx, tag)
	if err != nil {
		t.Fatalf("%s: %v", cs.Spec.Image, err)
	}
	if !strings.HasSuffix(filtered, "@"+root.Digest.String()) {
		t.Errorf("mirror has %s, the dry run planned %s", root.Digest, filtered)
	}
	cat, err := catalog.Read(ctx, repo, root)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, p := range cat.Packages() {
		for b := range p.Bundles {
			kept = append(kept, b)
		}
	}
	if slices.Sort(kept); !slices.Equal(kept, []string{"bar.v0.2.0", "foo.v1.1.0", "foo.v1.2.0"}) {
		t.Errorf("filtered catalog in the mirror lists %v", kept)
	}
	testregistry.Skopeo(t, "inspect", "--tls-verify=false", "docker://"+cs.Spec.Image)

	// A package the catalog lacks: the error names the file, line and the
	// packages it has.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(mustReadString(t, config), "name: bar", "name: qux", 1)), 0o644)
	code, msg := runCLI(t, w.env(), append([]string{"pack", "--unsigned", "--dry-run"}, "--insecure-registry", w.host, "--config", bad)...)
	if code == 0 || !strings.Contains(msg, bad+":5") || !strings.Contains(msg, "qux") || !strings.Contains(msg, "baz") {
		t.Errorf("unknown package: exit %d\n%s", code, msg)
	}
}
