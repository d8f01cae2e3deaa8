package testimages

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker media types, for images built the way docker build pushes them.
const (
	DockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	DockerConfig   = "application/vnd.docker.container.image.v1+json"
	DockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	DockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// TarBytes writes entries (as Layer does) into an uncompressed tar.
func TarBytes(entries ...Entry) []byte {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mtime := time.Unix(1700000000, 0).UTC()
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(e.Data)), Format: tar.FormatPAX}
		if e.Dir {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if !e.Dir {
			if _, err := tw.Write(e.Data); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return raw.Bytes()
}

// UncompressedLayer is Layer without compression.
func UncompressedLayer(entries ...Entry) Blob {
	raw := TarBytes(entries...)
	b := NewBlob(ocispec.MediaTypeImageLayer, raw)
	b.DiffID = digest.FromBytes(raw)
	return b
}

// ZstdLayer is Layer compressed with zstd.
func ZstdLayer(entries ...Entry) Blob {
	raw := TarBytes(entries...)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	b := NewBlob(ocispec.MediaTypeImageLayerZstd, enc.EncodeAll(raw, nil))
	enc.Close()
	b.DiffID = digest.FromBytes(raw)
	return b
}

// FilesEntries lists the files of m as Files does: sorted, each directory
// listed before its first file.
func FilesEntries(m map[string][]byte) []Entry {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var entries []Entry
	dirs := map[string]bool{}
	for _, n := range names {
		for i := 0; i < len(n); i++ {
			if n[i] == '/' && !dirs[n[:i+1]] {
				dirs[n[:i+1]] = true
				entries = append(entries, Entry{Name: n[:i+1], Dir: true})
			}
		}
		entries = append(entries, Entry{Name: n, Data: m[n]})
	}
	return entries
}

// ImageConfig is what CatalogImage puts in an image config.
type ImageConfig struct {
	Platform   string // "linux/amd64"
	Labels     map[string]string
	Entrypoint []string
	Cmd        []string
	// Docker makes a Docker schema 2 image (manifest, config and gzip
	// layer media types) instead of an OCI one.
	Docker bool
}

// ConfiguredImage makes an image from layers with a config holding c's
// labels, entrypoint and command, and one history entry per layer.
func ConfiguredImage(c ImageConfig, layers ...Blob) Image {
	var os, arch string
	fmt.Sscanf(replaceSlash(c.Platform), "%s %s", &os, &arch)
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: os, Architecture: arch}, RootFS: ocispec.RootFS{Type: "layers"}}
	cfg.Config.Labels = c.Labels
	cfg.Config.Entrypoint = c.Entrypoint
	cfg.Config.Cmd = c.Cmd
	created := time.Unix(1700000000, 0).UTC()
	cfg.Created = &created
	manifestType, configType := ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
	if c.Docker {
		manifestType, configType = DockerManifest, DockerConfig
	}
	var descs []ocispec.Descriptor
	for i, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		cfg.History = append(cfg.History, ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("layer %d", i+1)})
		d := l.Desc
		if c.Docker {
			d.MediaType = DockerLayer
		}
		descs = append(descs, d)
	}
	cb, _ := json.Marshal(cfg)
	config := NewBlob(configType, cb)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: manifestType, Config: config.Desc, Layers: descs}
	mb, _ := json.Marshal(m)
	return Image{Manifest: NewBlob(manifestType, mb), Config: config, Layers: layers}
}

// DockerIndex is Index as a Docker manifest list.
func DockerIndex(images ...Image) (Blob, []Image) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: DockerList}
	for _, im := range images {
		var cfg ocispec.Image
		json.Unmarshal(im.Config.Data, &cfg)
		d := im.Manifest.Desc
		p := cfg.Platform
		d.Platform = &p
		idx.Manifests = append(idx.Manifests, d)
	}
	b, _ := json.Marshal(idx)
	return NewBlob(DockerList, b), images
}

// FBC documents, for catalog tests.

// FBCPackage is an olm.package document.
func FBCPackage(name, defaultChannel string) map[string]any {
	return map[string]any{"schema": "olm.package", "name": name, "defaultChannel": defaultChannel}
}

// FBCEntry is a channel entry.
type FBCEntry struct {
	Name      string   `json:"name"`
	Replaces  string   `json:"replaces,omitempty"`
	Skips     []string `json:"skips,omitempty"`
	SkipRange string   `json:"skipRange,omitempty"`
}

// FBCChannel is an olm.channel document.
func FBCChannel(pkg, name string, entries ...FBCEntry) map[string]any {
	return map[string]any{"schema": "olm.channel", "package": pkg, "name": name, "entries": entries}
}

// FBCBundle is an olm.bundle document of version with an image and
// related images (name=image pairs).
func FBCBundle(pkg, name, version, image string, related ...string) map[string]any {
	var rel []map[string]string
	for i := 0; i+1 < len(related); i += 2 {
		rel = append(rel, map[string]string{"name": related[i], "image": related[i+1]})
	}
	return map[string]any{
		"schema": "olm.bundle", "package": pkg, "name": name, "image": image,
		"relatedImages": rel,
		"properties": []any{
			map[string]any{"type": "olm.package", "value": map[string]string{"packageName": pkg, "version": version}},
			map[string]any{"type": "olm.gvk", "value": map[string]string{"group": "example.com", "kind": "Thing", "version": "v1"}},
		},
	}
}

// JSONStream writes documents as a JSON stream (indented, as opm renders).
func JSONStream(docs ...map[string]any) []byte {
	var b bytes.Buffer
	for _, d := range docs {
		out, err := json.MarshalIndent(d, "", "    ")
		if err != nil {
			panic(err)
		}
		b.Write(out)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
