// Package catalog reads operator catalogs (OLM file-based catalogs, FBC,
// shipped as container images), selects bundles from them with oc-mirror
// v2's filtering semantics, and builds filtered catalog images that keep
// only the selected bundles.
//
// # Reading
//
// Read streams the layers of a catalog image in order (gzip, zstd or
// uncompressed tar, applying ".wh." and opaque whiteouts) and parses the
// documents of the files under the directory named by the config label
// operators.operatorframework.io.index.configs.v1 (default /configs):
// *.json files are JSON streams, *.yaml and *.yml files YAML documents;
// other files and hidden files are ignored, and a link (hard or symbolic)
// named as a JSON or YAML file is an error. When given an index, Read reads
// its first image manifest (entries of platform "unknown", attestations,
// are skipped): catalogs carry the same configs on every platform.
//
// Memory: the Catalog keeps only metadata (packages, channels and their
// entries, bundle names, versions, images and related images) and, for
// each file, the layer it comes from. Icons, descriptions and bundle
// properties are skipped by the decoder, one document at a time (a JSON
// document is bounded to 64 MiB, and so is a YAML file: YAML catalogs are
// the small hand-written kind). Selection.Build streams the layers again
// and keeps the documents that survive the filter, spooled to a temporary
// file, not memory.
//
// # Filtering
//
// Catalog.Filter follows oc-mirror v2, whose filtering is the mirror
// filter of github.com/sherine-k/catalog-filter (the "S4b" solution of
// oc-mirror's docs/dev-investigations/operator-filtering-investigation.md):
//
//   - No packages: every package, every channel, the head of each channel.
//     (oc-mirror's acceptance table expects heads of all channels; it notes
//     that an older implementation took the default channel only. We follow
//     the table and the filter library.)
//   - Full: every bundle of every kept channel (of every package, or of the
//     listed packages).
//   - A package without channels: all its channels; with channels: only
//     those. Each kept channel gives its head, unless a version range or a
//     bundle list applies.
//   - MinVersion/MaxVersion on the package apply to each of its kept
//     channels (named or all); on a channel to that channel. Both a package
//     range and a channel range in one package is an error (oc-mirror's
//     docs/features/filtering.md; its acceptance table even refuses channel
//     names with a package range, the filtering doc and the filter library
//     accept them: we accept them). Full with a range, Full with bundles, and
//     a range with bundles are errors.
//   - A range walks the channel's replaces chain from the head, as the
//     filter library does: each chain member counts the bundles in range at
//     or below it (itself, the bundles it skips, and its replaces chain,
//     each bundle counted once, deepest first); the new head is the lowest
//     chain member with the highest count, the tail the first member whose
//     count is 0. Kept: the chain members from the new head down to (not
//     including) the tail, even those out of range (needed to keep one
//     path), plus the bundles they skip that are in range. skipRange does
//     not take part (OLM's channel head and chain ignore it); it is kept in
//     the entries. Versions are semver (github.com/blang/semver/v4, a
//     leading "v" tolerated), bounds inclusive; a bundle without a
//     parsable version is never in range, nor is a pre-release unless every
//     bound given has a pre-release (the rule of Masterminds/semver
//     constraints, which the filter library uses).
//   - A range that leaves a channel empty drops the channel, unless it is
//     the package's default channel (an error).
//   - Bundles: the named bundles, in every kept channel listing them;
//     channels left without any are dropped; each kept channel must still
//     be valid.
//   - DefaultChannel overrides the package's default channel; it must be a
//     kept channel. Without it, the original default channel must be kept.
//
// The head of a channel is the entry that no other entry of the channel
// replaces or skips; a channel with several heads is an error naming them.
//
// The filtered catalog stays valid for OLM: every kept channel is checked
// as operator-registry does (one head, no cycle, every entry on the
// replaces chain from the head or skipped by a member of it). Entries keep
// their replaces, skips and skipRange even when they name removed
// bundles: OLM tolerates those (the chain ends there), as the filter
// library does. olm.deprecations documents lose their entries for
// dropped bundles and channels (and go when none is left); documents of
// other schemas are kept when they belong to a kept package or to none.
//
// # Filtered images
//
// Selection.Build makes a new image over the original: its layers plus one
// layer holding an opaque whiteout of the configs directory, the filtered
// configs (configs/<package>/catalog.json, one JSON document a line:
// the package, its channels by name, its bundles by name, then its other
// documents in catalog order; documents without a package go to
// configs/_global/catalog.json) and a whiteout of the pre-built cache
// directory (the --cache-dir of the config's Entrypoint/Cmd, default
// /tmp/cache), so that opm rebuilds it on start. The result is
// byte-reproducible (fixed times and owners, sorted members, gzip without
// header time or name, no wall-clock time in the config; the compressed
// bytes depend on the Go release's compress/gzip). The config is the
// original's with the new diffID and one history entry; the manifest keeps
// the original's media type (OCI or Docker) and its fields. An index
// (OCI or Docker list) gives one filtered image per platform and a new
// index of the same media type; its entries of platform "unknown"
// (attestations of the original images) are dropped. The filtered configs
// come from the image Read read, for every platform. See Built.
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-bundle/bundle/oci"
)

// ConfigsLabel is the image config label naming the configs directory.
const ConfigsLabel = "operators.operatorframework.io.index.configs.v1"

// DefaultConfigsDir is the configs directory of images without the label.
const DefaultConfigsDir = "/configs"

// Catalog is the metadata of a catalog image.
type Catalog struct {
	// Root is the descriptor given to Read (a manifest or an index).
	Root ocispec.Descriptor
	// Image is the image manifest whose layers were read.
	Image ocispec.Descriptor
	// ConfigsDir is the configs directory, relative to the root ("configs").
	ConfigsDir string

	packages map[string]*Package
	fetcher  oci.Fetcher
	layers   []ocispec.Descriptor
	// files maps each FBC file of the final filesystem to its layer.
	files map[string]int
}

// Package is an olm.package with its channels and bundles.
type Package struct {
	Name           string
	DefaultChannel string
	Channels       map[string]*Channel
	Bundles        map[string]*Bundle
}

// Channel is an olm.channel.
type Channel struct {
	Package string
	Name    string
	Entries []Entry
}

// Entry is a channel entry.
type Entry struct {
	Name      string   `json:"name"`
	Replaces  string   `json:"replaces,omitempty"`
	Skips     []string `json:"skips,omitempty"`
	SkipRange string   `json:"skipRange,omitempty"`
}

// Bundle is an olm.bundle.
type Bundle struct {
	Name    string
	Package string
	// Version is the version of its olm.package property ("" if none).
	Version       string
	Image         string
	RelatedImages []RelatedImage
}

// RelatedImage is an image a bundle's operator uses.
type RelatedImage struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// Packages lists the packages, by name.
func (c *Catalog) Packages() []*Package {
	out := make([]*Package, 0, len(c.packages))
	for _, n := range c.packageNames() {
		out = append(out, c.packages[n])
	}
	return out
}

// Package returns the named package, or nil.
func (c *Catalog) Package(name string) *Package { return c.packages[name] }

func (c *Catalog) packageNames() []string {
	names := make([]string, 0, len(c.packages))
	for n := range c.packages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ChannelNames lists the package's channels, sorted.
func (p *Package) ChannelNames() []string {
	return sortedKeys(p.Channels)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// item is what the first pass keeps of one document.
type item struct {
	meta    *meta
	entries []Entry
	version string
	where   string
}

// Read reads the catalog image desc (a manifest, or an index whose first
// image manifest is read) through f. See the package documentation.
func Read(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor) (*Catalog, error) {
	c, err := read(ctx, f, desc)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", desc.Digest, err)
	}
	return c, nil
}

func read(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor) (*Catalog, error) {
	imgDesc, err := firstImage(ctx, f, desc)
	if err != nil {
		return nil, err
	}
	img, err := readImage(ctx, f, imgDesc)
	if err != nil {
		return nil, err
	}
	dir, labeled, err := configsDir(img.Config)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", img.Manifest.Config.Digest, err)
	}
	c := &Catalog{Root: desc, Image: imgDesc, ConfigsDir: dir, fetcher: f, layers: img.Manifest.Layers, files: map[string]int{}}

	type fileItems struct {
		layer int
		items []item
	}
	files := map[string]*fileItems{}
	dirSeen := false
	ev := layerEvents{
		Dir: func(layer int, p string) {
			if p == dir {
				dirSeen = true
			}
		},
		Whiteout: func(layer int, removed string, opaque bool) error {
			for p, fi := range files {
				if fi.layer < layer && under(p, removed) {
					delete(files, p)
				}
			}
			if under(dir, removed) && !opaque {
				dirSeen = false
			}
			return nil
		},
		File: func(lf layerFile) error {
			dirSeen = true
			format := fileFormat(lf.Path)
			if format == "" {
				return nil
			}
			fi := &fileItems{layer: lf.Layer}
			err := parseDocuments(format, lf.R, func(d document) error {
				it, err := readItem(d)
				if err != nil {
					return err
				}
				fi.items = append(fi.items, it)
				return nil
			})
			if err != nil {
				return err
			}
			files[lf.Path] = fi
			return nil
		},
	}
	if err := walkLayers(ctx, f, img.Manifest.Layers, dir, ev); err != nil {
		return nil, fmt.Errorf("image %s: %w", imgDesc.Digest, err)
	}
	if !dirSeen && len(files) == 0 {
		if labeled {
			return nil, fmt.Errorf("image %s: no %s directory, which its label %s names", imgDesc.Digest, "/"+dir, ConfigsLabel)
		}
		return nil, fmt.Errorf("image %s: no %s label and no %s directory: not a file-based catalog", imgDesc.Digest, ConfigsLabel, DefaultConfigsDir)
	}

	c.packages = map[string]*Package{}
	var channels, bundles []item
	paths := sortedKeys(files)
	for _, p := range paths {
		fi := files[p]
		c.files[p] = fi.layer
		for _, it := range fi.items {
			it.where = fmt.Sprintf("file %s (layer %d), %s", p, fi.layer+1, it.where)
			switch it.meta.Schema {
			case SchemaPackage:
				if _, dup := c.packages[it.meta.Name]; dup {
					return nil, fmt.Errorf("%s: package %q declared twice", it.where, it.meta.Name)
				}
				c.packages[it.meta.Name] = &Package{Name: it.meta.Name, DefaultChannel: it.meta.DefaultChannel, Channels: map[string]*Channel{}, Bundles: map[string]*Bundle{}}
			case SchemaChannel:
				channels = append(channels, it)
			case SchemaBundle:
				bundles = append(bundles, it)
			}
		}
	}
	for _, it := range bundles {
		m := it.meta
		pkg := c.packages[m.Package]
		if pkg == nil {
			return nil, fmt.Errorf("%s: bundle %q is in package %q, which the catalog does not declare", it.where, m.Name, m.Package)
		}
		if _, dup := pkg.Bundles[m.Name]; dup {
			return nil, fmt.Errorf("%s: bundle %q of package %q declared twice", it.where, m.Name, m.Package)
		}
		pkg.Bundles[m.Name] = &Bundle{Name: m.Name, Package: m.Package, Version: it.version, Image: m.Image, RelatedImages: m.RelatedImages}
	}
	for _, it := range channels {
		m := it.meta
		pkg := c.packages[m.Package]
		if pkg == nil {
			return nil, fmt.Errorf("%s: channel %q is in package %q, which the catalog does not declare", it.where, m.Name, m.Package)
		}
		if _, dup := pkg.Channels[m.Name]; dup {
			return nil, fmt.Errorf("%s: channel %q of package %q declared twice", it.where, m.Name, m.Package)
		}
		seen := map[string]bool{}
		for _, e := range it.entries {
			if pkg.Bundles[e.Name] == nil {
				return nil, fmt.Errorf("%s: channel %q of package %q lists bundle %q, which the package does not have", it.where, m.Name, m.Package, e.Name)
			}
			if seen[e.Name] {
				return nil, fmt.Errorf("%s: channel %q of package %q lists bundle %q twice", it.where, m.Name, m.Package, e.Name)
			}
			seen[e.Name] = true
		}
		pkg.Channels[m.Name] = &Channel{Package: m.Package, Name: m.Name, Entries: it.entries}
	}
	for _, n := range c.packageNames() {
		pkg := c.packages[n]
		if pkg.DefaultChannel != "" && pkg.Channels[pkg.DefaultChannel] == nil {
			return nil, fmt.Errorf("package %q: default channel %q is not one of its channels (%s)", n, pkg.DefaultChannel, listNames(pkg.ChannelNames()))
		}
	}
	return c, nil
}

// readItem decodes what the first pass keeps of a document.
func readItem(d document) (item, error) {
	where := fmt.Sprintf("document %d at %s", d.Index, d.Where)
	m, err := decodeMeta(d.JSON)
	if err != nil {
		return item{}, fmt.Errorf("%s: %v", where, err)
	}
	it := item{meta: m, where: where}
	switch m.Schema {
	case SchemaChannel:
		if it.entries, err = m.entries(); err != nil {
			return item{}, fmt.Errorf("%s: channel %q: %v", where, m.Name, err)
		}
	case SchemaBundle:
		if it.version, err = m.version(); err != nil {
			return item{}, fmt.Errorf("%s: bundle %q: %v", where, m.Name, err)
		}
	}
	// Keep only what the catalog needs.
	m.Entries, m.Properties = nil, nil
	return it, nil
}

// configsDir reads the configs directory from an image config.
func configsDir(config []byte) (dir string, labeled bool, err error) {
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return "", false, err
	}
	d := cfg.Config.Labels[ConfigsLabel]
	if d == "" {
		return cleanPath(DefaultConfigsDir), false, nil
	}
	d = cleanPath(d)
	if d == "" {
		return "", true, fmt.Errorf("label %s names the root directory", ConfigsLabel)
	}
	return d, true, nil
}

// listNames lists names for an error message: at most 20, then how many
// more.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	const max = 20
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}
