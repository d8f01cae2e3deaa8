package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// sourceLayout is the example layout every test packs.
const sourceLayout = "../testdata/example-layout"

var (
	binDir   string
	buildMu  sync.Mutex
	builtBin = map[string]string{}
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "bundle-examples-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// build compiles the main package pkg (relative to this directory) once and
// returns the path of the binary. It is built by go run, whose binaries the
// go command keeps in its build cache (go build links again each time),
// run as the -exec program given: a copy into binDir.
func build(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builtBin[pkg]; ok {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build %s: %v", pkg, err)
	}
	bin := filepath.Join(binDir, filepath.Base(pkg))
	if out, err := exec.Command(goBin, "run", "-exec", `sh -c 'cp "$0" "$1"'`, pkg, bin).CombinedOutput(); err != nil {
		t.Fatalf("go run %s (a copy of its binary): %v\n%s", pkg, err, out)
	}
	builtBin[pkg] = bin
	return bin
}

// need fails the test (it does not skip) when a tool CI installs is missing.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required by this test (CI installs it): %v", tool, err)
		}
	}
}

// run runs a command and returns its combined output, failing the test if
// it does not succeed.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sourceManifest returns the bytes of the manifest tagged ref in the
// example layout.
func sourceManifest(t *testing.T, ref string) []byte {
	t.Helper()
	l, err := oci.Open(sourceLayout)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	idx, err := l.Index()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == ref {
			b, err := os.ReadFile(filepath.Join(sourceLayout, "blobs", m.Digest.Algorithm().String(), m.Digest.Encoded()))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s in %s", ref, sourceLayout)
	return nil
}

// checkSkopeoReads checks that skopeo reads app:v1 from the layout at dir
// with the bytes of the source manifest.
func checkSkopeoReads(t *testing.T, dir string) {
	t.Helper()
	got, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+dir+":app:v1").Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw oci:%s:app:v1: %v", dir, stderrOf(err))
	}
	if want := sourceManifest(t, "app:v1"); !bytes.Equal(got, want) {
		t.Fatalf("skopeo reads app:v1 from %s as\n%s\nwant\n%s", dir, got, want)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return err.Error() + "\n" + string(ee.Stderr)
	}
	return err.Error()
}

// volumes lists the volume files in dir, in order.
func volumes(t *testing.T, dir string) []string {
	t.Helper()
	vols, err := filepath.Glob(filepath.Join(dir, "vol-*-of-*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(vols)
	return vols
}

func TestPackCustomSinkThenVerifyUnpack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: skopeo and two example builds, skipped by -short")
	}
	need(t, "skopeo", "sha256sum")
	pack := build(t, "./pack-custom-sink")
	verifyUnpack := build(t, "./verify-unpack")
	dir := t.TempDir()
	out := filepath.Join(dir, "volumes")
	dest := filepath.Join(dir, "layout")

	run(t, nil, pack, sourceLayout, out, "40000")
	vols := volumes(t, out)
	if len(vols) < 3 {
		t.Fatalf("packed %d volumes with a 40000-byte limit, want several", len(vols))
	}
	// Every volume has a sidecar saying what sha256sum says; nothing else
	// but the public key is left in the directory.
	want := map[string]bool{"bundle.pub": true}
	for _, v := range vols {
		name := filepath.Base(v)
		want[name], want[name+".sha256"] = true, true
		sidecar, err := os.ReadFile(v + ".sha256")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sha256sum", name)
		cmd.Dir = out
		sum, err := cmd.Output()
		if err != nil {
			t.Fatal(stderrOf(err))
		}
		if !bytes.Equal(sidecar, sum) {
			t.Errorf("%s.sha256 says %q, sha256sum says %q", name, sidecar, sum)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("unexpected file %s left in %s", e.Name(), out)
		}
		delete(want, e.Name())
	}
	for name := range want {
		t.Errorf("%s not written", name)
	}
	cmd := exec.Command("sha256sum", "-c")
	cmd.Dir = out
	for _, v := range vols {
		cmd.Args = append(cmd.Args, filepath.Base(v)+".sha256")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, b)
	}

	// The sink refuses a directory that already holds volumes, and leaves
	// it as it was.
	if b, err := runErr(nil, pack, sourceLayout, out, "40000"); err == nil {
		t.Errorf("packing again into %s succeeded:\n%s", out, b)
	}
	if after, _ := os.ReadDir(out); len(after) != len(entries) {
		t.Errorf("a refused pack changed %s: %d files, was %d", out, len(after), len(entries))
	}

	got := run(t, nil, verifyUnpack, filepath.Join(out, "bundle.pub"), out, dest)
	for i := range vols {
		if line := fmt.Sprintf("verified: volume %d of %d", i+1, len(vols)); !strings.Contains(got, line) {
			t.Errorf("verify-unpack output lacks %q:\n%s", line, got)
		}
	}
	for _, s := range []string{"unpack: ", "named app:v1: sha256:", "unpacked 5 entries"} {
		if !strings.Contains(got, s) {
			t.Errorf("verify-unpack output lacks %q:\n%s", s, got)
		}
	}
	checkSkopeoReads(t, dest)

	// A volume missing: verify-unpack reports it and fails.
	if err := os.Remove(vols[1]); err != nil {
		t.Fatal(err)
	}
	got, err = runErr(nil, verifyUnpack, filepath.Join(out, "bundle.pub"), out, filepath.Join(dir, "other"))
	if err == nil || !strings.Contains(got, fmt.Sprintf("missing:  volume 2 of %d", len(vols))) {
		t.Errorf("verify-unpack with volume 2 missing: err %v, output:\n%s", err, got)
	}
}

// TestUnpackHTTP unpacks volumes served over HTTP on 127.0.0.1 with
// examples/unpack-http: the result is the layout skopeo reads; a volume
// damaged on the server is refused and leaves no layout behind.
func TestUnpackHTTP(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: skopeo and two example builds, skipped by -short")
	}
	need(t, "skopeo")
	pack := build(t, "./pack-custom-sink")
	unpackHTTP := build(t, "./unpack-http")
	dir := t.TempDir()
	out := filepath.Join(dir, "volumes")
	run(t, nil, pack, sourceLayout, out, "40000")
	vols := volumes(t, out)
	if len(vols) < 3 {
		t.Fatalf("packed %d volumes, want several", len(vols))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ranges atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		http.FileServer(http.Dir(out)).ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var urls []string
	for _, v := range vols {
		urls = append(urls, "http://"+ln.Addr().String()+"/"+filepath.Base(v))
	}
	key := filepath.Join(out, "bundle.pub")

	dest := filepath.Join(dir, "layout")
	got := run(t, nil, unpackHTTP, append([]string{key, dest}, urls...)...)
	if !strings.Contains(got, "unpacked bundle") || !strings.Contains(got, "5 entries") {
		t.Errorf("unpack-http output:\n%s", got)
	}
	if ranges.Load() < int64(len(vols)) {
		t.Errorf("%d range requests for %d volumes", ranges.Load(), len(vols))
	}
	checkSkopeoReads(t, dest)

	// One byte of the last volume's last blob member changed on the server.
	data, err := os.ReadFile(vols[len(vols)-1])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1024-1] ^= 0x01 // padding or data just before the trailer
	if err := os.WriteFile(vols[len(vols)-1], data, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	got, err = runErr(nil, unpackHTTP, append([]string{key, bad}, urls...)...)
	if err == nil || !strings.Contains(got, "is corrupt") || !strings.Contains(got, urls[len(urls)-1]) {
		t.Errorf("a damaged volume: err %v, output:\n%s", err, got)
	}
	if _, err := os.Stat(filepath.Join(bad, "index.json")); err == nil {
		t.Errorf("a refused unpack left a layout in %s", bad)
	}
}

// TestKMSSigner packs through a KMS signer (sigstore's fake provider,
// fakekms://): the volumes verify with the public key the KMS reported,
// with this library and with openssl over the signed bundle.json.
func TestKMSSigner(t *testing.T) {
	t.Parallel()
	kmsSigner := build(t, "./kms-signer")
	out := filepath.Join(t.TempDir(), "volumes")
	got := run(t, nil, kmsSigner, "fakekms://release", sourceLayout, out)
	if !strings.Contains(got, "signed in the KMS by sha256:") {
		t.Errorf("kms-signer output:\n%s", got)
	}
	pub := filepath.Join(out, "bundle.pub")
	key, err := sign.LoadVerifierFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	set, err := bundle.OpenFiles(ctx, []string{out})
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Trust(bundle.TrustPolicy{Key: key}); err != nil {
		t.Fatalf("trust with the KMS's public key: %v", err)
	}
	if _, err := set.Verify(ctx, bundle.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vol := filepath.Join(out, "vol-0001-of-0001.tar")
	if b, err := exec.Command("tar", "-xf", vol, "-C", dir, "bundle.json", "bundle.json.sig").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	if b, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pub, "-signature", filepath.Join(dir, "bundle.json.sig"), filepath.Join(dir, "bundle.json")).CombinedOutput(); err != nil {
		t.Fatalf("openssl does not verify the KMS's signature: %v\n%s", err, b)
	}
}
