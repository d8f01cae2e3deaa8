// Package testimages builds small, real container images inside tests
// (tar layers holding real file layouts, image configs, manifests and
// indexes) and pushes them into a registry, by digest or by tag, over
// plain HTTP on 127.0.0.1. Release and catalog tests build their images
// with it. Everything is deterministic: the same calls give the same
// digests.
package testimages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Blob is content with its descriptor.
type Blob struct {
	Desc ocispec.Descriptor
	Data []byte
	// DiffID is the digest of the uncompressed layer (for image configs).
	DiffID digest.Digest
}

// NewBlob describes data.
func NewBlob(mediaType string, data []byte) Blob {
	return Blob{Desc: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, Data: data}
}

// Entry is one tar member of a layer: a regular file (Data), a directory
// (Dir), or a whiteout (Name's base starting with ".wh.").
type Entry struct {
	Name string
	Data []byte
	Dir  bool
}

// Layer writes entries (in the order given, directories included as they
// are listed) into a gzip-compressed tar layer with fixed times and owners.
func Layer(entries ...Entry) Blob {
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
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(raw.Bytes())
	zw.Close()
	b := NewBlob(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	b.DiffID = digest.FromBytes(raw.Bytes())
	return b
}

// Files is a shorthand for Layer: the files of m, sorted by name, with
// their parent directories listed first.
func Files(m map[string][]byte) Blob {
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
	return Layer(entries...)
}

// Image is an image manifest with its config and layers.
type Image struct {
	Manifest Blob
	Config   Blob
	Layers   []Blob
}

// NewImage makes an image for platform (e.g. "linux/amd64") from layers,
// with labels in its config (nil for none).
func NewImage(platform string, labels map[string]string, layers ...Blob) Image {
	var os, arch string
	fmt.Sscanf(replaceSlash(platform), "%s %s", &os, &arch)
	cfg := ocispec.Image{Platform: ocispec.Platform{OS: os, Architecture: arch}, RootFS: ocispec.RootFS{Type: "layers"}}
	cfg.Config.Labels = labels
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	cb, _ := json.Marshal(cfg)
	config := NewBlob(ocispec.MediaTypeImageConfig, cb)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: config.Desc}
	for _, l := range layers {
		m.Layers = append(m.Layers, l.Desc)
	}
	mb, _ := json.Marshal(m)
	return Image{Manifest: NewBlob(ocispec.MediaTypeImageManifest, mb), Config: config, Layers: layers}
}

func replaceSlash(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '/' {
			b[i] = ' '
		}
	}
	return string(b)
}

// Index is an image index over images, each with its platform.
func Index(images ...Image) (Blob, []Image) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, im := range images {
		var cfg ocispec.Image
		json.Unmarshal(im.Config.Data, &cfg)
		d := im.Manifest.Desc
		p := cfg.Platform
		d.Platform = &p
		idx.Manifests = append(idx.Manifests, d)
	}
	b, _ := json.Marshal(idx)
	return NewBlob(ocispec.MediaTypeImageIndex, b), images
}

// Registry pushes into one registry host over plain HTTP.
type Registry struct {
	Host string
	// Username and Password, when set, are sent to a registry behind auth.
	Username, Password string
}

func (r Registry) repo(t testing.TB, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(r.Host + "/" + name)
	if err != nil {
		t.Fatalf("testimages: %v", err)
	}
	repo.PlainHTTP = true
	if r.Username != "" {
		repo.Client = &auth.Client{Credential: auth.StaticCredential(r.Host, auth.Credential{Username: r.Username, Password: r.Password})}
	}
	return repo
}

// Push pushes im into repository name, by digest, and tags it with each
// of tags (none: it stays untagged, as release components are upstream).
// It returns the manifest's descriptor.
func (r Registry) Push(t testing.TB, name string, im Image, tags ...string) ocispec.Descriptor {
	t.Helper()
	repo := r.repo(t, name)
	for _, b := range append([]Blob{im.Config}, im.Layers...) {
		r.pushBlob(t, repo, b)
	}
	r.pushManifest(t, repo, im.Manifest, tags)
	return im.Manifest.Desc
}

// PushIndex pushes the images of an index and the index itself into
// repository name, tagged with tags (or untagged).
func (r Registry) PushIndex(t testing.TB, name string, index Blob, images []Image, tags ...string) ocispec.Descriptor {
	t.Helper()
	for _, im := range images {
		r.Push(t, name, im)
	}
	r.pushManifest(t, r.repo(t, name), index, tags)
	return index.Desc
}

func (r Registry) pushBlob(t testing.TB, repo *remote.Repository, b Blob) {
	t.Helper()
	ctx := context.Background()
	if ok, err := repo.Exists(ctx, b.Desc); err == nil && ok {
		return
	}
	if err := repo.Push(ctx, b.Desc, bytes.NewReader(b.Data)); err != nil {
		t.Fatalf("testimages: push %s into %s: %v", b.Desc.Digest, repo.Reference, err)
	}
}

func (r Registry) pushManifest(t testing.TB, repo *remote.Repository, m Blob, tags []string) {
	t.Helper()
	ctx := context.Background()
	if err := repo.Push(ctx, m.Desc, bytes.NewReader(m.Data)); err != nil {
		t.Fatalf("testimages: push manifest %s into %s: %v", m.Desc.Digest, repo.Reference, err)
	}
	for _, tag := range tags {
		if err := repo.Tag(ctx, m.Desc, tag); err != nil {
			t.Fatalf("testimages: tag %s:%s: %v", repo.Reference, tag, err)
		}
	}
}
