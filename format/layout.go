package format

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"

	"github.com/opencontainers/go-digest"
)

// OCILayoutFile is the content of the oci-layout member (SPEC 5.1).
const OCILayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// Member is one blob member of a volume: placement Part of Blob.
type Member struct {
	Blob *Blob
	Part int
}

// Placement is the member's placement.
func (m Member) Placement() Placement { return m.Blob.Placements[m.Part] }

// Name is the member's tar name.
func (m Member) Name() string { return MemberName(m.Blob, m.Part) }

// MemberName is the tar member name of placement i of blob b (SPEC 4.5).
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

// VolumeFileName is the file name a writer gives volume n of total
// (SPEC 4.1).
func VolumeFileName(n, total int) string {
	return fmt.Sprintf("vol-%04d-of-%04d.tar", n, total)
}

var volumeFileRE = regexp.MustCompile(`^vol-[0-9]{4,}-of-[0-9]{4,}\.tar$`)

// IsVolumeFileName reports whether name has the shape VolumeFileName gives.
func IsVolumeFileName(name string) bool { return volumeFileRE.MatchString(name) }

// VolumeMarker is the exact content of the volume.json member of volume n
// of total (SPEC 5.4).
func VolumeMarker(id string, n, total int) []byte {
	return []byte(fmt.Sprintf(`{"bundleId":%q,"volume":%d,"volumes":%d}`+"\n", id, n, total))
}

// Members lists the blob members of volume v (1-based) in file order.
func (x *Index) Members(v int) []Member {
	var out []Member
	for i := range x.Blobs {
		b := &x.Blobs[i]
		for j, p := range b.Placements {
			if p.Volume == v {
				out = append(out, Member{Blob: b, Part: j})
			}
		}
	}
	sortMembers(out)
	return out
}

// MembersByVolume is Members of every volume, in one pass over the blobs.
func MembersByVolume(x *Index) map[int][]Member {
	out := map[int][]Member{}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		for j, p := range b.Placements {
			out[p.Volume] = append(out[p.Volume], Member{Blob: b, Part: j})
		}
	}
	for _, ms := range out {
		sortMembers(ms)
	}
	return out
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.Placement().Offset, b.Placement().Offset) })
}

// PrefixSize is the size of the members before the first blob member of
// every volume, for a bundle.json of indexLen bytes (SPEC 7).
func (x *Index) PrefixSize(indexLen int) int64 {
	sig := int64(0)
	if x.Signer != nil {
		sig = MemberSize(MaxSignatureSize)
	}
	return MemberSize(int64(len(OCILayoutFile))) + MemberSize(x.LayoutIndex.Size) + MemberSize(int64(indexLen)) + sig + MemberSize(1)
}

// IndexOffset is where the bundle.json member's header starts in volume
// n: after oci-layout and index.json, which version 2 carries in volume 1
// only.
func (x *Index) IndexOffset(n int) int64 {
	if x.FormatVersion == VersionV2 && n != 1 {
		return MemberSize(int64(len(OCILayoutFile)))
	}
	return MemberSize(int64(len(OCILayoutFile))) + MemberSize(x.LayoutIndex.Size)
}

// WritePrefix writes to w the members volume n of the bundle indexed by
// indexBytes (parsed as x) starts with: oci-layout, index.json (in
// version 2, in volume 1 only), bundle.json, bundle.json.sig (when sig is
// not nil) and volume.json. index.json is written by layoutIndex as it
// encodes it (67 MB at 300,000 entries, not held), and checked against
// x.LayoutIndex as it is written: never more bytes than that names. In
// version 2 blobs.json, volume n's blob table, comes next:
// WriteBlobTableMember writes it. With it the members add up to
// x.VolumePrefixSize(n, len(indexBytes)) when sig is at most
// MaxSignatureSize bytes.
func WritePrefix(w io.Writer, x *Index, indexBytes []byte, layoutIndex io.WriterTo, sig []byte, n int) error {
	mtime := x.Mtime()
	write := func(pieces ...[]byte) error {
		for _, p := range pieces {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(memberPieces(MemberLayout, []byte(OCILayoutFile), mtime)...); err != nil {
		return err
	}
	if x.FormatVersion != VersionV2 || n == 1 {
		want := x.LayoutIndex
		if err := write(TarHeader(MemberOCIIndex, want.Size, mtime)); err != nil {
			return err
		}
		h := digest.SHA256.Digester()
		sw := &sealedWriter{w: w, h: h.Hash(), left: want.Size}
		_, err := layoutIndex.WriteTo(sw)
		if err != nil && !errors.Is(err, errLongerThanSealed) {
			return err
		}
		if err != nil || sw.left != 0 || h.Digest() != want.Digest {
			return fmt.Errorf("%s differs from the one the bundle index names (%s, %d bytes)", MemberOCIIndex, want.Digest, want.Size)
		}
		if err := write(Zeros(Padding(want.Size))); err != nil {
			return err
		}
	}
	if err := write(memberPieces(MemberIndex, indexBytes, mtime)...); err != nil {
		return err
	}
	if sig != nil {
		if err := write(memberPieces(MemberSignature, sig, mtime)...); err != nil {
			return err
		}
	}
	return write(memberPieces(MemberVolume, VolumeMarker(x.BundleID, n, len(x.Volumes)), mtime)...)
}

// HeaderPiece is one piece of the bytes a volume starts with: bytes to
// compare as they are (tar headers, padding, the small members), or, when
// Bytes is nil, the data of a large member (index.json, bundle.json) given
// by its size and digest, to compare by hashing it as it is read. A reader
// that reads the header of a volume again (verify, unpack) then needs to
// hold neither: they are larger than the decoded index (issue 15).
type HeaderPiece struct {
	Bytes   []byte
	Content Content
}

// PrefixPieces is Prefix with index.json given by x.LayoutIndex,
// bundle.json by index (its size and digest) and blobs.json by
// x.BlobTables: the same bytes, piece for piece, but for those members'
// data.
func PrefixPieces(x *Index, index Content, sig []byte, n int) []HeaderPiece {
	mtime := x.Mtime()
	var out []HeaderPiece
	lit := func(pieces ...[]byte) {
		for _, p := range pieces {
			if len(p) > 0 {
				out = append(out, HeaderPiece{Bytes: p})
			}
		}
	}
	hashed := func(name string, c Content) {
		lit(TarHeader(name, c.Size, mtime))
		if c.Size > 0 {
			out = append(out, HeaderPiece{Content: c})
		}
		lit(Zeros(Padding(c.Size)))
	}
	v2 := x.FormatVersion == VersionV2
	lit(memberPieces(MemberLayout, []byte(OCILayoutFile), mtime)...)
	if !v2 || n == 1 {
		hashed(MemberOCIIndex, x.LayoutIndex)
	}
	hashed(MemberIndex, index)
	if sig != nil {
		lit(memberPieces(MemberSignature, sig, mtime)...)
	}
	lit(memberPieces(MemberVolume, VolumeMarker(x.BundleID, n, len(x.Volumes)), mtime)...)
	if v2 {
		t := x.BlobTables[n-1]
		hashed(MemberBlobTable, Content{Digest: t.Digest, Size: t.Size})
	}
	return out
}
