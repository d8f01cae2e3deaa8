package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// The registry tests run real docker-registry servers on 127.0.0.1 (see
// internal/testregistry) and the bundle binary, as users do.

// keys makes a signing key pair in dir.
func keys(t *testing.T, dir string) (env []string, key, pub string) {
	env = []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	k := filepath.Join(dir, "k")
	keygen(t, env, k)
	return env, k + ".key", k + ".pub"
}

// authFile writes a containers auth.json for user:password at host.
func authFile(t *testing.T, dir, host, user, password string) string {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{"username": user, "password": password}}}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "auth-"+user+".json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// repoOf opens host/path with the library, for test set-up and checks.
func repoOf(t *testing.T, host, path string, cred auth.Credential) *oci.Repository {
	t.Helper()
	regs, err := oci.NewRegistries(oci.RegistryOptions{Insecure: []string{host}, Credential: auth.StaticCredential(host, cred)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := regs.Repository(context.Background(), host, path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushBlob uploads data into repo and returns its descriptor.
func pushBlob(t *testing.T, repo *oci.Repository, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repo.Push(context.Background(), d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return d
}

// pushCosignSignature stores a cosign-style simple-signing signature of
// signed under the tag sha256-<hex>.sig, as `cosign sign` does.
func pushCosignSignature(t *testing.T, repo *oci.Repository, signed digest.Digest) ocispec.Descriptor {
	t.Helper()
	payload := []byte(`{"critical":{"identity":{"docker-reference":"` + repo.Name + `"},"image":{"docker-manifest-digest":"` + signed.String() + `"},"type":"cosign container image signature"},"optional":null}`)
	layer := pushBlob(t, repo, "application/vnd.dev.cosign.simplesigning.v1+json", payload)
	layer.Annotations = map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQDtest"}
	config := pushBlob(t, repo, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"","config":{},"created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["`+digest.FromBytes(payload).String()+`"]}}`))
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{layer}})
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	if err := repo.PushTag(context.Background(), d, bytes.NewReader(m), "sha256-"+signed.Encoded()+".sig"); err != nil {
		t.Fatal(err)
	}
	return d
}

// pushReferrer copies the layout's SBOM referrer (subject: app:v1) into
// repo; on a registry without the referrers API the library keeps the
// sha256-<hex> referrers index tag, as the OCI 1.1 spec says.
func pushReferrer(t *testing.T, repo *oci.Repository, l *testlayout.Layout) {
	t.Helper()
	src, err := oci.Open(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: l.Referrer, Size: l.Blobs[l.Referrer]}
	content, err := oci.ReadManifest(ctx, src, desc)
	if err != nil {
		t.Fatal(err)
	}
	kids, err := oci.Children(desc, content)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		rc, err := src.Fetch(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Push(ctx, k, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if err := repo.Push(ctx, desc, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
}

// rawDigest is the digest of what skopeo reads for ref.
func rawDigest(t *testing.T, ref string, extra ...string) digest.Digest {
	t.Helper()
	args := append([]string{"inspect", "--raw", "--tls-verify=false"}, extra...)
	out := testregistry.Skopeo(t, append(args, "docker://"+ref)...)
	return digest.FromString(out)
}

// layoutBlobs lists the digests of the blobs in an OCI layout.
func layoutBlobs(t *testing.T, dir string) map[digest.Digest]bool {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[digest.Digest]bool{}
	for _, e := range ents {
		out[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] = true
	}
	return out
}

func TestRegistryRoundTrip(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry and skopeo; TestRollbackRegistry keeps a CLI push in -short, skipped by -short")
	}
	dir := t.TempDir()
	l, err := testlayout.Build(filepath.Join(dir, "layout"), testlayout.Options{LayerSize: 96 << 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Registry A, on the connected side, wants a password; registry B,
	// the mirror, is open.
	a := testregistry.Start(t, testregistry.Options{Users: map[string]string{"alice": "s3cret"}})
	b := testregistry.Start(t, testregistry.Options{})
	bp := b.Proxy(t)
	creds := "alice:s3cret"
	images := map[string]string{"app:v1": "ns/app:v1", "app:v2": "ns/app:v2", "multi:latest": "ns/multi:latest", "base:1": "base:1"}
	for ref, dest := range images {
		testregistry.CopyToRegistry(t, l.Dir, ref, a.Host+"/"+dest, creds)
	}
	// A Docker manifest list of Docker schema 2 manifests, as much of the
	// world still publishes: it must arrive unconverted.
	testregistry.Skopeo(t, "copy", "--all", "--format", "v2s2", "--dest-tls-verify=false", "--dest-creds", creds,
		"oci:"+l.Dir+":multi:latest", "docker://"+a.Host+"/ns/dmulti:1")
	dockerList := rawDigest(t, a.Host+"/ns/dmulti:1", "--creds", creds)
	appRepo := repoOf(t, a.Host, "ns/app", auth.Credential{Username: "alice", Password: "s3cret"})
	sig := pushCosignSignature(t, appRepo, l.Refs["app:v1"])
	pushReferrer(t, appRepo, l)

	env, key, pub := keys(t, dir)
	list := filepath.Join(dir, "images.txt")
	os.WriteFile(list, []byte("# images of the release\n"+
		a.Host+"/ns/app:v1\n"+
		a.Host+"/ns/app:v2   # the new one\n\n"+
		"docker://"+a.Host+"/ns/multi:latest\n"+
		a.Host+"/ns/dmulti:1\n"), 0o644)
	authJSON := authFile(t, dir, a.Host, "alice", "s3cret")
	vols := filepath.Join(dir, "vols")
	out := mustRun(t, 0, env, "pack", "--key", key, "--max-size", "128K", "--insecure-registry", a.Host, "--authfile", authJSON,
		"--images", list, "--out", vols, "docker://"+a.Host+"/base@"+l.Refs["base:1"].String())
	if strings.Contains(out, "s3cret") {
		t.Fatalf("pack printed the password:\n%s", out)
	}
	if n := len(volumeNames(t, vols)); n < 3 {
		t.Fatalf("%d volumes, want several with a 128K limit", n)
	}
	mustRun(t, 0, env, "verify", "--key", pub, vols)

	// A is gone before the mirror is filled: everything comes from the volumes.
	a.Stop()
	cfg := filepath.Join(dir, "mirror-config")
	mustRun(t, 0, env, "unpack", "--key", pub, "--insecure-registry", bp.Host, "--to", "docker://"+bp.Host+"/mirror",
		"--emit-mirror-config", cfg, vols)
	if bp.Count("PUT", testregistry.BlobUploadDone, 201) == 0 {
		t.Fatal("no blob uploads went to the mirror")
	}

	// Every manifest, by tag and by digest, is byte for byte what A had.
	scope := a.Host[:strings.IndexByte(a.Host, ':')] + "_" + a.Host[strings.IndexByte(a.Host, ':')+1:]
	// The proxy is the mirror as far as the bundle knows.
	mirrorOf := func(path string) string { return bp.Host + "/mirror/" + scope + "/" + path }
	for ref, dest := range images {
		if ref == "base:1" {
			continue // packed by digest: pushed by digest, untagged
		}
		if got, want := rawDigest(t, mirrorOf(dest)), l.Refs[ref]; got != want {
			t.Errorf("%s in the mirror is %s, want %s", dest, got, want)
		}
	}
	if got := rawDigest(t, mirrorOf("base@"+l.Refs["base:1"].String())); got != l.Refs["base:1"] {
		t.Errorf("base by digest in the mirror is %s", got)
	}
	if code, _ := runSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+mirrorOf("base:1")); code == 0 {
		t.Error("base was packed by digest but the mirror has it tagged")
	}
	// The multi-platform index is intact, with both platforms.
	var idx ocispec.Index
	json.Unmarshal([]byte(testregistry.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+mirrorOf("ns/multi:latest"))), &idx)
	if len(idx.Manifests) != 2 {
		t.Fatalf("multi index has %d manifests", len(idx.Manifests))
	}
	for _, m := range idx.Manifests {
		if got := rawDigest(t, mirrorOf("ns/multi@"+m.Digest.String())); got != m.Digest {
			t.Errorf("platform manifest %s reads back as %s", m.Digest, got)
		}
	}
	// The Docker manifest list and its manifests are what A had.
	if got := rawDigest(t, mirrorOf("ns/dmulti:1")); got != dockerList {
		t.Errorf("Docker manifest list in the mirror is %s, want %s", got, dockerList)
	}
	var dl ocispec.Index
	json.Unmarshal([]byte(testregistry.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+mirrorOf("ns/dmulti:1"))), &dl)
	if dl.MediaType != oci.MediaTypeDockerManifestList || len(dl.Manifests) != 2 {
		t.Fatalf("Docker manifest list in the mirror: %s with %d manifests", dl.MediaType, len(dl.Manifests))
	}
	for _, m := range dl.Manifests {
		if m.MediaType != oci.MediaTypeDockerManifest {
			t.Errorf("manifest %s of the Docker list is a %s", m.Digest, m.MediaType)
		}
		if got := rawDigest(t, mirrorOf("ns/dmulti@"+m.Digest.String())); got != m.Digest {
			t.Errorf("Docker manifest %s reads back as %s", m.Digest, got)
		}
	}
	// skopeo pulls every platform: each blob of the layout arrives intact.
	pulled := filepath.Join(dir, "pulled")
	testregistry.Skopeo(t, "copy", "--all", "--src-tls-verify=false", "docker://"+mirrorOf("ns/multi:latest"), "oci:"+pulled+":multi")
	for d := range layoutBlobs(t, pulled) {
		if _, ok := l.Blobs[d]; !ok {
			t.Errorf("pulled blob %s is not one of the layout's", d)
		}
	}
	// The cosign signature tag and the OCI referrer came along.
	if got := rawDigest(t, mirrorOf("ns/app:sha256-"+l.Refs["app:v1"].Encoded()+".sig")); got != sig.Digest {
		t.Errorf("signature tag in the mirror is %s, want %s", got, sig.Digest)
	}
	mrepo := repoOf(t, b.Host, "mirror/"+scope+"/ns/app", auth.Credential{})
	refs, err := mrepo.Referrers(context.Background(), ocispec.Descriptor{Digest: l.Refs["app:v1"], MediaType: ocispec.MediaTypeImageManifest})
	if err != nil || len(refs) != 1 || refs[0].Digest != l.Referrer {
		t.Errorf("referrers of app:v1 in the mirror: %v, %v; want the SBOM %s", refs, err, l.Referrer)
	}

	// The mirror configuration names every source repository, and a
	// client that reads it pulls by digest from the mirror while A is down.
	conf := mirrorConfigFile(t, cfg, ".conf")
	var parsed struct {
		Registry []struct {
			Prefix, Location   string
			MirrorByDigestOnly bool `toml:"mirror-by-digest-only"`
			Mirror             []struct {
				Location string
				Insecure bool
			}
		}
	}
	if _, err := toml.DecodeFile(conf, &parsed); err != nil {
		t.Fatalf("%s: %v", conf, err)
	}
	got := map[string]string{}
	for _, r := range parsed.Registry {
		if !r.MirrorByDigestOnly || len(r.Mirror) != 1 || r.Prefix != r.Location {
			t.Errorf("registries.conf entry %+v", r)
			continue
		}
		got[r.Prefix] = r.Mirror[0].Location
	}
	for _, path := range []string{"ns/app", "ns/multi", "ns/dmulti", "base"} {
		if got[a.Host+"/"+path] != mirrorOf(path) {
			t.Errorf("registries.conf maps %s to %q, want %q", a.Host+"/"+path, got[a.Host+"/"+path], mirrorOf(path))
		}
	}
	if len(got) != 4 {
		t.Errorf("registries.conf has %d entries, want 4: %v", len(got), got)
	}
	if d := rawDigest(t, a.Host+"/ns/app@"+l.Refs["app:v1"].String(), "--registries-conf", conf); d != l.Refs["app:v1"] {
		t.Errorf("through the mirror config, app:v1 by digest reads as %s", d)
	}
	idms := mirrorConfigFile(t, cfg, "-idms.yaml")
	text, _ := os.ReadFile(idms)
	for _, path := range []string{"ns/app", "ns/multi", "ns/dmulti", "base"} {
		if !strings.Contains(string(text), a.Host+"/"+path) || !strings.Contains(string(text), mirrorOf(path)) {
			t.Errorf("%s does not map %s:\n%s", idms, path, text)
		}
	}

	// A second run finds everything in place and uploads nothing.
	// With a stable set name and pulls by tag, it writes every cluster file
	// under that name, and a client pulls by tag from the mirror.
	bp.Reset()
	site := filepath.Join(dir, "site-config")
	out = mustRun(t, 0, env, "unpack", "--key", pub, "--insecure-registry", bp.Host, "--to", "docker://"+bp.Host+"/mirror",
		"--emit-mirror-config", site, "--mirror-set-name", "site", "--mirror-tags", vols)
	for _, f := range []string{"site.conf", "site-idms.yaml", "site-itms.yaml", "site-icsp.yaml", "site-install-config.yaml", "site-mapping.txt"} {
		if _, err := os.Stat(filepath.Join(site, f)); err != nil {
			t.Errorf("--mirror-set-name site: %v", err)
		}
	}
	if d := rawDigest(t, a.Host+"/ns/app:v1", "--registries-conf", filepath.Join(site, "site.conf")); d != l.Refs["app:v1"] {
		t.Errorf("through the mirror config with --mirror-tags, app:v1 by tag reads as %s", d)
	}
	if n := bp.Count("PUT", testregistry.BlobUploadDone, 0); n != 0 {
		t.Errorf("second push uploaded %d blobs", n)
	}
	bp.Reset()
	out = mustRun(t, 0, env, "unpack", "--key", pub, "--insecure-registry", bp.Host, "--to", "docker://"+bp.Host+"/mirror", vols)
	if n := bp.Count("PUT", testregistry.BlobUploadDone, 0); n != 0 {
		t.Errorf("second push uploaded %d blobs", n)
	}
	if n := bp.Count("PUT", testregistry.ManifestPut, 0); n != 0 {
		t.Errorf("second push put %d manifests", n)
	}
	if !strings.Contains(out, "0 uploaded") {
		t.Errorf("second push output:\n%s", out)
	}
}

func runSkopeo(t *testing.T, args ...string) (int, string) {
	t.Helper()
	_, out, err := testregistry.RunSkopeo(t, args...)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out
}

func mirrorConfigFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if len(m) != 1 {
		t.Fatalf("want one *%s in %s, found %v", suffix, dir, m)
	}
	return m[0]
}

func volumeNames(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "vol-*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// packLayout packs the layout's entries (oci: source) into a new directory.
func packLayout(t *testing.T, env []string, key, layout, vols string) {
	t.Helper()
	mustRun(t, 0, env, "pack", "--key", key, "--max-size", "256K", "--out", vols, "oci:"+layout)
}

// uploadsOf reads "blobs: N uploaded" from push output.
func uploadsOf(t *testing.T, out string) int {
	t.Helper()
	var n int
	i := strings.Index(out, "blobs: ")
	if i < 0 {
		t.Fatalf("no blob counts in:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i:], "blobs: %d uploaded", &n); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return n
}

func TestRegistryInterruptedPush(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: pushes killed mid-way into a real docker-registry, skipped by -short")
	}
	dir := t.TempDir()
	l, err := testlayout.Build(filepath.Join(dir, "layout"), testlayout.Options{LayerSize: 256 << 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	env, key, pub := keys(t, dir)
	vols := filepath.Join(dir, "vols")
	packLayout(t, env, key, l.Dir, vols)

	// A clean push into a registry of its own says how many uploads a
	// whole push takes.
	clean := testregistry.Start(t, testregistry.Options{})
	whole := uploadsOf(t, mustRun(t, 0, env, "unpack", "--key", pub, "--insecure-registry", clean.Host, "--to", "docker://"+clean.Host+"/m", vols))
	if whole < 6 {
		t.Fatalf("a whole push uploads %d blobs; the test wants more to interrupt", whole)
	}

	// One upload at a time, the uploads before the kill and those of the
	// re-run add up to a whole push; with several in flight, those under
	// way at the kill may complete unseen.
	for _, jobs := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d jobs", jobs), func(t *testing.T) {
			b := testregistry.Start(t, testregistry.Options{})
			bp := b.Proxy(t)
			args := []string{"unpack", "--key", pub, "--insecure-registry", bp.Host, "--to", "docker://" + bp.Host + "/m", "--jobs", fmt.Sprint(jobs), vols}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			const killAt = 3
			bp.OnResponse(func(r testregistry.Request) {
				if r.Method == "PUT" && r.Status == 201 && testregistry.BlobUploadDone.MatchString(r.Path) &&
					bp.Count("PUT", testregistry.BlobUploadDone, 201) == killAt {
					cmd.Process.Kill()
				}
			})
			if err := cmd.Run(); err == nil {
				t.Fatalf("the push was not interrupted:\n%s", out.String())
			}
			bp.OnResponse(nil)
			first := bp.Count("PUT", testregistry.BlobUploadDone, 201)
			// Others in flight may end (and be recorded) after the kill.
			if first < killAt || (jobs == 1 && first != killAt) {
				t.Fatalf("%d uploads before the kill, want %d", first, killAt)
			}
			// Nothing is tagged: the tags come after everything else.
			if n := bp.Count("PUT", testregistry.ManifestPut, 0); n != 0 {
				t.Errorf("the interrupted push put %d manifests", n)
			}
			for ref := range l.Refs {
				if code, _ := runSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+bp.Host+"/m/"+ref); code == 0 {
					t.Errorf("%s is tagged in the mirror after an interrupted push", ref)
				}
			}

			// The re-run uploads exactly what is missing and completes.
			bp.Reset()
			outText := mustRun(t, 0, env, args...)
			second := bp.Count("PUT", testregistry.BlobUploadDone, 201)
			if second != uploadsOf(t, outText) {
				t.Errorf("the registry saw %d uploads, the tool reports %d", second, uploadsOf(t, outText))
			}
			switch {
			case jobs == 1 && first+second != whole:
				t.Errorf("uploads: %d before the kill + %d on the re-run, want %d in all", first, second, whole)
			case first+second > whole:
				// Uploads in flight at the kill may have been completed by
				// the registry all the same (the proxy records those as 502):
				// the re-run finds those there.
				t.Errorf("uploads: %d before the kill + %d on the re-run, more than the %d of a whole push", first, second, whole)
			}
			for ref, d := range l.Refs {
				if got := rawDigest(t, bp.Host+"/m/"+ref); got != d {
					t.Errorf("%s in the mirror is %s, want %s", ref, got, d)
				}
			}
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry, skipped by -short")
	}
	dir := t.TempDir()
	l, err := testlayout.Build(filepath.Join(dir, "layout"), testlayout.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	env, key, pub := keys(t, dir)
	a := testregistry.Start(t, testregistry.Options{Users: map[string]string{"alice": "s3cret"}})
	testregistry.CopyToRegistry(t, l.Dir, "app:v1", a.Host+"/ns/app:v1", "alice:s3cret")
	testregistry.CopyToRegistry(t, l.Dir, "base:1", a.Host+"/ns/base:1", "alice:s3cret")
	good := authFile(t, dir, a.Host, "alice", "s3cret")
	bad := authFile(t, dir, a.Host, "mallory", "guess")
	down := testregistry.Start(t, testregistry.Options{})
	down.Stop()

	// A registry that serves a manifest whose bytes do not hash to the
	// digest it names (docker-registry itself checks what it stores, so
	// this one is in-process).
	liar := lyingRegistry(t, l)
	for _, tc := range []struct {
		name, authfile, ref string
		want                []string
	}{
		{"bad credentials", bad, a.Host + "/ns/app:v1", []string{a.Host + "/ns/app:v1", "access denied", "auth-mallory.json"}},
		{"no credentials", filepath.Join(dir, "none.json"), a.Host + "/ns/app:v1", []string{"none.json"}},
		{"unreachable", good, down.Host + "/ns/app:v1", []string{down.Host, "unreachable"}},
		{"missing tag", good, a.Host + "/ns/app:v9", []string{a.Host + "/ns/app:v9", "not found"}},
		{"manifest not matching its digest", good, liar + "/ns/app:v1", []string{"docker://" + liar + "/ns/app:v1", l.Refs["app:v1"].String(), "hashes to"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vols := filepath.Join(t.TempDir(), "vols")
			insecure := strings.Split(tc.ref, "/")[0]
			code, out := runCLI(t, env, "pack", "--key", key, "--insecure-registry", insecure, "--authfile", tc.authfile, "--out", vols, "docker://"+tc.ref)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			t.Logf("%s", out)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "s3cret") || strings.Contains(out, "guess") {
				t.Errorf("a password was printed:\n%s", out)
			}
			if v, _ := filepath.Glob(filepath.Join(vols, "*")); len(v) != 0 {
				t.Errorf("a failed pack left %v", v)
			}
		})
	}

	// Disconnected side: a mirror behind a password.
	vols := filepath.Join(dir, "vols")
	packLayout(t, env, key, l.Dir, vols)
	mir := testregistry.Start(t, testregistry.Options{Users: map[string]string{"bob": "hunter2"}})
	repos := filepath.Join(mir.Dir, "docker/registry/v2/repositories")
	code, out := runCLI(t, env, "unpack", "--key", pub, "--insecure-registry", mir.Host, "--authfile", authFile(t, dir, mir.Host, "bob", "wrong"),
		"--to", "docker://"+mir.Host+"/m", vols)
	if code != 1 || !strings.Contains(out, "access denied") || !strings.Contains(out, mir.Host) {
		t.Errorf("push with a wrong password: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(repos); err == nil {
		t.Errorf("a refused push left repositories in the mirror")
	}

	// A damaged volume: the push stops at the bad bytes with exit 3, and
	// nothing is tagged.
	damaged := filepath.Join(dir, "damaged")
	os.MkdirAll(damaged, 0o755)
	for _, v := range volumeNames(t, vols) {
		b, _ := os.ReadFile(v)
		os.WriteFile(filepath.Join(damaged, filepath.Base(v)), b, 0o644)
	}
	last := volumeNames(t, damaged)[len(volumeNames(t, damaged))-1]
	b, _ := os.ReadFile(last)
	b[len(b)-4096] ^= 0x40
	os.WriteFile(last, b, 0o644)
	bobAuth := authFile(t, dir, mir.Host, "bob", "hunter2")
	code, out = runCLI(t, env, "unpack", "--key", pub, "--insecure-registry", mir.Host, "--authfile", bobAuth, "--to", "docker://"+mir.Host+"/m", damaged)
	if code != 3 || !strings.Contains(out, last) {
		t.Errorf("push of a damaged volume: exit %d, want 3 naming %s\n%s", code, last, out)
	}
	for ref := range l.Refs {
		if code, _ := runSkopeo(t, "inspect", "--raw", "--tls-verify=false", "--creds", "bob:hunter2", "docker://"+mir.Host+"/m/"+ref); code == 0 {
			t.Errorf("%s is tagged after a failed push", ref)
		}
	}
	// With the right password and good volumes, it goes through.
	mustRun(t, 0, env, "unpack", "--key", pub, "--insecure-registry", mir.Host, "--authfile", bobAuth, "--to", "docker://"+mir.Host+"/m", vols)
	if got := rawDigest(t, mir.Host+"/m/app:v1", "--creds", "bob:hunter2"); got != l.Refs["app:v1"] {
		t.Errorf("app:v1 in the mirror is %s", got)
	}
}

// lyingRegistry serves app:v1 of the layout with one byte of its manifest
// changed, under the manifest's true digest.
func lyingRegistry(t *testing.T, l *testlayout.Layout) string {
	d := l.Refs["app:v1"]
	content, err := os.ReadFile(filepath.Join(l.Dir, "blobs", "sha256", d.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(content, []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1)
	if bytes.Equal(bad, content) {
		t.Fatal("could not damage the manifest")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/":
			w.WriteHeader(http.StatusOK)
		case "/v2/ns/app/manifests/v1", "/v2/ns/app/manifests/" + d.String():
			w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
			w.Header().Set("Docker-Content-Digest", d.String())
			w.Header().Set("Content-Length", fmt.Sprint(len(bad)))
			if r.Method == http.MethodGet {
				w.Write(bad)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
