package format

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unsafe"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// VolumeHeader is what the first members of a volume say: the bundle index,
// its signature and which volume this is. ReadVolumeHeader has checked that
// these members are exactly what the format allows, byte for byte; whether
// the signature holds is a separate step (bundle.Set.Trust).
type VolumeHeader struct {
	Path   string
	Number int
	Index  *Index
	// IndexBytes and LayoutIndex are the raw bundle.json and index.json.
	// A reader that keeps the header after checking them may drop them
	// (Release): they are as large as the decoded index.
	IndexBytes  []byte
	Signature   []byte // nil when unsigned
	LayoutIndex []byte // nil in version 2 (checked, and let go before the table is read)
	// Table is the blobs this volume's blob table lists (version 2;
	// checked against the index, ParseBlobTable), nil in version 1.
	Table []Blob

	indexSize   int           // len(IndexBytes), kept when they are released
	indexDigest digest.Digest // of IndexBytes, when known: always once the reader let them go
}

// Total is the number of volumes in the bundle.
func (h *VolumeHeader) Total() int { return len(h.Index.Volumes) }

// IndexSize is the length of bundle.json, released or not.
func (h *VolumeHeader) IndexSize() int {
	if h.IndexBytes != nil {
		return len(h.IndexBytes)
	}
	return h.indexSize
}

// IndexContent is the digest and length of bundle.json: hashed when
// IndexBytes are held, the digest kept when the reader let them go
// (HeaderReader.KeepIndexUpTo).
func (h *VolumeHeader) IndexContent() Content {
	if h.indexDigest == "" && h.IndexBytes != nil {
		return Content{Digest: digest.FromBytes(h.IndexBytes), Size: int64(len(h.IndexBytes))}
	}
	return Content{Digest: h.indexDigest, Size: int64(h.IndexSize())}
}

// SameIndex reports whether two headers, as a HeaderReader read them,
// carry the same bundle.json: compared byte for byte where both are held,
// by digest otherwise.
func (h *VolumeHeader) SameIndex(o *VolumeHeader) bool {
	if h.IndexBytes != nil && o.IndexBytes != nil {
		return bytes.Equal(h.IndexBytes, o.IndexBytes)
	}
	return h.IndexContent() == o.IndexContent()
}

// Release drops IndexBytes and LayoutIndex, keeping their sizes
// (IndexSize; LayoutIndex's is Index.LayoutIndex.Size, as is its digest,
// which ReadVolumeHeader checked). A reader holds the decoded index for as
// long as it reads, and these raw bytes are more than that again (issue
// 15); what it must compare with them later it compares by digest
// (PrefixPieces).
func (h *VolumeHeader) Release() {
	h.indexSize = h.IndexSize()
	h.IndexBytes, h.LayoutIndex = nil, nil
}

// Size is the size the index gives this volume.
func (h *VolumeHeader) Size() int64 { return h.Index.Volumes[h.Number-1].Size }

// prefixReader reads the canonical members at the start of a volume.
type prefixReader struct {
	r    io.Reader
	path string
	off  int64
	size int64       // bytes the input holds from its start; -1: not known
	ra   io.ReaderAt // the same input, to read a member again; nil: cannot
}

func (p *prefixReader) corrupt(member, format string, a ...any) error {
	return &CorruptError{Path: p.path, Offset: p.off, Member: member, Reason: fmt.Sprintf(format, a...)}
}

func (p *prefixReader) readFull(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.off += int64(n)
	return err
}

// member reads one member that must be named name and hold at most max
// bytes. It returns the data and the raw header for the later canonical
// comparison.
func (p *prefixReader) member(name string, max int64) (data, header []byte, err error) {
	return p.memberLike(name, max, nil)
}

// memberLike is member; when the data is the same as one of likes, that
// slice is returned and no copy is made.
func (p *prefixReader) memberLike(name string, max int64, likes [][]byte) (data, header []byte, err error) {
	header, size, err := p.memberHeader(name, max)
	if err != nil {
		return nil, nil, err
	}
	var like []byte
	for _, l := range likes {
		if int64(len(l)) == size {
			like = l
			break
		}
	}
	data, err = p.readData(size, like)
	if err != nil {
		return nil, nil, p.corrupt(name, "truncated inside member %s", name)
	}
	if err := p.padding(name, size); err != nil {
		return nil, nil, err
	}
	return data, header, nil
}

// memberHeader reads the tar header of a member that must be named name
// and hold at most max bytes, and returns it with the size it states.
func (p *prefixReader) memberHeader(name string, max int64) (header []byte, size int64, err error) {
	header = make([]byte, BlockSize)
	if err := p.readFull(header); err != nil {
		return nil, 0, p.corrupt(name, "truncated before member %s", name)
	}
	got, size, err := ParseTarHeader(header)
	if err != nil {
		return nil, 0, p.corrupt(name, "%v", err)
	}
	if got != name {
		return nil, 0, p.corrupt(name, "member %q where %q belongs", got, name)
	}
	if size > max {
		return nil, 0, p.corrupt(name, "member %s is %d bytes, more than %d allowed", name, size, max)
	}
	if p.size >= 0 && size+Padding(size) > p.size-p.off {
		// Not there: refused before anything is allocated for it.
		return nil, 0, p.corrupt(name, "truncated inside member %s (%d bytes claimed, %d left in the file)", name, size, p.size-p.off)
	}
	return header, size, nil
}

// padding reads the zeros after the data of a member of size bytes.
func (p *prefixReader) padding(name string, size int64) error {
	pad := make([]byte, Padding(size))
	if err := p.readFull(pad); err != nil {
		return p.corrupt(name, "truncated inside member %s", name)
	}
	if !bytes.Equal(pad, zeroBlocks[:len(pad)]) {
		return p.corrupt(name, "non-zero padding after member %s", name)
	}
	return nil
}

// hashData reads size bytes of member data, keeping only their digest.
func (p *prefixReader) hashData(name string, size int64) (digest.Digest, error) {
	h := digest.SHA256.Digester()
	n, err := io.CopyN(h.Hash(), p.r, size)
	p.off += n
	if err != nil {
		return "", p.corrupt(name, "truncated inside member %s", name)
	}
	return h.Digest(), nil
}

// memberData reads member data from p, counting it in p.off.
type memberData struct{ p *prefixReader }

func (m memberData) Read(b []byte) (int, error) {
	n, err := m.p.r.Read(b)
	m.p.off += int64(n)
	return n, err
}

// readAgain reads the size bytes at off once more, from where they are.
func (p *prefixReader) readAgain(name string, off, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := p.ra.ReadAt(b, off); err != nil {
		return nil, &CorruptError{Path: p.path, Offset: off, Member: name, Reason: fmt.Sprintf("cannot be read again: %v", err)}
	}
	return b, nil
}

// readData reads size bytes. Memory follows the bytes really there, not a
// crafted size: the buffer doubles as they come (at most twice what was
// read). While they are those of like (of the same size), they are only
// compared, and like is returned.
func (p *prefixReader) readData(size int64, like []byte) ([]byte, error) {
	var same int64 // bytes read that are like's
	if like != nil {
		var scratch [64 << 10]byte
		for same < size {
			b := scratch[:min(size-same, int64(len(scratch)))]
			n, err := io.ReadFull(p.r, b)
			p.off += int64(n)
			if !bytes.Equal(b[:n], like[same:same+int64(n)]) || err != nil {
				// Keep what was read and go on the ordinary way.
				buf := make([]byte, same+int64(n), min(size, max(2*(same+int64(n)), 64<<10)))
				copy(buf, like[:same])
				copy(buf[same:], b[:n])
				if err != nil {
					return nil, err
				}
				return p.readGrowing(buf, size)
			}
			same += int64(n)
		}
		return like, nil
	}
	if p.size >= 0 {
		// The input holds the bytes claimed (memberLike checked): one
		// buffer of their size, not a doubling one that needs up to twice
		// as much while it grows, and leaves the smaller ones to collect.
		return p.readGrowing(make([]byte, 0, size), size)
	}
	return p.readGrowing(make([]byte, 0, min(size, 64<<10)), size)
}

// readGrowing appends to buf until it holds size bytes.
func (p *prefixReader) readGrowing(buf []byte, size int64) ([]byte, error) {
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(size, 2*int64(cap(buf)))-int64(len(buf))))
		}
		n, err := io.ReadFull(p.r, buf[len(buf):min(int64(cap(buf)), size)])
		buf = buf[:len(buf)+n]
		p.off += int64(n)
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// signature reads the bundle.json.sig member when the next header names
// it, and returns nil (having read nothing) otherwise.
func (p *prefixReader) signature() (sig, header []byte, err error) {
	next := make([]byte, BlockSize)
	if err := p.readFull(next); err != nil {
		return nil, nil, p.corrupt(MemberSignature, "truncated after member %s", MemberIndex)
	}
	p.r, p.off = io.MultiReader(bytes.NewReader(next), p.r), p.off-BlockSize
	if name, _, err := ParseTarHeader(next); err != nil || name != MemberSignature {
		return nil, nil, nil
	}
	if sig, header, err = p.member(MemberSignature, MaxSignatureSize); err != nil {
		return nil, nil, err
	}
	if len(sig) == 0 {
		return nil, nil, p.corrupt(MemberSignature, "empty signature")
	}
	return sig, header, nil
}

// peekName is the name in the next tar header, which is left to be read.
func (p *prefixReader) peekName() (string, error) {
	next := make([]byte, BlockSize)
	if err := p.readFull(next); err != nil {
		return "", err
	}
	p.r, p.off = io.MultiReader(bytes.NewReader(next), p.r), p.off-BlockSize
	name, _, _ := ParseTarHeader(next)
	return name, nil
}

type markerJSON struct {
	BundleID string `json:"bundleId"`
	Volume   int    `json:"volume"`
	Volumes  int    `json:"volumes"`
}

// ReadVolumeHeader reads the members before the first blob of a volume.
// An input that does not start like a volume gives an error wrapping
// ErrNotVolume; one that starts like a volume but breaks a rule gives a
// *CorruptError.
func ReadVolumeHeader(r io.Reader, path string) (*VolumeHeader, error) {
	return (*HeaderReader)(nil).Read(r, path)
}

// HeaderReader reads the headers of the volumes of a set. It parses each
// distinct bundle.json once, and checks each index.json against it once:
// the volumes of a set carry the same bytes, and parsing a large index is
// far slower than comparing it. The zero value is ready to use; a nil
// *HeaderReader reads without remembering.
type HeaderReader struct {
	// VerifyIndex, when set, is given the raw bytes of each distinct
	// bundle.json with its signature (nil when the volume carries none)
	// before they are decoded, once per distinct pair; an error from it
	// is returned in an *IndexRefusedError, and the index is not decoded.
	// A reader given a key checks the signature here, so that an index
	// nobody signed costs no more than reading its bytes once (SPEC 15).
	VerifyIndex func(index, sig []byte) error
	// KeepIndexUpTo, when positive, is the longest bundle.json ReadAt
	// holds once it has checked it: a longer one is let go (its digest
	// kept; VolumeHeader.IndexBytes is nil), and the bundle.json of a
	// later volume of its length is hashed as it is read and compared by
	// digest, read again from where it is only when it differs or its
	// bytes are needed once more (a signature not seen with it). At a
	// million blobs it is 124 MB that would otherwise stay for as long as
	// the blob tables of the volumes are read (issue 15).
	KeepIndexUpTo int

	parsed []*cachedIndex
}

// cachedIndex is a bundle.json parsed, and what was checked of it.
type cachedIndex struct {
	bytes    []byte        // nil once let go (KeepIndexUpTo)
	size     int           // len(bytes)
	sum      digest.Digest // of bytes: set when they are let go
	x        *Index
	layouts  [][]byte // index.json contents found to agree with x, kept to compare (version 1)
	agreed   bool     // an index.json was found to agree with x
	unsigned bool     // VerifyIndex accepted it without a signature
	sigs     [][]byte // signatures VerifyIndex accepted with it

	// tables is where the blob tables of x's volumes are decoded
	// (version 2): one array, volume after volume, each table given its
	// place once. MergeBlobTables merges tables that lie so in place: at
	// a million blobs, the 120 MB of a second array of all the blobs,
	// the peak of verify and unpack, is not needed.
	tables     []Blob
	tableTaken []bool
}

// tableArenaSlack is the size of the array of all tables made whatever the
// index's length (a bundle of many blobs and few images).
const tableArenaSlack = 32 << 20

// tableRoom is where volume n's table is decoded: its place in e.tables,
// empty with the room the index counts and the rest of the array after
// it, the first time; nil (a table of its own) after that, or without e.
func (e *cachedIndex) tableRoom(n int) []Blob {
	if e == nil || e.x.FormatVersion != VersionV2 || n < 1 || n > len(e.x.BlobTables) {
		return nil
	}
	if e.tableTaken == nil {
		e.tableTaken = make([]bool, len(e.x.BlobTables))
		total := 0
		for _, t := range e.x.BlobTables {
			total += t.Count
		}
		// The counts are the index's word, which nobody may have vouched
		// for yet: the array is made only within the memory the index's
		// own length allows its decoding (SPEC 15; CheckDecodeCost),
		// and tables beyond that each get their own, as their bytes come.
		if int64(total)*int64(unsafe.Sizeof(Blob{})) <= int64(e.size)/DecodeRatio+tableArenaSlack {
			e.tables = make([]Blob, total)
		}
	}
	if e.tables == nil || e.tableTaken[n-1] {
		return nil
	}
	e.tableTaken[n-1] = true
	at := 0
	for _, t := range e.x.BlobTables[:n-1] {
		at += t.Count
	}
	return e.tables[at:at]
}

// accepted reports whether VerifyIndex accepted e with sig before.
func (e *cachedIndex) accepted(sig []byte) bool {
	if e == nil {
		return false
	}
	if sig == nil {
		return e.unsigned
	}
	return containsBytes(e.sigs, sig)
}

func (e *cachedIndex) accept(sig []byte) {
	if sig == nil {
		e.unsigned = true
	} else if !containsBytes(e.sigs, sig) {
		e.sigs = append(e.sigs, sig)
	}
}

// known is the distinct index bytes held.
func (c *HeaderReader) known() [][]byte {
	if c == nil {
		return nil
	}
	var out [][]byte
	for _, e := range c.parsed {
		if e.bytes != nil {
			out = append(out, e.bytes)
		}
	}
	return out
}

// knownLayouts is the distinct index.json contents checked so far.
func (c *HeaderReader) knownLayouts() [][]byte {
	if c == nil {
		return nil
	}
	var out [][]byte
	for _, e := range c.parsed {
		out = append(out, e.layouts...)
	}
	return out
}

// entry is the index parsed before whose bytes b are.
func (c *HeaderReader) entry(b []byte) *cachedIndex {
	if c == nil {
		return nil
	}
	for _, e := range c.parsed {
		if e.bytes != nil && bytes.Equal(e.bytes, b) {
			return e
		}
	}
	return nil
}

// readIndex reads the bundle.json member: its bytes, and the entry of the
// index parsed before that they are, if any; or, when they are those of an
// index let go (compared by digest), no bytes and that entry. off is where
// its data starts.
func (c *HeaderReader) readIndex(p *prefixReader) (b []byte, e *cachedIndex, header []byte, off int64, err error) {
	header, size, err := p.memberHeader(MemberIndex, MaxIndexSize)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	off = p.off
	var released []*cachedIndex
	if c != nil && p.ra != nil {
		for _, e := range c.parsed {
			if e.bytes == nil && int64(e.size) == size {
				released = append(released, e)
			}
		}
	}
	if len(released) == 0 {
		b, err = p.readData(size, likeOf(c.known(), size))
		if err != nil {
			return nil, nil, nil, 0, p.corrupt(MemberIndex, "truncated inside member %s", MemberIndex)
		}
		if err := p.padding(MemberIndex, size); err != nil {
			return nil, nil, nil, 0, err
		}
		return b, c.entry(b), header, off, nil
	}
	sum, err := p.hashData(MemberIndex, size)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	if err := p.padding(MemberIndex, size); err != nil {
		return nil, nil, nil, 0, err
	}
	for _, e := range released {
		if e.sum == sum {
			return nil, e, header, off, nil
		}
	}
	// Another index of that length: read it again, to parse.
	if b, err = p.readAgain(MemberIndex, off, size); err != nil {
		return nil, nil, nil, 0, err
	}
	if digest.FromBytes(b) != sum {
		return nil, nil, nil, 0, &CorruptError{Path: p.path, Offset: off, Member: MemberIndex, Reason: "changed while it was read"}
	}
	return b, nil, header, off, nil
}

// likeOf is the slice of likes of size bytes, if any.
func likeOf(likes [][]byte, size int64) []byte {
	for _, l := range likes {
		if int64(len(l)) == size {
			return l
		}
	}
	return nil
}

// letGo drops the bytes of e when they are longer than KeepIndexUpTo and
// can be read again, keeping their digest.
func (c *HeaderReader) letGo(e *cachedIndex, p *prefixReader) {
	if c == nil || e == nil || e.bytes == nil || p.ra == nil || c.KeepIndexUpTo <= 0 || e.size <= c.KeepIndexUpTo {
		return
	}
	e.sum = digest.FromBytes(e.bytes)
	e.bytes = nil
}

// Read reads the members before the first blob of a volume, as
// ReadVolumeHeader does.
func (cache *HeaderReader) Read(r io.Reader, path string) (*VolumeHeader, error) {
	return cache.ReadSized(r, -1, path)
}

// ReadSized is Read for an input of size bytes (a file of that size):
// a member that claims more bytes than are left is refused unread, and
// one that fits is read into a buffer of its size, so that memory is
// what the file holds, once (SPEC 15).
func (cache *HeaderReader) ReadSized(r io.Reader, size int64, path string) (*VolumeHeader, error) {
	return cache.read(&prefixReader{r: r, path: path, size: size})
}

// ReadAt is ReadSized for an input that can be read again where it was
// read (a volume file), which lets a large bundle.json go (KeepIndexUpTo).
func (cache *HeaderReader) ReadAt(ra io.ReaderAt, size int64, path string) (*VolumeHeader, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(ra, 0, size), int(min(size, 64<<10)))
	return cache.read(&prefixReader{r: r, path: path, size: size, ra: ra})
}

func (cache *HeaderReader) read(p *prefixReader) (*VolumeHeader, error) {
	path, r := p.path, p.r
	first := make([]byte, BlockSize)
	if err := p.readFull(first); err != nil {
		return nil, fmt.Errorf("%s: %w (too short)", path, ErrNotVolume)
	}
	if name, _, err := ParseTarHeader(first); err != nil || name != MemberLayout {
		return nil, fmt.Errorf("%s: %w (does not start with an %s member)", path, ErrNotVolume, MemberLayout)
	}
	p.r = io.MultiReader(bytes.NewReader(first), r)
	p.off = 0
	layout, h1, err := p.member(MemberLayout, BlockSize)
	if err != nil {
		return nil, err
	}
	if string(layout) != OCILayoutFile {
		return nil, p.corrupt(MemberLayout, "%s member is not %s", MemberLayout, OCILayoutFile)
	}
	// index.json: in every volume of version 1, in the first of version
	// 2 (told from bundle.json's by its name, and checked against the
	// version and the volume number below).
	var layoutIndex, h2 []byte
	var layoutHashed *hashedMember // index.json not held, only hashed
	layoutLen := int64(-1)         // no index.json member
	if name, err := p.peekName(); err != nil {
		return nil, p.corrupt(MemberOCIIndex, "truncated before member %s", MemberOCIIndex)
	} else if name != MemberIndex {
		if layoutIndex, layoutHashed, h2, layoutLen, err = cache.readLayoutIndex(p); err != nil {
			return nil, err
		}
	}
	indexBytes, e, h3, indexOff, err := cache.readIndex(p)
	if err != nil {
		return nil, err
	}
	// indexBytesAgain is indexBytes, read again when they were let go.
	indexBytesAgain := func() ([]byte, error) {
		if indexBytes != nil {
			return indexBytes, nil
		}
		b, err := p.readAgain(MemberIndex, indexOff, int64(e.size))
		if err == nil && digest.FromBytes(b) != e.sum {
			err = &CorruptError{Path: path, Offset: indexOff, Member: MemberIndex, Reason: "changed while it was read"}
		}
		return b, err
	}
	// The signature comes before the index is decoded: whether it is
	// there is read from the next header's name, and checked against the
	// index's signer below.
	sigOff := p.off
	sig, h4, err := p.signature()
	if err != nil {
		return nil, err
	}
	checked := false
	if cache != nil && cache.VerifyIndex != nil && !e.accepted(sig) {
		b, err := indexBytesAgain()
		if err != nil {
			return nil, err
		}
		if err := cache.VerifyIndex(b, sig); err != nil {
			return nil, p.refused(b, err)
		}
		checked = true
	}
	var x *Index
	if e != nil {
		x = e.x
	} else if x, err = parseIndexBounded(indexBytes); err != nil {
		return nil, &CorruptError{Path: path, Offset: sigOff, Member: MemberIndex, Reason: err.Error()}
	} else if cache != nil {
		e = &cachedIndex{bytes: indexBytes, size: len(indexBytes), x: x}
		cache.parsed = append(cache.parsed, e)
	}
	if checked && e != nil {
		e.accept(sig)
	}
	indexLen := len(indexBytes)
	if indexBytes == nil {
		indexLen = e.size
	}
	// layoutAgrees checks index.json against x: its digest is the one x
	// names, and its entries agree with x's, compared once per index.
	layoutAgrees := func(volume int) error {
		if layoutHashed != nil {
			if layoutHashed.sum != x.LayoutIndex.Digest || layoutHashed.size != x.LayoutIndex.Size {
				return &CorruptError{Path: path, Volume: volume, Offset: BlockSize * 2, Member: MemberOCIIndex, Digest: x.LayoutIndex.Digest, Reason: "index.json differs from the one the bundle index names"}
			}
			if e != nil && e.agreed {
				return nil
			}
			ib, err := indexBytesAgain()
			if err != nil {
				return err
			}
			// index.json as a writer makes it of bundle.json's entries
			// lists them: it is those bytes. Another's is read again and
			// compared entry by entry.
			if layoutIndexOf(ib) != layoutHashed.sum {
				b, err := p.readAgain(MemberOCIIndex, layoutHashed.off, layoutHashed.size)
				if err != nil {
					return err
				}
				if digest.FromBytes(b) != layoutHashed.sum {
					return &CorruptError{Path: path, Volume: volume, Offset: layoutHashed.off, Member: MemberOCIIndex, Reason: "changed while it was read"}
				}
				if err := checkLayoutIndex(x, b, ib, path, volume); err != nil {
					return err
				}
			}
			if e != nil {
				e.agreed = true
			}
			return nil
		}
		if e != nil && containsBytes(e.layouts, layoutIndex) {
			return nil
		}
		if e != nil && e.agreed {
			// Agreement was found with the index.json x names: one of
			// that digest is the same.
			if digest.FromBytes(layoutIndex) == x.LayoutIndex.Digest && int64(len(layoutIndex)) == x.LayoutIndex.Size {
				return nil
			}
		}
		ib, err := indexBytesAgain()
		if err != nil {
			return err
		}
		if err := checkLayoutIndex(x, layoutIndex, ib, path, volume); err != nil {
			return err
		}
		if e != nil {
			e.agreed = true
		}
		return nil
	}
	v2 := x.FormatVersion == VersionV2
	if !v2 && layoutLen < 0 {
		return nil, &CorruptError{Path: path, Offset: MemberSize(int64(len(layout))), Member: MemberOCIIndex,
			Reason: fmt.Sprintf("member %q where %q belongs", MemberIndex, MemberOCIIndex)}
	}
	headers := [][]byte{h1}
	names := []string{MemberLayout}
	sizes := []int64{int64(len(layout))}
	if layoutLen >= 0 {
		headers, names, sizes = append(headers, h2), append(names, MemberOCIIndex), append(sizes, layoutLen)
	}
	headers, names, sizes = append(headers, h3), append(names, MemberIndex), append(sizes, int64(indexLen))
	switch {
	case x.Signer != nil && sig == nil:
		return nil, &CorruptError{Path: path, Offset: sigOff + BlockSize, Member: MemberSignature,
			Reason: fmt.Sprintf("the index is signed but no %s member follows %s", MemberSignature, MemberIndex)}
	case x.Signer == nil && sig != nil:
		return nil, &CorruptError{Path: path, Offset: sigOff + BlockSize, Member: MemberVolume,
			Reason: fmt.Sprintf("member %q where %q belongs", MemberSignature, MemberVolume)}
	case sig != nil:
		headers, names, sizes = append(headers, h4), append(names, MemberSignature), append(sizes, int64(len(sig)))
	}
	marker, h5, err := p.member(MemberVolume, BlockSize-1)
	if err != nil {
		return nil, err
	}
	headers, names, sizes = append(headers, h5), append(names, MemberVolume), append(sizes, int64(len(marker)))
	var m markerJSON
	if err := json.Unmarshal(marker, &m); err != nil || m.Volume < 1 || m.Volume > len(x.Volumes) ||
		!bytes.Equal(marker, VolumeMarker(x.BundleID, m.Volume, len(x.Volumes))) {
		return nil, p.corrupt(MemberVolume, "%s does not name a volume of bundle %s", MemberVolume, x.BundleID)
	}
	var table []Blob
	if v2 {
		if (m.Volume == 1) != (layoutLen >= 0) {
			return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: MemberSize(int64(len(layout))), Member: MemberOCIIndex,
				Reason: fmt.Sprintf("in format version 2, volume 1 and no other carries %s", MemberOCIIndex)}
		}
		if layoutLen >= 0 {
			// Checked now and let go: only this volume carries it, and
			// with the raw bundle.json and the table it was the reader's
			// peak of memory (67 MB of 765 at a million blobs).
			if err := layoutAgrees(m.Volume); err != nil {
				return nil, err
			}
			layoutIndex, layoutLen = nil, -1
		}
		// Nothing needs bundle.json's bytes past here: a large one goes
		// before the table is read.
		if cache.letGo(e, p); e != nil && e.bytes == nil {
			indexBytes = nil
		}
		want := x.BlobTables[m.Volume-1]
		tableOff := p.off
		h6, size, err := p.memberHeader(MemberBlobTable, want.Size)
		if err == nil {
			// Decoded as it is read, never held whole (ReadBlobTable).
			table, err = readBlobTable(x, m.Volume, memberData{p}, size, e.tableRoom(m.Volume))
			var re *tableReadError
			switch {
			case errors.As(err, &re) && errors.Is(re.err, io.ErrUnexpectedEOF):
				err = p.corrupt(MemberBlobTable, "truncated inside member %s", MemberBlobTable)
			case re != nil:
				err = p.corrupt(MemberBlobTable, "member %s cannot be read: %v", MemberBlobTable, re.err)
			case err != nil:
				return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: tableOff, Member: MemberBlobTable, Digest: want.Digest, Reason: err.Error(),
					Packed: !errors.Is(err, ErrTableDiffers)}
			default:
				err = p.padding(MemberBlobTable, size)
			}
		}
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Volume = m.Volume
			}
			return nil, err
		}
		headers, names, sizes = append(headers, h6), append(names, MemberBlobTable), append(sizes, size)
	}
	mtime := x.Mtime()
	var off int64
	for i, h := range headers {
		if !bytes.Equal(h, TarHeader(names[i], sizes[i], mtime)) {
			return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: off, Member: names[i], Reason: "tar header is not the canonical one"}
		}
		off += MemberSize(sizes[i])
	}
	if layoutLen >= 0 {
		// Version 1: a volume with the same index.json and bundle.json as
		// one checked before passes as that one did.
		if err := layoutAgrees(m.Volume); err != nil {
			return nil, err
		}
		if e != nil && layoutIndex != nil && !containsBytes(e.layouts, layoutIndex) {
			e.layouts = append(e.layouts, layoutIndex)
		}
	}
	if off != x.VolumePrefixSize(m.Volume, indexLen) {
		return nil, p.corrupt("", "internal error: prefix size")
	}
	cache.letGo(e, p)
	h := &VolumeHeader{Path: path, Number: m.Volume, Index: x, IndexBytes: indexBytes, Signature: sig, LayoutIndex: layoutIndex,
		Table: table, indexSize: indexLen}
	if e != nil && e.bytes == nil {
		h.IndexBytes, h.indexDigest = nil, e.sum
	}
	return h, nil
}

// hashedMember is a member read for its digest only, to be read again
// from where it is if its bytes are needed.
type hashedMember struct {
	off, size int64
	sum       digest.Digest
}

// readLayoutIndex reads the index.json member: its bytes, or, when they
// are longer than KeepIndexUpTo and can be read again, their digest only
// (67 MB at 300,000 entries, held while bundle.json was decoded: the peak
// of verify and unpack).
func (c *HeaderReader) readLayoutIndex(p *prefixReader) (b []byte, hashed *hashedMember, header []byte, size int64, err error) {
	if c == nil || p.ra == nil || c.KeepIndexUpTo <= 0 {
		b, header, err = p.memberLike(MemberOCIIndex, MaxOCIIndexSize, c.knownLayouts())
		return b, nil, header, int64(len(b)), err
	}
	if header, size, err = p.memberHeader(MemberOCIIndex, MaxOCIIndexSize); err != nil {
		return nil, nil, nil, 0, err
	}
	off := p.off
	if size <= int64(c.KeepIndexUpTo) {
		if b, err = p.readData(size, likeOf(c.knownLayouts(), size)); err != nil {
			return nil, nil, nil, 0, p.corrupt(MemberOCIIndex, "truncated inside member %s", MemberOCIIndex)
		}
	} else if sum, err := p.hashData(MemberOCIIndex, size); err != nil {
		return nil, nil, nil, 0, err
	} else {
		hashed = &hashedMember{off: off, size: size, sum: sum}
	}
	if err := p.padding(MemberOCIIndex, size); err != nil {
		return nil, nil, nil, 0, err
	}
	return b, hashed, header, size, nil
}

// layoutIndexOf is the digest of index.json as the reference writer makes
// it of the bundle.json b: its manifests member, as it is, in an OCI
// index (json.Marshal of an ocispec.Index with those manifests).
func layoutIndexOf(b []byte) digest.Digest {
	raw, ok := rawTopMember(b, "manifests")
	if !ok {
		return ""
	}
	h := digest.SHA256.Digester()
	io.WriteString(h.Hash(), `{"schemaVersion":2,"mediaType":"`+ocispec.MediaTypeImageIndex+`","manifests":`)
	h.Hash().Write(raw)
	io.WriteString(h.Hash(), "}")
	return h.Digest()
}

// checkLayoutIndex checks that index.json is the one x names and lists
// exactly the entries x lists.
func checkLayoutIndex(x *Index, layoutIndex, indexBytes []byte, path string, volume int) error {
	if digest.FromBytes(layoutIndex) != x.LayoutIndex.Digest || int64(len(layoutIndex)) != x.LayoutIndex.Size {
		return &CorruptError{Path: path, Volume: volume, Offset: BlockSize * 2, Member: MemberOCIIndex, Digest: x.LayoutIndex.Digest, Reason: "index.json differs from the one the bundle index names"}
	}
	// index.json must list exactly the entries bundle.json lists. What
	// differs in structure is told apart unread (sameStructure): the
	// comparison decodes both, and index.json is as untrusted as bundle.json.
	if !sameStructure(layoutIndex, indexBytes) || !manifestsAgree(layoutIndex, indexBytes) {
		return &CorruptError{Path: path, Volume: volume, Offset: BlockSize * 2, Member: MemberOCIIndex, Reason: "index.json lists other manifests than bundle.json"}
	}
	return nil
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}
