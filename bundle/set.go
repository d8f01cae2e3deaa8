package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// Set is one bundle's volumes, found among those given, with their
// headers read. It is the read side's one value: open it once (Open,
// OpenFiles), establish trust once (Trust), then Verify, Unpack, Push or
// Summary.
type Set struct {
	Index *format.Index
	// IndexBytes is bundle.json as the volumes carry it: what the
	// signatures sign. Trust releases it once it has passed (nil after),
	// as the set releases each volume's index.json when it is opened
	// (VolumeHeader.Release): these raw bytes (about 550 per blob) are
	// more than the decoded Index, which is all that reading needs, and
	// the headers are compared by digest when read again (issue 15).
	// One larger than LargeIndexSize is not held at all: the header
	// reader lets it go once the first volume's is checked and knows the
	// others' by their digest (format.HeaderReader.KeepIndexUpTo; format
	// version 2 holds the blob tables of every volume at once, and this
	// on top was the peak of memory), and Trust reads it again only for
	// the signatures it checks with a key.
	// ReadIndexBytes reads it again from a volume.
	IndexBytes []byte
	Signature  []byte
	// Volumes present, by number.
	Volumes map[int]*format.VolumeHeader
	// Problems found while gathering: foreign, stale and duplicate volumes,
	// unreadable or corrupt headers.
	Problems []error

	signatures [][]byte             // distinct signatures of the volumes present
	index      format.Content       // size and digest of IndexBytes (gather)
	openers    map[int]VolumeOpener // of the volumes present
	trusted    bool                 // Trust passed
	checkedKey bool                 // and checked the signature with a key

	// Countersignatures (trust.go): files given by path, and what was
	// found of them and beside the volumes.
	sigPaths  []string
	indexPath string // bundle.json the set was read from (OpenIndexFile)
	counters  *countersignatures
	statuses  []SignatureStatus // of the last Trust
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// Missing lists the volume numbers not found.
func (s *Set) Missing() []int {
	var out []int
	for _, v := range s.Index.Volumes {
		if s.Volumes[v.Number] == nil {
			out = append(out, v.Number)
		}
	}
	return out
}

// TrustPolicy, Trust and Trusted are in trust.go.

// OpenFiles finds the volumes in paths (volume files, under any name, or
// directories whose files named like volumes, vol-NNNN-of-NNNN.tar, are
// read; SPEC 11.3) and opens them as Open does. A path that is not a
// regular file or a directory is refused unopened (format.ErrNotVolume).
func OpenFiles(ctx context.Context, paths []string) (*Set, error) {
	return OpenFilesWith(ctx, paths, OpenOptions{})
}

// Open reads the headers of volumes. When volumes of several bundles are
// among them, the most recently created bundle is chosen and the other
// volumes are reported as problems (as are duplicates and volumes whose
// header is damaged). Nothing is trusted yet: see Trust.
func Open(ctx context.Context, volumes []VolumeOpener) (*Set, error) {
	cands := make([]volumeCandidate, len(volumes))
	names := make([]string, len(volumes))
	for i, v := range volumes {
		cands[i] = volumeCandidate{v, true}
		names[i] = v.Name()
	}
	return openSet(ctx, cands, fmt.Sprint(names))
}

// openSet reads the headers of cands; given names them for errors.
func openSet(ctx context.Context, cands []volumeCandidate, given string) (*Set, error) {
	return openSetWith(ctx, cands, given, OpenOptions{})
}

// openSetWith is openSet with options.
func openSetWith(ctx context.Context, cands []volumeCandidate, given string, o OpenOptions) (*Set, error) {
	found, problems, err := readHeaders(ctx, cands, &format.HeaderReader{VerifyIndex: o.VerifyIndex, KeepIndexUpTo: releaseIndexAbove})
	if err != nil {
		return nil, err
	}
	problems, refused := splitRefused(problems)
	if len(found) == 0 {
		if len(refused) > 0 {
			return nil, errors.Join(refused...)
		}
		if len(problems) > 0 {
			return nil, errors.Join(problems...)
		}
		return nil, fmt.Errorf("%w in %s; give the directories or files that hold the vol-NNNN-of-NNNN.tar volumes", ErrNoVolumes, given)
	}
	chooseBundle(found)
	s, more, err := gather(found)
	if err != nil {
		return nil, err
	}
	s.Problems = append(problems, more...)
	if err := s.placeRefused(refused); err != nil {
		return nil, err
	}
	return s, nil
}

// foundVolume is a volume header read, and the volume it was read from.
type foundVolume struct {
	h *format.VolumeHeader
	v VolumeOpener
}

// readHeaders reads the header of every candidate. Candidates found in
// directories that are not volumes are skipped; the other failures are
// problems.
func readHeaders(ctx context.Context, cands []volumeCandidate, cache *format.HeaderReader) ([]foundVolume, []error, error) {
	var found []foundVolume
	var problems []error
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		name := filepath.Base(c.v.Name())
		h, err := readHeader(ctx, c.v, cache)
		switch {
		case errors.Is(err, format.ErrNotVolume) && !c.explicit && !format.IsVolumeFileName(name):
			continue
		case errors.Is(err, format.ErrNotVolume) && format.IsVolumeFileName(name):
			// Named like a volume but its first header is damaged: report it
			// as a corrupt volume, not as a stranger (nor as missing).
			var n int
			fmt.Sscanf(name, "vol-%d-", &n)
			problems = append(problems, &format.CorruptError{Path: c.v.Name(), Volume: n, Reason: "its first tar header is not the " + format.MemberLayout + " member every volume starts with"})
		case err != nil:
			problems = append(problems, err)
		default:
			found = append(found, foundVolume{h, c.v})
		}
	}
	return found, problems, nil
}

// chooseBundle sorts found so that the volumes of the bundle to read come
// first: the newest bundle wins; ties go to the one with more volumes
// here, counted by number (copies of one volume count once).
func chooseBundle(found []foundVolume) {
	type volumeKey struct {
		bundleID string
		number   int
	}
	count := map[string]int{}
	numbered := map[volumeKey]bool{}
	for _, f := range found {
		if k := (volumeKey{f.h.Index.BundleID, f.h.Number}); !numbered[k] {
			numbered[k] = true
			count[f.h.Index.BundleID]++
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i].h.Index, found[j].h.Index
		if a.Created != b.Created {
			return a.Created > b.Created
		}
		if count[a.BundleID] != count[b.BundleID] {
			return count[a.BundleID] > count[b.BundleID]
		}
		return a.BundleID < b.BundleID
	})
}

// gather makes the set of the first volume's bundle from found, and
// reports the others: volumes of other bundles, volumes whose index
// differs, and volumes given twice. In format version 2 the blobs of the
// set are those the tables of its volumes list; tables that disagree
// are an error.
func gather(found []foundVolume) (*Set, []error, error) {
	main := found[0].h
	s := &Set{Index: main.Index, IndexBytes: main.IndexBytes, Signature: main.Signature, Volumes: map[int]*format.VolumeHeader{},
		openers: map[int]VolumeOpener{}, index: main.IndexContent()}
	var problems []error
	dups := map[int][]string{}
	for _, f := range found {
		h := f.h
		switch {
		case h.Index.BundleID != main.Index.BundleID:
			problems = append(problems, &ForeignVolumeError{Path: h.Path, BundleID: h.Index.BundleID, Created: h.Index.Created,
				Want: main.Index.BundleID, Stale: h.Index.Created < main.Index.Created, Number: h.Number, Total: h.Total()})
		case !h.SameIndex(main):
			problems = append(problems, &format.CorruptError{Path: h.Path, Volume: h.Number, Offset: h.Index.IndexOffset(h.Number), Member: format.MemberIndex,
				Reason: fmt.Sprintf("its bundle index differs from that of %s, another volume of the same bundle", main.Path)})
		case s.Volumes[h.Number] != nil:
			if dups[h.Number] == nil {
				dups[h.Number] = []string{s.Volumes[h.Number].Path}
			}
			dups[h.Number] = append(dups[h.Number], h.Path)
		default:
			s.Volumes[h.Number] = h
			s.openers[h.Number] = f.v
			// ECDSA signatures differ from one signing to the next: volumes
			// of two reproducible packs carry the same index with other
			// signatures. Each one is checked.
			if h.Signature != nil && !containsBytes(s.signatures, h.Signature) {
				s.signatures = append(s.signatures, h.Signature)
			}
		}
	}
	for _, h := range s.Volumes {
		// index.json is checked against the index (its digest) in every
		// volume: the set needs no copy of it. bundle.json stays, in
		// s.IndexBytes, until Trust has checked the signatures over it,
		// unless it is large: the header reader let it go already (see
		// IndexBytes).
		h.LayoutIndex = nil
	}
	dn := slices.Sorted(maps.Keys(dups))
	for _, n := range dn {
		problems = append(problems, &DuplicateVolumeError{BundleID: main.Index.BundleID, Number: n, Paths: dups[n]})
	}
	if s.Index.FormatVersion == format.VersionV2 {
		if err := s.mergeTables(); err != nil {
			return nil, nil, err
		}
	}
	return s, problems, nil
}

// setOfHeader is the set of the one volume h heads, as OpenFiles would
// make it of that volume alone (version 2: its table merged), for readers
// that read one header by hand (LoadBase).
func setOfHeader(h *format.VolumeHeader) (*Set, error) {
	s := &Set{Index: h.Index, IndexBytes: h.IndexBytes, Signature: h.Signature, Volumes: map[int]*format.VolumeHeader{h.Number: h}}
	if h.Index.FormatVersion == format.VersionV2 {
		if err := s.mergeTables(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// mergeTables gives the set (format version 2) an index whose blobs are
// those the blob tables of its volumes list, checked against each other
// (format.MergeBlobTables), and makes it every volume's: the blobs are
// then held once, not once per table.
func (s *Set) mergeTables() error {
	tables := make(map[int][]format.Blob, len(s.Volumes))
	for n, h := range s.Volumes {
		// The map holds the only reference: the merge drops each table
		// once copied.
		tables[n], h.Table = h.Table, nil
	}
	blobs, err := format.MergeBlobTables(s.Index, tables)
	if err != nil {
		var paths []string
		for _, n := range slices.Sorted(maps.Keys(s.Volumes)) {
			paths = append(paths, s.Volumes[n].Path)
		}
		return &format.CorruptError{Path: strings.Join(paths, ", "), Member: format.MemberBlobTable, Reason: err.Error(), Packed: true}
	}
	x := *s.Index
	x.Blobs = blobs
	s.Index = &x
	for _, h := range s.Volumes {
		h.Index, h.Table = &x, nil
	}
	return nil
}

// readHeader reads the header of volume v.
func readHeader(ctx context.Context, v VolumeOpener, cache *format.HeaderReader) (*format.VolumeHeader, error) {
	r, err := v.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return cache.ReadAt(r, r.Size(), v.Name())
}

// headerPieces is what volume n of the set starts with, in order: the
// header members the set was read from, with that volume's own signature
// and marker, index.json and bundle.json by digest. They add up to the
// prefix size.
func (s *Set) headerPieces(n int) []format.HeaderPiece {
	return format.PrefixPieces(s.Index, s.indexContent(), s.Volumes[n].Signature, n)
}

// indexContent is the size and digest of bundle.json.
func (s *Set) indexContent() format.Content {
	if s.index.Digest == "" {
		// A set made by hand (LoadBase, tests): computed, not stored, so
		// that the parallel readers of a set only read it.
		return format.Content{Digest: digest.FromBytes(s.IndexBytes), Size: int64(len(s.IndexBytes))}
	}
	return s.index
}

// indexSize is the length of bundle.json, released or not.
func (s *Set) indexSize() int { return int(s.indexContent().Size) }

// matchHeader reads the header members of volume n from br and reports
// whether they are those the set was read from: the same bytes, compared
// as they are or, for index.json and bundle.json, by length and digest,
// hashed as they are read (the set keeps their digests, not their bytes).
// off is the bytes read, each also given to count when not nil; err is a
// read error other than the end of the input (which is a difference).
func (s *Set) matchHeader(br *bufio.Reader, n int, count func(int64)) (same bool, off int64, err error) {
	for _, p := range s.headerPieces(n) {
		want := p.Bytes
		left := int64(len(want))
		var h hash.Hash
		if want == nil {
			left, h = p.Content.Size, sha256.New()
		}
		for left > 0 {
			b, err := br.Peek(int(min(left, int64(br.Size()))))
			if len(b) == 0 {
				if err == io.EOF {
					return false, off, nil
				}
				return false, off, err
			}
			if h != nil {
				h.Write(b)
			} else if !bytes.Equal(b, want[:len(b)]) {
				return false, off, nil
			} else {
				want = want[len(b):]
			}
			br.Discard(len(b))
			off += int64(len(b))
			left -= int64(len(b))
			if count != nil {
				count(int64(len(b)))
			}
		}
		if h != nil && digest.NewDigest(digest.SHA256, h) != p.Content.Digest {
			return false, off, nil
		}
	}
	return true, off, nil
}

// ReadIndexBytes is IndexBytes, read again from the first volume present
// (or the bundle.json of OpenIndexFile) once Trust has released it, and
// checked against the digest of the bytes the set was read from.
func (s *Set) ReadIndexBytes(ctx context.Context) ([]byte, error) {
	if s.IndexBytes != nil {
		return s.IndexBytes, nil
	}
	want := s.indexContent()
	var b []byte
	var path string
	if s.indexPath != "" {
		path = s.indexPath
		var err error
		if b, err = readLimited(path, format.MaxIndexSize); err != nil {
			return nil, err
		}
	} else {
		nums := slices.Sorted(maps.Keys(s.Volumes))
		if len(nums) == 0 {
			return nil, fmt.Errorf("bundle %s: no volume to read its index from", s.Index.BundleID)
		}
		n := nums[0]
		path = s.Volumes[n].Path
		r, err := s.reopen(ctx, n)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		b = make([]byte, want.Size)
		off := s.Index.IndexOffset(n) + format.BlockSize
		if _, err := r.ReadAt(b, off); err != nil {
			return nil, &format.CorruptError{Path: path, Volume: n, Offset: off, Member: format.MemberIndex, Reason: fmt.Sprintf("cannot be read again: %v", err)}
		}
	}
	if int64(len(b)) != want.Size || digest.FromBytes(b) != want.Digest {
		return nil, &format.CorruptError{Path: path, Member: format.MemberIndex, Reason: "the bundle index changed since it was read"}
	}
	return b, nil
}

// LargeIndexSize is the size of bundle.json above which a set does not
// hold it from when it is opened (Set.IndexBytes): about 30,000 blobs in
// format version 1. Smaller, it is kept until Trust, which then needs not
// read it again.
const LargeIndexSize = 16 << 20

// releaseIndexAbove is LargeIndexSize, lowered by tests.
var releaseIndexAbove = LargeIndexSize

// releaseIndexBytes drops the raw bundle.json once the signatures over it
// are checked (see IndexBytes), when it can be read again.
func (s *Set) releaseIndexBytes() {
	if s.IndexBytes == nil || (s.indexPath == "" && len(s.openers) == 0) {
		return
	}
	s.index = s.indexContent()
	s.IndexBytes = nil
	for _, h := range s.Volumes {
		h.Release()
	}
}

// reheader reads the header members of volume n again from r (at the start
// of the file) to say what is wrong with them, after they did not read as
// those the set was built from.
func (s *Set) reheader(r io.Reader, n int) error {
	path := s.Volumes[n].Path
	_, err := format.ReadVolumeHeader(bufio.NewReaderSize(r, 64<<10), path)
	if err == nil {
		err = &format.CorruptError{Path: path, Volume: n, Reason: "the file changed while it was being read"}
	}
	return err
}

// openedVolume is a volume open for reading from its start, its header
// members read: br reads the rest. When the volume is a file, file is
// it, and br reads it from its position.
type openedVolume struct {
	r    VolumeReader
	br   *bufio.Reader
	file *os.File
	h    *format.VolumeHeader
}

// reopen opens volume n again. It was read when the set was opened: a
// medium that no longer opens (an I/O error) is a damaged one, as verify
// would say; a file removed or made unreadable since is not.
func (s *Set) reopen(ctx context.Context, n int) (VolumeReader, error) {
	r, err := s.openers[n].Open(ctx)
	var ce *format.CorruptError
	switch {
	case errors.As(err, &ce):
		if ce.Volume == 0 {
			ce.Volume = n
		}
		return nil, err
	case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission):
		return nil, &format.CorruptError{Path: s.Volumes[n].Path, Volume: n, Reason: fmt.Sprintf("cannot be opened again: %v", err)}
	}
	return r, err
}

// openVolume opens volume n and reads its header again, checking that it
// still holds the volume the set was built from: its header members are
// compared with those read before, byte for byte or by digest
// (matchHeader), so the index is not parsed again.
func (s *Set) openVolume(ctx context.Context, n int) (*openedVolume, error) {
	want := s.Volumes[n]
	r, err := s.reopen(ctx, n)
	if err != nil {
		return nil, err
	}
	ov := &openedVolume{r: r}
	var src io.Reader = io.NewSectionReader(r, 0, r.Size())
	if f, ok := r.(interface{ File() *os.File }); ok {
		ov.file = f.File()
		src = ov.file
	}
	ov.br = bufio.NewReaderSize(src, int(min(r.Size(), 1<<20)))
	same, off, err := s.matchHeader(ov.br, n, nil)
	if err != nil {
		r.Close()
		return nil, &format.CorruptError{Path: want.Path, Volume: n, Offset: off, Reason: fmt.Sprintf("cannot be read: %v", err)}
	}
	if !same {
		err := s.reheader(io.NewSectionReader(r, 0, r.Size()), n)
		r.Close()
		return nil, err
	}
	h := *want
	h.Index = s.Index
	ov.h = &h
	return ov, nil
}

// complete checks that the set can be read whole: trusted, every volume
// there, no problem.
func (s *Set) complete() error {
	if !s.trusted {
		return fmt.Errorf("bundle %s: %w", s.Index.BundleID, ErrNotTrusted)
	}
	if len(s.Problems) > 0 {
		return errors.Join(s.Problems...)
	}
	if missing := s.Missing(); len(missing) > 0 {
		return &MissingVolumesError{BundleID: s.Index.BundleID, Total: len(s.Index.Volumes), Missing: missing}
	}
	return nil
}

// readSmallBlob reads a manifest-sized blob straight from its place in the
// volumes, checking each segment and the whole. reader gives the volumes,
// open.
func (s *Set) readSmallBlob(ctx context.Context, b *format.Blob, reader func(n int) (VolumeReader, error)) ([]byte, error) {
	if b.StoredSize > oci.MaxManifestSize || b.Size > oci.MaxManifestSize {
		return nil, fmt.Errorf("manifest %s is %d bytes, more than the %d allowed", b.Digest, b.Size, oci.MaxManifestSize)
	}
	stored := make([]byte, 0, b.StoredSize)
	for i, p := range b.Placements {
		v := s.Volumes[p.Volume]
		r, err := reader(p.Volume)
		if err != nil {
			return nil, err
		}
		// Read in place: the segments fill stored, whose size the index
		// gives (and the validated index makes them add up to).
		if int64(len(stored))+p.Length > int64(cap(stored)) {
			return nil, &format.CorruptError{Path: v.Path, Volume: p.Volume, Offset: p.Offset, Member: format.MemberName(b, i), Digest: p.Digest,
				Reason: fmt.Sprintf("segments longer than the %d bytes stored", b.StoredSize)}
		}
		seg := stored[len(stored) : int64(len(stored))+p.Length]
		if _, err := r.ReadAt(seg, p.Offset); err != nil {
			return nil, &format.CorruptError{Path: v.Path, Volume: p.Volume, Offset: p.Offset, Member: format.MemberName(b, i), Digest: p.Digest,
				Reason: fmt.Sprintf("cannot read %d bytes: %v", p.Length, err)}
		}
		if digest.FromBytes(seg) != p.Digest {
			return nil, &format.CorruptError{Path: v.Path, Volume: p.Volume, Offset: p.Offset, Member: format.MemberName(b, i), Digest: p.Digest, Reason: "segment content does not match its digest"}
		}
		stored = stored[:int64(len(stored))+p.Length]
	}
	content := stored
	if b.Encoding == format.CompressionZstd {
		dec, err := zstd.NewReader(bytes.NewReader(stored), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow), zstd.WithDecoderMaxMemory(uint64(b.Size)+1))
		if err != nil {
			return nil, err
		}
		content, err = io.ReadAll(io.LimitReader(dec, b.Size+1))
		dec.Close()
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", b.Digest, err)
		}
	}
	// One segment of an unencoded blob was checked whole above.
	whole := len(b.Placements) == 1 && b.Encoding != format.CompressionZstd && b.Placements[0].Digest == b.Digest
	if int64(len(content)) != b.Size || !whole && digest.FromBytes(content) != b.Digest {
		v := s.Volumes[b.Placements[0].Volume]
		return nil, &format.CorruptError{Path: v.Path, Volume: v.Number, Offset: b.Placements[0].Offset, Member: format.MemberName(b, 0), Digest: b.Digest, Reason: "manifest content does not match its digest"}
	}
	return content, nil
}
