package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// manifestPutByDigest matches a manifest PUT by digest, which the
// refusing proxy answers with 400.
var manifestPutByDigest = regexp.MustCompile(`^/v2/.+/manifests/sha256:[0-9a-f]{64}$`)

// TestRegistryRefusingMirror pushes into a mirror that refuses what
// OpenShift's integrated registry and Quay refuse: manifests by digest,
// repositories of more than two path components, and namespaces that do
// not exist.
func TestRegistryRefusingMirror(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry, skipped by -short")
	}
	dir := t.TempDir()
	l, err := testlayout.Build(filepath.Join(dir, "layout"), testlayout.Options{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	a := testregistry.Start(t, testregistry.Options{})
	for ref, dest := range map[string]string{"app:v1": "ns/app:v1", "multi:latest": "ns/multi:latest", "base:1": "ns/base:1"} {
		testregistry.CopyToRegistry(t, l.Dir, ref, a.Host+"/"+dest, "")
	}
	pushReferrer(t, repoOf(t, a.Host, "ns/app", auth.Credential{}), l)
	env, key, pub := keys(t, dir)
	list := filepath.Join(dir, "images.txt")
	os.WriteFile(list, []byte(a.Host+"/ns/app:v1\n"+a.Host+"/ns/multi:latest\n"), 0o644)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, env, "pack", "--key", key, "--insecure-registry", a.Host, "--images", list, "--out", vols,
		"docker://"+a.Host+"/ns/base@"+l.Refs["base:1"].String())
	a.Stop()

	b := testregistry.Start(t, testregistry.Options{})
	bp := b.Proxy(t)
	bp.RefuseManifestPushByDigest()
	bp.LimitPathComponents(2)
	bp.AllowNamespaces("ocp", "team")
	scope := strings.ReplaceAll(a.Host, ":", "_")
	unpack := func(want int, args ...string) string {
		t.Helper()
		return mustRun(t, want, env, append(append([]string{"unpack", "--verbose", "--key", pub, "--insecure-registry", bp.Host}, args...), vols)...)
	}

	t.Run("too deep", func(t *testing.T) {
		out := unpack(1, "--to", "docker://"+bp.Host+"/ocp")
		for _, want := range []string{"refuses repository path ocp/" + scope + "/ns/", "(4 path components)", "hint: pass --max-nested-paths N"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("namespace missing", func(t *testing.T) {
		out := unpack(1, "--to", "docker://"+bp.Host+"/nope", "--max-nested-paths", "2")
		for _, want := range []string{"refuses repository " + bp.Host + "/nope/" + scope + "_ns_", "forbidden — the namespace nope may not exist or the credentials lack the right to create it", "hint: create the namespace"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("two sources onto one repository", func(t *testing.T) {
		bp.Reset()
		out := unpack(1, "--to", "docker://"+bp.Host+"/ocp", "--map", a.Host+"/ns/app=ocp/x", "--map", a.Host+"/ns/multi=ocp/x")
		if !strings.Contains(out, a.Host+"/ns/app and "+a.Host+"/ns/multi would both go into mirror repository ocp/x") {
			t.Errorf("output does not name both sources:\n%s", out)
		}
		if n := len(bp.Requests()); n != 0 {
			t.Errorf("%d requests reached the mirror before the refusal", n)
		}
	})

	// checkMirror reads every manifest back by digest and by tag: the
	// bundle's tags for named entries, ManifestTag for the rest.
	checkMirror := func(t *testing.T, repoOfPath func(string) string, out string) {
		t.Helper()
		read := func(ref string, want digest.Digest) {
			t.Helper()
			if got := rawDigest(t, ref); got != want {
				t.Errorf("%s reads back as %s, want %s", ref, got, want)
			}
		}
		made := func(repo string, d digest.Digest) {
			t.Helper()
			ref := bp.Host + "/" + repo + ":" + bundle.ManifestTag(d)
			read(ref, d)
			if !strings.Contains(out, ref) {
				t.Errorf("the output does not list the tag made %s:\n%s", ref, out)
			}
		}
		app, multi, base := repoOfPath("ns/app"), repoOfPath("ns/multi"), repoOfPath("ns/base")
		read(bp.Host+"/"+app+":v1", l.Refs["app:v1"])
		read(bp.Host+"/"+app+"@"+l.Refs["app:v1"].String(), l.Refs["app:v1"])
		read(bp.Host+"/"+multi+":latest", l.Refs["multi:latest"])
		read(bp.Host+"/"+multi+"@"+l.Refs["multi:latest"].String(), l.Refs["multi:latest"])
		var idx ocispec.Index
		json.Unmarshal([]byte(testregistry.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+bp.Host+"/"+multi+":latest")), &idx)
		if len(idx.Manifests) != 2 {
			t.Fatalf("the index has %d manifests", len(idx.Manifests))
		}
		for _, m := range idx.Manifests {
			read(bp.Host+"/"+multi+"@"+m.Digest.String(), m.Digest)
			made(multi, m.Digest)
		}
		read(bp.Host+"/"+base+"@"+l.Refs["base:1"].String(), l.Refs["base:1"])
		made(base, l.Refs["base:1"])
		read(bp.Host+"/"+app+"@"+l.Referrer.String(), l.Referrer)
		made(app, l.Referrer)
		// Named entries keep only their own tags.
		if code, _ := runSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+bp.Host+"/"+app+":"+bundle.ManifestTag(l.Refs["app:v1"])); code == 0 {
			t.Error("app:v1 has a tag made up besides its own")
		}
	}

	t.Run("refusal detected", func(t *testing.T) {
		bp.Reset()
		out := unpack(0, "--to", "docker://"+bp.Host+"/ocp", "--max-nested-paths", "2")
		// One refusal, then by tag for the rest of the push.
		if n := bp.Count("PUT", manifestPutByDigest, 0); n != 1 {
			t.Errorf("%d manifest pushes by digest, want the one refused", n)
		}
		checkMirror(t, func(p string) string { return "ocp/" + scope + "_" + strings.ReplaceAll(p, "/", "_") }, out)
		// Pushing again finds everything, the tags made included.
		bp.Reset()
		unpack(0, "--to", "docker://"+bp.Host+"/ocp", "--max-nested-paths", "2")
		if n := bp.Count("PUT", testregistry.ManifestPut, 0); n != 0 {
			t.Errorf("the second push put %d manifests", n)
		}
	})
	t.Run("tag manifests and map", func(t *testing.T) {
		bp.Reset()
		out := unpack(0, "--to", "docker://"+bp.Host+"/ocp", "--tag-manifests", "--max-nested-paths", "2", "--map", a.Host+"/ns=team/mirrored")
		if n := bp.Count("PUT", manifestPutByDigest, 0); n != 0 {
			t.Errorf("%d manifest pushes by digest with --tag-manifests", n)
		}
		checkMirror(t, func(p string) string { return "team/mirrored_" + strings.TrimPrefix(p, "ns/") }, out)
	})
	// The same mapping from the image set file that chose the images, so
	// that the far side pushes as the reviewed file says.
	setFile := filepath.Join(dir, "imageset.yaml")
	os.WriteFile(setFile, []byte(`apiVersion: airgap-bundle.github.io/v1alpha1
kind: ImageSet
mirror:
  additionalImages:
    - name: `+a.Host+`/ns/app:v1
destination:
  map:
    - `+a.Host+`/ns=team/fromfile
  maxNestedPaths: 2
`), 0o644)
	t.Run("mapping from the image set file", func(t *testing.T) {
		bp.Reset()
		conf := filepath.Join(dir, "conf")
		out := unpack(0, "--to", "docker://"+bp.Host+"/ocp", "--tag-manifests", "--config", setFile, "--emit-mirror-config", conf)
		checkMirror(t, func(p string) string { return "team/fromfile_" + strings.TrimPrefix(p, "ns/") }, out)
		// The cluster configuration follows the mapping used.
		mapping, err := os.ReadFile(filepath.Join(conf, "airgap-bundle-mapping.txt"))
		if err != nil {
			matches, _ := filepath.Glob(filepath.Join(conf, "*mapping.txt"))
			if len(matches) != 1 {
				t.Fatalf("no mapping.txt in %s: %v", conf, err)
			}
			mapping, _ = os.ReadFile(matches[0])
		}
		if !strings.Contains(string(mapping), "="+bp.Host+"/team/fromfile_app") {
			t.Errorf("mapping.txt does not follow the file's mapping:\n%s", mapping)
		}
	})
	t.Run("a flag's rule wins over the file's", func(t *testing.T) {
		bp.Reset()
		// Into the repositories the earlier subtest filled: found there,
		// nothing pushed into team/fromfile_*.
		out := unpack(0, "--to", "docker://"+bp.Host+"/ocp", "--tag-manifests", "--config", setFile, "--map", a.Host+"/ns=team/mirrored")
		if !strings.Contains(out, a.Host+"/ns/app:v1 -> "+bp.Host+"/team/mirrored_app:v1") {
			t.Errorf("the flag's rule did not win:\n%s", out)
		}
		if n := bp.Count("PUT", regexp.MustCompile(`^/v2/team/fromfile_`), 0); n != 0 {
			t.Errorf("%d PUTs into the file's repositories", n)
		}
	})
	t.Run("the file's errors and the wrong destination", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte("apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\nmirror:\n  additionalImages: [{name: a}]\ndestination:\n  map: [quay.io]\n"), 0o644)
		out := unpack(2, "--to", "docker://"+bp.Host+"/ocp", "--config", bad)
		if !strings.Contains(out, bad+":6: destination.map[0]") {
			t.Errorf("the error does not name the file and line:\n%s", out)
		}
		out = unpack(2, "--to", "oci:"+filepath.Join(dir, "out"), "--config", setFile)
		if !strings.Contains(out, "--config applies to docker:// destinations only") {
			t.Errorf("--config with a layout:\n%s", out)
		}
	})
}
