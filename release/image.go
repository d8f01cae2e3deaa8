package release

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The files of a release payload this package reads.
const (
	ImageReferencesPath = "release-manifests/image-references"
	ReleaseMetadataPath = "release-manifests/release-metadata"
)

// MaxFileSize bounds the size accepted for image-references and
// release-metadata (real ones are tens of KiB).
const MaxFileSize = 16 << 20

// maxConfigSize bounds an image config read to learn the architecture.
const maxConfigSize = 4 << 20

// Architectures are the names the update service and oc-mirror use; Multi
// selects the multi-architecture index itself.
const (
	AMD64   = "amd64"
	ARM64   = "arm64"
	PPC64LE = "ppc64le"
	S390X   = "s390x"
	Multi   = "multi"
)

// Component is one image a release is made of.
type Component struct {
	// Name is the tag name in image-references (e.g. "cli", "etcd").
	Name string
	// Image is its pull spec, pinned by digest, as image-references gives it.
	Image string
	// Digest is the digest Image is pinned by.
	Digest digest.Digest
}

// Release is one architecture of a release payload.
type Release struct {
	// Name is the payload as the caller named it (e.g.
	// quay.io/openshift-release-dev/ocp-release@sha256:…).
	Name string
	// Version is release-metadata's version (e.g. "4.18.1").
	Version string
	// Previous lists release-metadata's previous versions.
	Previous []string
	// Metadata is release-metadata's metadata object (e.g. "url").
	Metadata map[string]any
	// Architecture is the payload's architecture (amd64, arm64, …) from its
	// image config or its index entry.
	Architecture string
	// Manifest is the per-architecture payload manifest read.
	Manifest ocispec.Descriptor
	// Index, when set, is the multi-architecture index Manifest was
	// reached through, selected with Multi: it is carried too.
	Index *ocispec.Descriptor
	// Components are image-references' tags, in file order.
	Components []Component
	// Channel is the update channel the release was selected from ("" when
	// read directly); Load sets it.
	Channel string
}

// NoImageReferencesError says an image has no
// release-manifests/image-references: it is not a release payload.
type NoImageReferencesError struct{ Image string }

func (e *NoImageReferencesError) Error() string {
	return fmt.Sprintf("%s has no %s: is it a release image?", e.Image, ImageReferencesPath)
}

// normalizeArch maps the names release tags use (x86_64, aarch64) to the
// update service's.
func normalizeArch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64", "x86-64":
		return AMD64
	case "aarch64":
		return ARM64
	}
	return strings.ToLower(a)
}

// Read reads the release payload desc, named name in messages. A single
// manifest gives one Release; an index gives one per selected architecture.
//
// archs filters architectures (amd64, arm64, ppc64le, s390x; x86_64 and
// aarch64 are accepted as aliases); empty selects all. For an index, Multi
// selects every architecture and marks each Release with the index, which
// is then carried as well. A single-architecture payload whose architecture
// is not listed is an error (Multi alone does not accept it either: it is
// not a multi-architecture release).
func Read(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor, name string, archs []string) ([]*Release, error) {
	want := map[string]bool{}
	for _, a := range archs {
		want[normalizeArch(a)] = true
	}
	switch {
	case oci.IsManifest(desc.MediaType):
		r, err := readManifest(ctx, f, desc, name, "")
		if err != nil {
			return nil, err
		}
		if len(want) > 0 && !want[r.Architecture] {
			return nil, fmt.Errorf("release %s is a single-architecture payload for %s; asked for %s", name, r.Architecture, strings.Join(archs, ", "))
		}
		return []*Release{r}, nil
	case oci.IsIndex(desc.MediaType):
	default:
		return nil, fmt.Errorf("release %s: media type %q is neither an image manifest nor an index", name, desc.MediaType)
	}
	b, err := oci.ReadManifest(ctx, f, desc)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", name, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("release %s: parse index: %w", name, err)
	}
	var out []*Release
	var have []string
	for _, m := range idx.Manifests {
		if m.Platform == nil || !oci.IsManifest(m.MediaType) {
			continue // attestations and other non-platform entries
		}
		arch := normalizeArch(m.Platform.Architecture)
		have = append(have, arch)
		if len(want) > 0 && !want[Multi] && !want[arch] {
			continue
		}
		r, err := readManifest(ctx, f, m, name, arch)
		if err != nil {
			return nil, err
		}
		if want[Multi] {
			d := desc
			r.Index = &d
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("release %s is a multi-architecture index for %s; none of %s", name, strings.Join(have, ", "), strings.Join(archs, ", "))
	}
	return out, nil
}

// readManifest reads one payload manifest. arch, when known from an index,
// is not read from the config again.
func readManifest(ctx context.Context, f oci.Fetcher, desc ocispec.Descriptor, name, arch string) (*Release, error) {
	where := name
	if arch != "" {
		where = fmt.Sprintf("%s (%s, %s)", name, arch, desc.Digest)
	}
	b, err := oci.ReadManifest(ctx, f, desc)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", where, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("release %s: parse manifest: %w", where, err)
	}
	if arch == "" {
		arch, err = configArch(ctx, f, m.Config)
		if err != nil {
			return nil, fmt.Errorf("release %s: %w", where, err)
		}
	}
	refs, meta, err := findFiles(ctx, f, m.Layers, where)
	if err != nil {
		return nil, err
	}
	if refs == nil {
		return nil, &NoImageReferencesError{Image: where}
	}
	comps, err := ParseImageReferences(refs)
	if err != nil {
		return nil, fmt.Errorf("release %s: %s: %w", where, ImageReferencesPath, err)
	}
	r := &Release{Name: name, Architecture: arch, Manifest: desc, Components: comps}
	if meta == nil {
		return nil, fmt.Errorf("release %s has no %s: is it a release image?", where, ReleaseMetadataPath)
	}
	md, err := ParseReleaseMetadata(meta)
	if err != nil {
		return nil, fmt.Errorf("release %s: %s: %w", where, ReleaseMetadataPath, err)
	}
	r.Version, r.Previous, r.Metadata = md.Version, md.Previous, md.Metadata
	return r, nil
}

func configArch(ctx context.Context, f oci.Fetcher, d ocispec.Descriptor) (string, error) {
	if d.Size > maxConfigSize {
		return "", fmt.Errorf("image config %s is %d bytes, more than the %d accepted", d.Digest, d.Size, maxConfigSize)
	}
	rc, err := f.Fetch(ctx, d)
	if err != nil {
		return "", fmt.Errorf("image config %s: %w", d.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return "", fmt.Errorf("image config %s: %w", d.Digest, err)
	}
	if int64(len(b)) != d.Size || d.Digest.Validate() != nil || d.Digest.Algorithm().FromBytes(b) != d.Digest {
		return "", fmt.Errorf("image config %s: content does not match its descriptor", d.Digest)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", fmt.Errorf("image config %s: %w", d.Digest, err)
	}
	if cfg.Architecture == "" {
		return "", fmt.Errorf("image config %s names no architecture", d.Digest)
	}
	return normalizeArch(cfg.Architecture), nil
}

// fileState is what the layers read so far (top-down) say about one path.
type fileState struct {
	path    string
	decided bool
	data    []byte // nil: absent
}

// findFiles looks for image-references and release-metadata in the
// image's filesystem. It reads the layers from the top one down: the first
// layer that has a file, or hides it (a whiteout of it or of a parent
// directory, an opaque directory above it, a non-directory in place of a
// parent), decides it, and lower layers are not read for it. Release
// payloads carry both files in their top layer, so usually one layer is
// read. That layer is read to its end so that its digest is checked.
func findFiles(ctx context.Context, f oci.Fetcher, layers []ocispec.Descriptor, where string) (refs, meta []byte, err error) {
	files := []*fileState{{path: ImageReferencesPath}, {path: ReleaseMetadataPath}}
	for i := len(layers) - 1; i >= 0; i-- {
		if err := scanLayer(ctx, f, layers[i], files, where); err != nil {
			return nil, nil, err
		}
		if files[0].decided && files[1].decided {
			break
		}
	}
	return files[0].data, files[1].data, nil
}

// scanLayer reads one layer and decides what it can about files.
func scanLayer(ctx context.Context, f oci.Fetcher, layer ocispec.Descriptor, files []*fileState, where string) error {
	open := 0
	for _, s := range files {
		if !s.decided {
			open++
		}
	}
	if open == 0 {
		return nil
	}
	tr, err := oci.OpenLayer(ctx, f, layer)
	if err != nil {
		return fmt.Errorf("release %s: layer %s: %w", where, layer.Digest, err)
	}
	defer tr.Close()
	hidden := map[*fileState]bool{} // decided absent by this layer's whiteouts
	found := map[*fileState]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("release %s: layer %s: read tar: %w", where, layer.Digest, err)
		}
		name := cleanName(h.Name)
		if name == "" {
			continue // the layer's root directory
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		for _, s := range files {
			if s.decided || found[s] {
				continue
			}
			switch {
			case base == ".wh..wh..opq":
				// The directory's lower contents are hidden: whatever this
				// layer has decides.
				if isUnder(s.path, dir) {
					hidden[s] = true
				}
			case strings.HasPrefix(base, ".wh."):
				gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
				if gone == s.path || isUnder(s.path, gone) {
					hidden[s] = true
				}
			case name == s.path:
				switch h.Typeflag {
				case tar.TypeReg:
					if h.Size > MaxFileSize {
						return fmt.Errorf("release %s: %s is %d bytes, more than the %d accepted", where, s.path, h.Size, MaxFileSize)
					}
					data, err := io.ReadAll(io.LimitReader(tr, MaxFileSize+1))
					if err != nil {
						return fmt.Errorf("release %s: layer %s: read %s: %w", where, layer.Digest, s.path, err)
					}
					if len(data) > MaxFileSize {
						return fmt.Errorf("release %s: %s is more than the %d bytes accepted", where, s.path, MaxFileSize)
					}
					s.data = data
					found[s] = true
				case tar.TypeDir:
					hidden[s] = true
				default:
					return fmt.Errorf("release %s: %s is not a regular file (tar type %q) in layer %s", where, s.path, h.Typeflag, layer.Digest)
				}
			case isUnder(s.path, name) && h.Typeflag != tar.TypeDir:
				hidden[s] = true // a file or link in place of a parent directory
			}
		}
		if len(found) == open {
			// Both found: the rest of the layer is not decompressed (image
			// builders do not write a path twice in one layer).
			break
		}
	}
	for _, s := range files {
		if found[s] || hidden[s] {
			s.decided = true
		}
	}
	// Read what is left of the compressed stream, so that the digest covers
	// the whole blob.
	if err := tr.Verify(); err != nil {
		return fmt.Errorf("release %s: layer %s: %w", where, layer.Digest, err)
	}
	return nil
}

// cleanName makes a tar member name relative and clean ("./a//b/" → "a/b").
func cleanName(n string) string {
	n = path.Clean("/" + n)
	return strings.TrimPrefix(n, "/")
}

// isUnder reports whether p is strictly below directory dir ("" is the root).
func isUnder(p, dir string) bool {
	if dir == "" || dir == "." {
		return true
	}
	return strings.HasPrefix(p, dir+"/")
}

// imageStream is the part of an ImageStream read from image-references.
type imageStream struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Tags []struct {
			Name string `json:"name"`
			From *struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"from"`
		} `json:"tags"`
	} `json:"spec"`
}

// ParseImageReferences parses release-manifests/image-references: an
// ImageStream (image.openshift.io/v1) whose spec.tags name the release's
// components. Every component must have a unique name and a pull spec
// with a registry, pinned by digest.
func ParseImageReferences(data []byte) ([]Component, error) {
	var is imageStream
	if err := json.Unmarshal(data, &is); err != nil {
		return nil, fmt.Errorf("not an ImageStream: %w", err)
	}
	if is.Kind != "ImageStream" || is.APIVersion != "image.openshift.io/v1" {
		return nil, fmt.Errorf("kind %q apiVersion %q, expected ImageStream image.openshift.io/v1", is.Kind, is.APIVersion)
	}
	if len(is.Spec.Tags) == 0 {
		return nil, fmt.Errorf("spec.tags is empty: the release names no components")
	}
	seen := map[string]bool{}
	out := make([]Component, 0, len(is.Spec.Tags))
	for i, t := range is.Spec.Tags {
		if t.Name == "" {
			return nil, fmt.Errorf("spec.tags[%d] has no name", i)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("component %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		if t.From == nil || t.From.Name == "" {
			return nil, fmt.Errorf("component %q has no from.name", t.Name)
		}
		if t.From.Kind != "" && t.From.Kind != "DockerImage" {
			return nil, fmt.Errorf("component %q: from.kind %q, expected DockerImage", t.Name, t.From.Kind)
		}
		d, err := pinned(t.From.Name)
		if err != nil {
			return nil, fmt.Errorf("component %q: %w", t.Name, err)
		}
		out = append(out, Component{Name: t.Name, Image: t.From.Name, Digest: d})
	}
	return out, nil
}

// pinned checks that ref is registry/repository[:tag]@digest and returns
// the digest.
func pinned(ref string) (digest.Digest, error) {
	n, err := mirror.ParseName(ref)
	if err != nil {
		return "", err
	}
	if n.Digest == "" {
		return "", fmt.Errorf("image %q is not pinned by digest (expected REGISTRY/REPOSITORY@sha256:…)", ref)
	}
	if n.Registry == "" {
		return "", fmt.Errorf("image %q names no registry (expected REGISTRY/REPOSITORY@sha256:…)", ref)
	}
	return n.Digest, nil
}

// Metadata is release-manifests/release-metadata.
type Metadata struct {
	Kind     string         `json:"kind"`
	Version  string         `json:"version"`
	Previous []string       `json:"previous"`
	Metadata map[string]any `json:"metadata"`
}

// ParseReleaseMetadata parses release-manifests/release-metadata; its
// version must be a semantic version.
func ParseReleaseMetadata(data []byte) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not release metadata JSON: %w", err)
	}
	if _, err := parseVersion(m.Version); err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	m.Previous = slices.Clip(m.Previous)
	return &m, nil
}
