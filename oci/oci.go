// Package oci reads and writes OCI image layouts, walks the content graph
// (index → manifests → config, layers, referrers) and talks to registries.
//
// Its API is in opencontainers image-spec and go-digest types. Registry
// access (Registries, Repository) is built on oras-go: a Repository holds
// an oras repository but does not expose it, and every method translates
// oras errors into this package's (ErrNotFound, ErrUnauthorized,
// ErrUnreachable, *TLSError), which name the reference concerned. The one
// oras type in the API is RegistryOptions.Credential (an
// auth.CredentialFunc), for callers that bring their own credentials.
package oci

import (
	"context"
	_ "crypto/sha256" // registers SHA-256 for go-digest
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of manifests and indexes that the graph walk understands.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

// MaxManifestSize bounds how much of a manifest or index is read into
// memory; registries refuse larger ones too (distribution spec: 4 MiB).
const MaxManifestSize = 4 << 20

// Fetcher opens the content of a descriptor. Layouts implement it; so can
// registries or any other source.
type Fetcher interface {
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// IsIndex reports whether mediaType is an image index or a Docker manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// IsManifest reports whether mediaType is an image manifest (OCI or Docker
// schema 2) or an OCI artifact manifest.
func IsManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, MediaTypeDockerManifest, MediaTypeArtifactManifest:
		return true
	}
	return false
}

// IsCompressed reports whether a blob of this media type is already
// compressed, so compressing it again would not pay.
func IsCompressed(mediaType string) bool {
	for _, s := range []string{"+gzip", "+zstd", ".gzip", ".tar.gz", "+bzip2", "+xz"} {
		if strings.HasSuffix(mediaType, s) {
			return true
		}
	}
	return mediaType == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
		mediaType == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
}

// manifestFields holds the fields of every manifest and index kind that
// point at other content.
type manifestFields struct {
	MediaType string               `json:"mediaType,omitempty"`
	Config    *ocispec.Descriptor  `json:"config,omitempty"`
	Layers    []ocispec.Descriptor `json:"layers,omitempty"`
	Blobs     []ocispec.Descriptor `json:"blobs,omitempty"`
	Manifests []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject   *ocispec.Descriptor  `json:"subject,omitempty"`
}

// ReadManifest fetches a manifest or index, bounded by MaxManifestSize, and
// checks its size and digest against desc.
func ReadManifest(ctx context.Context, f Fetcher, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > MaxManifestSize {
		return nil, fmt.Errorf("manifest %s is %d bytes, more than the %d allowed", desc.Digest, desc.Size, MaxManifestSize)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// One byte more than the descriptor says shows a longer content.
	b := make([]byte, desc.Size+1)
	n, err := io.ReadFull(rc, b)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	b = b[:n:n]
	if int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("manifest %s: size %d, descriptor says %d", desc.Digest, len(b), desc.Size)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("manifest %s: content hashes to %s", desc.Digest, got)
	}
	return b, nil
}

// Subject returns the subject of a manifest (nil if it has none).
func Subject(content []byte) *ocispec.Descriptor {
	var m manifestFields
	if json.Unmarshal(content, &m) != nil {
		return nil
	}
	return m.Subject
}

// Children lists what a manifest or index references, in document order:
// config then layers (or blobs) for manifests, the manifests of an index.
// The subject is not a child: a referrer does not pull its subject in.
func Children(desc ocispec.Descriptor, content []byte) ([]ocispec.Descriptor, error) {
	var m manifestFields
	err := json.Unmarshal(content, &m)
	return children(desc, &m, err)
}

// children is Children of the decoded m; err is the decoding's.
func children(desc ocispec.Descriptor, m *manifestFields, err error) ([]ocispec.Descriptor, error) {
	if err != nil {
		return nil, fmt.Errorf("parse %s %s: %w", desc.MediaType, desc.Digest, err)
	}
	var out []ocispec.Descriptor
	switch {
	case IsIndex(desc.MediaType):
		out = append(out, m.Manifests...)
	case IsManifest(desc.MediaType):
		if m.Config != nil {
			out = append(out, *m.Config)
		}
		out = append(out, m.Layers...)
		out = append(out, m.Blobs...)
	}
	for _, c := range out {
		if err := c.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%s %s references an invalid digest %q: %w", desc.MediaType, desc.Digest, c.Digest, err)
		}
		if c.Size < 0 {
			return nil, fmt.Errorf("%s %s references %s with negative size", desc.MediaType, desc.Digest, c.Digest)
		}
	}
	return out, nil
}

// WalkOptions shape a graph walk.
type WalkOptions struct {
	// Platforms, when not empty, keeps only the index children whose
	// platform matches one of them.
	Platforms []ocispec.Platform
	// Dropped, when set, is told of every index child left out by Platforms.
	Dropped func(parent, child ocispec.Descriptor)
	// Emptied, when set, is told of an index that Platforms left none of
	// its manifests (its children name platforms, none of them selected);
	// its error stops the walk. Unset, such an index stops the walk with a
	// *NoPlatformError.
	Emptied func(e *NoPlatformError) error
}

// Walk visits root and everything it references, depth first, parents
// before children, each digest once. visit gets the content of manifests
// and indexes (nil for other blobs).
func Walk(ctx context.Context, f Fetcher, root ocispec.Descriptor, o WalkOptions, seen map[digest.Digest]bool, visit func(desc ocispec.Descriptor, content []byte) error) error {
	if seen == nil {
		seen = map[digest.Digest]bool{}
	}
	w := walker{ctx: ctx, f: f, o: o,
		visited: func(d digest.Digest) bool { return seen[d] },
		mark:    func(d digest.Digest) { seen[d] = true },
		visit: func(desc ocispec.Descriptor, m *Parsed) error {
			if m == nil {
				return visit(desc, nil)
			}
			return visit(desc, m.Content)
		}}
	return w.walk(root, 0)
}

// Parsed is a manifest or index as WalkParsed read it.
type Parsed struct {
	Content []byte
	// Children are what Children returns for it (every child of an
	// index, before WalkOptions.Platforms).
	Children []ocispec.Descriptor
	// Subject is what Subject returns for it.
	Subject *ocispec.Descriptor
	// Config and Manifests are its config and manifests members, whatever
	// its media type says it is (nil when absent).
	Config    *ocispec.Descriptor
	Manifests []ocispec.Descriptor
	// ManifestTyped reports whether the content also decodes as an
	// ocispec.Manifest without error: the fields Children does not read
	// (schemaVersion, artifactType, annotations) have their types.
	ManifestTyped bool
}

// WalkParsed walks as Walk does, parsing each manifest and index once for
// both the walk and visit, and keeps no record of its own of what was
// visited: visited reports it, and visit, given a descriptor, must make
// visited report true for its digest before it returns nil. visit gets
// nil for a blob that is not a manifest or index.
func WalkParsed(ctx context.Context, f Fetcher, root ocispec.Descriptor, o WalkOptions, visited func(digest.Digest) bool, visit func(desc ocispec.Descriptor, m *Parsed) error) error {
	w := walker{ctx: ctx, f: f, o: o, visited: visited, mark: func(digest.Digest) {}, visit: visit}
	return w.walk(root, 0)
}

// walker is Walk's and WalkParsed's state.
type walker struct {
	ctx     context.Context
	f       Fetcher
	o       WalkOptions
	visited func(digest.Digest) bool
	mark    func(digest.Digest)
	visit   func(ocispec.Descriptor, *Parsed) error
}

func (w *walker) walk(desc ocispec.Descriptor, depth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.visited(desc.Digest) {
		return nil
	}
	if depth > 16 {
		return fmt.Errorf("%s: indexes nested more than 16 deep", desc.Digest)
	}
	w.mark(desc.Digest)
	if !IsIndex(desc.MediaType) && !IsManifest(desc.MediaType) {
		return w.visit(desc, nil)
	}
	content, err := ReadManifest(w.ctx, w.f, desc)
	if err != nil {
		return err
	}
	m, err := parse(desc, content)
	if err != nil {
		return err
	}
	if err := w.visit(desc, m); err != nil {
		return err
	}
	filter := IsIndex(desc.MediaType) && len(w.o.Platforms) > 0
	var kept int
	var offered []string // platforms of the children dropped
	for _, c := range m.Children {
		if filter && !MatchPlatform(c.Platform, w.o.Platforms) {
			if c.Platform != nil {
				offered = append(offered, FormatPlatform(c.Platform))
			}
			if w.o.Dropped != nil {
				w.o.Dropped(desc, c)
			}
			continue
		}
		kept++
		if err := w.walk(c, depth+1); err != nil {
			return err
		}
	}
	if filter && kept == 0 && len(offered) > 0 {
		e := &NoPlatformError{Index: desc.Digest, Offered: offered, Wanted: w.o.Platforms}
		if w.o.Emptied != nil {
			return w.o.Emptied(e)
		}
		return e
	}
	return nil
}

// NoPlatformError: an index has manifests for platforms, and none for any
// of those selected (WalkOptions.Platforms). Carried, it would be an index
// of nothing, which no platform can pull.
type NoPlatformError struct {
	Index   digest.Digest
	Offered []string // the platforms it has manifests for
	Wanted  []ocispec.Platform
}

func (e *NoPlatformError) Error() string {
	return e.Lacks() + ": select one of those too, or leave the image out"
}

// Lacks says what the index lacks and has, without advice.
func (e *NoPlatformError) Lacks() string {
	var want []string
	for _, p := range e.Wanted {
		want = append(want, FormatPlatform(&p))
	}
	return fmt.Sprintf("index %s has no manifest for the platforms selected (%s), only for %s",
		e.Index, strings.Join(want, ", "), strings.Join(e.Offered, ", "))
}

// parse decodes content once for Children, Subject, the config and
// ManifestTyped.
func parse(desc ocispec.Descriptor, content []byte) (*Parsed, error) {
	var m parsedFields
	err := json.Unmarshal(content, &m)
	p := &Parsed{Content: content}
	if err == nil {
		// As Subject: nil when the content does not decode.
		p.Subject = m.Subject
	}
	if p.Children, err = children(desc, &m.manifestFields, err); err != nil {
		return nil, err
	}
	p.Config, p.Manifests = m.Config, m.Manifests
	p.ManifestTyped = !bool(m.SchemaVersion) && !bool(m.ArtifactType) && !bool(m.Annotations)
	return p, nil
}

// parsedFields are manifestFields and whether the members an
// ocispec.Manifest has beyond them have the wrong type (true when so).
type parsedFields struct {
	manifestFields
	SchemaVersion wrongType[int]               `json:"schemaVersion"`
	ArtifactType  wrongType[string]            `json:"artifactType"`
	Annotations   wrongType[map[string]string] `json:"annotations"`
}

// wrongType decodes to true when the JSON value is not a T, and never
// fails: a member whose type only a full ocispec.Manifest checks does not
// fail the walk.
type wrongType[T any] bool

func (w *wrongType[T]) UnmarshalJSON(b []byte) error {
	var v T
	*w = wrongType[T](json.Unmarshal(b, &v) != nil)
	return nil
}

// ParsePlatform parses OS/ARCH[/VARIANT], normalized as containerd
// normalizes platforms (github.com/containerd/platforms: x86_64 is amd64,
// aarch64 is arm64, arm64/v8 is arm64), so that what users type matches
// what indexes say. Without a variant it has none (it then matches every
// variant, MatchPlatform).
func ParsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return ocispec.Platform{}, fmt.Errorf("platform %q: want OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64 or linux/arm64/v8", s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("platform %q: %w", s, err)
	}
	n := platforms.Normalize(p)
	switch {
	case len(parts) == 3:
		// Kept as typed, so that an explicit variant that normalizes
		// away (arm64/v8) still asks for that variant: MatchPlatform
		// compares normalized forms.
		n.Variant = parts[2]
	case n.Architecture == parts[1]:
		// linux/arm: no variant asked for, every variant matches; an
		// alias that implies one (armhf is arm/v7) keeps it.
		n.Variant = ""
	}
	return n, nil
}

// FormatPlatform is the inverse of ParsePlatform.
func FormatPlatform(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// MatchPlatform reports whether p matches any of want, both normalized as
// containerd does (an index's linux/arm64/v8 is linux/arm64). A wanted
// platform without a variant matches every variant.
func MatchPlatform(p *ocispec.Platform, want []ocispec.Platform) bool {
	if p == nil {
		return false
	}
	have := platforms.Normalize(*p)
	for _, w := range want {
		any := w.Variant == ""
		w = platforms.Normalize(w)
		if w.OS == have.OS && w.Architecture == have.Architecture && (any || w.Variant == have.Variant) {
			return true
		}
	}
	return false
}

// ErrNotFound is wrapped by errors for content that a layout lacks.
var ErrNotFound = errors.New("not found")
