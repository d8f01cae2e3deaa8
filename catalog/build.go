package catalog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-bundle/bundle/internal/iocount"
	"github.com/airgap-bundle/bundle/oci"
)

// DefaultCacheDir is the pre-built cache of catalogs whose command names
// no --cache-dir.
const DefaultCacheDir = "/tmp/cache"

// GlobalDir holds, under the configs directory of a filtered catalog, the
// documents that belong to no package. Package names cannot start with
// "_" (they are DNS labels), so it cannot clash.
const GlobalDir = "_global"

// HistoryCreatedBy is the created_by of the history entry a filtered image
// adds to its config.
const HistoryCreatedBy = "bundle: filtered operator catalog"

// layerMTime is the modification time of every member of a new layer.
var layerMTime = time.Unix(0, 0).UTC()

// BuildOptions tune Selection.Build.
type BuildOptions struct {
	// TempDir holds the temporary files (os.TempDir() when empty).
	TempDir string
}

// Built is a filtered catalog image. It serves its new blobs (index,
// manifests, configs, the new layer) and, for everything else (the
// original layers), falls back to the catalog's Fetcher. The new layer is
// kept in a temporary file (its size is that of the filtered configs,
// compressed), manifests and configs in memory; Close removes the file.
type Built struct {
	// Root is the new image manifest, or the new index when the catalog
	// was an index.
	Root ocispec.Descriptor
	// Manifests are the new image manifests (one per platform of an
	// index, or Root).
	Manifests []ocispec.Descriptor
	// Layers are the new layers (one per distinct cache directory; most
	// often one, shared by every platform).
	Layers []ocispec.Descriptor

	base    oci.Fetcher
	blobs   map[digest.Digest][]byte
	ranges  map[digest.Digest]fileRange
	file    *os.File // the new layers
	configs []ocispec.Descriptor

	fileNamed bool // file still has a name in the file system, for Close to remove
}

var _ oci.Fetcher = (*Built)(nil)

type fileRange struct{ off, size int64 }

// Fetch implements oci.Fetcher.
func (b *Built) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if data, ok := b.blobs[desc.Digest]; ok {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	if r, ok := b.ranges[desc.Digest]; ok {
		if b.file == nil {
			return nil, errors.New("catalog: filtered image is closed")
		}
		return io.NopCloser(io.NewSectionReader(b.file, r.off, r.size)), nil
	}
	return b.base.Fetch(ctx, desc)
}

// Blobs lists the new content in push order: layers, configs, manifests,
// then the index if any.
func (b *Built) Blobs() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	out = append(out, b.Layers...)
	out = append(out, b.configs...)
	out = append(out, b.Manifests...)
	if oci.IsIndex(b.Root.MediaType) {
		out = append(out, b.Root)
	}
	return out
}

// Close removes the temporary file.
func (b *Built) Close() error {
	if b.file == nil {
		return nil
	}
	name := b.file.Name()
	err := b.file.Close()
	b.file = nil
	if !b.fileNamed {
		return err
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// tempFile makes a temporary file in dir (os.TempDir() when empty) and
// removes its name at once where the system lets an open file lose its
// name (named is false): the file lives as long as it is open, so a pack
// killed while it builds a catalog leaves nothing behind. Where the name
// cannot go (named is true), the caller removes it when done.
func tempFile(dir, pattern string) (f *os.File, named bool, err error) {
	f, err = os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, false, err
	}
	return f, os.Remove(f.Name()) != nil, nil
}

// spooled is one kept document, in the spool file.
type spooled struct {
	pkg   string
	rank  int
	name  string
	path  string
	index int
	off   int64
	size  int64
}

var schemaRank = map[string]int{SchemaPackage: 0, SchemaChannel: 1, SchemaBundle: 2, SchemaDeprecations: 3}

var packageDirName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Build makes the filtered catalog image (see the package documentation
// and Built). The same catalog and selection give the same digests.
func (s *Selection) Build(ctx context.Context, o BuildOptions) (*Built, error) {
	c := s.Catalog
	for _, p := range s.Packages() {
		if !packageDirName.MatchString(p) {
			return nil, fmt.Errorf("catalog %s: package name %q cannot name a directory", c.Root.Digest, p)
		}
	}
	spool, spoolNamed, err := tempFile(o.TempDir, "catalog-spool-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		spool.Close()
		if spoolNamed {
			os.Remove(spool.Name())
		}
	}()
	docs, err := s.spoolDocuments(ctx, spool)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: image %s: %w", c.Root.Digest, c.Image.Digest, err)
	}

	lf, lfNamed, err := tempFile(o.TempDir, "catalog-layer-*")
	if err != nil {
		return nil, err
	}
	b := &Built{base: c.fetcher, blobs: map[digest.Digest][]byte{}, ranges: map[digest.Digest]fileRange{}, file: lf, fileNamed: lfNamed}
	bd := &builder{s: s, b: b, spool: spool, docs: docs, layers: map[string]*newLayer{}}
	if err := bd.build(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("catalog %s: %w", c.Root.Digest, err)
	}
	return b, nil
}

// spoolDocuments streams the catalog's layers again and writes the kept
// documents, as compact JSON lines, to spool.
func (s *Selection) spoolDocuments(ctx context.Context, spool *os.File) ([]spooled, error) {
	c := s.Catalog
	var docs []spooled
	var off int64
	ev := layerEvents{File: func(lf layerFile) error {
		if layer, ok := c.files[lf.Path]; !ok || layer != lf.Layer {
			return nil
		}
		return parseDocuments(fileFormat(lf.Path), lf.R, func(d document) error {
			out, pkg, name, rank, err := s.rewrite(d.JSON)
			if err != nil {
				return fmt.Errorf("document %d at %s: %w", d.Index, d.Where, err)
			}
			if out == nil {
				return nil
			}
			out = append(out, '\n')
			if _, err := spool.Write(out); err != nil {
				return err
			}
			docs = append(docs, spooled{pkg: pkg, rank: rank, name: name, path: lf.Path, index: d.Index, off: off, size: int64(len(out))})
			off += int64(len(out))
			return nil
		})
	}}
	if err := walkLayers(ctx, c.fetcher, c.layers, c.ConfigsDir, ev); err != nil {
		return nil, err
	}
	sort.Slice(docs, func(i, j int) bool {
		a, b := docs[i], docs[j]
		if a.pkg != b.pkg {
			return a.pkg < b.pkg
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.name != b.name {
			return a.name < b.name
		}
		if a.path != b.path {
			return a.path < b.path
		}
		return a.index < b.index
	})
	return docs, nil
}

// rewrite returns the document as the filtered catalog keeps it (nil: not
// kept), with its package ("" for GlobalDir), sort name and rank.
func (s *Selection) rewrite(doc []byte) (out []byte, pkg, name string, rank int, err error) {
	m, err := decodeMeta(doc)
	if err != nil {
		return nil, "", "", 0, err
	}
	rank, ok := schemaRank[m.Schema]
	if !ok {
		rank = len(schemaRank)
	}
	k := s.packages[m.Package]
	if m.Package != "" && k == nil {
		return nil, "", "", 0, nil
	}
	switch m.Schema {
	case SchemaPackage:
		out, err = setField(doc, "defaultChannel", k.defaultChannel, k.defaultChannel != m.DefaultChannel)
	case SchemaChannel:
		keep := k.channels[m.Name]
		if keep == nil {
			return nil, "", "", 0, nil
		}
		out, err = filterEntries(doc, func(e json.RawMessage) (bool, error) {
			var en struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(e, &en); err != nil {
				return false, err
			}
			return keep[en.Name], nil
		})
	case SchemaBundle:
		if !k.bundles[m.Name] {
			return nil, "", "", 0, nil
		}
		out, err = compact(doc)
	case SchemaDeprecations:
		if k == nil {
			break
		}
		out, err = filterEntries(doc, func(e json.RawMessage) (bool, error) {
			var de struct {
				Reference struct {
					Schema string `json:"schema"`
					Name   string `json:"name"`
				} `json:"reference"`
			}
			if err := json.Unmarshal(e, &de); err != nil {
				return false, err
			}
			switch de.Reference.Schema {
			case SchemaBundle:
				return k.bundles[de.Reference.Name], nil
			case SchemaChannel:
				return k.channels[de.Reference.Name] != nil, nil
			}
			return true, nil
		})
		if err == nil && isEmptyEntries(out) {
			return nil, "", "", 0, nil
		}
	default:
		out, err = compact(doc)
	}
	if err != nil {
		return nil, "", "", 0, err
	}
	if out == nil {
		return nil, "", "", 0, nil
	}
	return out, m.Package, m.Name, rank, nil
}

func compact(doc []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// setField sets a string field of a JSON object when change is true, and
// compacts it otherwise.
func setField(doc []byte, field, value string, change bool) ([]byte, error) {
	if !change {
		return compact(doc)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		return nil, err
	}
	v, _ := marshal(value)
	obj[field] = v
	return marshal(obj)
}

// filterEntries keeps the "entries" of a JSON object that keep accepts.
func filterEntries(doc []byte, keep func(json.RawMessage) (bool, error)) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if raw, ok := obj["entries"]; ok {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("entries: %v", err)
		}
	}
	kept := []json.RawMessage{}
	for _, e := range entries {
		ok, err := keep(e)
		if err != nil {
			return nil, fmt.Errorf("entries: %v", err)
		}
		if ok {
			kept = append(kept, e)
		}
	}
	v, err := marshal(kept)
	if err != nil {
		return nil, err
	}
	obj["entries"] = v
	return marshal(obj)
}

func isEmptyEntries(doc []byte) bool {
	var obj struct {
		Entries []json.RawMessage `json:"entries"`
	}
	return json.Unmarshal(doc, &obj) == nil && len(obj.Entries) == 0
}

type newLayer struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
}

type builder struct {
	s      *Selection
	b      *Built
	spool  *os.File
	docs   []spooled
	layers map[string]*newLayer // by media type and cache directory
	off    int64
}

func (bd *builder) build(ctx context.Context) error {
	root := bd.s.Catalog.Root
	if !oci.IsIndex(root.MediaType) {
		d, err := bd.image(ctx, root)
		if err != nil {
			return err
		}
		bd.b.Root = d
		return nil
	}
	raw, err := oci.ReadManifest(ctx, bd.b.base, root)
	if err != nil {
		return err
	}
	var idx map[string]json.RawMessage
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("index %s: %w", root.Digest, err)
	}
	var children []json.RawMessage
	if err := json.Unmarshal(idx["manifests"], &children); err != nil {
		return fmt.Errorf("index %s: manifests: %w", root.Digest, err)
	}
	var kept []json.RawMessage
	for _, child := range children {
		var d ocispec.Descriptor
		if err := json.Unmarshal(child, &d); err != nil {
			return fmt.Errorf("index %s: %w", root.Digest, err)
		}
		if d.Platform != nil && d.Platform.OS == "unknown" {
			continue // attestations describe the original images
		}
		if !oci.IsManifest(d.MediaType) {
			return fmt.Errorf("index %s: entry %s is a %s, not an image manifest", root.Digest, d.Digest, d.MediaType)
		}
		nd, err := bd.image(ctx, d)
		if err != nil {
			return err
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(child, &obj); err != nil {
			return err
		}
		obj["digest"], _ = json.Marshal(nd.Digest)
		obj["size"], _ = json.Marshal(nd.Size)
		b, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		kept = append(kept, b)
	}
	if len(kept) == 0 {
		return fmt.Errorf("index %s lists no image manifest", root.Digest)
	}
	idx["manifests"], _ = json.Marshal(kept)
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	bd.b.Root = bd.add(root.MediaType, out)
	return nil
}

func (bd *builder) add(mediaType string, data []byte) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	bd.b.blobs[d.Digest] = data
	return d
}

// image builds the filtered image of one image manifest.
func (bd *builder) image(ctx context.Context, desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	img, err := readImage(ctx, bd.b.base, desc)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layerType := ocispec.MediaTypeImageLayerGzip
	if desc.MediaType == oci.MediaTypeDockerManifest {
		layerType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	}
	cacheDir, err := cacheDirOf(img.Config)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config %s: %w", img.Manifest.Config.Digest, err)
	}
	key := layerType + "\x00" + cacheDir
	nl := bd.layers[key]
	if nl == nil {
		if nl, err = bd.layer(layerType, cacheDir); err != nil {
			return ocispec.Descriptor{}, err
		}
		bd.layers[key] = nl
		bd.b.Layers = append(bd.b.Layers, nl.desc)
	}

	// The config: the original's, with the new diffID and a history entry.
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(img.Config, &cfg); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config %s: %w", img.Manifest.Config.Digest, err)
	}
	var rootfs struct {
		Type    string          `json:"type"`
		DiffIDs []digest.Digest `json:"diff_ids"`
	}
	if raw, ok := cfg["rootfs"]; ok {
		if err := json.Unmarshal(raw, &rootfs); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("config %s: rootfs: %w", img.Manifest.Config.Digest, err)
		}
	}
	if rootfs.Type == "" {
		rootfs.Type = "layers"
	}
	rootfs.DiffIDs = append(rootfs.DiffIDs, nl.diffID)
	cfg["rootfs"], _ = json.Marshal(rootfs)
	var history []json.RawMessage
	if raw, ok := cfg["history"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &history); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("config %s: history: %w", img.Manifest.Config.Digest, err)
		}
	}
	h, _ := json.Marshal(ocispec.History{CreatedBy: HistoryCreatedBy, Comment: fmt.Sprintf("filtered from %s", desc.Digest)})
	history = append(history, h)
	cfg["history"], _ = json.Marshal(history)
	cb, err := json.Marshal(cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cd := bd.add(img.Manifest.Config.MediaType, cb)
	bd.b.configs = append(bd.b.configs, cd)

	// The manifest: the original's, with the new config and layer.
	var man map[string]json.RawMessage
	if err := json.Unmarshal(img.Raw, &man); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	man["config"], _ = json.Marshal(cd)
	var layers []json.RawMessage
	if err := json.Unmarshal(man["layers"], &layers); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("manifest %s: layers: %w", desc.Digest, err)
	}
	ld, _ := json.Marshal(nl.desc)
	man["layers"], _ = json.Marshal(append(layers, ld))
	mb, err := json.Marshal(man)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md := bd.add(desc.MediaType, mb)
	bd.b.Manifests = append(bd.b.Manifests, md)
	return md, nil
}

// cacheDirOf finds --cache-dir in a config's Entrypoint and Cmd.
func cacheDirOf(config []byte) (string, error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return "", err
	}
	args := append(append([]string(nil), cfg.Config.Entrypoint...), cfg.Config.Cmd...)
	dir := DefaultCacheDir
	for i, a := range args {
		switch {
		case len(a) > len("--cache-dir=") && a[:len("--cache-dir=")] == "--cache-dir=":
			dir = a[len("--cache-dir="):]
		case a == "--cache-dir" && i+1 < len(args):
			dir = args[i+1]
		}
	}
	return dir, nil
}

// layer writes the new layer: the configs directory, opaque, with the
// filtered configs, and a whiteout of the cache directory.
func (bd *builder) layer(mediaType, cacheDir string) (*newLayer, error) {
	c := bd.s.Catalog
	f := bd.b.file
	if _, err := f.Seek(bd.off, io.SeekStart); err != nil {
		return nil, err
	}
	compressed := digest.Canonical.Digester()
	counter := &iocount.Writer{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, compressed.Hash(), counter), gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	plain := digest.Canonical.Digester()
	tw := tar.NewWriter(io.MultiWriter(zw, plain.Hash()))
	dir := c.ConfigsDir
	hdr := func(name string, typ byte, size int64) error {
		h := &tar.Header{Name: name, Typeflag: typ, Size: size, ModTime: layerMTime, Format: tar.FormatPAX, Mode: 0o644}
		if typ == tar.TypeDir {
			h.Mode = 0o755
		}
		return tw.WriteHeader(h)
	}
	if err := hdr(dir+"/", tar.TypeDir, 0); err != nil {
		return nil, err
	}
	if err := hdr(dir+"/.wh..wh..opq", tar.TypeReg, 0); err != nil {
		return nil, err
	}
	for i := 0; i < len(bd.docs); {
		j := i
		var size int64
		for ; j < len(bd.docs) && bd.docs[j].pkg == bd.docs[i].pkg; j++ {
			size += bd.docs[j].size
		}
		name := bd.docs[i].pkg
		if name == "" {
			name = GlobalDir
		}
		if err := hdr(dir+"/"+name+"/", tar.TypeDir, 0); err != nil {
			return nil, err
		}
		if err := hdr(dir+"/"+name+"/catalog.json", tar.TypeReg, size); err != nil {
			return nil, err
		}
		for ; i < j; i++ {
			if _, err := io.Copy(tw, io.NewSectionReader(bd.spool, bd.docs[i].off, bd.docs[i].size)); err != nil {
				return nil, err
			}
		}
	}
	if cd := cleanPath(cacheDir); cd != "" && !under(cd, dir) && !under(dir, cd) {
		if err := hdr(path.Join(path.Dir(cd), ".wh."+path.Base(cd)), tar.TypeReg, 0); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	d := ocispec.Descriptor{MediaType: mediaType, Digest: compressed.Digest(), Size: counter.N}
	bd.b.ranges[d.Digest] = fileRange{off: bd.off, size: counter.N}
	bd.off += counter.N
	return &newLayer{desc: d, diffID: plain.Digest()}, nil
}
