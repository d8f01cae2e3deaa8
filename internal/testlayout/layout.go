// Package testlayout generates small but real OCI image layouts for tests
// and demos.
//
// The output is fully deterministic: for the same Options, Build writes
// byte-identical files (fixed mtimes and ownership in the tar layers, no
// timestamp or name in the gzip headers, file content from a seeded PRNG).
//
// The generated layout contains:
//
//   - "base:1": an image with one gzip layer.
//   - "app:v1": base's layer plus a second gzip layer.
//   - "app:v2": app:v1's two layers plus an uncompressed tar layer full of
//     compressible text.
//   - "multi:latest": an image index with linux/amd64 and linux/arm64
//     images, each sharing base's layer plus a per-arch gzip layer.
//   - an untagged SPDX SBOM artifact manifest whose subject is app:v1.
package testlayout

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "crypto/sha256" // register sha256 for go-digest
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultLayerSize is the amount of pseudo-random file content put into each
// layer when Options.LayerSize is 0.
const DefaultLayerSize = 4096

// SBOMMediaType is the artifact type (and layer media type) of the referrer.
const SBOMMediaType = "application/spdx+json"

// epoch is the fixed timestamp used for every mtime and creation date.
var epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Options controls the generated layout.
type Options struct {
	// LayerSize scales the random-looking (deterministic, seeded) file
	// content inside layers; 0 means a small default (a few KiB per layer).
	LayerSize int
	Seed      int64
}

// Layout describes what Build wrote.
type Layout struct {
	Dir      string
	Refs     map[string]digest.Digest // ref name (org.opencontainers.image.ref.name) -> manifest or index digest
	Blobs    map[digest.Digest]int64  // every blob written, with size
	Referrer digest.Digest            // the SBOM artifact manifest whose subject is the app:v1 manifest
}

// Build writes a complete OCI image layout (oci-layout, index.json,
// blobs/sha256/...) into dir (created if missing) and returns what it wrote.
//
// Existing files in dir are overwritten but not removed, so blobs left over
// from an earlier, different build would remain; use an empty dir when that
// matters.
func Build(dir string, o Options) (*Layout, error) {
	if o.LayerSize < 0 {
		return nil, fmt.Errorf("testlayout: negative LayerSize %d", o.LayerSize)
	}
	if o.LayerSize == 0 {
		o.LayerSize = DefaultLayerSize
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return nil, err
	}
	b := &builder{
		dir:  dir,
		opts: o,
		l: &Layout{
			Dir:   dir,
			Refs:  map[string]digest.Digest{},
			Blobs: map[digest.Digest]int64{},
		},
	}
	if err := b.build(); err != nil {
		return nil, err
	}
	return b.l, nil
}

type builder struct {
	dir  string
	opts Options
	l    *Layout
}

// layer is a written layer blob plus the digest of its uncompressed tar.
type layer struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
	what   string // for the config history
}

var (
	amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

func (b *builder) build() error {
	// Layers.
	baseLayer, err := b.layer(true, "base filesystem", b.baseFiles())
	if err != nil {
		return err
	}
	appLayer, err := b.layer(true, "app v1", b.appFiles())
	if err != nil {
		return err
	}
	docsLayer, err := b.layer(false, "app v2 docs (uncompressed)", b.docsFiles())
	if err != nil {
		return err
	}
	amd64Layer, err := b.layer(true, "amd64 libraries", b.archFiles(amd64, "x86_64-linux-gnu"))
	if err != nil {
		return err
	}
	arm64Layer, err := b.layer(true, "arm64 libraries", b.archFiles(arm64, "aarch64-linux-gnu"))
	if err != nil {
		return err
	}

	// Images.
	base, err := b.image(amd64, []string{"/bin/sh"}, baseLayer)
	if err != nil {
		return err
	}
	appV1, err := b.image(amd64, []string{"/app/run", "--version=v1"}, baseLayer, appLayer)
	if err != nil {
		return err
	}
	appV2, err := b.image(amd64, []string{"/app/run", "--version=v2"}, baseLayer, appLayer, docsLayer)
	if err != nil {
		return err
	}
	multiAMD64, err := b.image(amd64, []string{"/bin/sh"}, baseLayer, amd64Layer)
	if err != nil {
		return err
	}
	multiARM64, err := b.image(arm64, []string{"/bin/sh"}, baseLayer, arm64Layer)
	if err != nil {
		return err
	}
	multi, err := b.writeJSON(ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{multiAMD64, multiARM64},
	})
	if err != nil {
		return err
	}

	// SBOM referrer of app:v1.
	sbom, err := b.sbom(appV1)
	if err != nil {
		return err
	}
	b.l.Referrer = sbom.Digest

	// index.json.
	var top []ocispec.Descriptor
	for _, t := range []struct {
		ref  string
		desc ocispec.Descriptor
	}{
		{"base:1", base},
		{"app:v1", appV1},
		{"app:v2", appV2},
		{"multi:latest", multi},
	} {
		d := t.desc
		d.Annotations = map[string]string{ocispec.AnnotationRefName: t.ref}
		top = append(top, d)
		b.l.Refs[t.ref] = d.Digest
	}
	top = append(top, sbom)
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: top,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.dir, ocispec.ImageIndexFile), idx, 0o644); err != nil {
		return err
	}
	ol, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, ocispec.ImageLayoutFile), ol, 0o644)
}

// writeBlob stores data under blobs/sha256 and returns its descriptor.
func (b *builder) writeBlob(mediaType string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	p := filepath.Join(b.dir, "blobs", d.Algorithm().String(), d.Encoded())
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	b.l.Blobs[d] = int64(len(data))
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}, nil
}

func (b *builder) writeJSON(mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return b.writeBlob(mediaType, data)
}

// image writes a config and an image manifest for the given layers and
// returns the manifest descriptor (with platform set).
func (b *builder) image(p ocispec.Platform, cmd []string, layers ...layer) (ocispec.Descriptor, error) {
	created := epoch
	cfg := ocispec.Image{
		Created:  &created,
		Author:   "airgap-bundle testlayout",
		Platform: p,
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd:        cmd,
			WorkingDir: "/",
			Labels:     map[string]string{"org.opencontainers.image.vendor": "testlayout"},
		},
		RootFS: ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
	}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		h := created
		cfg.History = append(cfg.History, ocispec.History{Created: &h, CreatedBy: "testlayout: " + l.what})
		m.Layers = append(m.Layers, l.desc)
	}
	cd, err := b.writeJSON(ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m.Config = cd
	md, err := b.writeJSON(ocispec.MediaTypeImageManifest, m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	pp := p
	md.Platform = &pp
	return md, nil
}

// sbom writes the SPDX artifact manifest referring to subject and returns
// its descriptor (with artifactType, as oras lists it in index.json).
func (b *builder) sbom(subject ocispec.Descriptor) (ocispec.Descriptor, error) {
	doc := map[string]any{
		"spdxVersion":       "SPDX-2.3",
		"dataLicense":       "CC0-1.0",
		"SPDXID":            "SPDXRef-DOCUMENT",
		"name":              "app:v1",
		"documentNamespace": "https://example.invalid/spdx/app-v1-" + subject.Digest.Encoded()[:16],
		"creationInfo": map[string]any{
			"created":  epoch.Format(time.RFC3339),
			"creators": []string{"Tool: airgap-bundle-testlayout"},
		},
		"packages": []map[string]any{
			{"SPDXID": "SPDXRef-Package-app", "name": "app", "versionInfo": "1.0.0", "downloadLocation": "NOASSERTION", "licenseConcluded": "Apache-2.0"},
			{"SPDXID": "SPDXRef-Package-base", "name": "base-tool", "versionInfo": "1.0.0", "downloadLocation": "NOASSERTION", "licenseConcluded": "MIT"},
		},
		"relationships": []map[string]any{
			{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Package-app"},
			{"spdxElementId": "SPDXRef-Package-app", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-Package-base"},
		},
	}
	docData, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	ld, err := b.writeBlob(SBOMMediaType, docData)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	ld.Annotations = map[string]string{ocispec.AnnotationTitle: "sbom.spdx.json"}
	empty := ocispec.DescriptorEmptyJSON
	if _, err := b.writeBlob(empty.MediaType, empty.Data); err != nil {
		return ocispec.Descriptor{}, err
	}
	empty.Data = nil // don't embed the data in the manifest
	subj := subject
	subj.Platform = nil
	subj.Annotations = nil
	md, err := b.writeJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: SBOMMediaType,
		Config:       empty,
		Layers:       []ocispec.Descriptor{ld},
		Subject:      &subj,
		Annotations:  map[string]string{ocispec.AnnotationCreated: epoch.Format(time.RFC3339)},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md.ArtifactType = SBOMMediaType
	return md, nil
}

// entry is one tar member.
type entry struct {
	name     string
	typ      byte
	mode     int64
	data     []byte
	linkname string
}

func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name string, mode int64, data []byte) entry {
	return entry{name: name, typ: tar.TypeReg, mode: mode, data: data}
}
func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: target}
}

// layer writes a tar (gzip'd if compress) of entries as a blob.
func (b *builder) layer(compress bool, what string, entries []entry) (layer, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: e.typ,
			Name:     e.name,
			Linkname: e.linkname,
			Mode:     e.mode,
			Size:     int64(len(e.data)),
			ModTime:  epoch,
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return layer{}, fmt.Errorf("testlayout: tar header %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return layer{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return layer{}, err
	}
	l := layer{diffID: digest.FromBytes(raw.Bytes()), what: what}
	var err error
	if !compress {
		l.desc, err = b.writeBlob(ocispec.MediaTypeImageLayer, raw.Bytes())
		return l, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return layer{}, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return layer{}, err
	}
	if err := zw.Close(); err != nil {
		return layer{}, err
	}
	l.desc, err = b.writeBlob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	return l, err
}

// rng returns a PRNG for one named stream, derived from the seed so each
// layer's content is independent of the others.
func (b *builder) rng(stream string) *rand.Rand {
	salt, _ := strconv.ParseUint(digest.FromString(stream).Encoded()[:16], 16, 64)
	return rand.New(rand.NewPCG(uint64(b.opts.Seed), salt))
}

// randomBytes returns n incompressible-looking bytes.
func (b *builder) randomBytes(stream string, n int) []byte {
	r := b.rng(stream)
	out := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			out[i+j] = byte(v >> (8 * j))
		}
	}
	return out
}

var words = strings.Fields(`the image layer bundle registry digest manifest
index config platform signature mirror offline transfer archive blob tag
reference artifact descriptor annotation compress verify checksum`)

// text returns roughly n bytes of highly compressible log-like text.
func (b *builder) text(stream string, n int) []byte {
	r := b.rng(stream)
	var buf bytes.Buffer
	for line := 1; buf.Len() < n; line++ {
		fmt.Fprintf(&buf, "%06d INFO ", line)
		for w := 0; w < 8; w++ {
			if w > 0 {
				buf.WriteByte(' ')
			}
			buf.WriteString(words[r.IntN(len(words))])
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func (b *builder) baseFiles() []entry {
	return []entry{
		dir("etc/"),
		file("etc/os-release", 0o644, []byte("NAME=\"testlayout\"\nID=testlayout\nVERSION_ID=1\nPRETTY_NAME=\"testlayout base 1\"\n")),
		file("etc/hostname", 0o644, []byte("testlayout\n")),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")),
		dir("root/"),
		dir("tmp/"),
		dir("usr/"),
		dir("usr/bin/"),
		file("usr/bin/base-tool", 0o755, b.randomBytes("base/usr/bin/base-tool", b.opts.LayerSize)),
		symlink("usr/bin/tool", "base-tool"),
		dir("var/"),
		dir("var/lib/"),
	}
}

func (b *builder) appFiles() []entry {
	return []entry{
		dir("app/"),
		file("app/VERSION", 0o644, []byte("v1\n")),
		file("app/config.yaml", 0o644, []byte("listen: \":8080\"\nlog_level: info\nstorage: /var/lib/app\n")),
		file("app/run", 0o755, []byte("#!/bin/sh\nexec /usr/bin/tool \"$@\"\n")),
		file("app/data.bin", 0o644, b.randomBytes("app/app/data.bin", b.opts.LayerSize)),
		dir("var/lib/app/"),
	}
}

func (b *builder) docsFiles() []entry {
	return []entry{
		file("app/VERSION", 0o644, []byte("v2\n")),
		dir("app/docs/"),
		file("app/docs/CHANGELOG.txt", 0o644, b.text("docs/changelog", b.opts.LayerSize/2)),
		file("app/docs/manual.txt", 0o644, b.text("docs/manual", 2*b.opts.LayerSize)),
	}
}

func (b *builder) archFiles(p ocispec.Platform, triple string) []entry {
	return []entry{
		file("etc/arch", 0o644, []byte(p.OS+"/"+p.Architecture+"\n")),
		dir("usr/lib/"),
		dir("usr/lib/" + triple + "/"),
		file("usr/lib/"+triple+"/libtestlayout.so.1", 0o755, b.randomBytes("arch/"+triple, b.opts.LayerSize)),
	}
}
