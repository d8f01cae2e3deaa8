package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Tagged returns the index.json entries that carry a ref name
// (org.opencontainers.image.ref.name), in index.json order; with tag set,
// only the entry for that ref name, or an error listing the names the layout
// has.
func (l *Layout) Tagged(tag string) ([]ocispec.Descriptor, error) {
	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	var names []string
	for _, d := range idx.Manifests {
		name := d.Annotations[ocispec.AnnotationRefName]
		if name == "" {
			continue
		}
		names = append(names, name)
		if tag == "" || name == tag {
			out = append(out, d)
		}
	}
	if tag != "" && len(out) == 0 {
		sort.Strings(names)
		return nil, fmt.Errorf("OCI layout %s has no ref name %q (it has: %s): %w", l.Path, tag, strings.Join(names, ", "), ErrNotFound)
	}
	if tag == "" && len(out) == 0 {
		return nil, fmt.Errorf("OCI layout %s has no tagged manifest (no %s annotation in %s): %w", l.Path, ocispec.AnnotationRefName, IndexFile, ErrNotFound)
	}
	if len(out) > 1 && tag != "" {
		return nil, fmt.Errorf("OCI layout %s lists ref name %q %d times; fix its index.json", l.Path, tag, len(out))
	}
	return out, nil
}

// Referrers lists the manifests in index.json (tagged or not) whose subject
// is d: signatures, SBOMs and other artifacts attached to d. The subjects of
// index.json's manifests are read once and remembered.
func (l *Layout) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	l.referrersOnce.Do(func() { l.referrers, l.referrersErr = l.scanReferrers(ctx) })
	if l.referrersErr != nil {
		return nil, l.referrersErr
	}
	return l.referrers[d], nil
}

func (l *Layout) scanReferrers(ctx context.Context) (map[digest.Digest][]ocispec.Descriptor, error) {
	// Decoded an entry at a time: only the referrers are kept, and a
	// million entries decoded at once would be hundreds of MiB. The
	// members decode as Index decodes them (same types, same errors).
	b, err := l.readIndexBytes()
	if err != nil || b == nil {
		return map[digest.Digest][]ocispec.Descriptor{}, err
	}
	var idx rawIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Path, IndexFile), err)
	}
	out := map[digest.Digest][]ocispec.Descriptor{}
	for i, raw := range idx.Manifests {
		idx.Manifests[i] = nil
		var e ocispec.Descriptor
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(l.Path, IndexFile), err)
		}
		if !IsManifest(e.MediaType) {
			continue
		}
		b, err := ReadManifest(ctx, l, e)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", l.Path, err)
		}
		if s := Subject(b); s != nil && s.Digest != e.Digest {
			out[s.Digest] = append(out[s.Digest], e)
		}
	}
	return out, nil
}

// rawIndex is an ocispec.Index whose manifests are left undecoded.
type rawIndex struct {
	specs.Versioned
	MediaType    string              `json:"mediaType,omitempty"`
	ArtifactType string              `json:"artifactType,omitempty"`
	Manifests    []json.RawMessage   `json:"manifests"`
	Subject      *ocispec.Descriptor `json:"subject,omitempty"`
	Annotations  map[string]string   `json:"annotations,omitempty"`
}
