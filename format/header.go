package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"
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

	indexSize int // len(IndexBytes), kept when they are released
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
	size int64 // bytes the input holds from its start; -1: not known
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
	header = make([]byte, BlockSize)
	if err := p.readFull(header); err != nil {
		return nil, nil, p.corrupt(name, "truncated before member %s", name)
	}
	got, size, err := ParseTarHeader(header)
	if err != nil {
		return nil, nil, p.corrupt(name, "%v", err)
	}
	if got != name {
		return nil, nil, p.corrupt(name, "member %q where %q belongs", got, name)
	}
	if size > max {
		return nil, nil, p.corrupt(name, "member %s is %d bytes, more than %d allowed", name, size, max)
	}
	if p.size >= 0 && size+Padding(size) > p.size-p.off {
		// Not there: refused before anything is allocated for it.
		return nil, nil, p.corrupt(name, "truncated inside member %s (%d bytes claimed, %d left in the file)", name, size, p.size-p.off)
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
	pad := make([]byte, Padding(size))
	if err := p.readFull(pad); err != nil {
		return nil, nil, p.corrupt(name, "truncated inside member %s", name)
	}
	if !bytes.Equal(pad, zeroBlocks[:len(pad)]) {
		return nil, nil, p.corrupt(name, "non-zero padding after member %s", name)
	}
	return data, header, nil
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

	parsed   []*cachedIndex
	verified []verifiedIndex
}

// verifiedIndex is an index and a signature VerifyIndex accepted.
type verifiedIndex struct{ index, sig []byte }

// isVerified reports whether VerifyIndex accepted index with sig before.
func (c *HeaderReader) isVerified(index, sig []byte) bool {
	for _, v := range c.verified {
		if bytes.Equal(v.index, index) && bytes.Equal(v.sig, sig) && (v.sig == nil) == (sig == nil) {
			return true
		}
	}
	return false
}

type cachedIndex struct {
	bytes   []byte
	x       *Index
	layouts [][]byte // index.json contents found to agree with x
}

// known is the distinct index bytes parsed so far.
func (c *HeaderReader) known() [][]byte {
	if c == nil {
		return nil
	}
	var out [][]byte
	for _, e := range c.parsed {
		out = append(out, e.bytes)
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

// parse returns the index b holds and bytes equal to b to keep (those of
// an earlier volume when the same, so that one copy is kept).
func (c *HeaderReader) parse(b []byte) (*Index, []byte, error) {
	if e := c.entry(b); e != nil {
		return e.x, e.bytes, nil
	}
	x, err := parseIndexBounded(b)
	if err == nil && c != nil {
		c.parsed = append(c.parsed, &cachedIndex{bytes: b, x: x})
	}
	return x, b, err
}

func (c *HeaderReader) entry(b []byte) *cachedIndex {
	if c == nil {
		return nil
	}
	for _, e := range c.parsed {
		if bytes.Equal(e.bytes, b) {
			return e
		}
	}
	return nil
}

// layoutAgrees reports whether layoutIndex was found to agree with the
// index of bytes b before.
func (c *HeaderReader) layoutAgrees(b, layoutIndex []byte) bool {
	if e := c.entry(b); e != nil {
		return containsBytes(e.layouts, layoutIndex)
	}
	return false
}

// layoutAgreed records that layoutIndex agrees with the index of bytes b.
func (c *HeaderReader) layoutAgreed(b, layoutIndex []byte) {
	if e := c.entry(b); e != nil && !containsBytes(e.layouts, layoutIndex) {
		e.layouts = append(e.layouts, layoutIndex)
	}
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
	p := &prefixReader{r: r, path: path, size: size}
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
	if name, err := p.peekName(); err != nil {
		return nil, p.corrupt(MemberOCIIndex, "truncated before member %s", MemberOCIIndex)
	} else if name != MemberIndex {
		if layoutIndex, h2, err = p.memberLike(MemberOCIIndex, MaxOCIIndexSize, cache.knownLayouts()); err != nil {
			return nil, err
		}
	}
	indexBytes, h3, err := p.memberLike(MemberIndex, MaxIndexSize, cache.known())
	if err != nil {
		return nil, err
	}
	// The signature comes before the index is decoded: whether it is
	// there is read from the next header's name, and checked against the
	// index's signer below.
	sigOff := p.off
	sig, h4, err := p.signature()
	if err != nil {
		return nil, err
	}
	if cache != nil && cache.VerifyIndex != nil && !cache.isVerified(indexBytes, sig) {
		if err := cache.VerifyIndex(indexBytes, sig); err != nil {
			return nil, p.refused(indexBytes, err)
		}
		cache.verified = append(cache.verified, verifiedIndex{indexBytes, sig})
	}
	x, indexBytes, err := cache.parse(indexBytes)
	if err != nil {
		return nil, &CorruptError{Path: path, Offset: sigOff, Member: MemberIndex, Reason: err.Error()}
	}
	v2 := x.FormatVersion == VersionV2
	if !v2 && layoutIndex == nil {
		return nil, &CorruptError{Path: path, Offset: MemberSize(int64(len(layout))), Member: MemberOCIIndex,
			Reason: fmt.Sprintf("member %q where %q belongs", MemberIndex, MemberOCIIndex)}
	}
	headers := [][]byte{h1}
	names := []string{MemberLayout}
	sizes := []int64{int64(len(layout))}
	if layoutIndex != nil {
		headers, names, sizes = append(headers, h2), append(names, MemberOCIIndex), append(sizes, int64(len(layoutIndex)))
	}
	headers, names, sizes = append(headers, h3), append(names, MemberIndex), append(sizes, int64(len(indexBytes)))
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
		if (m.Volume == 1) != (layoutIndex != nil) {
			return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: MemberSize(int64(len(layout))), Member: MemberOCIIndex,
				Reason: fmt.Sprintf("in format version 2, volume 1 and no other carries %s", MemberOCIIndex)}
		}
		if layoutIndex != nil {
			// Checked now and let go: only this volume carries it, and
			// with the raw bundle.json and the table it was the reader's
			// peak of memory (67 MB of 765 at a million blobs).
			if err := checkLayoutIndex(x, layoutIndex, indexBytes, path, m.Volume); err != nil {
				return nil, err
			}
			layoutIndex = nil
		}
		want := x.BlobTables[m.Volume-1]
		tableOff := p.off
		data, h6, err := p.member(MemberBlobTable, want.Size)
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Volume = m.Volume
			}
			return nil, err
		}
		if table, err = ParseBlobTable(x, m.Volume, data); err != nil {
			return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: tableOff, Member: MemberBlobTable, Digest: want.Digest, Reason: err.Error(),
				Packed: !errors.Is(err, ErrTableDiffers)}
		}
		headers, names, sizes = append(headers, h6), append(names, MemberBlobTable), append(sizes, int64(len(data)))
	}
	mtime := x.Mtime()
	var off int64
	for i, h := range headers {
		if !bytes.Equal(h, TarHeader(names[i], sizes[i], mtime)) {
			return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: off, Member: names[i], Reason: "tar header is not the canonical one"}
		}
		off += MemberSize(sizes[i])
	}
	// A volume with the same index.json and bundle.json as one checked
	// before passes as that one did.
	if layoutIndex != nil && !cache.layoutAgrees(indexBytes, layoutIndex) {
		if err := checkLayoutIndex(x, layoutIndex, indexBytes, path, m.Volume); err != nil {
			return nil, err
		}
		cache.layoutAgreed(indexBytes, layoutIndex)
	}
	if off != x.VolumePrefixSize(m.Volume, len(indexBytes)) {
		return nil, p.corrupt("", "internal error: prefix size")
	}
	return &VolumeHeader{Path: path, Number: m.Volume, Index: x, IndexBytes: indexBytes, Signature: sig, LayoutIndex: layoutIndex,
		Table: table, indexSize: len(indexBytes)}, nil
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
