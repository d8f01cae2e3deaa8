package format

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MediaTypeIndex is the mediaType of a bundle index (bundle.json) of
// format version 1, MediaTypeIndexV2 of version 2.
const (
	MediaTypeIndex   = "application/vnd.airgap-bundle.index.v1+json"
	MediaTypeIndexV2 = "application/vnd.airgap-bundle.index.v2+json"
)

// Version is format version 1, VersionV2 version 2: this package reads and
// writes both. Version 2 moves the blob entries out of bundle.json into a
// table in each volume of the blobs it holds (blobs.json, SPEC 5.5), so
// that what every volume repeats no longer grows with the blobs of the
// whole bundle (SPEC 18).
const (
	Version   = 1
	VersionV2 = 2
)

// MediaTypeOf is the mediaType of bundle.json of format version v.
func MediaTypeOf(v int) string {
	if v == VersionV2 {
		return MediaTypeIndexV2
	}
	return MediaTypeIndex
}

// Names of the members at the start of every volume, in order (SPEC 4.3).
const (
	MemberLayout    = "oci-layout"
	MemberOCIIndex  = "index.json"
	MemberIndex     = "bundle.json"
	MemberSignature = "bundle.json.sig"
	MemberVolume    = "volume.json"
	// MemberBlobTable follows volume.json in every volume of format
	// version 2: the entries of the blobs that volume holds.
	MemberBlobTable = "blobs.json"
)

// Limits that keep a reader's memory bounded whatever a volume claims
// (SPEC 4.6).
const (
	MaxIndexSize     = 256 << 20 // bundle.json
	MaxOCIIndexSize  = 64 << 20  // index.json
	MaxSignatureSize = 512       // one tar block
	MaxBlobTableSize = 128 << 20 // blobs.json (version 2)
	// MaxMemberSize is the largest size a ustar header can state (11 octal
	// digits) rounded down to a block; larger segments are split.
	MaxMemberSize = (1<<33 - 1) &^ (BlockSize - 1)
	// MaxVolumes and MaxPlacements bound the volumes of a bundle and the
	// segments of one blob (SPEC 6.5 rules 13 and 19).
	MaxVolumes    = 99999
	MaxPlacements = 9999
)

// Blob encodings, and the index's compression setting.
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
	Expires       string               `json:"expires,omitempty"`
	Packer        string               `json:"packer"`
	Signer        *Signer              `json:"signer"`
	Bases         []Base               `json:"bases"`
	Compression   string               `json:"compression"`
	MaxVolumeSize int64                `json:"maxVolumeSize"`
	LayoutIndex   Content              `json:"layoutIndex"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Images        []Image              `json:"images"`
	// Blobs are the bundle's blobs. In version 1 bundle.json holds them;
	// in version 2 each volume's blob table holds those it has a segment
	// of (and volume 1's those from bases), and a reader fills Blobs from
	// the tables it read (MergeBlobTables): all of them once every volume
	// was read.
	Blobs []Blob `json:"blobs"`
	// BlobTables (version 2 only) are the digest, size and count of the
	// blob table of each volume, in volume order.
	BlobTables []BlobTable `json:"blobTables,omitempty"`
	Volumes    []Volume    `json:"volumes"`

	// indexLen is the length of the bundle.json this index was parsed
	// from or marshalled into: a version 2 table's offsets depend on it.
	indexLen int
}

// BlobTable is the blobTables entry of one volume (version 2): its
// blobs.json member's digest and length, and how many blobs it lists.
type BlobTable struct {
	Volume int           `json:"volume"`
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	Count  int           `json:"count"`
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
	// Repositories and MirrorRepositories say where the base's content is
	// in a mirror, so that a push can mount a blob from there into a
	// repository new to the mirror (SPEC 9.3.3). Repositories are source
	// repository names, as the ref names of a base bundle's entries give
	// them ([REGISTRY/]PATH), which a push maps as it maps this bundle's
	// own names; MirrorRepositories are repository paths in the mirror,
	// prefix included, as an inventory of it lists them, used as they
	// are. Both are optional, sorted and each name once.
	Repositories       []string `json:"repositories,omitempty"`
	MirrorRepositories []string `json:"mirrorRepositories,omitempty"`
}

// MaxBaseRepositories bounds the names of each of a base's repository
// lists (SPEC 6.5 rule 12): a push asks each of them, at worst, for a blob
// it cannot find elsewhere, so the list must stay short enough to ask.
const MaxBaseRepositories = 1024

// MaxRepositoryLength is the longest repository name, registry included:
// what registries allow (SPEC 11.6.1).
const MaxRepositoryLength = 255

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

// ExpiresTime parses Expires; the zero time when the bundle does not
// expire.
func (x *Index) ExpiresTime() (time.Time, error) {
	if x.Expires == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, x.Expires)
}

// CreatedTime parses Created.
func (x *Index) CreatedTime() (time.Time, error) {
	return time.Parse(time.RFC3339, x.Created)
}

// Mtime is the modification time of every tar header of the bundle's
// volumes: its creation time (SPEC 4.4).
func (x *Index) Mtime() int64 {
	t, _ := x.CreatedTime() // checked by ParseIndex, or set by the writer
	return t.Unix()
}

// ParseIndex decodes and validates bundle.json. It accepts exactly the
// fields of format version 1 and checks every rule of SPEC 6.5 but the
// last (26, which needs index.json: ReadVolumeHeader checks it): what
// passes can be laid out without overlaps and read with bounded memory.
func ParseIndex(b []byte) (*Index, error) {
	// Rule 1.
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("bundle index is %d bytes, more than %d", len(b), MaxIndexSize)
	}
	// Rule 2.
	if err := CheckStrictJSON(b, reflect.TypeFor[Index]()); err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	x, err := decodeIndex(b, true)
	if err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	x.indexLen = len(b)
	if err := x.Validate(len(b)); err != nil {
		return nil, fmt.Errorf("bundle index: %w", err)
	}
	return x, nil
}

// CheckDigest checks that d has the one form the format allows: "sha256:"
// and 64 lowercase hex digits.
func CheckDigest(d digest.Digest) error {
	// Checked by hand: go-digest runs a regular expression, and an index
	// of 100,000 blobs holds 300,000 digests.
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
	return fmt.Errorf("digest %q: want sha256: and 64 lowercase hex digits", d)
}

// CheckBundleID checks the form of a bundleId (SPEC 6.2).
func CheckBundleID(id string) error {
	if len(id) != 32 || !isLowerHex(id) {
		return fmt.Errorf("bundleId %q is not 32 lowercase hex digits", id)
	}
	return nil
}

// Validate checks SPEC 6.5 rules 3 to 25 of an index whose bundle.json is
// indexLen bytes long, as ParseIndex does after decoding (a writer checks
// what it made before it signs it). The rules are checked in groups: the
// top-level members, the bases, the volumes, each blob, the tiling of the
// volumes, the stream order, the manifests.
func (x *Index) Validate(indexLen int) error {
	if err := x.validateTop(); err != nil {
		return err
	}
	bases, err := x.validateBases()
	if err != nil {
		return err
	}
	if err := x.validateVolumes(); err != nil {
		return err
	}
	if x.FormatVersion == VersionV2 {
		return x.validateBlobTables(indexLen)
	}
	if x.BlobTables != nil {
		return fmt.Errorf("blobTables in an index of format version %d", x.FormatVersion)
	}
	blobs := make(map[digest.Digest]*Blob, len(x.Blobs))
	for i := range x.Blobs {
		b := &x.Blobs[i]
		// Rule 15.
		if err := CheckDigest(b.Digest); err != nil {
			return fmt.Errorf("blob %d: %w", i, err)
		}
		if blobs[b.Digest] != nil {
			return fmt.Errorf("blob %s listed twice", b.Digest)
		}
		blobs[b.Digest] = b
		if err := x.validateBlob(b, bases); err != nil {
			return err
		}
	}
	perVolume := MembersByVolume(x)
	if err := x.validateTiling(perVolume, indexLen); err != nil {
		return err
	}
	if err := validateStreamOrder(perVolume, len(x.Volumes)); err != nil {
		return err
	}
	return x.validateManifests(blobs)
}

// validateTop checks the top-level members: rules 3 to 11.
func (x *Index) validateTop() error {
	if x.FormatVersion != Version && x.FormatVersion != VersionV2 { // rule 4
		return &VersionError{Version: x.FormatVersion}
	}
	if want := MediaTypeOf(x.FormatVersion); x.MediaType != want { // rule 3
		return fmt.Errorf("mediaType %q, want %q", x.MediaType, want)
	}
	if err := CheckBundleID(x.BundleID); err != nil { // rule 5
		return err
	}
	t, err := x.CreatedTime() // rule 6
	if err != nil || t.Unix() < 0 || t.Unix() >= 1<<33 || t.UTC().Format(time.RFC3339) != x.Created {
		return fmt.Errorf("created %q is not an RFC 3339 UTC time in seconds", x.Created)
	}
	if x.Expires != "" { // rule 6: expires, when present, as created and after it
		e, err := x.ExpiresTime()
		if err != nil || e.Unix() >= 1<<33 || e.UTC().Format(time.RFC3339) != x.Expires || !e.After(t) {
			return fmt.Errorf("expires %q is not an RFC 3339 UTC time in seconds after created %s", x.Expires, x.Created)
		}
	}
	if x.Signer != nil && (x.Signer.KeyID == "" || x.Signer.Algorithm == "") { // rule 7
		return fmt.Errorf("signer needs keyId and algorithm")
	}
	if x.Compression != CompressionNone && x.Compression != CompressionZstd { // rule 8
		return fmt.Errorf("compression %q, want none or zstd", x.Compression)
	}
	if x.MaxVolumeSize < 0 { // rule 9
		return fmt.Errorf("negative maxVolumeSize")
	}
	if err := CheckDigest(x.LayoutIndex.Digest); err != nil { // rule 10
		return fmt.Errorf("layoutIndex: %w", err)
	}
	if x.LayoutIndex.Size <= 0 || x.LayoutIndex.Size > MaxOCIIndexSize { // rule 11
		return fmt.Errorf("layoutIndex size %d out of range", x.LayoutIndex.Size)
	}
	return nil
}

// validateBases checks rule 12 and returns the set of base ids.
func (x *Index) validateBases() (map[string]bool, error) {
	bases := map[string]bool{}
	for _, b := range x.Bases {
		if CheckBundleID(b.BundleID) != nil || CheckDigest(b.Index) != nil {
			return nil, fmt.Errorf("base %q: bad bundleId or index digest", b.BundleID)
		}
		if bases[b.BundleID] {
			return nil, fmt.Errorf("base %s listed twice", b.BundleID)
		}
		bases[b.BundleID] = true
		if err := CheckRepositoryList(b.Repositories, true); err != nil {
			return nil, fmt.Errorf("base %s: repositories: %w", b.BundleID, err)
		}
		if err := CheckRepositoryList(b.MirrorRepositories, false); err != nil {
			return nil, fmt.Errorf("base %s: mirrorRepositories: %w", b.BundleID, err)
		}
	}
	return bases, nil
}

// validateVolumes checks rules 13 and 14.
func (x *Index) validateVolumes() error {
	n := len(x.Volumes)
	if n == 0 || n > MaxVolumes {
		return fmt.Errorf("%d volumes", n)
	}
	for i, v := range x.Volumes {
		if v.Number != i+1 {
			return fmt.Errorf("volume %d listed as number %d", i+1, v.Number)
		}
		if v.Size < 3*BlockSize || v.Size%BlockSize != 0 || (x.MaxVolumeSize > 0 && v.Size > x.MaxVolumeSize) {
			return fmt.Errorf("volume %d: size %d is not a whole number of blocks within the limit", v.Number, v.Size)
		}
	}
	return nil
}

// validateBlob checks one blob: rules 16 to 20, and 24.
func (x *Index) validateBlob(b *Blob, bases map[string]bool) error {
	if b.Size < 0 || b.StoredSize < 0 { // rule 16
		return fmt.Errorf("blob %s: negative size", b.Digest)
	}
	if b.Base != "" { // rule 17
		if !bases[b.Base] || len(b.Placements) != 0 {
			return fmt.Errorf("blob %s: base %q is not among bases, or the blob also has placements", b.Digest, b.Base)
		}
		// Readers need every manifest to walk the graph.
		if IsManifestMediaType(b.MediaType) {
			return fmt.Errorf("blob %s: a manifest or index cannot come from a base", b.Digest)
		}
		return nil
	}
	if err := CheckDigest(b.StoredDigest); err != nil { // rule 18
		return fmt.Errorf("blob %s: storedDigest: %w", b.Digest, err)
	}
	switch b.Encoding {
	case CompressionNone:
		if b.StoredSize != b.Size || b.StoredDigest != b.Digest {
			return fmt.Errorf("blob %s: unencoded but stored size or digest differ", b.Digest)
		}
	case CompressionZstd:
		if x.Compression != CompressionZstd { // rule 24
			return fmt.Errorf("blob %s is zstd-encoded in a bundle whose compression is %q", b.Digest, x.Compression)
		}
	default:
		return fmt.Errorf("blob %s: encoding %q, want none or zstd", b.Digest, b.Encoding)
	}
	if len(b.Placements) == 0 || len(b.Placements) > MaxPlacements { // rule 19
		return fmt.Errorf("blob %s: %d placements", b.Digest, len(b.Placements))
	}
	var total int64
	for j, p := range b.Placements { // rule 20
		if p.Volume < 1 || p.Volume > len(x.Volumes) {
			return fmt.Errorf("blob %s: placement in volume %d of %d", b.Digest, p.Volume, len(x.Volumes))
		}
		if j > 0 && p.Volume < b.Placements[j-1].Volume {
			return fmt.Errorf("blob %s: placements out of volume order", b.Digest)
		}
		if p.Length < 0 || p.Length > MaxMemberSize || p.Offset < 0 {
			return fmt.Errorf("blob %s: placement %d has a bad length or offset", b.Digest, j+1)
		}
		if err := CheckDigest(p.Digest); err != nil {
			return fmt.Errorf("blob %s: placement %d: %w", b.Digest, j+1, err)
		}
		if len(b.Placements) == 1 && p.Digest != b.StoredDigest {
			return fmt.Errorf("blob %s: single placement digest differs from storedDigest", b.Digest)
		}
		total += p.Length
		if total > b.StoredSize {
			return fmt.Errorf("blob %s: placements exceed storedSize", b.Digest)
		}
	}
	if total != b.StoredSize {
		return fmt.Errorf("blob %s: placements hold %d bytes, storedSize is %d", b.Digest, total, b.StoredSize)
	}
	return nil
}

// validateTiling checks rule 21: the members of each volume follow each
// other with no gap from the end of the prefix to the trailer.
func (x *Index) validateTiling(perVolume map[int][]Member, indexLen int) error {
	prefix := x.PrefixSize(indexLen)
	for v := 1; v <= len(x.Volumes); v++ {
		off := prefix
		for _, m := range perVolume[v] {
			p := m.Placement()
			if p.Offset != off+BlockSize {
				return fmt.Errorf("volume %d: %s at offset %d, want %d", v, m.Name(), p.Offset, off+BlockSize)
			}
			off += MemberSize(p.Length)
		}
		if want := off + 2*BlockSize; x.Volumes[v-1].Size != want {
			return fmt.Errorf("volume %d: size %d, its members end at %d", v, x.Volumes[v-1].Size, want)
		}
	}
	return nil
}

// validateStreamOrder checks rule 23: a blob's segments follow each other,
// within a volume or as the last member of one volume and the first of
// the next, so a reader that goes through the volumes in order assembles
// one blob at a time.
func validateStreamOrder(perVolume map[int][]Member, volumes int) error {
	var prev *Member
	for v := 1; v <= volumes; v++ {
		for i := range perVolume[v] {
			m := &perVolume[v][i]
			if m.Part > 0 && (prev == nil || prev.Blob != m.Blob || prev.Part != m.Part-1) {
				return fmt.Errorf("blob %s: segment %d does not follow segment %d", m.Blob.Digest, m.Part+1, m.Part)
			}
			if m.Part == 0 && prev != nil && prev.Part != len(prev.Blob.Placements)-1 {
				return fmt.Errorf("blob %s: interrupted by blob %s", prev.Blob.Digest, m.Blob.Digest)
			}
			prev = m
		}
	}
	return nil
}

// validateManifests checks rules 22 and 25.
func (x *Index) validateManifests(blobs map[digest.Digest]*Blob) error {
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

// Media types of manifests and indexes: blobs a bundle always carries
// (SPEC 6.5 rule 17), and the ones a reader parses to walk the graph.
var manifestMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest:                              true,
	ocispec.MediaTypeImageIndex:                                 true,
	"application/vnd.oci.artifact.manifest.v1+json":             true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

// IsManifestMediaType reports whether blobs of this media type are
// manifests or indexes, which a bundle always carries.
func IsManifestMediaType(mediaType string) bool { return manifestMediaTypes[mediaType] }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
