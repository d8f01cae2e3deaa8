package oci

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Tagged returns the index.json entries that carry a ref name
// (org.opencontainers.image.ref.name), in index.json order; with tag set,
// only the entry for that ref name, or an error listing the names the layout
// has.
func (l *Layout) Tagged(tag string) ([]ocispec.Descriptor, error) {
	// index.json goes by an entry at a time: a layout of hundreds of
	// thousands of entries, asked for one, is not decoded whole for it.
	var out []ocispec.Descriptor
	_, _, err := l.scanIndex(func() { out = nil }, func(d *ocispec.Descriptor) error {
		if name := d.Annotations[ocispec.AnnotationRefName]; name != "" && (tag == "" || name == tag) {
			out = append(out, *d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if tag != "" && len(out) == 0 {
		var names []string
		if _, _, err := l.scanIndex(func() { names = nil }, func(d *ocispec.Descriptor) error {
			if name := d.Annotations[ocispec.AnnotationRefName]; name != "" {
				names = append(names, name)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		sort.Strings(names)
		return nil, fmt.Errorf("OCI layout %s has no ref name %q (it has: %s): %w", l.Path, tag, strings.Join(names, ", "), ErrNotFound)
	}
	if tag == "" && len(out) == 0 {
		return nil, fmt.Errorf("OCI layout %s has no tagged manifest (no %s annotation in %s): %w", l.Path, ocispec.AnnotationRefName, IndexFile, ErrNotFound)
	}
	if len(out) > 1 && tag != "" {
		return nil, fmt.Errorf("OCI layout %s lists ref name %q %d times; fix its index.json", l.Path, tag, len(out))
	}
	shareStrings(out)
	return slices.Clip(out), nil
}

// Entry returns the first index.json entry of digest d (tagged or not),
// or an error wrapping ErrNotFound. Like Tagged, it reads index.json an
// entry at a time.
func (l *Layout) Entry(d digest.Digest) (ocispec.Descriptor, error) {
	var found *ocispec.Descriptor
	_, _, err := l.scanIndex(func() { found = nil }, func(e *ocispec.Descriptor) error {
		if found == nil && e.Digest == d {
			found = e
		}
		return nil
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if found == nil {
		return ocispec.Descriptor{}, fmt.Errorf("OCI layout %s has no entry %s in %s: %w", l.Path, d, IndexFile, ErrNotFound)
	}
	return *found, nil
}

// Referrers lists the manifests in index.json (tagged or not) whose subject
// is d: signatures, SBOMs and other artifacts attached to d. The subjects of
// index.json's manifests are read once and remembered.
func (l *Layout) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	l.referrersOnce.Do(func() { l.referrers, l.referrersErr = l.scanReferrers(ctx, nil) })
	if l.referrersErr != nil {
		return nil, l.referrersErr
	}
	return l.referrers[d], nil
}

// KnownSubject reports the digest of the subject of the manifest d
// describes ("" when it has none, as Subject says of its content) when the
// caller knows it, having read that manifest from this layout, of d's
// digest and size. (A subject without a digest is none.)
type KnownSubject func(d ocispec.Descriptor) (subject digest.Digest, ok bool)

// PrimeReferrers reads index.json's manifests for their subjects now, as
// the first Referrers call does otherwise, without reading again the
// manifests known says it knows. It does nothing once that was done.
func (l *Layout) PrimeReferrers(ctx context.Context, known KnownSubject) error {
	l.referrersOnce.Do(func() { l.referrers, l.referrersErr = l.scanReferrers(ctx, known) })
	return l.referrersErr
}

// scanReferrers reads index.json an entry at a time, reads each manifest
// (unless known knows its subject) and keeps only the entries that have a
// subject: a million entries decoded at once, or index.json's bytes held
// while they are (64 MB at 300,000 entries, at pack's peak), would be
// hundreds of MiB.
func (l *Layout) scanReferrers(ctx context.Context, known KnownSubject) (map[digest.Digest][]ocispec.Descriptor, error) {
	out := map[digest.Digest][]ocispec.Descriptor{}
	_, _, err := l.scanIndex(func() { clear(out) }, func(e *ocispec.Descriptor) error {
		if !IsManifest(e.MediaType) {
			return nil
		}
		sub, ok := digest.Digest(""), false
		if known != nil {
			sub, ok = known(*e)
		}
		if !ok {
			m, err := ReadManifest(ctx, l, *e)
			if err != nil {
				return fmt.Errorf("OCI layout %s: %w", l.Path, err)
			}
			if d := Subject(m); d != nil {
				sub = d.Digest
			}
		}
		if sub != "" && sub != e.Digest {
			out[sub] = append(out[sub], *e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
