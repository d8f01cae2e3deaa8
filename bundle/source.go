package bundle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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

// LayoutSource packs the tagged entries of an OCI layout: all of them, or
// the one named Tag.
type LayoutSource struct {
	*oci.Layout
	Tag string
}

func (s *LayoutSource) String() string {
	if s.Tag != "" {
		return "oci:" + s.Path + ":" + s.Tag
	}
	return "oci:" + s.Path
}

// Roots implements Source.
func (s *LayoutSource) Roots(context.Context) ([]ocispec.Descriptor, error) {
	return s.Tagged(s.Tag)
}

// RegistrySource packs one image reference from a registry, with the
// signatures and attestations stored beside it (cosign's sha256-<hex>.sig,
// .att and .sbom tags) and its OCI referrers, unless NoReferrers.
type RegistrySource struct {
	Repo        *oci.Repository
	Name        mirror.Name
	NoReferrers bool
}

// NewRegistrySource opens a reference as users write it after docker://
// (normalized as docker does: nginx is docker.io/library/nginx:latest).
func NewRegistrySource(ctx context.Context, regs *oci.Registries, ref string, noReferrers bool) (*RegistrySource, error) {
	n, err := mirror.ParseReference(strings.TrimPrefix(ref, "docker://"))
	if err != nil {
		return nil, err
	}
	repo, err := regs.Repository(ctx, n.Registry, n.Repository)
	if err != nil {
		return nil, err
	}
	return &RegistrySource{Repo: repo, Name: n, NoReferrers: noReferrers}, nil
}

func (s *RegistrySource) String() string { return "docker://" + s.Name.String() }

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

// OpenSource opens a source as users write it: oci:PATH, oci:PATH:TAG
// (split at the first colon after the transport, as skopeo does, so TAG
// may hold colons) or docker://REFERENCE. regs may be nil when no source
// is a registry.
func OpenSource(ctx context.Context, regs *oci.Registries, s string, noReferrers bool) (Source, error) {
	if rest, ok := strings.CutPrefix(s, "oci:"); ok {
		path, tag, _ := strings.Cut(rest, ":")
		if path == "" {
			return nil, fmt.Errorf("source %q: no layout path", s)
		}
		l, err := oci.Open(path)
		if err != nil {
			return nil, err
		}
		return &LayoutSource{Layout: l, Tag: tag}, nil
	}
	if strings.HasPrefix(s, "docker://") {
		if regs == nil {
			return nil, fmt.Errorf("source %q: no registry access configured", s)
		}
		return NewRegistrySource(ctx, regs, s, noReferrers)
	}
	return nil, fmt.Errorf("source %q: want oci:PATH, oci:PATH:TAG or docker://REGISTRY/REPOSITORY[:TAG|@DIGEST]", s)
}

// ReadImageList reads an image list: one source per line (docker://REF,
// oci:PATH[:TAG], or a bare image reference, read as docker://REF), with
// blank lines and # comments (whole lines, or after a reference).
func ReadImageList(r io.Reader, name string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i == 0 || (i > 0 && (line[i-1] == ' ' || line[i-1] == '\t')) {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: %q: want one image reference per line", name, n, line)
		}
		if !strings.HasPrefix(line, "oci:") && !strings.HasPrefix(line, "docker://") {
			line = "docker://" + line
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
