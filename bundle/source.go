package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source is where pack takes content from: an OCI layout here, a registry
// later. Fetch must return exactly the bytes of the descriptor; pack checks
// every digest as it reads.
type Source interface {
	oci.Fetcher
	// String names the source in messages.
	String() string
	// Roots are the entries to pack, each carrying its ref name annotation
	// (org.opencontainers.image.ref.name) when it has one.
	Roots(ctx context.Context) ([]ocispec.Descriptor, error)
	// Referrers lists the manifests whose subject is d.
	Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error)
}

// LayoutSource packs the tagged entries of an OCI layout: all of them, the
// one named Tag, or the one entry (tagged or not) whose digest is Digest.
type LayoutSource struct {
	*oci.Layout
	Tag string
	// Digest, when set, picks the entry by digest instead (Tag is then
	// ignored).
	Digest digest.Digest
	// Selected says why the entries travel (SelectedSource).
	Selected []format.Selection
}

// Selections implements SelectedSource.
func (s *LayoutSource) Selections() []format.Selection { return s.Selected }

func (s *LayoutSource) String() string {
	l := location.Location{Transport: location.Layout, Path: s.Path, Ref: s.Tag, Digest: s.Digest}
	if s.Digest != "" {
		l.Ref = ""
	}
	return l.String()
}

// Roots implements Source.
func (s *LayoutSource) Roots(context.Context) ([]ocispec.Descriptor, error) {
	if s.Digest != "" {
		return s.byDigest()
	}
	return s.Tagged(s.Tag)
}

// byDigest returns the index.json entry with digest s.Digest, without a
// ref name: the image was asked for by digest, and carrying the name of
// the entry it happens to be found under would set a tag at the
// destination that nobody asked for.
func (s *LayoutSource) byDigest() ([]ocispec.Descriptor, error) {
	d, err := s.Entry(s.Digest)
	if err != nil {
		return nil, err
	}
	delete(d.Annotations, ocispec.AnnotationRefName) // decoded for this call alone
	if len(d.Annotations) == 0 {
		d.Annotations = nil
	}
	return []ocispec.Descriptor{d}, nil
}

// RegistrySource packs one image reference from a registry, with the
// signatures and attestations stored beside it (cosign's sha256-<hex>.sig,
// .att and .sbom tags) and its OCI referrers, unless NoReferrers.
type RegistrySource struct {
	Repo        *oci.Repository
	Name        mirror.Name
	NoReferrers bool
	// Selected says why the image travels (SelectedSource).
	Selected []format.Selection
}

// Selections implements SelectedSource.
func (s *RegistrySource) Selections() []format.Selection { return s.Selected }

// NewRegistrySource opens an image reference, with or without docker://
// (normalized as docker does: nginx is docker.io/library/nginx:latest).
func NewRegistrySource(ctx context.Context, regs *oci.Registries, ref string, noReferrers bool) (*RegistrySource, error) {
	l, err := location.ParseImage(ref)
	if err != nil {
		return nil, err
	}
	if l.Transport != location.Registry {
		return nil, fmt.Errorf("%s is an OCI layout, not an image in a registry", l)
	}
	return OpenRegistryImage(ctx, regs, l.Image, noReferrers)
}

// OpenRegistryImage opens the registry image n (a normalized name, as
// mirror.ParseReference gives).
func OpenRegistryImage(ctx context.Context, regs *oci.Registries, n mirror.Name, noReferrers bool) (*RegistrySource, error) {
	repo, err := regs.Repository(ctx, n.Registry, n.Repository)
	if err != nil {
		return nil, err
	}
	return &RegistrySource{Repo: repo, Name: n, NoReferrers: noReferrers}, nil
}

func (s *RegistrySource) String() string {
	return location.Location{Transport: location.Registry, Image: s.Name}.String()
}

// Fetch implements Source.
func (s *RegistrySource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return s.Repo.Fetch(ctx, d)
}

// Roots resolves the reference; the entry's ref name is the full
// normalized reference, which tells unpack where the image came from.
func (s *RegistrySource) Roots(ctx context.Context) ([]ocispec.Descriptor, error) {
	ref := s.Name.Tag
	if s.Name.Digest != "" {
		ref = s.Name.Digest.String()
	}
	d, err := s.Repo.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	if s.Name.Digest != "" && d.Digest != s.Name.Digest {
		return nil, fmt.Errorf("%s: the registry answered with %s", s, d.Digest)
	}
	if !oci.IsIndex(d.MediaType) && !oci.IsManifest(d.MediaType) {
		return nil, fmt.Errorf("%s is a %q, not an image manifest or index", s, d.MediaType)
	}
	d.Annotations = map[string]string{ocispec.AnnotationRefName: s.Name.String()}
	return []ocispec.Descriptor{d}, nil
}

// Referrers implements Source.
func (s *RegistrySource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	if s.NoReferrers {
		return nil, nil
	}
	return s.Repo.Referrers(ctx, ocispec.Descriptor{Digest: d})
}

// cosignSuffixes are the tag suffixes cosign stores signatures,
// attestations and SBOMs under: sha256-<hex>.<suffix>.
var cosignSuffixes = []string{"sig", "att", "sbom"}

// Attached lists the manifests tagged after d in cosign's convention, each
// with its full reference as ref name, so that unpack tags them too.
func (s *RegistrySource) Attached(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	if s.NoReferrers {
		return nil, nil
	}
	tags, listErr := s.Repo.Tags(ctx)
	var out []ocispec.Descriptor
	for _, suffix := range cosignSuffixes {
		tag := d.Algorithm().String() + "-" + d.Encoded() + "." + suffix
		if listErr == nil && !tags[tag] {
			continue
		}
		// Without a tag list (some registries refuse to list), ask.
		a, err := s.Repo.Resolve(ctx, tag)
		if errors.Is(err, oci.ErrNotFound) && listErr != nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		name := mirror.Name{Registry: s.Name.Registry, Repository: s.Name.Repository, Tag: tag}
		a.Annotations = map[string]string{ocispec.AnnotationRefName: name.String()}
		out = append(out, a)
	}
	return out, nil
}

// Remote implements RemoteSource: every fetch from a registry costs a
// round trip, which Pack overlaps with writing.
func (s *RegistrySource) Remote() bool { return true }

// OpenSource opens a source as users write it (location.Parse): oci:PATH,
// oci:PATH:TAG (the path ends at the first colon, as in skopeo, so TAG may
// hold colons), oci:PATH@sha256:HEX or docker://REFERENCE. regs may be nil
// when no source is a registry.
func OpenSource(ctx context.Context, regs *oci.Registries, s string, noReferrers bool) (Source, error) {
	l, err := location.Parse(s)
	if err != nil {
		return nil, err
	}
	return OpenLocation(ctx, regs, l, noReferrers)
}

// OpenLocation opens a parsed source. regs may be nil when l is a layout.
func OpenLocation(ctx context.Context, regs *oci.Registries, l location.Location, noReferrers bool) (Source, error) {
	switch {
	case l.Transport == location.Layout:
		layout, err := oci.Open(l.Path)
		if err != nil {
			return nil, err
		}
		return &LayoutSource{Layout: layout, Tag: l.Ref, Digest: l.Digest}, nil
	case l.Transport == location.Registry && l.Image.Repository != "":
		if regs == nil {
			return nil, fmt.Errorf("source %s: no registry access configured", l)
		}
		return OpenRegistryImage(ctx, regs, l.Image, noReferrers)
	case l.Transport == location.Registry && l.Scope != location.One:
		return nil, fmt.Errorf("source %s names many images: list them from the registry first (package imageset resolves scopes)", l)
	}
	return nil, fmt.Errorf("source %q: not an OCI layout or a registry image (a mirror destination?)", l)
}
