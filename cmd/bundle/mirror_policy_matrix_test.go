package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// TestTagPatternFlag: a pattern that makes bad tags is a usage error
// naming it, before anything else; so is the flag with a layout.
func TestTagPatternFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		to, pattern, want string
	}{
		{"docker://127.0.0.1:1/m", "{hex:8}", `--tag-pattern: invalid tag pattern "{hex:8}": {hex:8}: N is a number of hex digits from 16`},
		{"docker://127.0.0.1:1/m", "sha256-{hex}", "referrers tag schema"},
		{"oci:" + dir, "m-{hex:16}", "--tag-pattern applies to docker:// destinations only"},
	} {
		out := mustRun(t, 2, nil, "unpack", "--allow-unsigned", "--to", c.to, "--tag-pattern", c.pattern, filepath.Join(dir, "none"))
		if !strings.Contains(out, c.want) {
			t.Errorf("--to %s --tag-pattern %s: output lacks %q:\n%s", c.to, c.pattern, c.want, out)
		}
	}
}

// runSplit runs the binary and returns its exit code, standard output and
// standard error apart (--json output is parsed; notices are on stderr).
func runSplit(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// layoutJSON decodes blob d of the layout.
func layoutJSON(t *testing.T, l *testlayout.Layout, d digest.Digest, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir, "blobs", "sha256", d.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestMirrorPolicyMatrix unpacks one bundle into mirrors that refuse or
// collect what OpenShift's integrated registry and Quay refuse or collect,
// and reads everything back with skopeo: every manifest by digest, every
// tag by tag. The bundle has tagged images (app:v1; multi:v1-amd64, which is
// also a platform manifest of the index multi:latest in the same
// repository), a multi-platform index, an image named by digest only (as
// release components are) and an SBOM referrer of app:v1.
func TestMirrorPolicyMatrix(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: seven pushes into a real docker-registry behind the policy proxy, read back by skopeo; bundle's TestPushByTagOwnTaggedIndexChild keeps a tag-only push in -short, skipped by -short")
	}
	dir := t.TempDir()
	l, err := testlayout.Build(filepath.Join(dir, "layout"), testlayout.Options{Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	layoutJSON(t, l, l.Refs["multi:latest"], &idx)
	if len(idx.Manifests) != 2 {
		t.Fatalf("multi:latest has %d manifests", len(idx.Manifests))
	}
	ownChild, otherChild := idx.Manifests[0].Digest, idx.Manifests[1].Digest
	app, multi, base, ref := l.Refs["app:v1"], l.Refs["multi:latest"], l.Refs["base:1"], l.Referrer
	var baseManifest ocispec.Manifest
	layoutJSON(t, l, base, &baseManifest)

	a := testregistry.Start(t, testregistry.Options{})
	for ref, dest := range map[string]string{"app:v1": "ns/app:v1", "multi:latest": "ns/multi:latest", "base:1": "ns/base:1"} {
		testregistry.CopyToRegistry(t, l.Dir, ref, a.Host+"/"+dest, "")
	}
	// The index's first platform manifest gets a tag of its own.
	testregistry.Skopeo(t, "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false",
		"docker://"+a.Host+"/ns/multi@"+ownChild.String(), "docker://"+a.Host+"/ns/multi:v1-amd64")
	pushReferrer(t, repoOf(t, a.Host, "ns/app", auth.Credential{}), l)
	env, key, pub := keys(t, dir)
	list := filepath.Join(dir, "images.txt")
	os.WriteFile(list, []byte(a.Host+"/ns/app:v1\n"+a.Host+"/ns/multi:latest\n"+a.Host+"/ns/multi:v1-amd64\n"), 0o644)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, env, "pack", "--key", key, "--insecure-registry", a.Host, "--images", list, "--out", vols,
		"docker://"+a.Host+"/ns/base@"+base.String())
	a.Stop()
	scope := strings.ReplaceAll(a.Host, ":", "_")

	deep := func(p string) string { return "ocp/" + scope + "/" + p }
	flat3 := func(p string) string { return "ocp/" + scope + "/" + strings.ReplaceAll(p, "/", "_") }
	for _, c := range []struct {
		name   string
		policy func(p *testregistry.Proxy)
		args   []string
		// refused: unpack arguments the mirror refuses first (exit 1),
		// and what the error must say.
		refused     []string
		refusedSays []string
		repo        func(string) string
		// byTag: the push is by tag (the tags made are checked);
		// refusedDigest: manifest PUTs by digest the mirror refused.
		byTag         bool
		refusedDigest int
		made          func(digest.Digest) string
		// collect: Quay's collection runs after the push; collected is
		// what it must delete, as source repository paths @ digests.
		collect   bool
		collected []string
	}{
		{name: "refuse push by digest", policy: func(p *testregistry.Proxy) { p.RefuseManifestPushByDigest() },
			repo: deep, byTag: true, refusedDigest: 1, made: bundle.ManifestTag},
		{name: "refuse push by digest, own pattern", policy: func(p *testregistry.Proxy) { p.RefuseManifestPushByDigest() },
			args: []string{"--tag-pattern", "m_{algorithm}.{hex:20}"},
			repo: deep, byTag: true, refusedDigest: 1, made: func(d digest.Digest) string { return "m_sha256." + d.Encoded()[:20] }},
		{name: "path depth 3", policy: func(p *testregistry.Proxy) { p.LimitPathComponents(3) },
			refused: []string{}, refusedSays: []string{"refuses repository path ocp/" + scope + "/ns/", "hint: pass --max-nested-paths N"},
			args: []string{"--max-nested-paths", "3"}, repo: flat3},
		{name: "path depth 3, tag-only", policy: func(p *testregistry.Proxy) { p.LimitPathComponents(3); p.RefuseManifestPushByDigest() },
			args: []string{"--max-nested-paths", "3", "--tag-manifests"}, repo: flat3, byTag: true, made: bundle.ManifestTag},
		{name: "namespace missing", policy: func(p *testregistry.Proxy) { p.AllowNamespaces("ocp") },
			refused: []string{"--to-prefix", "nope"}, refusedSays: []string{"the namespace nope may not exist", "hint: create the namespace"},
			repo: deep},
		{name: "untagged collected", collect: true, repo: deep,
			collected: []string{"ns/base@" + base.String()}},
		{name: "untagged collected, tag manifests", collect: true, args: []string{"--tag-manifests"}, repo: deep,
			byTag: true, made: bundle.ManifestTag},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testregistry.Start(t, testregistry.Options{})
			bp := b.Proxy(t)
			if c.policy != nil {
				c.policy(bp)
			}
			history := filepath.Join(t.TempDir(), "history.json")
			unpack := func(to string, extra ...string) (int, string, string) {
				args := append([]string{"unpack", "--json", "--key", pub, "--insecure-registry", bp.Host, "--history", history, "--to", "docker://" + bp.Host + "/" + to}, extra...)
				return runSplit(t, env, append(args, vols)...)
			}
			if c.refused != nil {
				to, extra := "ocp", c.refused
				if len(extra) == 2 && extra[0] == "--to-prefix" {
					to, extra = extra[1], c.args
				}
				code, _, stderr := unpack(to, extra...)
				if code != 1 {
					t.Fatalf("exit %d, want 1 from the refusal:\n%s", code, stderr)
				}
				for _, want := range c.refusedSays {
					if !strings.Contains(stderr, want) {
						t.Errorf("the refusal does not say %q:\n%s", want, stderr)
					}
				}
			}
			bp.Reset()
			code, stdout, stderr := unpack("ocp", c.args...)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			var rep bundle.UnpackReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("--json: %v\n%s", err, stdout)
			}
			if n := bp.Count("PUT", manifestPutByDigest, 0); c.byTag && n != c.refusedDigest || !c.byTag && n == 0 {
				t.Errorf("%d manifest PUTs by digest (by tag: %v)", n, c.byTag)
			}
			mirror := func(p string) string { return bp.Host + "/" + c.repo(p) }
			// The own-tagged platform manifest: set as a name, whether
			// early (by tag) or last.
			amd64 := mirror("ns/multi") + ":v1-amd64"
			if i := slices.IndexFunc(rep.Names, func(n bundle.NameChange) bool { return n.Name == amd64 }); i < 0 || rep.Names[i].New != ownChild || rep.Names[i].Old != "" {
				t.Errorf("the report's names lack %s -> %s: %+v", amd64, ownChild, rep.Names)
			}
			if c.collect {
				var want []string
				for _, x := range c.collected {
					p, d, _ := strings.Cut(x, "@")
					want = append(want, c.repo(p)+"@"+d)
				}
				if got := bp.CollectUntagged(t); !slices.Equal(got, want) {
					t.Fatalf("the collection deleted %v, want %v", got, want)
				}
			}
			gone := func(repo string, d digest.Digest) bool {
				return slices.Contains(c.collected, repo+"@"+d.String())
			}
			read := func(ref string, want digest.Digest) {
				t.Helper()
				if got := rawDigest(t, ref); got != want {
					t.Errorf("%s reads back as %s, want %s", ref, got, want)
				}
			}
			absent := func(ref string) {
				t.Helper()
				if code, _ := runSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+ref); code == 0 {
					t.Errorf("%s reads back; it should not be there", ref)
				}
			}
			// Every manifest by digest, in each repository it went into.
			for _, m := range []struct {
				repo string
				d    digest.Digest
				made bool // pushed under a tag made up, when by tag
			}{
				{"ns/app", app, false}, {"ns/app", ref, true},
				{"ns/multi", multi, false}, {"ns/multi", ownChild, false}, {"ns/multi", otherChild, true},
				{"ns/base", base, true},
			} {
				ref := mirror(m.repo) + "@" + m.d.String()
				if gone(m.repo, m.d) {
					absent(ref)
					continue
				}
				read(ref, m.d)
				made := mirror(m.repo) + ":" + bundle.ManifestTag(m.d)
				if c.made != nil {
					made = mirror(m.repo) + ":" + c.made(m.d)
				}
				switch {
				case c.byTag && m.made:
					read(made, m.d)
					if !slices.Contains(rep.MadeTags, made) {
						t.Errorf("the report's made tags lack %s: %v", made, rep.MadeTags)
					}
				default:
					absent(made) // a name of its own, or pushed by digest
				}
			}
			// Every tag by tag.
			read(mirror("ns/app")+":v1", app)
			read(mirror("ns/multi")+":latest", multi)
			read(amd64, ownChild)
			if !c.byTag && len(rep.MadeTags) > 0 {
				t.Errorf("tags made on a registry that takes digests: %v", rep.MadeTags)
			}
			if c.byTag && len(rep.MadeTags) != 3 {
				t.Errorf("%d tags made, want 3 (platform manifest, image by digest, referrer): %v", len(rep.MadeTags), rep.MadeTags)
			}

			// An inventory of the mirror reaches the image named by digest
			// only through the tag made for it; without one, its
			// repository is named in a notice (and, collected or not, its
			// manifest is left out).
			code, stdout, stderr = runSplit(t, env, "inventory", "--insecure-registry", bp.Host, "--to", "docker://"+bp.Host+"/ocp", "--out", "-")
			if code != 0 {
				t.Fatalf("inventory: exit %d:\n%s", code, stderr)
			}
			var inv bundle.Inventory
			if err := json.Unmarshal([]byte(stdout), &inv); err != nil {
				t.Fatalf("inventory: %v\n%s", err, stdout)
			}
			listed := map[digest.Digest]bool{}
			for _, x := range inv.Blobs {
				listed[x.Digest] = true
			}
			for _, d := range []digest.Digest{app, ref, multi, ownChild, otherChild} {
				if !listed[d] {
					t.Errorf("the inventory lacks manifest %s", d)
				}
			}
			notice := mirror("ns/base") + " has no tags"
			switch {
			case c.byTag && (!listed[base] || !listed[baseManifest.Config.Digest]):
				t.Errorf("the inventory lacks the image named by digest (%s, config %s), tagged %s", base, baseManifest.Config.Digest, c.made(base))
			case c.byTag && strings.Contains(stderr, notice):
				t.Errorf("inventory: %q although it has a tag made:\n%s", notice, stderr)
			case !c.byTag && listed[base]:
				t.Errorf("the inventory lists %s, which no tag reaches", base)
			case !c.byTag && !strings.Contains(stderr, notice):
				t.Errorf("inventory: no notice %q:\n%s", notice, stderr)
			}

			// Pushing again finds everything, names and made tags.
			bp.Reset()
			if code, _, stderr := unpack("ocp", c.args...); code != 0 {
				t.Fatalf("second push: exit %d:\n%s", code, stderr)
			}
			if n := bp.Count("PUT", testregistry.ManifestPut, 0); n != 0 && !c.collect {
				t.Errorf("the second push put %d manifests", n)
			}
		})
	}
}
