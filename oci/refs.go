package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
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
	// Kept in the decoded array: a layout of a million entries has little
	// room for a copy.
	out := idx.Manifests[:0]
	for _, d := range idx.Manifests {
		if name := d.Annotations[ocispec.AnnotationRefName]; name != "" && (tag == "" || name == tag) {
			out = append(out, d)
		}
	}
	if tag != "" && len(out) == 0 {
		// Nothing was moved: the names are all there.
		var names []string
		for _, d := range idx.Manifests {
			if name := d.Annotations[ocispec.AnnotationRefName]; name != "" {
				names = append(names, name)
			}
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
	if 2*len(out) < len(idx.Manifests) {
		// Not the whole array for a few entries.
		return slices.Clone(out), nil
	}
	clear(idx.Manifests[len(out):]) // what the entries left out hold
	return out[:len(out):len(out)], nil
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

func (l *Layout) scanReferrers(ctx context.Context, known KnownSubject) (map[digest.Digest][]ocispec.Descriptor, error) {
	b, err := l.readIndexBytes()
	if err != nil || b == nil {
		return map[digest.Digest][]ocispec.Descriptor{}, err
	}
	idx := rawIndex{Manifests: referrerScan{ctx: ctx, l: l, known: known}}
	if err := json.Unmarshal(b, &idx); err != nil {
		var se *scanError
		if errors.As(err, &se) {
			return nil, se.err
		}
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Path, IndexFile), err)
	}
	if idx.Manifests.out == nil {
		return map[digest.Digest][]ocispec.Descriptor{}, nil
	}
	return idx.Manifests.out, nil
}

// rawIndex is an ocispec.Index whose manifests are scanned for referrers
// as they decode.
type rawIndex struct {
	specs.Versioned
	MediaType    string              `json:"mediaType,omitempty"`
	ArtifactType string              `json:"artifactType,omitempty"`
	Manifests    referrerScan        `json:"manifests"`
	Subject      *ocispec.Descriptor `json:"subject,omitempty"`
	Annotations  map[string]string   `json:"annotations,omitempty"`
}

// referrerScan decodes index.json's manifests an entry at a time, as
// Index decodes them (same types, same errors), reads each manifest and
// keeps only the entries that have a subject: a million entries decoded at
// once would be hundreds of MiB.
type referrerScan struct {
	ctx   context.Context
	l     *Layout
	known KnownSubject // may be nil
	out   map[digest.Digest][]ocispec.Descriptor
}

// scanError is a failure to read a manifest, not to decode index.json.
type scanError struct{ err error }

func (e *scanError) Error() string { return e.err.Error() }

func (s *referrerScan) UnmarshalJSON(b []byte) error {
	// A repeated member replaces the earlier one, as in Index.
	s.out = map[digest.Digest][]ocispec.Descriptor{}
	if string(b) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return &json.UnmarshalTypeError{Value: "non-array", Type: reflect.TypeFor[[]ocispec.Descriptor](), Field: "manifests"}
	}
	for dec.More() {
		var e ocispec.Descriptor
		if err := dec.Decode(&e); err != nil {
			return err
		}
		if !IsManifest(e.MediaType) {
			continue
		}
		sub, ok := digest.Digest(""), false
		if s.known != nil {
			sub, ok = s.known(e)
		}
		if !ok {
			m, err := ReadManifest(s.ctx, s.l, e)
			if err != nil {
				return &scanError{fmt.Errorf("OCI layout %s: %w", s.l.Path, err)}
			}
			if d := Subject(m); d != nil {
				sub = d.Digest
			}
		}
		if sub != "" && sub != e.Digest {
			s.out[sub] = append(s.out[sub], e)
		}
	}
	return nil
}
