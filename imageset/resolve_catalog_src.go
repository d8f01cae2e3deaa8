package imageset

import (
	"context"
	"io"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// builtCatalog is a filtered catalog image as a pack source: the new
// manifest, config and layer from the build, the original layers from the
// catalog's registry, named as the image set file asks (targetCatalog,
// targetTag) or as the original.
type builtCatalog struct {
	fetcher oci.Fetcher
	root    ocispec.Descriptor
	name    mirror.Name
	sel     format.Selection
}

var (
	_ bundle.SelectedSource = (*builtCatalog)(nil)
	_ bundle.RemoteSource   = (*builtCatalog)(nil)
)

func (s *builtCatalog) String() string {
	return location.Location{Transport: location.Registry, Image: s.name}.String() + " (filtered)"
}

func (s *builtCatalog) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return s.fetcher.Fetch(ctx, d)
}

// Roots is the built image, with its name as ref name.
func (s *builtCatalog) Roots(context.Context) ([]ocispec.Descriptor, error) {
	d := s.root
	d.Annotations = map[string]string{ocispec.AnnotationRefName: s.name.String()}
	return []ocispec.Descriptor{d}, nil
}

// Referrers: a built image has none.
func (s *builtCatalog) Referrers(context.Context, digest.Digest) ([]ocispec.Descriptor, error) {
	return nil, nil
}

// Remote: the original layers come from a registry.
func (s *builtCatalog) Remote() bool { return true }

func (s *builtCatalog) Selections() []format.Selection { return []format.Selection{s.sel} }
