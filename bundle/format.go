// Package bundle implements the bundle format (SPEC.md): packing OCI content
// into signed, deduplicated tar volumes of a bounded size, and verifying and
// unpacking them on the far side of an air gap.
package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MediaTypeIndex is the mediaType of a bundle index (bundle.json).
const MediaTypeIndex = "application/vnd.airgap-bundle.index.v1+json"

// FormatVersion is the format version this package reads and writes.
const FormatVersion = 1

// Names of the members at the start of every volume, in order.
const (
	MemberLayout    = "oci-layout"
	MemberOCIIndex  = "index.json"
	MemberIndex     = "bundle.json"
	MemberSignature = "bundle.json.sig"
	MemberVolume    = "volume.json"
)

// Limits that keep a reader's memory bounded whatever a volume claims.
const (
	MaxIndexSize     = 256 << 20 // bundle.json
	MaxOCIIndexSize  = 64 << 20  // index.json
	MaxSignatureSize = 512       // one tar block
	// MaxMemberSize is the largest size a ustar header can state (11 octal
	// digits) rounded down to a block; larger segments are split.
	MaxMemberSize = (1<<33 - 1) &^ (blockSize - 1)
)

// Compression names.
const (
	CompressionNone = "none"
	CompressionZstd = "zstd"
)

// Index is the bundle index, stored as bundle.json in every volume and
// signed. Field order is the serialization order.
type Index struct {
	MediaType     string               `json:"mediaType"`
	FormatVersion int                  `json:"formatVersion"`
	BundleID      string               `json:"bundleId"`
	Created       string               `json:"created"`
	Packer        string               `json:"packer"`
	Signer        *Signer              `json:"signer"`
	Bases         []Base               `json:"bases"`
	Compression   string               `json:"compression"`
	MaxVolumeSize int64                `json:"maxVolumeSize"`
	LayoutIndex   Content              `json:"layoutIndex"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Images        []Image              `json:"images"`
	Blobs         []Blob               `json:"blobs"`
	Volumes       []Volume             `json:"volumes"`
}

// Signer identifies the key that signed the index.
type Signer struct {
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
}

// Base names an earlier bundle this one builds on (incremental bundles).
type Base struct {
	BundleID string        `json:"bundleId"`
	Index    digest.Digest `json:"index"`
}

// Content is a digest and a size.
type Content struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// Image summarises one entry of the OCI index for people (inspect).
type Image struct {
	Ref       string        `json:"ref,omitempty"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"mediaType"`
	Platforms []string      `json:"platforms,omitempty"`
	Size      int64         `json:"size"`
	Subject   digest.Digest `json:"subject,omitempty"`
}

// Blob is one content-addressed blob and where its stored bytes are.
type Blob struct {
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
	MediaType    string        `json:"mediaType"`
	Encoding     string        `json:"encoding"`
	StoredSize   int64         `json:"storedSize"`
	StoredDigest digest.Digest `json:"storedDigest"`
	Base         string        `json:"base,omitempty"`
	Placements   []Placement   `json:"placements"`
}

// Placement is one segment of a blob's stored bytes in one volume.
type Placement struct {
	Volume int           `json:"volume"`
	Offset int64         `json:"offset"`
	Length int64         `json:"length"`
	Digest digest.Digest `json:"digest"`
}

// Volume is one volume file.
type Volume struct {
	Number int   `json:"number"`
	Size   int64 `json:"size"`
}

// CreatedTime parses Created.
func (x *Index) CreatedTime() (time.Time, error) {
	return time.Parse(time.RFC3339, x.Created)
}

// MemberName is the tar member name of placement i of blob b.
func MemberName(b *Blob, i int) string {
	name := "blobs/" + b.Digest.Algorithm().String() + "/" + b.Digest.Encoded()
	if b.Encoding == CompressionZstd {
		name += ".zst"
	}
	if len(b.Placements) > 1 {
		name += fmt.Sprintf(".part%04d", i+1)
	}
	return name
}

// VolumeFileName is the file name pack gives volume n of total.
func VolumeFileName(n, total int) string {
	return fmt.Sprintf("vol-%04d-of-%04d.tar", n, total)
}

var volumeFileRE = regexp.MustCompile(`^vol-[0-9]{4,}-of-[0-9]{4,}\.tar$`)

// IsVolumeFileName reports whether name has the shape VolumeFileName gives.
func IsVolumeFileName(name string) bool { return volumeFileRE.MatchString(name) }

// volumeMarker is the exact content of the volume.json member.
func volumeMarker(id string, n, total int) []byte {
	return []byte(fmt.Sprintf(`{"bundleId":%q,"volume":%d,"volumes":%d}`+"\n", id, n, total))
}

var bundleIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ParseIndex decodes and validates bundle.json. It accepts exactly the
// fields of format version 1 and checks every structural rule of SPEC.md:
// what passes can be laid out without overlaps and read with bounded memory.
func ParseIndex(b []byte) (*Index, error) {
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("bundle index is %d bytes, more than %d", len(b), MaxIndexSize)
	}
	if err := checkStrictJSON(b, reflect.TypeFor[Index]()); err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var x Index
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("bundle index: data after the JSON object")
	}
	if err := x.validate(len(b)); err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	return &x, nil
}

func validDigest(d digest.Digest) error {
	// The one form allowed, checked by hand: go-digest runs a regular
	// expression, and an index of 100,000 blobs holds 300,000 digests.
	if hex, ok := strings.CutPrefix(string(d), "sha256:"); ok && len(hex) == 64 && isLowerHex(hex) {
		return nil
	}
	// Validate first: Algorithm panics on a digest without a colon.
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: only sha256 is allowed", d)
	}
	return nil
}

func (x *Index) validate(indexLen int) error {
	if x.MediaType != MediaTypeIndex {
		return fmt.Errorf("mediaType %q, want %q", x.MediaType, MediaTypeIndex)
	}
	if x.FormatVersion != FormatVersion {
		return fmt.Errorf("formatVersion %d: this tool reads version %d; use a newer bundle tool", x.FormatVersion, FormatVersion)
	}
	if !bundleIDRE.MatchString(x.BundleID) {
		return fmt.Errorf("bundleId %q is not 32 lowercase hex digits", x.BundleID)
	}
	t, err := x.CreatedTime()
	if err != nil || t.Unix() < 0 || t.Unix() >= 1<<33 || t.Format(time.RFC3339) != x.Created {
		return fmt.Errorf("created %q is not an RFC 3339 UTC time in seconds", x.Created)
	}
	if x.Signer != nil && (x.Signer.KeyID == "" || x.Signer.Algorithm == "") {
		return fmt.Errorf("signer needs keyId and algorithm")
	}
	if x.Compression != CompressionNone && x.Compression != CompressionZstd {
		return fmt.Errorf("compression %q, want none or zstd", x.Compression)
	}
	if x.MaxVolumeSize < 0 {
		return fmt.Errorf("negative maxVolumeSize")
	}
	if err := validDigest(x.LayoutIndex.Digest); err != nil {
		return fmt.Errorf("layoutIndex: %w", err)
	}
	if x.LayoutIndex.Size <= 0 || x.LayoutIndex.Size > MaxOCIIndexSize {
		return fmt.Errorf("layoutIndex size %d out of range", x.LayoutIndex.Size)
	}
	bases := map[string]bool{}
	for _, b := range x.Bases {
		if !bundleIDRE.MatchString(b.BundleID) || validDigest(b.Index) != nil {
			return fmt.Errorf("base %q: bad bundleId or index digest", b.BundleID)
		}
		if bases[b.BundleID] {
			return fmt.Errorf("base %s listed twice", b.BundleID)
		}
		bases[b.BundleID] = true
	}
	n := len(x.Volumes)
	if n == 0 || n > 99999 {
		return fmt.Errorf("%d volumes", n)
	}
	for i, v := range x.Volumes {
		if v.Number != i+1 {
			return fmt.Errorf("volume %d listed as number %d", i+1, v.Number)
		}
		if v.Size < 3*blockSize || v.Size%blockSize != 0 || (x.MaxVolumeSize > 0 && v.Size > x.MaxVolumeSize) {
			return fmt.Errorf("volume %d: size %d is not a whole number of blocks within the limit", v.Number, v.Size)
		}
	}
	blobs := map[digest.Digest]*Blob{}
	perVolume := make([][]memberRef, n)
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if err := validDigest(b.Digest); err != nil {
			return fmt.Errorf("blob %d: %w", i, err)
		}
		if blobs[b.Digest] != nil {
			return fmt.Errorf("blob %s listed twice", b.Digest)
		}
		blobs[b.Digest] = b
		if b.Size < 0 || b.StoredSize < 0 {
			return fmt.Errorf("blob %s: negative size", b.Digest)
		}
		if b.Base != "" {
			if !bases[b.Base] || len(b.Placements) != 0 {
				return fmt.Errorf("blob %s: base %q is not among bases, or the blob also has placements", b.Digest, b.Base)
			}
			// Readers need every manifest to walk the graph.
			if IsManifestMediaType(b.MediaType) {
				return fmt.Errorf("blob %s: a manifest or index cannot come from a base", b.Digest)
			}
			continue
		}
		if err := validDigest(b.StoredDigest); err != nil {
			return fmt.Errorf("blob %s: storedDigest: %w", b.Digest, err)
		}
		switch b.Encoding {
		case CompressionNone:
			if b.StoredSize != b.Size || b.StoredDigest != b.Digest {
				return fmt.Errorf("blob %s: unencoded but stored size or digest differ", b.Digest)
			}
		case CompressionZstd:
			if x.Compression != CompressionZstd {
				return fmt.Errorf("blob %s is zstd-encoded in a bundle whose compression is %q", b.Digest, x.Compression)
			}
		default:
			return fmt.Errorf("blob %s: encoding %q, want none or zstd", b.Digest, b.Encoding)
		}
		if len(b.Placements) == 0 || len(b.Placements) > 9999 {
			return fmt.Errorf("blob %s: %d placements", b.Digest, len(b.Placements))
		}
		var total int64
		for j, p := range b.Placements {
			if p.Volume < 1 || p.Volume > n {
				return fmt.Errorf("blob %s: placement in volume %d of %d", b.Digest, p.Volume, n)
			}
			if j > 0 && p.Volume < b.Placements[j-1].Volume {
				return fmt.Errorf("blob %s: placements out of volume order", b.Digest)
			}
			if p.Length < 0 || p.Length > MaxMemberSize || p.Offset < 0 {
				return fmt.Errorf("blob %s: placement %d has a bad length or offset", b.Digest, j+1)
			}
			if err := validDigest(p.Digest); err != nil {
				return fmt.Errorf("blob %s: placement %d: %w", b.Digest, j+1, err)
			}
			if len(b.Placements) == 1 && p.Digest != b.StoredDigest {
				return fmt.Errorf("blob %s: single placement digest differs from storedDigest", b.Digest)
			}
			total += p.Length
			if total > b.StoredSize {
				return fmt.Errorf("blob %s: placements exceed storedSize", b.Digest)
			}
			perVolume[p.Volume-1] = append(perVolume[p.Volume-1], memberRef{blob: b, part: j})
		}
		if total != b.StoredSize {
			return fmt.Errorf("blob %s: placements hold %d bytes, storedSize is %d", b.Digest, total, b.StoredSize)
		}
	}
	// Members of a volume follow each other with no gap from the end of the
	// volume prefix to the trailer.
	prefix := x.prefixSize(indexLen)
	for v, members := range perVolume {
		sort.Slice(members, func(i, j int) bool { return members[i].placement().Offset < members[j].placement().Offset })
		off := prefix
		for _, m := range members {
			p := m.placement()
			if p.Offset != off+blockSize {
				return fmt.Errorf("volume %d: %s at offset %d, want %d", v+1, MemberName(m.blob, m.part), p.Offset, off+blockSize)
			}
			off += memberSize(p.Length)
		}
		if want := off + 2*blockSize; x.Volumes[v].Size != want {
			return fmt.Errorf("volume %d: size %d, its members end at %d", v+1, x.Volumes[v].Size, want)
		}
	}
	// A blob's segments follow each other: within a volume, or as the last
	// member of one volume and the first of the next. So a reader that goes
	// through the volumes in order assembles one blob at a time.
	var prev *memberRef
	for v := range perVolume {
		for i := range perVolume[v] {
			m := &perVolume[v][i]
			if m.part > 0 && (prev == nil || prev.blob != m.blob || prev.part != m.part-1) {
				return fmt.Errorf("blob %s: segment %d does not follow segment %d", m.blob.Digest, m.part+1, m.part)
			}
			if m.part == 0 && prev != nil && prev.part != len(prev.blob.Placements)-1 {
				return fmt.Errorf("blob %s: interrupted by blob %s", prev.blob.Digest, m.blob.Digest)
			}
			prev = m
		}
	}
	for _, m := range x.Manifests {
		b := blobs[m.Digest]
		if b == nil || b.Base != "" {
			return fmt.Errorf("manifest %s is not among the blobs carried", m.Digest)
		}
		if b.Size != m.Size || b.MediaType != m.MediaType {
			return fmt.Errorf("manifest %s: size or media type differ from its blob entry", m.Digest)
		}
	}
	return nil
}

// memberRef names placement part of blob.
type memberRef struct {
	blob *Blob
	part int
}

func (m memberRef) placement() Placement { return m.blob.Placements[m.part] }

// members lists the members of volume v (1-based) in file order.
func (x *Index) members(v int) []memberRef {
	var out []memberRef
	for i := range x.Blobs {
		b := &x.Blobs[i]
		for j, p := range b.Placements {
			if p.Volume == v {
				out = append(out, memberRef{blob: b, part: j})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].placement().Offset < out[j].placement().Offset })
	return out
}

// prefixSize is the size of the members before the first blob member of
// every volume, for a bundle.json of indexLen bytes.
func (x *Index) prefixSize(indexLen int) int64 {
	sig := int64(0)
	if x.Signer != nil {
		sig = memberSize(MaxSignatureSize)
	}
	return memberSize(int64(len(layoutFileContent))) + memberSize(x.LayoutIndex.Size) + memberSize(int64(indexLen)) + sig + memberSize(1)
}

var layoutFileContent = []byte(`{"imageLayoutVersion":"1.0.0"}`)

// IsManifestMediaType reports whether blobs of this media type are
// manifests or indexes, which a bundle always carries.
func IsManifestMediaType(mediaType string) bool {
	return oci.IsIndex(mediaType) || oci.IsManifest(mediaType)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
