package release

import (
	"context"
	"fmt"

	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source is a repository release payloads are read from; *oci.Repository
// is one.
type Source interface {
	oci.Fetcher
	Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error)
}

// OpenFunc opens repository path on registry host.
type OpenFunc func(ctx context.Context, host, path string) (Source, error)

// Load reads the payload of every node (selected from channel) with Read,
// for archs, and records channel in each Release. Releases come in node
// order, architectures in index order.
func Load(ctx context.Context, open OpenFunc, channel string, nodes []Node, archs []string) ([]*Release, error) {
	var out []*Release
	for _, n := range nodes {
		name, err := mirror.ParseName(n.Payload)
		if err != nil || name.Digest == "" || name.Registry == "" {
			return nil, fmt.Errorf("release %s of channel %s: payload %q is not REGISTRY/REPOSITORY@DIGEST", n.Version, channel, n.Payload)
		}
		src, err := open(ctx, name.Registry, name.Repository)
		if err != nil {
			return nil, fmt.Errorf("release %s of channel %s: %w", n.Version, channel, err)
		}
		desc, err := src.Resolve(ctx, name.Digest.String())
		if err != nil {
			return nil, fmt.Errorf("release %s of channel %s: %s: %w", n.Version, channel, n.Payload, err)
		}
		if desc.Digest != name.Digest {
			return nil, fmt.Errorf("release %s of channel %s: %s resolved to %s", n.Version, channel, n.Payload, desc.Digest)
		}
		rs, err := Read(ctx, src, desc, n.Payload, archs)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", channel, err)
		}
		for _, r := range rs {
			if r.Version != n.Version {
				return nil, fmt.Errorf("channel %s lists %s as version %s, but its release-metadata says %s", channel, n.Payload, n.Version, r.Version)
			}
			r.Channel = channel
		}
		out = append(out, rs...)
	}
	return out, nil
}

// Image is one image a release needs, with what selected it.
type Image struct {
	// Ref is the image pinned by digest (REGISTRY/REPOSITORY@DIGEST).
	Ref string
	// Digest is the digest Ref is pinned by.
	Digest digest.Digest
	// Channel, Version and Architecture are those of the release.
	Channel, Version, Architecture string
	// Component is the component's name; "" for the payload itself.
	Component string
	// Index: Ref is the multi-architecture payload index.
	Index bool
}

// Origin says what selected the image, e.g. "release 4.18.1 (amd64,
// channel stable-4.18): component etcd".
func (i Image) Origin() string {
	s := "release " + i.Version + " (" + i.Architecture
	if i.Channel != "" {
		s += ", channel " + i.Channel
	}
	s += ")"
	switch {
	case i.Component != "":
		return s + ": component " + i.Component
	case i.Index:
		return s + ": multi-architecture payload index"
	}
	return s + ": payload"
}

// Images lists what carrying r takes: its payload (the index as well,
// when selected with Multi), then every component, in image-references
// order. Several components may share one image; each is listed, so that
// every reason an image is carried can be told.
func (r *Release) Images() []Image {
	base := Image{Channel: r.Channel, Version: r.Version, Architecture: r.Architecture}
	repo := r.Name
	if n, err := mirror.ParseName(r.Name); err == nil {
		repo = n.RepositoryName()
	}
	var out []Image
	if r.Index != nil {
		im := base
		im.Ref, im.Digest, im.Index = repo+"@"+r.Index.Digest.String(), r.Index.Digest, true
		out = append(out, im)
	}
	im := base
	im.Ref, im.Digest = repo+"@"+r.Manifest.Digest.String(), r.Manifest.Digest
	out = append(out, im)
	for _, c := range r.Components {
		im := base
		im.Ref, im.Digest, im.Component = c.Image, c.Digest, c.Name
		out = append(out, im)
	}
	return out
}
