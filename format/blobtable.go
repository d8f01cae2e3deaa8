package format

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"

	"github.com/airgap-bundle/bundle/internal/iocount"
	"github.com/opencontainers/go-digest"
)

// Blob tables (format version 2, SPEC 5.5): each volume carries, after
// volume.json, blobs.json: the entries of the blobs it holds a segment of
// (and, in volume 1, of the blobs from bases). bundle.json, signed, names
// each table by digest and size (blobTables), so a table is checked as
// index.json is: by digest, before it is decoded.

// ErrTableDiffers is wrapped by ParseBlobTable when a table is not the one
// the index names (its digest or size): damage, where its other errors
// are a table the signer's tool wrote wrong.
var ErrTableDiffers = errors.New("differs from the one the bundle index names")

// blobTableJSON is the shape of blobs.json.
type blobTableJSON struct {
	Volume int    `json:"volume"`
	Blobs  []Blob `json:"blobs"`
}

// minBlobEntryBytes is less than the shortest blob entry there can be:
// its 71-byte digest and the member names alone take more. Bounds the
// count a table may claim for its size.
const minBlobEntryBytes = 64

// tableMembers is the members of volume n in file order, from its table
// (checked: ParseBlobTable), which lists them in that order.
func tableMembers(table []Blob, n int) []Member {
	var out []Member
	for i := range table {
		for j, p := range table[i].Placements {
			if p.Volume == n {
				out = append(out, Member{Blob: &table[i], Part: j})
			}
		}
	}
	return out
}

// tableBlobsFrom is the blobs volume n's table lists, in its order (SPEC
// 5.5), given the members of volume n in file order: those with a
// placement in n, by the offset of their first placement there, then, in
// volume 1, those from bases, by digest.
func tableBlobsFrom(x *Index, n int, members []Member) []*Blob {
	var out []*Blob
	for _, m := range members {
		if len(out) == 0 || out[len(out)-1] != m.Blob {
			out = append(out, m.Blob)
		}
	}
	if n == 1 {
		var bases []*Blob
		for i := range x.Blobs {
			if x.Blobs[i].Base != "" {
				bases = append(bases, &x.Blobs[i])
			}
		}
		slices.SortFunc(bases, func(a, b *Blob) int { return cmp.Compare(a.Digest, b.Digest) })
		out = append(out, bases...)
	}
	return out
}

// MarshalBlobTable is blobs.json of volume n of x (version 2), as
// json.Marshal encodes it, built an entry at a time into a buffer of the
// size sealed (SealBlobTables): at a million blobs a table is 130 MB, and
// a buffer grown by doubling reached twice that.
func MarshalBlobTable(x *Index, n int) ([]byte, error) {
	var buf bytes.Buffer
	if n >= 1 && n <= len(x.BlobTables) && x.BlobTables[n-1].Size > 0 && x.BlobTables[n-1].Size <= MaxBlobTableSize {
		buf.Grow(int(x.BlobTables[n-1].Size))
	}
	if err := writeBlobTable(&buf, n, tableBlobsFrom(x, n, x.Members(n))); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteBlobTableMember writes the blobs.json member of volume n of x
// (version 2, its tables sealed: SealBlobTables) to w: its tar header, the
// table as MarshalBlobTable makes it, and the padding. The table is
// encoded as it is written, never held (130 MB at a million blobs, and as
// much again to parse it back), and checked as a reader checks it: its
// entries against every rule a table keeps (SPEC 6.5 rules 30 to 34),
// before any byte is written, and its bytes against the size and digest
// sealed, as they are written. More bytes than sealed are never written:
// the member has the room planned for it, and blobs follow. An error
// means w holds a partial member.
func WriteBlobTableMember(w io.Writer, x *Index, n int) error {
	if x.FormatVersion != VersionV2 || n < 1 || n > len(x.BlobTables) || n > len(x.Volumes) {
		return fmt.Errorf("blob table of volume %d: the index has none", n)
	}
	want := x.BlobTables[n-1]
	blobs := tableBlobsFrom(x, n, x.Members(n))
	if err := x.checkBlobTable(n, n, blobs); err != nil {
		return fmt.Errorf("blob table of volume %d: %w", n, err)
	}
	if _, err := w.Write(TarHeader(MemberBlobTable, want.Size, x.Mtime())); err != nil {
		return err
	}
	h := digest.SHA256.Digester()
	lw := &sealedWriter{w: w, h: h.Hash(), left: want.Size}
	err := writeBlobTable(lw, n, blobs)
	if err != nil && !errors.Is(err, errLongerThanSealed) {
		return err
	}
	if err != nil || lw.left != 0 || h.Digest() != want.Digest {
		return fmt.Errorf("blob table of volume %d %w (%s, %d bytes)", n, ErrTableDiffers, want.Digest, want.Size)
	}
	_, err = w.Write(Zeros(Padding(want.Size)))
	return err
}

var errLongerThanSealed = errors.New("longer than sealed")

// sealedWriter passes at most left bytes on to w, hashing them.
type sealedWriter struct {
	w    io.Writer
	h    hash.Hash
	left int64
}

func (s *sealedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > s.left {
		return 0, errLongerThanSealed
	}
	s.h.Write(p)
	n, err := s.w.Write(p)
	s.left -= int64(n)
	return n, err
}

// writeBlobTable writes blobs.json of volume n, listing blobs.
func writeBlobTable(w io.Writer, n int, blobs []*Blob) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"volume":`)
	bw.WriteString(strconv.Itoa(n))
	bw.WriteString(`,"blobs":[`)
	for i, b := range blobs {
		if i > 0 {
			bw.WriteByte(',')
		}
		e, err := json.Marshal(b)
		if err != nil {
			return err
		}
		bw.Write(e)
	}
	bw.WriteString(`]}`)
	return bw.Flush()
}

// SealBlobTables sets x.BlobTables (version 2) from the tables x's blobs
// make: a writer calls it once the segment digests are known, before it
// marshals and signs bundle.json. Each table is hashed as it is encoded,
// not held.
//
// The entries are set in place when x has them (Plan sized them): a
// table of another size than planned is an error, as the volumes were
// laid out for the planned one.
func SealBlobTables(x *Index) error {
	byVolume := MembersByVolume(x)
	if len(x.BlobTables) != len(x.Volumes) {
		x.BlobTables = make([]BlobTable, len(x.Volumes))
	}
	for n := 1; n <= len(x.Volumes); n++ {
		blobs := tableBlobsFrom(x, n, byVolume[n])
		h := digest.SHA256.Digester()
		c := &iocount.Writer{W: h.Hash()}
		if err := writeBlobTable(c, n, blobs); err != nil {
			return err
		}
		if planned := x.BlobTables[n-1].Size; planned != 0 && planned != c.N {
			return fmt.Errorf("internal error: blob table of volume %d is %d bytes, planned %d", n, c.N, planned)
		}
		x.BlobTables[n-1] = BlobTable{Volume: n, Digest: h.Digest(), Size: c.N, Count: len(blobs)}
	}
	return nil
}

// VolumePrefixSize is the size of the members before the first blob
// member of volume n, for a bundle.json of indexLen bytes (SPEC 7): in
// version 1 the same for every volume (PrefixSize); in version 2 only
// volume 1 carries index.json, and every volume its own blob table.
func (x *Index) VolumePrefixSize(n, indexLen int) int64 {
	if x.FormatVersion != VersionV2 {
		return x.PrefixSize(indexLen)
	}
	var table int64
	if n >= 1 && n <= len(x.BlobTables) {
		table = x.BlobTables[n-1].Size
	}
	return x.prefixV2(n, indexLen, table)
}

// prefixV2 is the prefix of volume n of a version 2 bundle whose
// bundle.json is indexLen bytes and volume n's table table bytes.
func (x *Index) prefixV2(n, indexLen int, table int64) int64 {
	p := MemberSize(int64(len(OCILayoutFile))) + MemberSize(int64(indexLen)) + MemberSize(1) + MemberSize(table)
	if n == 1 {
		p += MemberSize(x.LayoutIndex.Size)
	}
	if x.Signer != nil {
		p += MemberSize(MaxSignatureSize)
	}
	return p
}

// validateBlobTables checks the version 2 members of bundle.json: one
// blobTables entry per volume, each naming a table of a size a reader
// reads (SPEC 6.5 rules 27 to 29), and volumes large enough for their
// prefix.
func (x *Index) validateBlobTables(indexLen int) error {
	// No blobs or images members: decodeIndex checks (an index built in
	// memory holds the blobs its tables list).
	if len(x.BlobTables) != len(x.Volumes) {
		return fmt.Errorf("%d blobTables entries for %d volumes", len(x.BlobTables), len(x.Volumes))
	}
	for i, t := range x.BlobTables {
		if t.Volume != i+1 {
			return fmt.Errorf("blobTables entry %d is for volume %d", i+1, t.Volume)
		}
		if err := CheckDigest(t.Digest); err != nil {
			return fmt.Errorf("blobTables entry %d: %w", i+1, err)
		}
		if t.Size < 1 || t.Size > MaxBlobTableSize {
			return fmt.Errorf("blobTables entry %d: size %d out of range", i+1, t.Size)
		}
		if t.Count < 0 || int64(t.Count) > t.Size/minBlobEntryBytes {
			return fmt.Errorf("blobTables entry %d: count %d out of range for %d bytes", i+1, t.Count, t.Size)
		}
		if min := x.VolumePrefixSize(i+1, indexLen) + 2*BlockSize; x.Volumes[i].Size < min {
			return fmt.Errorf("volume %d: size %d is less than its header members need (%d)", i+1, x.Volumes[i].Size, min)
		}
	}
	return nil
}

// ParseBlobTable checks b, the blobs.json member of volume n, against the
// bundle index x (version 2, validated) and returns the blobs it lists
// (SPEC 6.5 rules 30 to 34): its size and digest are those x names, it is
// strict JSON, and its entries are valid blobs that tile volume n in
// stream order. Every rule needs only x and this one table, so a volume
// verifies alone. ReadBlobTable does the same from a stream.
func ParseBlobTable(x *Index, n int, b []byte) ([]Blob, error) {
	return ReadBlobTable(x, n, bytes.NewReader(b), int64(len(b)))
}

// checkBlobTable checks the decoded table of volume n.
func (x *Index) checkBlobTable(n, volume int, blobs []*Blob) error {
	if volume != n {
		return fmt.Errorf("it says it is volume %d's", volume)
	}
	if len(blobs) != x.BlobTables[n-1].Count {
		return fmt.Errorf("%d blobs listed, the bundle index says %d", len(blobs), x.BlobTables[n-1].Count)
	}
	bases := map[string]bool{}
	for _, b := range x.Bases {
		bases[b.BundleID] = true
	}
	seen := make(map[digest.Digest]bool, len(blobs))
	var members []Member
	fromBases := false
	for i, b := range blobs {
		if err := CheckDigest(b.Digest); err != nil { // rule 15
			return fmt.Errorf("blob %d: %w", i, err)
		}
		if seen[b.Digest] {
			return fmt.Errorf("blob %s listed twice", b.Digest)
		}
		seen[b.Digest] = true
		if err := x.validateBlob(b, bases); err != nil { // rules 16-20, 24
			return err
		}
		if b.Base != "" {
			if n != 1 {
				return fmt.Errorf("blob %s from a base listed in volume %d, not 1", b.Digest, n)
			}
			if fromBases && blobs[i-1].Digest >= b.Digest {
				return fmt.Errorf("blobs from bases out of digest order at %s", b.Digest)
			}
			fromBases = true
			continue
		}
		if fromBases {
			return fmt.Errorf("blob %s listed after the blobs from bases", b.Digest)
		}
		first := len(members)
		for j, p := range b.Placements {
			if p.Volume == n {
				members = append(members, Member{Blob: b, Part: j})
			}
		}
		if len(members) == first {
			return fmt.Errorf("blob %s has no segment in volume %d", b.Digest, n)
		}
		// The order of the list is checked by the tiling below: it walks
		// the members in the order listed.
	}
	// Rule 21, for volume n: its members tile it.
	off := x.VolumePrefixSize(n, x.indexLenFor(n))
	for _, m := range members {
		p := m.Placement()
		if p.Offset != off+BlockSize {
			return fmt.Errorf("%s at offset %d, want %d", m.Name(), p.Offset, off+BlockSize)
		}
		off += MemberSize(p.Length)
	}
	if want := off + 2*BlockSize; x.Volumes[n-1].Size != want {
		return fmt.Errorf("volume size %d, its members end at %d", x.Volumes[n-1].Size, want)
	}
	// Rule 23, for volume n: a blob continued from the volume before
	// starts this one, right after that volume's last member; one
	// continued in the next ends this one, and starts the next.
	for k, m := range members {
		pl := m.Blob.Placements
		if m.Part > 0 && pl[m.Part-1].Volume != n {
			prev := pl[m.Part-1]
			if k != 0 || prev.Volume != n-1 || prev.Offset+MemberSize(prev.Length)-BlockSize+2*BlockSize != x.Volumes[n-2].Size {
				return fmt.Errorf("blob %s: segment %d does not follow segment %d", m.Blob.Digest, m.Part+1, m.Part)
			}
		}
		if m.Part+1 < len(pl) && pl[m.Part+1].Volume != n {
			next := pl[m.Part+1]
			if k != len(members)-1 || next.Volume != n+1 || next.Offset != x.VolumePrefixSize(n+1, x.indexLenFor(n+1))+BlockSize {
				return fmt.Errorf("blob %s: segment %d does not follow segment %d", m.Blob.Digest, m.Part+2, m.Part+1)
			}
		}
		if k > 0 && m.Part == 0 && members[k-1].Part != len(members[k-1].Blob.Placements)-1 {
			return fmt.Errorf("blob %s: interrupted by blob %s", members[k-1].Blob.Digest, m.Blob.Digest)
		}
	}
	return nil
}

// indexLenFor is the length of bundle.json, which the prefix of every
// volume holds: recorded when it was parsed or marshalled (the index does
// not hold its own length).
func (x *Index) indexLenFor(int) int { return x.indexLen }

// adjoining reports whether the tables, taken in order, lie one right
// after another in one array (as HeaderReader decodes them), and returns
// that array, empty, with room for them all: the merge then writes each
// blob over its own place or one before it, never past the one it reads.
func adjoining(order []int, tables map[int][]Blob) ([]Blob, bool) {
	var all []Blob
	for _, n := range order {
		t := tables[n]
		if len(t) == 0 {
			continue
		}
		if all == nil {
			all = t
			continue
		}
		if cap(all) <= len(all) || &all[:len(all)+1][len(all)] != &t[0] {
			return nil, false
		}
		all = all[:len(all)+len(t)]
	}
	return all[:0], all != nil
}

// MergeBlobTables checks the tables of the volumes read against each
// other and returns the blobs they list, each once, in stream order (by
// the volume and offset of their first segment; blobs from bases last,
// by digest). Only a blob with segments in several volumes can be listed
// in several tables (ParseBlobTable holds the others to their one
// volume): it must be listed alike in the table of every volume read that
// holds a segment of it (SPEC 6.5 rule 35). Rules 22 and 25 (every
// manifest is a carried blob of its size and media type) are checked
// against what was read, and every manifest must be found once every
// volume was.
//
// Each table is dropped from tables (its entry set to nil) once copied:
// the caller that holds no other reference to them then never holds the
// tables and the merged blobs whole at once (issue 15).
func MergeBlobTables(x *Index, tables map[int][]Blob) ([]Blob, error) {
	manifests := make(map[digest.Digest]int, len(x.Manifests))
	for i := range slices.Backward(x.Manifests) {
		manifests[x.Manifests[i].Digest] = i
	}
	type spanning struct {
		at     int // its index in out
		listed int // tables read that list it
	}
	spans := map[digest.Digest]*spanning{}
	order := slices.Sorted(maps.Keys(tables))
	out, inPlace := adjoining(order, tables)
	if !inPlace {
		total := 0
		for _, t := range tables {
			total += len(t)
		}
		out = make([]Blob, 0, total) // never grown: indexes into it stay valid
	}
	found := make([]bool, len(x.Manifests)) // by the first index of each digest
	for _, n := range order {
		for i := range tables[n] {
			b := &tables[n][i]
			if len(b.Placements) > 1 && b.Placements[0].Volume != b.Placements[len(b.Placements)-1].Volume {
				if sp := spans[b.Digest]; sp != nil {
					if !reflect.DeepEqual(&out[sp.at], b) {
						return nil, fmt.Errorf("blob %s: the tables of two volumes list it differently (volume %d's is one)", b.Digest, n)
					}
					sp.listed++
					continue
				}
				spans[b.Digest] = &spanning{at: len(out), listed: 1}
			}
			out = append(out, *b)
			if mi, ok := manifests[b.Digest]; ok {
				m := &x.Manifests[mi]
				if b.Base != "" {
					return nil, fmt.Errorf("manifest %s is not among the blobs carried", m.Digest)
				}
				if b.Size != m.Size || b.MediaType != m.MediaType {
					return nil, fmt.Errorf("manifest %s: size or media type differ from its blob entry", m.Digest)
				}
				found[mi] = true
				// One string for the manifest's digest, as in version 1
				// (Index.share): the table's copy, 80 bytes for each of
				// 300,000 manifests at a million blobs, is let go.
				out[len(out)-1].shareDigest(m.Digest)
			}
		}
		tables[n] = nil
	}
	for d, sp := range spans {
		want := 0
		pl := out[sp.at].Placements
		for j, p := range pl {
			if _, read := tables[p.Volume]; read && (j == 0 || pl[j-1].Volume != p.Volume) {
				want++
			}
		}
		if sp.listed != want {
			return nil, fmt.Errorf("blob %s: a volume holds a segment of it but its table does not list it", d)
		}
	}
	if len(tables) == len(x.Volumes) {
		for _, m := range x.Manifests {
			if !found[manifests[m.Digest]] {
				return nil, fmt.Errorf("manifest %s is not among the blobs carried", m.Digest)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Blob) int {
		if (a.Base != "") != (b.Base != "") {
			if a.Base != "" {
				return 1
			}
			return -1
		}
		if a.Base != "" {
			return cmp.Compare(a.Digest, b.Digest)
		}
		pa, pb := a.Placements[0], b.Placements[0]
		if c := cmp.Compare(pa.Volume, pb.Volume); c != 0 {
			return c
		}
		return cmp.Compare(pa.Offset, pb.Offset)
	})
	return out, nil
}
