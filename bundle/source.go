package bundle

import (
	"context"

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
