package testlayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// exampleLayout is the committed output of cmd/mklayout with default options.
const exampleLayout = "../../testdata/example-layout"

func build(t *testing.T, o Options) *Layout {
	t.Helper()
	l, err := Build(filepath.Join(t.TempDir(), "layout"), o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return l
}

// readTree returns every regular file under dir, keyed by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s: not a regular file (%v)", p, d.Type())
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func diffTrees(t *testing.T, a, b map[string][]byte, aName, bName string) {
	t.Helper()
	for p, ab := range a {
		bb, ok := b[p]
		switch {
		case !ok:
			t.Errorf("%s only in %s", p, aName)
		case !bytes.Equal(ab, bb):
			t.Errorf("%s differs between %s and %s", p, aName, bName)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s only in %s", p, bName)
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, o := range []Options{{}, {LayerSize: 10000, Seed: 42}} {
		a, b := build(t, o), build(t, o)
		diffTrees(t, readTree(t, a.Dir), readTree(t, b.Dir), "first build", "second build")
		a.Dir, b.Dir = "", ""
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%+v: returned Layouts differ:\n%+v\n%+v", o, a, b)
		}
	}
}

func TestOptionsChangeContent(t *testing.T) {
	def := build(t, Options{})
	seeded := build(t, Options{Seed: 7})
	big := build(t, Options{LayerSize: 64 << 10})
	if def.Refs["base:1"] == seeded.Refs["base:1"] {
		t.Error("Seed does not change the base:1 manifest")
	}
	total := func(l *Layout) (n int64) {
		for _, s := range l.Blobs {
			n += s
		}
		return n
	}
	if total(big) < total(def)+4*(60<<10) {
		t.Errorf("LayerSize 64KiB: total blob size %d, default %d; want much bigger", total(big), total(def))
	}
	if _, err := Build(t.TempDir(), Options{LayerSize: -1}); err == nil {
		t.Error("negative LayerSize accepted")
	}
}

// The committed example must be exactly what the generator produces; if the
// generator changes, regenerate it (see testdata/README.md).
func TestExampleLayoutUpToDate(t *testing.T) {
	if _, err := os.Stat(filepath.Join(exampleLayout, "index.json")); err != nil {
		t.Fatalf("example layout missing: %v (regenerate with: go run ./internal/testlayout/cmd/mklayout testdata/example-layout)", err)
	}
	l := build(t, Options{})
	diffTrees(t, readTree(t, exampleLayout), readTree(t, l.Dir), exampleLayout, "fresh build")
	if t.Failed() {
		t.Log("testdata/example-layout is stale; regenerate with: go run ./internal/testlayout/cmd/mklayout testdata/example-layout")
	}
}

// layoutReader reads blobs of a layout and fails the test on any error.
type layoutReader struct {
	t   *testing.T
	dir string
}

func (r layoutReader) blob(d ocispec.Descriptor) []byte {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
	if err != nil {
		r.t.Fatal(err)
	}
	if int64(len(b)) != d.Size || digest.FromBytes(b) != d.Digest {
		r.t.Fatalf("blob %s: size %d / digest %s do not match descriptor size %d", d.Digest, len(b), digest.FromBytes(b), d.Size)
	}
	return b
}

func (r layoutReader) json(d ocispec.Descriptor, v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.blob(d), v); err != nil {
		r.t.Fatalf("%s: %v", d.Digest, err)
	}
}

// image checks an image manifest, its config and layers, and returns the
// manifest, config and the layer digests.
func (r layoutReader) image(d ocispec.Descriptor, want ocispec.Platform) (ocispec.Manifest, ocispec.Image) {
	r.t.Helper()
	if d.MediaType != ocispec.MediaTypeImageManifest {
		r.t.Fatalf("%s: media type %q", d.Digest, d.MediaType)
	}
	var m ocispec.Manifest
	r.json(d, &m)
	if m.MediaType != ocispec.MediaTypeImageManifest || m.SchemaVersion != 2 {
		r.t.Errorf("%s: mediaType %q schemaVersion %d", d.Digest, m.MediaType, m.SchemaVersion)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig {
		r.t.Errorf("%s: config media type %q", d.Digest, m.Config.MediaType)
	}
	var c ocispec.Image
	r.json(m.Config, &c)
	if c.OS != want.OS || c.Architecture != want.Architecture || c.Variant != want.Variant {
		r.t.Errorf("%s: config platform %s/%s/%s, want %+v", d.Digest, c.OS, c.Architecture, c.Variant, want)
	}
	if c.RootFS.Type != "layers" || len(c.RootFS.DiffIDs) != len(m.Layers) || len(c.History) != len(m.Layers) {
		r.t.Fatalf("%s: rootfs %+v, %d history entries for %d layers", d.Digest, c.RootFS, len(c.History), len(m.Layers))
	}
	for i, l := range m.Layers {
		raw := r.blob(l)
		switch l.MediaType {
		case ocispec.MediaTypeImageLayerGzip:
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				r.t.Fatalf("layer %s: %v", l.Digest, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				r.t.Fatalf("layer %s: %v", l.Digest, err)
			}
		case ocispec.MediaTypeImageLayer:
		default:
			r.t.Fatalf("layer %s: media type %q", l.Digest, l.MediaType)
		}
		if got := digest.FromBytes(raw); got != c.RootFS.DiffIDs[i] {
			r.t.Errorf("layer %d (%s): uncompressed digest %s, diff_id %s", i, l.Digest, got, c.RootFS.DiffIDs[i])
		}
		tr := tar.NewReader(bytes.NewReader(raw))
		n := 0
		for {
			_, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.t.Fatalf("layer %s: tar: %v", l.Digest, err)
			}
			n++
		}
		if n == 0 {
			r.t.Errorf("layer %s: empty tar", l.Digest)
		}
	}
	return m, c
}

func layerDigests(m ocispec.Manifest) []digest.Digest {
	var ds []digest.Digest
	for _, l := range m.Layers {
		ds = append(ds, l.Digest)
	}
	return ds
}

func TestStructure(t *testing.T) {
	l := build(t, Options{})
	r := layoutReader{t, l.Dir}
	files := readTree(t, l.Dir)

	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	// Blobs on disk == Layout.Blobs, and each is content-addressed.
	onDisk := 0
	for p, b := range files {
		hex, ok := strings.CutPrefix(p, "blobs/sha256/")
		if !ok {
			if p != "oci-layout" && p != "index.json" {
				t.Errorf("unexpected file %s", p)
			}
			continue
		}
		onDisk++
		d := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if digest.FromBytes(b) != d {
			t.Errorf("%s: content digest %s", p, digest.FromBytes(b))
		}
		if l.Blobs[d] != int64(len(b)) {
			t.Errorf("%s: Layout.Blobs says %d bytes, file has %d", p, l.Blobs[d], len(b))
		}
	}
	if onDisk != len(l.Blobs) {
		t.Errorf("%d blobs on disk, Layout.Blobs has %d", onDisk, len(l.Blobs))
	}

	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		t.Errorf("index.json: schemaVersion %d mediaType %q", idx.SchemaVersion, idx.MediaType)
	}
	byRef := map[string]ocispec.Descriptor{}
	var untagged []ocispec.Descriptor
	for _, d := range idx.Manifests {
		ref, ok := d.Annotations[ocispec.AnnotationRefName]
		if !ok {
			untagged = append(untagged, d)
			continue
		}
		byRef[ref] = d
		if l.Refs[ref] != d.Digest {
			t.Errorf("index.json %s -> %s, Layout.Refs has %s", ref, d.Digest, l.Refs[ref])
		}
	}
	wantRefs := []string{"app:v1", "app:v2", "base:1", "multi:latest"}
	gotRefs := slices.Sorted(maps.Keys(byRef))
	if !slices.Equal(gotRefs, wantRefs) || len(l.Refs) != len(wantRefs) {
		t.Fatalf("refs in index.json %v, Layout.Refs %v; want %v", gotRefs, l.Refs, wantRefs)
	}
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	for _, ref := range []string{"base:1", "app:v1", "app:v2"} {
		if p := byRef[ref].Platform; p == nil || !reflect.DeepEqual(*p, amd) {
			t.Errorf("%s: index.json platform %+v", ref, p)
		}
	}

	base, _ := r.image(byRef["base:1"], amd)
	v1, _ := r.image(byRef["app:v1"], amd)
	v2, _ := r.image(byRef["app:v2"], amd)
	if len(base.Layers) != 1 || base.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("base:1 layers %+v", base.Layers)
	}
	if len(v1.Layers) != 2 || !slices.Equal(layerDigests(v1)[:1], layerDigests(base)) || v1.Layers[1].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Errorf("app:v1 layers %+v", v1.Layers)
	}
	if len(v2.Layers) != 3 || !slices.Equal(layerDigests(v2)[:2], layerDigests(v1)) || v2.Layers[2].MediaType != ocispec.MediaTypeImageLayer {
		t.Errorf("app:v2 layers %+v", v2.Layers)
	}
	// The uncompressed layer must actually compress well.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(r.blob(v2.Layers[2]))
	zw.Close()
	if int64(buf.Len())*2 > v2.Layers[2].Size {
		t.Errorf("uncompressed layer of %d bytes gzips to %d; want it compressible", v2.Layers[2].Size, buf.Len())
	}

	// multi:latest
	md := byRef["multi:latest"]
	if md.MediaType != ocispec.MediaTypeImageIndex || md.Platform != nil {
		t.Errorf("multi:latest descriptor %+v", md)
	}
	var mi ocispec.Index
	r.json(md, &mi)
	if mi.MediaType != ocispec.MediaTypeImageIndex || len(mi.Manifests) != 2 {
		t.Fatalf("multi:latest index %+v", mi)
	}
	seenCfg := map[digest.Digest]bool{}
	for i, arch := range []string{"amd64", "arm64"} {
		d := mi.Manifests[i]
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != arch {
			t.Fatalf("multi:latest manifest %d platform %+v, want linux/%s", i, d.Platform, arch)
		}
		m, _ := r.image(d, *d.Platform)
		if len(m.Layers) != 2 || m.Layers[0].Digest != base.Layers[0].Digest || m.Layers[1].MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Errorf("multi %s layers %+v", arch, m.Layers)
		}
		seenCfg[m.Config.Digest] = true
	}
	if len(seenCfg) != 2 {
		t.Error("multi:latest images share a config")
	}

	// The SBOM referrer.
	if len(untagged) != 1 || untagged[0].Digest != l.Referrer || untagged[0].MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("untagged index.json entries %+v, Layout.Referrer %s", untagged, l.Referrer)
	}
	var sm ocispec.Manifest
	r.json(untagged[0], &sm)
	if sm.ArtifactType != "application/spdx+json" {
		t.Errorf("referrer artifactType %q", sm.ArtifactType)
	}
	if sm.Config.MediaType != ocispec.MediaTypeEmptyJSON || sm.Config.Digest != "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" || sm.Config.Size != 2 {
		t.Errorf("referrer config %+v", sm.Config)
	}
	if string(r.blob(sm.Config)) != "{}" {
		t.Error("empty config blob is not {}")
	}
	if len(sm.Layers) != 1 || sm.Layers[0].MediaType != "application/spdx+json" {
		t.Fatalf("referrer layers %+v", sm.Layers)
	}
	var sbom map[string]any
	r.json(sm.Layers[0], &sbom)
	if sbom["spdxVersion"] != "SPDX-2.3" {
		t.Errorf("SBOM %v", sbom)
	}
	app := byRef["app:v1"]
	if sm.Subject == nil || sm.Subject.Digest != app.Digest || sm.Subject.Size != app.Size || sm.Subject.MediaType != app.MediaType {
		t.Errorf("referrer subject %+v, want app:v1 %s", sm.Subject, app.Digest)
	}
}

// tool returns the path of a required external tool; missing tools fail the
// test (CI installs them) instead of skipping it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test but not installed (apt-get install %s): %v", name, name, err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

func TestSkopeo(t *testing.T) {
	tool(t, "skopeo")
	l := build(t, Options{})
	r := layoutReader{t, l.Dir}

	// inspect --raw returns our manifest byte for byte.
	raw := run(t, "skopeo", "inspect", "--raw", "oci:"+l.Dir+":app:v1")
	want := r.blob(ocispec.Descriptor{Digest: l.Refs["app:v1"], Size: l.Blobs[l.Refs["app:v1"]]})
	if !bytes.Equal(raw, want) {
		t.Errorf("skopeo inspect --raw app:v1:\n%s\nwant\n%s", raw, want)
	}

	// copy app:v2 (including the uncompressed layer) to a dir: target.
	dst := filepath.Join(t.TempDir(), "copy")
	run(t, "skopeo", "--insecure-policy", "copy", "oci:"+l.Dir+":app:v2", "dir:"+dst)
	var m ocispec.Manifest
	r.json(ocispec.Descriptor{Digest: l.Refs["app:v2"], Size: l.Blobs[l.Refs["app:v2"]]}, &m)
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		b, err := os.ReadFile(filepath.Join(dst, d.Digest.Encoded()))
		if err != nil {
			t.Errorf("skopeo copy: %v", err)
		} else if digest.FromBytes(b) != d.Digest {
			t.Errorf("skopeo copy: %s has digest %s", d.Digest, digest.FromBytes(b))
		}
	}

	// the image index resolves per platform.
	for _, arch := range []string{"arm64", "amd64"} {
		out := run(t, "skopeo", "inspect", "--override-os", "linux", "--override-arch", arch, "oci:"+l.Dir+":multi:latest")
		var info struct {
			Architecture, Os string
			Layers           []string
		}
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("skopeo inspect multi:latest: %v\n%s", err, out)
		}
		if info.Architecture != arch || info.Os != "linux" || len(info.Layers) != 2 {
			t.Errorf("skopeo inspect multi:latest --override-arch %s: %s", arch, out)
		}
	}
}

func TestUmoci(t *testing.T) {
	tool(t, "umoci")
	l := build(t, Options{})

	out := run(t, "umoci", "ls", "--layout", l.Dir)
	got := strings.Fields(string(out))
	slices.Sort(got)
	if want := []string{"app:v1", "app:v2", "base:1", "multi:latest"}; !slices.Equal(got, want) {
		t.Errorf("umoci ls: %q, want %q", got, want)
	}

	out = run(t, "umoci", "stat", "--json", "--image", l.Dir+":app:v1")
	var st struct {
		History []struct {
			Layer *ocispec.Descriptor `json:"layer"`
		} `json:"history"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("umoci stat --json: %v\n%s", err, out)
	}
	if len(st.History) != 2 {
		t.Errorf("umoci stat app:v1: %d history entries, want 2\n%s", len(st.History), out)
	}

	// Unpacking checks the layers' diff_ids and that they are real tars.
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, "umoci", "unpack", "--rootless", "--image", l.Dir+":app:v2", bundle)
	for p, want := range map[string]string{"app/VERSION": "v2\n", "etc/hostname": "testlayout\n"} {
		b, err := os.ReadFile(filepath.Join(bundle, "rootfs", p))
		if err != nil || string(b) != want {
			t.Errorf("unpacked %s = %q, %v; want %q", p, b, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(bundle, "rootfs/usr/bin/tool")); err != nil || target != "base-tool" {
		t.Errorf("unpacked symlink usr/bin/tool -> %q, %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/app/docs/manual.txt")); err != nil {
		t.Error(err)
	}
}
