package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
)

const (
	releaseRepo   = "openshift-release-dev/ocp-release"
	componentRepo = "openshift-release-dev/ocp-v4.0-art-dev"
)

// imageSetWorld is a registry on 127.0.0.1 holding what image set files
// select: release payloads with untagged components, plain images, and
// an update service whose graph points at the payloads.
type imageSetWorld struct {
	host     string
	push     testimages.Registry
	graph    *testimages.GraphServer
	payloads map[string]string // version → REGISTRY/REPO@DIGEST
	// components of each version, REGISTRY/REPO@DIGEST
	components map[string][]string
	images     map[string]string // REGISTRY/REPO:TAG → digest
}

func newImageSetWorld(t *testing.T) *imageSetWorld {
	reg := testregistry.Start(t, testregistry.Options{})
	w := &imageSetWorld{host: reg.Host, push: testimages.Registry{Host: reg.Host}, graph: testimages.NewGraphServer(t),
		payloads: map[string]string{}, components: map[string][]string{}, images: map[string]string{}}
	versions := []string{"4.18.1", "4.18.2", "4.18.3"}
	var prev []string
	for _, v := range versions {
		d, refs := w.push.PushRelease(t, releaseRepo, componentRepo, "linux/amd64", v, prev, []string{"etcd", "cli", "cluster-version-operator"}, v+"-x86_64")
		w.payloads[v] = reg.Host + "/" + releaseRepo + "@" + d.Digest.String()
		for _, r := range refs {
			w.components[v] = append(w.components[v], r.Image)
		}
		prev = append(prev, v)
	}
	w.graph.Set("stable-4.18", "amd64", versions, w.payloads, [][2]string{{"4.18.1", "4.18.2"}, {"4.18.2", "4.18.3"}, {"4.18.1", "4.18.3"}})
	for _, im := range []struct{ repo, tag string }{{"apps/web", "v1"}, {"apps/db", "v2"}, {"apps/cache", "v3"}} {
		d := w.push.Push(t, im.repo, testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"srv/" + im.repo: []byte(im.tag)})), im.tag)
		w.images[reg.Host+"/"+im.repo+":"+im.tag] = d.Digest.String()
	}
	return w
}

// env is what a pack against the world needs.
func (w *imageSetWorld) env() []string {
	return []string{"UPDATE_URL_OVERRIDE=" + w.graph.URL(), "SOURCE_DATE_EPOCH=1700000000", "REGISTRY_AUTH_FILE=/nonexistent/auth.json"}
}

// dryRunImages runs pack --dry-run --json and returns every image it
// lists (ref@digest), each once, and the groups' titles.
func dryRunImages(t *testing.T, env []string, args ...string) (images []string, titles []string) {
	t.Helper()
	out := mustRun(t, 0, env, append([]string{"-q", "pack", "--unsigned", "--dry-run", "--json"}, args...)...)
	var p struct {
		Groups []struct {
			Title  string
			Images []struct{ Ref, Digest string }
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, g := range p.Groups {
		titles = append(titles, g.Title)
		for _, im := range g.Images {
			k := refAt(im.Ref, im.Digest)
			if !seen[k] {
				seen[k] = true
				images = append(images, k)
			}
		}
	}
	slices.Sort(images)
	return images, titles
}

// refAt is ref pinned at digest, written once: REPO@DIGEST stays as it is.
func refAt(ref, digest string) string {
	if strings.HasSuffix(ref, "@"+digest) {
		return ref
	}
	return ref + "@" + digest
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestImageSetReleases: an oc-mirror ImageSetConfiguration with a release
// channel and version range, additional images and a blocked one selects
// exactly the payloads in range, every component of each, and the
// additional images not blocked; the pack carries exactly that, and
// inspect says why each image travels.
func TestImageSetReleases(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: releases in a real docker-registry, skipped by -short")
	}
	w := newImageSetWorld(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "imageset.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`apiVersion: mirror.openshift.io/v2alpha1
kind: ImageSetConfiguration
mirror:
  platform:
    channels:
    - name: stable-4.18
      minVersion: 4.18.2
      maxVersion: 4.18.3
  additionalImages:
  - name: %[1]s/apps/web:v1
  - name: %[1]s/apps/db:v2
  blockedImages:
  - name: %[1]s/apps/db
`, w.host)), 0o644)
	var want []string
	for _, v := range []string{"4.18.2", "4.18.3"} {
		want = append(want, w.payloads[v])
		want = append(want, w.components[v]...)
	}
	want = append(want, refAt(w.host+"/apps/web:v1", w.images[w.host+"/apps/web:v1"]))
	want = sorted(want)

	args := []string{"--insecure-registry", w.host, "--config", config}
	got, titles := dryRunImages(t, w.env(), args...)
	if !slices.Equal(got, want) {
		t.Fatalf("dry run selected\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, title := range []string{"release 4.18.2 channel stable-4.18 (" + config + ":6)", "release 4.18.3 channel stable-4.18 (" + config + ":6)", "additional images"} {
		if !slices.Contains(titles, title) {
			t.Errorf("no group %q among %q", title, titles)
		}
	}

	out := filepath.Join(dir, "out")
	mustRun(t, 0, w.env(), append([]string{"pack", "--unsigned", "--out", out}, args...)...)
	var s struct {
		Images []struct {
			Ref, Digest, Subject string
			SelectedBy           []struct{ By, Release, Component, Rule string }
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, 0, nil, "inspect", "--json", out)), &s); err != nil {
		t.Fatal(err)
	}
	var packed []string
	for _, im := range s.Images {
		if im.Subject != "" {
			continue
		}
		packed = append(packed, refAt(im.Ref, im.Digest))
		if len(im.SelectedBy) == 0 {
			t.Errorf("%s: no selection record", im.Ref)
		}
	}
	if packed = sorted(packed); !slices.Equal(packed, want) {
		t.Fatalf("packed\n%s\nwant\n%s", strings.Join(packed, "\n"), strings.Join(want, "\n"))
	}
	text := mustRun(t, 0, nil, "inspect", out)
	if !strings.Contains(text, "release 4.18.3 channel stable-4.18 component etcd at "+config+":6") {
		t.Errorf("inspect does not say why etcd travels:\n%s", text)
	}
}

// TestImageSetErrors: bad image set input fails before anything is packed,
// naming the file and line and what is wrong.
func TestImageSetErrors(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: releases in a real docker-registry, skipped by -short")
	}
	w := newImageSetWorld(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	release := func(channel string) string {
		return "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  platform:\n    channels:\n    - name: " + channel + "\n"
	}
	for _, tt := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		output []string
	}{
		{"unknown key", w.env(), []string{"--config", write("typo.yaml", release("stable-4.18")+"      minVersoin: 4.18.1\n")}, 2,
			[]string{"typo.yaml:7", "minVersoin"}},
		{"bad regular expression", w.env(), []string{"--config", write("re.yaml", "apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\nmirror:\n  registries:\n  - registry: "+w.host+"\n    tags: \"v(\"\n")}, 2,
			[]string{"re.yaml:6", "tags"}},
		{"unreachable update service", append(w.env(), "UPDATE_URL_OVERRIDE=http://127.0.0.1:1/graph"), []string{"--config", write("unreach.yaml", release("stable-4.18"))}, 1,
			[]string{"unreach.yaml:6", "http://127.0.0.1:1/graph", "UPDATE_URL_OVERRIDE"}},
		{"unknown channel", w.env(), []string{"--config", write("chan.yaml", release("fast-4.99"))}, 1,
			[]string{"chan.yaml:6", "fast-4.99"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out := runCLI(t, tt.env, append([]string{"pack", "--unsigned", "--dry-run", "--insecure-registry", w.host}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, out)
			}
			for _, s := range tt.output {
				if !strings.Contains(out, s) {
					t.Errorf("output does not name %q:\n%s", s, out)
				}
			}
		})
	}
	// A payload without image-references, in the graph: the error names it.
	d := w.push.Push(t, "fake/release", testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"etc/x": []byte("x")})), "4.19.0")
	fake := w.host + "/fake/release@" + d.Digest.String()
	w.graph.Set("stable-4.19", "amd64", []string{"4.19.0"}, map[string]string{"4.19.0": fake}, nil)
	code, out := runCLI(t, w.env(), "pack", "--unsigned", "--dry-run", "--insecure-registry", w.host, "--config", write("fake.yaml", release("stable-4.19")))
	if code != 1 || !strings.Contains(out, "fake.yaml:6") || !strings.Contains(out, "image-references") || !strings.Contains(out, d.Digest.String()) {
		t.Errorf("release without image-references: exit %d\n%s", code, out)
	}
}

// TestImageSetGraphNotice: oc-mirror's graph: true is said not to be
// carried (a notice naming the key and line), and the releases still are.
func TestImageSetGraphNotice(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: releases in a real docker-registry, skipped by -short")
	}
	w := newImageSetWorld(t)
	config := filepath.Join(t.TempDir(), "graph.yaml")
	os.WriteFile(config, []byte("apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  platform:\n    graph: true\n    channels:\n    - name: stable-4.18\n"), 0o644)
	out := mustRun(t, 0, w.env(), "pack", "--unsigned", "--dry-run", "--insecure-registry", w.host, "--config", config)
	if !strings.Contains(out, "graph.yaml:5") || !strings.Contains(out, "graph-data image") || !strings.Contains(out, "release 4.18.3") {
		t.Errorf("graph: true:\n%s", out)
	}
}
