package release

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
)

const (
	releaseRepo   = "openshift-release-dev/ocp-release"
	componentRepo = "openshift-release-dev/ocp-v4.0-art-dev"
)

var someComponents = []string{"cli", "etcd", "machine-config-operator", "cluster-version-operator"}

// env is a real registry with a client for it.
type env struct {
	host string // HOST/NAMESPACE: host + "/" + repository names a repository of the test
	ns   string // "NAMESPACE/", which every repository of the test starts with
	push testimages.Registry
	regs *oci.Registries
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg, ns := testregistry.Shared(t)
	regs, err := oci.NewRegistries(oci.RegistryOptions{
		Insecure:   []string{reg.Host},
		Retries:    1,
		Credential: func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{host: reg.Host + "/" + ns, ns: ns + "/", push: testimages.Registry{Host: reg.Host}, regs: regs}
}

func (e *env) repo(t *testing.T, path string) *oci.Repository {
	t.Helper()
	r, err := e.regs.Repository(context.Background(), e.push.Host, e.ns+path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) open(ctx context.Context, host, path string) (Source, error) {
	return e.regs.Repository(ctx, host, path)
}

// countingFetcher records what is fetched through it (it fetches for real).
type countingFetcher struct {
	oci.Fetcher
	mu      sync.Mutex
	fetched []digest.Digest
}

func (c *countingFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	c.mu.Lock()
	c.fetched = append(c.fetched, d.Digest)
	c.mu.Unlock()
	return c.Fetcher.Fetch(ctx, d)
}

func wantComponents(t *testing.T, got []Component, refs []testimages.Ref) {
	t.Helper()
	if len(got) != len(refs) {
		t.Fatalf("%d components, want %d: %+v", len(got), len(refs), got)
	}
	for i, r := range refs {
		if got[i].Name != r.Name || got[i].Image != r.Image || !strings.HasSuffix(r.Image, "@"+got[i].Digest.String()) {
			t.Errorf("component %d = %+v, want %+v", i, got[i], r)
		}
	}
}

func TestReadSingleArchRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	desc, refs := e.push.PushRelease(t, e.ns+releaseRepo, e.ns+componentRepo, "linux/amd64", "4.18.1", []string{"4.17.20", "4.18.0"}, someComponents, "4.18.1-x86_64")
	repo := e.repo(t, releaseRepo)
	got, err := repo.Resolve(ctx, "4.18.1-x86_64")
	if err != nil || got.Digest != desc.Digest {
		t.Fatalf("resolve: %v %v", got, err)
	}
	name := e.host + "/" + releaseRepo + ":4.18.1-x86_64"
	cf := &countingFetcher{Fetcher: repo}
	rs, err := Read(ctx, cf, got, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d releases", len(rs))
	}
	r := rs[0]
	if r.Version != "4.18.1" || r.Architecture != "amd64" || r.Name != name || r.Manifest.Digest != desc.Digest || r.Index != nil {
		t.Fatalf("release = %+v", r)
	}
	if !slices.Equal(r.Previous, []string{"4.17.20", "4.18.0"}) || r.Metadata["url"] == nil {
		t.Fatalf("metadata: previous %v, metadata %v", r.Previous, r.Metadata)
	}
	wantComponents(t, r.Components, refs)

	// Only the top layer (release-manifests) was read, not the base layer.
	im := testimages.ReleaseImage("linux/amd64", "4.18.1", []string{"4.17.20", "4.18.0"}, refs)
	if slices.Contains(cf.fetched, im.Layers[0].Desc.Digest) {
		t.Errorf("the base layer was read: %v", cf.fetched)
	}
	if !slices.Contains(cf.fetched, im.Layers[1].Desc.Digest) {
		t.Errorf("the release-manifests layer was not read: %v", cf.fetched)
	}

	// What carrying it takes, and why.
	ims := r.Images()
	if len(ims) != 1+len(refs) {
		t.Fatalf("%d images", len(ims))
	}
	if ims[0].Ref != e.host+"/"+releaseRepo+"@"+desc.Digest.String() || ims[0].Component != "" || ims[0].Origin() != "release 4.18.1 (amd64): payload" {
		t.Errorf("payload image %+v %q", ims[0], ims[0].Origin())
	}
	if ims[2].Ref != refs[1].Image || ims[2].Origin() != "release 4.18.1 (amd64): component etcd" {
		t.Errorf("component image %+v %q", ims[2], ims[2].Origin())
	}

	// Architecture filter: the right one (alias too), a wrong one.
	if rs, err := Read(ctx, repo, got, name, []string{"x86_64"}); err != nil || len(rs) != 1 {
		t.Fatalf("x86_64: %v %v", rs, err)
	}
	_, err = Read(ctx, repo, got, name, []string{"arm64"})
	if err == nil || !strings.Contains(err.Error(), "single-architecture payload for amd64") {
		t.Fatalf("arm64 filter on an amd64 payload: %v", err)
	}
	_, err = Read(ctx, repo, got, name, []string{Multi})
	if err == nil {
		t.Fatal("multi accepted a single-architecture payload")
	}
}

func TestReadMultiArchRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	platforms := []string{"linux/amd64", "linux/arm64", "linux/s390x"}
	idx, refs := e.push.PushMultiRelease(t, e.ns+releaseRepo, e.ns+componentRepo, "4.18.1", nil, platforms, someComponents, "4.18.1-multi")
	repo := e.repo(t, releaseRepo)
	desc, err := repo.Resolve(ctx, "4.18.1-multi")
	if err != nil || desc.Digest != idx.Digest || !oci.IsIndex(desc.MediaType) {
		t.Fatalf("resolve: %v %v", desc, err)
	}
	name := e.host + "/" + releaseRepo + "@" + idx.Digest.String()

	rs, err := Read(ctx, repo, desc, name, []string{"aarch64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Architecture != "arm64" || rs[0].Index != nil || rs[0].Version != "4.18.1" {
		t.Fatalf("arm64: %+v", rs)
	}
	wantComponents(t, rs[0].Components, refs["linux/arm64"])
	if ims := rs[0].Images(); ims[0].Index || ims[0].Digest != rs[0].Manifest.Digest {
		t.Fatalf("arm64 images start with %+v", ims[0])
	}

	rs, err = Read(ctx, repo, desc, name, []string{"amd64", "s390x"})
	if err != nil || len(rs) != 2 || rs[0].Architecture != "amd64" || rs[1].Architecture != "s390x" {
		t.Fatalf("amd64+s390x: %+v %v", rs, err)
	}
	wantComponents(t, rs[1].Components, refs["linux/s390x"])

	rs, err = Read(ctx, repo, desc, name, []string{Multi})
	if err != nil || len(rs) != 3 {
		t.Fatalf("multi: %+v %v", rs, err)
	}
	for i, r := range rs {
		if r.Index == nil || r.Index.Digest != idx.Digest {
			t.Fatalf("multi release %d has index %v", i, r.Index)
		}
		ims := r.Images()
		if !ims[0].Index || ims[0].Ref != e.host+"/"+releaseRepo+"@"+idx.Digest.String() || !strings.Contains(ims[0].Origin(), "multi-architecture payload index") {
			t.Fatalf("multi release %d images start with %+v", i, ims[0])
		}
		if ims[1].Digest != r.Manifest.Digest {
			t.Fatalf("multi release %d: payload %+v", i, ims[1])
		}
		wantComponents(t, r.Components, refs[platforms[i]])
	}

	_, err = Read(ctx, repo, desc, name, []string{"ppc64le"})
	if err == nil || !strings.Contains(err.Error(), "amd64, arm64, s390x") {
		t.Fatalf("ppc64le: %v", err)
	}
}

func TestReadNotARelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	d := e.push.Push(t, e.ns+"library/nginx", testimages.ComponentImage("linux/amd64", "nginx", "1.27"), "1.27")
	name := e.host + "/library/nginx:1.27"
	_, err := Read(ctx, e.repo(t, "library/nginx"), d, name, nil)
	var nir *NoImageReferencesError
	if !errors.As(err, &nir) || err.Error() != name+" has no release-manifests/image-references: is it a release image?" {
		t.Fatalf("got %v", err)
	}
}

// pushImage pushes an image made of layers and reads it as a release.
func (e *env) readLayers(t *testing.T, layers ...testimages.Blob) ([]*Release, error) {
	t.Helper()
	im := testimages.NewImage("linux/amd64", nil, layers...)
	d := e.push.Push(t, e.ns+"test/release", im)
	return Read(context.Background(), e.repo(t, "test/release"), d, "test/release@"+d.Digest.String(), nil)
}

func refsLayer(version string, refs []testimages.Ref) testimages.Blob {
	return testimages.ReleaseManifestsLayer(version, nil, refs)
}

func TestReadRefusesUnpinnedComponent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	refs := e.push.PushComponents(t, e.ns+componentRepo, "linux/amd64", "4.18.1", "cli", "etcd")
	refs = append(refs, testimages.Ref{Name: "installer", Image: "quay.io/openshift-release-dev/ocp-v4.0-art-dev:installer"})
	_, err := e.readLayers(t, refsLayer("4.18.1", refs))
	if err == nil || !strings.Contains(err.Error(), `component "installer"`) || !strings.Contains(err.Error(), "not pinned by digest") {
		t.Fatalf("got %v", err)
	}
}

func TestReadWhiteoutsAndLayerOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.push.PushComponents(t, e.ns+componentRepo, "linux/amd64", "4.18.0", "cli")
	cur := e.push.PushComponents(t, e.ns+componentRepo, "linux/amd64", "4.18.1", "cli", "etcd")

	// A later layer replaces the files: the top one wins.
	rs, err := e.readLayers(t, refsLayer("4.18.0", old), refsLayer("4.18.1", cur))
	if err != nil || rs[0].Version != "4.18.1" {
		t.Fatalf("override: %+v %v", rs, err)
	}
	wantComponents(t, rs[0].Components, cur)

	// A whiteout of the file hides it.
	wh := testimages.Layer(testimages.Entry{Name: "release-manifests/", Dir: true}, testimages.Entry{Name: "release-manifests/.wh.image-references"})
	_, err = e.readLayers(t, refsLayer("4.18.0", old), wh)
	var nir *NoImageReferencesError
	if !errors.As(err, &nir) {
		t.Fatalf("whiteout: %v", err)
	}

	// A whiteout of the directory hides both.
	_, err = e.readLayers(t, refsLayer("4.18.0", old), testimages.Layer(testimages.Entry{Name: ".wh.release-manifests"}))
	if !errors.As(err, &nir) {
		t.Fatalf("directory whiteout: %v", err)
	}

	// An opaque directory with new files: its own files count, lower ones not.
	opq := testimages.Layer(
		testimages.Entry{Name: "release-manifests/", Dir: true},
		testimages.Entry{Name: "release-manifests/.wh..wh..opq"},
		testimages.Entry{Name: "release-manifests/release-metadata", Data: testimages.ReleaseMetadata("4.18.2", nil)},
	)
	_, err = e.readLayers(t, refsLayer("4.18.0", old), opq)
	if !errors.As(err, &nir) {
		t.Fatalf("opaque directory without image-references: %v", err)
	}
	opq2 := testimages.Layer(
		testimages.Entry{Name: "release-manifests/", Dir: true},
		testimages.Entry{Name: "release-manifests/.wh..wh..opq"},
		testimages.Entry{Name: "release-manifests/image-references", Data: testimages.ImageReferences("4.18.1", cur)},
	)
	rs, err = e.readLayers(t, refsLayer("4.18.0", old), opq2)
	if err == nil || !strings.Contains(err.Error(), "has no release-manifests/release-metadata") {
		t.Fatalf("opaque directory hiding release-metadata: %+v %v", rs, err)
	}

	// Files in different layers: image-references above, metadata below.
	split := testimages.Files(map[string][]byte{"release-manifests/image-references": testimages.ImageReferences("4.18.1", cur)})
	meta := testimages.Files(map[string][]byte{"release-manifests/release-metadata": testimages.ReleaseMetadata("4.18.1", nil)})
	rs, err = e.readLayers(t, meta, testimages.Files(map[string][]byte{"etc/motd": []byte("hi")}), split)
	if err != nil || rs[0].Version != "4.18.1" {
		t.Fatalf("split layers: %+v %v", rs, err)
	}
	wantComponents(t, rs[0].Components, cur)
}

// rawLayer is a layer of files compressed with compress ("zstd" or "" for
// an uncompressed tar).
func rawLayer(t *testing.T, compress string, files map[string][]byte) testimages.Blob {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[n])
	}
	tw.Close()
	diffID := digest.FromBytes(raw.Bytes())
	if compress == "" {
		b := testimages.NewBlob(ocispec.MediaTypeImageLayer, raw.Bytes())
		b.DiffID = diffID
		return b
	}
	var z bytes.Buffer
	zw, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw.Bytes())
	zw.Close()
	b := testimages.NewBlob(ocispec.MediaTypeImageLayerZstd, z.Bytes())
	b.DiffID = diffID
	return b
}

func TestReadZstdAndPlainLayers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	refs := e.push.PushComponents(t, e.ns+componentRepo, "linux/amd64", "4.18.1", "cli", "etcd")
	files := map[string][]byte{
		"release-manifests/image-references": testimages.ImageReferences("4.18.1", refs),
		"release-manifests/release-metadata": testimages.ReleaseMetadata("4.18.1", nil),
	}
	for _, c := range []string{"zstd", ""} {
		rs, err := e.readLayers(t, rawLayer(t, c, map[string][]byte{"bin/x": []byte("x")}), rawLayer(t, c, files))
		if err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		wantComponents(t, rs[0].Components, refs)
	}
}

func TestReadBoundsFileSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := make([]byte, MaxFileSize+1)
	_, err := e.readLayers(t, testimages.Files(map[string][]byte{
		"release-manifests/image-references": big,
		"release-manifests/release-metadata": testimages.ReleaseMetadata("4.18.1", nil),
	}))
	if err == nil || !strings.Contains(err.Error(), "release-manifests/image-references is 16777217 bytes, more than the 16777216 accepted") {
		t.Fatalf("got %v", err)
	}
}

func TestReadChecksLayerDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	refs := e.push.PushComponents(t, e.ns+componentRepo, "linux/amd64", "4.18.1", "cli")
	good := refsLayer("4.18.1", refs)
	im := testimages.NewImage("linux/amd64", nil, good)
	d := e.push.Push(t, e.ns+"test/release", im)
	// The registry serves another blob's bytes under the layer's digest.
	repo := e.repo(t, "test/release")
	other := testimages.Files(map[string][]byte{"x": []byte("y")})
	e.push.Push(t, e.ns+"test/release", testimages.NewImage("linux/amd64", nil, other))
	swapped := &swapFetcher{Fetcher: repo, from: good.Desc, to: other.Desc}
	_, err := Read(context.Background(), swapped, d, "test/release", nil)
	if err == nil || !strings.Contains(err.Error(), good.Desc.Digest.String()) {
		t.Fatalf("got %v", err)
	}
}

// swapFetcher serves the content of `to` when asked for `from`, as a
// registry serving wrong bytes would.
type swapFetcher struct {
	oci.Fetcher
	from, to ocispec.Descriptor
}

func (s *swapFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest == s.from.Digest {
		return s.Fetcher.Fetch(ctx, s.to)
	}
	return s.Fetcher.Fetch(ctx, d)
}

// TestReadDockerSchema2Release reads a payload with Docker media types
// (manifest list, schema 2 manifests, tar.gzip layers), as the OCP release
// images are published.
func TestReadDockerSchema2Release(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var ims []testimages.Image
	var want [][]testimages.Ref
	for _, p := range []string{"linux/amd64", "linux/ppc64le"} {
		refs := e.push.PushComponents(t, e.ns+componentRepo, p, "4.18.1", "cli", "etcd")
		want = append(want, refs)
		ims = append(ims, dockerImage(t, testimages.ReleaseImage(p, "4.18.1", nil, refs)))
	}
	var list struct {
		SchemaVersion int                  `json:"schemaVersion"`
		MediaType     string               `json:"mediaType"`
		Manifests     []ocispec.Descriptor `json:"manifests"`
	}
	list.SchemaVersion, list.MediaType = 2, oci.MediaTypeDockerManifestList
	for i, im := range ims {
		d := im.Manifest.Desc
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: []string{"amd64", "ppc64le"}[i]}
		list.Manifests = append(list.Manifests, d)
	}
	b, _ := json.Marshal(list)
	idx := e.push.PushIndex(t, e.ns+releaseRepo, testimages.NewBlob(oci.MediaTypeDockerManifestList, b), ims, "4.18.1-multi")
	repo := e.repo(t, releaseRepo)
	desc, err := repo.Resolve(ctx, "4.18.1-multi")
	if err != nil || desc.Digest != idx.Digest || desc.MediaType != oci.MediaTypeDockerManifestList {
		t.Fatalf("resolve: %+v %v", desc, err)
	}
	rs, err := Read(ctx, repo, desc, "ocp-release:4.18.1-multi", []string{"ppc64le"})
	if err != nil || len(rs) != 1 || rs[0].Architecture != "ppc64le" {
		t.Fatalf("ppc64le: %+v %v", rs, err)
	}
	wantComponents(t, rs[0].Components, want[1])
	// The single-architecture manifest alone: its architecture comes from
	// its config.
	rs, err = Read(ctx, repo, ims[0].Manifest.Desc, "ocp-release:4.18.1-x86_64", nil)
	if err != nil || rs[0].Architecture != "amd64" {
		t.Fatalf("amd64 manifest: %+v %v", rs, err)
	}
	wantComponents(t, rs[0].Components, want[0])
}

// dockerImage rewrites im with Docker schema 2 media types.
func dockerImage(t *testing.T, im testimages.Image) testimages.Image {
	t.Helper()
	cfg := testimages.NewBlob("application/vnd.docker.container.image.v1+json", im.Config.Data)
	m := map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeDockerManifest, "config": cfg.Desc}
	var layers []ocispec.Descriptor
	var blobs []testimages.Blob
	for _, l := range im.Layers {
		b := testimages.NewBlob("application/vnd.docker.image.rootfs.diff.tar.gzip", l.Data)
		layers = append(layers, b.Desc)
		blobs = append(blobs, b)
	}
	m["layers"] = layers
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return testimages.Image{Manifest: testimages.NewBlob(oci.MediaTypeDockerManifest, mb), Config: cfg, Layers: blobs}
}

func TestReadRefusesSymlinkedReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "release-manifests/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "release-manifests/image-references", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
	tw.Close()
	b := testimages.NewBlob(ocispec.MediaTypeImageLayer, raw.Bytes())
	b.DiffID = digest.FromBytes(raw.Bytes())
	_, err := e.readLayers(t, b)
	if err == nil || !strings.Contains(err.Error(), "release-manifests/image-references is not a regular file") {
		t.Fatalf("got %v", err)
	}
}
