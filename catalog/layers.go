package catalog

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-bundle/bundle/oci"
)

// cleanPath makes a tar member name or a configs label comparable:
// slash-separated, relative to the root, without "." or "..".
func cleanPath(name string) string {
	p := path.Clean("/" + strings.TrimPrefix(name, "./"))
	return strings.TrimPrefix(p, "/")
}

// under reports whether p is dir or inside it ("" is the root).
func under(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

// layerFile is a regular file of a layer, handed to a walkLayers callback.
type layerFile struct {
	Layer int    // index of the layer in the manifest
	Path  string // cleaned path
	R     io.Reader
}

// layerEvents receives what walkLayers finds under the directory it is
// asked about, layer by layer, in tar order.
type layerEvents struct {
	// File is called for each regular file under the directory.
	File func(layerFile) error
	// Whiteout is called for ".wh.NAME" (removed is the cleaned path of
	// NAME) and for opaque directories (opaque true, removed the
	// directory): it removes what lower layers had there.
	Whiteout func(layer int, removed string, opaque bool) error
	// Dir is called for directory entries under the directory.
	Dir func(layer int, p string)
}

// walkLayers streams the layers in order, decompressing them (gzip, zstd
// or none, found from their first bytes), and reports the members under
// dir. It checks each layer's digest once the layer has been read to its
// end. Errors name the layer.
func walkLayers(ctx context.Context, f oci.Fetcher, layers []ocispec.Descriptor, dir string, ev layerEvents) error {
	for i, l := range layers {
		if err := walkLayer(ctx, f, i, l, dir, ev); err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.Digest, err)
		}
	}
	return nil
}

func walkLayer(ctx context.Context, f oci.Fetcher, i int, l ocispec.Descriptor, dir string, ev layerEvents) error {
	tr, err := oci.OpenLayer(ctx, f, l)
	if err != nil {
		return err
	}
	defer tr.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		p := cleanPath(h.Name)
		base := path.Base(p)
		parent := path.Dir(p)
		if parent == "." {
			parent = ""
		}
		if strings.HasPrefix(base, ".wh.") {
			if ev.Whiteout == nil {
				continue
			}
			if base == ".wh..wh..opq" {
				// The opaque directory hides dir's files when it is dir, a
				// parent of it, or a directory inside it.
				if under(parent, dir) || under(dir, parent) {
					if err := ev.Whiteout(i, parent, true); err != nil {
						return err
					}
				}
				continue
			}
			removed := path.Join(parent, strings.TrimPrefix(base, ".wh."))
			if under(removed, dir) || under(dir, removed) {
				if err := ev.Whiteout(i, removed, false); err != nil {
					return err
				}
			}
			continue
		}
		if !under(p, dir) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if ev.Dir != nil {
				ev.Dir(i, p)
			}
		case tar.TypeLink, tar.TypeSymlink:
			// A link to a catalog file would need its target's content in
			// both passes; catalogs are not built with them.
			if ev.File != nil && fileFormat(p) != "" {
				return fmt.Errorf("file %s is a link to %s: links in the configs directory are not supported", p, h.Linkname)
			}
		case tar.TypeReg:
			if ev.File != nil {
				if err := ev.File(layerFile{Layer: i, Path: p, R: tr}); err != nil {
					return fmt.Errorf("file %s: %w", p, err)
				}
			}
		}
	}
	// Read to the end, so that the digest covers the whole blob.
	return tr.Verify()
}

// imageOf reads the manifest of desc (the first image manifest of an
// index) and its config.
type imageInfo struct {
	Desc     ocispec.Descriptor // the image manifest
	Manifest ocispec.Manifest
	Raw      []byte
	Config   []byte
}

func readImage(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor) (*imageInfo, error) {
	raw, err := oci.ReadManifest(ctx, f, desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if m.Config.Digest == "" {
		return nil, fmt.Errorf("manifest %s has no config", desc.Digest)
	}
	if m.Config.Size > oci.MaxManifestSize {
		return nil, fmt.Errorf("manifest %s: config is %d bytes, more than %d", desc.Digest, m.Config.Size, oci.MaxManifestSize)
	}
	// ReadManifest checks size and digest; configs are small JSON too.
	cfg, err := oci.ReadManifest(ctx, f, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config of %s: %w", desc.Digest, err)
	}
	return &imageInfo{Desc: desc, Manifest: m, Raw: raw, Config: cfg}, nil
}

// firstImage resolves an index to its first image manifest, skipping
// entries whose platform is "unknown" (attestations).
func firstImage(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	if !oci.IsIndex(desc.MediaType) {
		return desc, nil
	}
	raw, err := oci.ReadManifest(ctx, f, desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("index %s: %w", desc.Digest, err)
	}
	for _, c := range idx.Manifests {
		if c.Platform != nil && c.Platform.OS == "unknown" {
			continue
		}
		if oci.IsManifest(c.MediaType) {
			return c, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("index %s lists no image manifest", desc.Digest)
}
