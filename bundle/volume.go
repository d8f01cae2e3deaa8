package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
)

// VolumeHeader is what the first members of a volume say: the bundle index,
// its signature and which volume this is. ReadVolumeHeader has checked that
// these members are exactly what the format allows, byte for byte; whether
// the signature holds is a separate step (Set.CheckSignature).
type VolumeHeader struct {
	Path        string
	Number      int
	Index       *Index
	IndexBytes  []byte
	Signature   []byte // nil when unsigned
	LayoutIndex []byte
}

// Total is the number of volumes in the bundle.
func (h *VolumeHeader) Total() int { return len(h.Index.Volumes) }

// Size is the size the index gives this volume.
func (h *VolumeHeader) Size() int64 { return h.Index.Volumes[h.Number-1].Size }

// prefixReader reads the canonical members at the start of a volume.
type prefixReader struct {
	r    io.Reader
	path string
	off  int64
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
	header = make([]byte, blockSize)
	if err := p.readFull(header); err != nil {
		return nil, nil, p.corrupt(name, "truncated before member %s", name)
	}
	got, size, err := parseTarHeader(header)
	if err != nil {
		return nil, nil, p.corrupt(name, "%v", err)
	}
	if got != name {
		return nil, nil, p.corrupt(name, "member %q where %q belongs", got, name)
	}
	if size > max {
		return nil, nil, p.corrupt(name, "member %s is %d bytes, more than %d allowed", name, size, max)
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
	pad := make([]byte, padding(size))
	if err := p.readFull(pad); err != nil {
		return nil, nil, p.corrupt(name, "truncated inside member %s", name)
	}
	if !bytes.Equal(pad, zeroBlock[:len(pad)]) {
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
	return readVolumeHeader(r, path, nil)
}

// indexCache parses each distinct bundle.json once, and checks each
// index.json against it once: the volumes of a set carry the same bytes,
// and parsing a large index is far slower than comparing it.
type indexCache struct {
	parsed []*cachedIndex
}

type cachedIndex struct {
	bytes   []byte
	x       *Index
	layouts [][]byte // index.json contents found to agree with x
}

// known is the distinct index bytes parsed so far.
func (c *indexCache) known() [][]byte {
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
func (c *indexCache) knownLayouts() [][]byte {
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
func (c *indexCache) parse(b []byte) (*Index, []byte, error) {
	if e := c.entry(b); e != nil {
		return e.x, e.bytes, nil
	}
	x, err := ParseIndex(b)
	if err == nil && c != nil {
		c.parsed = append(c.parsed, &cachedIndex{bytes: b, x: x})
	}
	return x, b, err
}

func (c *indexCache) entry(b []byte) *cachedIndex {
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
func (c *indexCache) layoutAgrees(b, layoutIndex []byte) bool {
	if e := c.entry(b); e != nil {
		return containsBytes(e.layouts, layoutIndex)
	}
	return false
}

// layoutAgreed records that layoutIndex agrees with the index of bytes b.
func (c *indexCache) layoutAgreed(b, layoutIndex []byte) {
	if e := c.entry(b); e != nil && !containsBytes(e.layouts, layoutIndex) {
		e.layouts = append(e.layouts, layoutIndex)
	}
}

func readVolumeHeader(r io.Reader, path string, cache *indexCache) (*VolumeHeader, error) {
	p := &prefixReader{r: r, path: path}
	first := make([]byte, blockSize)
	if err := p.readFull(first); err != nil {
		return nil, fmt.Errorf("%s: %w (too short)", path, ErrNotVolume)
	}
	if name, _, err := parseTarHeader(first); err != nil || name != MemberLayout {
		return nil, fmt.Errorf("%s: %w (does not start with an %s member)", path, ErrNotVolume, MemberLayout)
	}
	p.r = io.MultiReader(bytes.NewReader(first), r)
	p.off = 0
	layout, h1, err := p.member(MemberLayout, blockSize)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(layout, layoutFileContent) {
		return nil, p.corrupt(MemberLayout, "%s member is not %s", MemberLayout, layoutFileContent)
	}
	layoutIndex, h2, err := p.memberLike(MemberOCIIndex, MaxOCIIndexSize, cache.knownLayouts())
	if err != nil {
		return nil, err
	}
	indexBytes, h3, err := p.memberLike(MemberIndex, MaxIndexSize, cache.known())
	if err != nil {
		return nil, err
	}
	x, indexBytes, err := cache.parse(indexBytes)
	if err != nil {
		return nil, p.corrupt(MemberIndex, "%v", err)
	}
	headers := [][]byte{h1, h2, h3}
	names := []string{MemberLayout, MemberOCIIndex, MemberIndex}
	sizes := []int64{int64(len(layout)), int64(len(layoutIndex)), int64(len(indexBytes))}
	var sig []byte
	if x.Signer != nil {
		var h []byte
		if sig, h, err = p.member(MemberSignature, MaxSignatureSize); err != nil {
			return nil, err
		}
		if len(sig) == 0 {
			return nil, p.corrupt(MemberSignature, "empty signature")
		}
		headers, names, sizes = append(headers, h), append(names, MemberSignature), append(sizes, int64(len(sig)))
	}
	marker, h5, err := p.member(MemberVolume, blockSize-1)
	if err != nil {
		return nil, err
	}
	headers, names, sizes = append(headers, h5), append(names, MemberVolume), append(sizes, int64(len(marker)))
	var m markerJSON
	if err := json.Unmarshal(marker, &m); err != nil || m.Volume < 1 || m.Volume > len(x.Volumes) ||
		!bytes.Equal(marker, volumeMarker(x.BundleID, m.Volume, len(x.Volumes))) {
		return nil, p.corrupt(MemberVolume, "%s does not name a volume of bundle %s", MemberVolume, x.BundleID)
	}
	mtime := mtimeOf(x)
	var off int64
	for i, h := range headers {
		if !bytes.Equal(h, tarHeader(names[i], sizes[i], mtime)) {
			return nil, &CorruptError{Path: path, Volume: m.Volume, Offset: off, Member: names[i], Reason: "tar header is not the canonical one"}
		}
		off += memberSize(sizes[i])
	}
	// A volume with the same index.json and bundle.json as one checked
	// before passes as that one did.
	if !cache.layoutAgrees(indexBytes, layoutIndex) {
		if err := checkLayoutIndex(x, layoutIndex, path, m.Volume); err != nil {
			return nil, err
		}
		cache.layoutAgreed(indexBytes, layoutIndex)
	}
	if off != x.prefixSize(len(indexBytes)) {
		return nil, p.corrupt("", "internal error: prefix size")
	}
	return &VolumeHeader{Path: path, Number: m.Volume, Index: x, IndexBytes: indexBytes, Signature: sig, LayoutIndex: layoutIndex}, nil
}

// checkLayoutIndex checks that index.json is the one x names and lists
// exactly the entries x lists.
func checkLayoutIndex(x *Index, layoutIndex []byte, path string, volume int) error {
	if digest.FromBytes(layoutIndex) != x.LayoutIndex.Digest || int64(len(layoutIndex)) != x.LayoutIndex.Size {
		return &CorruptError{Path: path, Volume: volume, Offset: blockSize * 2, Member: MemberOCIIndex, Digest: x.LayoutIndex.Digest, Reason: "index.json differs from the one the bundle index names"}
	}
	// index.json must list exactly the entries bundle.json lists.
	var li struct {
		Manifests json.RawMessage `json:"manifests"`
	}
	want, _ := json.Marshal(x.Manifests)
	// Same bytes (what pack writes) are the same JSON values; anything else
	// is compared as values.
	if json.Unmarshal(layoutIndex, &li) != nil || !(bytes.Equal(li.Manifests, want) || jsonEqual(li.Manifests, want)) {
		return &CorruptError{Path: path, Volume: volume, Offset: blockSize * 2, Member: MemberOCIIndex, Reason: "index.json lists other manifests than bundle.json"}
	}
	return nil
}

// bodyReader reads the blob members of one volume after its header, and
// checks every byte: canonical headers, segment digests, zero padding, the
// trailer and the end of the file.
type bodyReader struct {
	r       io.Reader
	hdr     *VolumeHeader
	members []memberRef
	next    int
	off     int64
	mtime   int64
	cur     *memberRef
	h       hash.Hash
	left    int64
	report  func(n int64)

	// For copyData: the volume file r buffers, read only through r.
	file *os.File
	br   *bufio.Reader
	// The current member's data went to copyData, unhashed: End leaves
	// the digest to the caller.
	copied bool
}

// blobCopier is where copyData puts a member's data.
type blobCopier interface {
	io.Writer
	// CopyFrom appends n bytes of src from its position; see oci.BlobWriter.
	CopyFrom(src *os.File, n int64) (int64, error)
	// Written is the number of bytes written so far.
	Written() int64
}

// useFile lets copyData copy from f, which br reads.
func (b *bodyReader) useFile(f *os.File, br *bufio.Reader) { b.file, b.br = f, br }

// copyData puts the rest of the current member's data into dst without
// reading it into memory: what br holds already is written, and the rest
// is copied from the volume file by the kernel, copyStep bytes at a time.
// added gets where each piece went in dst, for the caller to hash it there;
// End then checks everything but the digest.
func (b *bodyReader) copyData(dst blobCopier, added func(off, n int64)) error {
	if b.cur == nil || b.file == nil {
		return errors.New("internal error: no member to copy")
	}
	b.copied = true
	if k := min(int64(b.br.Buffered()), b.left); k > 0 {
		p, _ := b.br.Peek(int(k))
		off := dst.Written()
		if _, err := dst.Write(p); err != nil {
			return &destError{err}
		}
		b.br.Discard(int(k))
		b.left -= k
		b.off += k
		b.count(k)
		added(off, k)
	}
	// br holds nothing now, so the file's position is b.off.
	for b.left > 0 {
		n := min(copyStep, b.left)
		off, err := dst.CopyFrom(b.file, n)
		if k := dst.Written() - off; k > 0 {
			b.left -= k
			b.off += k
			b.count(k)
			added(off, k)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return b.corrupt(b.cur, "volume ends early (truncated)")
		}
		if err != nil {
			// The kernel does not say which side failed: if the volume
			// cannot be read where the copy stopped, it is damaged, as
			// verify would say; otherwise the destination failed.
			var one [1]byte
			if _, rerr := b.file.ReadAt(one[:], b.off); rerr != nil && rerr != io.EOF {
				return b.corrupt(b.cur, fmt.Sprintf("cannot be read: %v", rerr))
			}
			return &destError{err}
		}
	}
	return nil
}

func newBodyReader(r io.Reader, hdr *VolumeHeader, report func(int64)) *bodyReader {
	return &bodyReader{r: r, hdr: hdr, members: hdr.Index.members(hdr.Number), off: hdr.Index.prefixSize(len(hdr.IndexBytes)),
		mtime: mtimeOf(hdr.Index), report: report}
}

func (b *bodyReader) corrupt(m *memberRef, reason string) error {
	e := &CorruptError{Path: b.hdr.Path, Volume: b.hdr.Number, Offset: b.off, Reason: reason}
	if m != nil {
		e.Member = MemberName(m.blob, m.part)
		e.Digest = m.placement().Digest
	}
	return e
}

func (b *bodyReader) count(n int64) {
	if b.report != nil && n > 0 {
		b.report(n)
	}
}

// Next reads the header of the next member and returns the member and a
// reader of its data; ok is false after the last member.
func (b *bodyReader) Next() (m memberRef, data io.Reader, ok bool, err error) {
	if b.cur != nil {
		return m, nil, false, errors.New("internal error: member not ended")
	}
	if b.next >= len(b.members) {
		return m, nil, false, nil
	}
	m = b.members[b.next]
	b.next++
	h := make([]byte, blockSize)
	if n, err := io.ReadFull(b.r, h); err != nil {
		b.off += int64(n)
		return m, nil, false, b.corrupt(&m, "volume ends early (truncated)")
	}
	p := m.placement()
	if !bytes.Equal(h, tarHeader(MemberName(m.blob, m.part), p.Length, b.mtime)) {
		name, _, perr := parseTarHeader(h)
		reason := fmt.Sprintf("tar header of %q is not the one the index describes", name)
		if perr != nil {
			reason = perr.Error()
		}
		return m, nil, false, b.corrupt(&m, reason)
	}
	b.off += blockSize
	b.count(blockSize)
	b.cur, b.left, b.h = &m, p.Length, sha256.New()
	return m, b, true, nil
}

// Read reads the current member's data, hashing it.
func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.left -= int64(n)
	b.off += int64(n)
	b.count(int64(n))
	if err == io.EOF && b.left > 0 {
		return n, b.corrupt(b.cur, "volume ends early (truncated)")
	}
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		// An unreadable medium is a damaged one, as verify reports it.
		var ce *CorruptError
		if !errors.As(err, &ce) {
			err = b.corrupt(b.cur, fmt.Sprintf("cannot be read: %v", err))
		}
	}
	return n, err
}

// End finishes the current member: reads what the caller left, checks the
// segment digest and the padding.
func (b *bodyReader) End() error {
	m := b.cur
	if m == nil {
		return errors.New("internal error: no member")
	}
	if b.left > 0 {
		if _, err := io.Copy(io.Discard, b); err != nil {
			return err
		}
	}
	if b.copied {
		b.copied = false
	} else if got := digest.NewDigest(digest.SHA256, b.h); got != m.placement().Digest {
		return b.corrupt(m, fmt.Sprintf("content hashes to %s", got))
	}
	pad := make([]byte, padding(m.placement().Length))
	n, err := io.ReadFull(b.r, pad)
	b.off += int64(n)
	if err != nil {
		return b.corrupt(m, "volume ends early (truncated)")
	}
	if !bytes.Equal(pad, zeroBlock[:len(pad)]) {
		return b.corrupt(m, "non-zero padding")
	}
	b.count(int64(n))
	b.cur = nil
	return nil
}

// Close checks the end-of-archive trailer and that nothing follows it.
func (b *bodyReader) Close() error {
	if b.next < len(b.members) || b.cur != nil {
		return errors.New("internal error: volume not read to its end")
	}
	t := make([]byte, 2*blockSize)
	n, err := io.ReadFull(b.r, t)
	b.off += int64(n)
	if err != nil {
		return b.corrupt(nil, "volume ends early (truncated before the trailer)")
	}
	if !bytes.Equal(t, zeroBlock[:]) {
		return b.corrupt(nil, "trailer is not two zero blocks")
	}
	b.count(int64(n))
	var one [1]byte
	if n, _ := io.ReadFull(b.r, one[:]); n != 0 {
		return b.corrupt(nil, fmt.Sprintf("bytes after the end of the volume (it should be %d bytes)", b.hdr.Size()))
	}
	return nil
}

// Set is the volumes found in a list of paths, grouped into one bundle.
type Set struct {
	Index      *Index
	IndexBytes []byte
	Signature  []byte
	// Volumes present, by number.
	Volumes map[int]*VolumeHeader
	// Problems found while gathering: foreign, stale and duplicate volumes,
	// unreadable or corrupt headers.
	Problems []error

	signatures [][]byte // distinct signatures of the volumes present
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
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

// CheckSignature checks the index signature: with key set, the bundle must
// be signed by that key; unsigned bundles pass only with allowUnsigned.
func (s *Set) CheckSignature(key *sign.Verifier, allowUnsigned bool) error {
	if s.Signature == nil {
		if allowUnsigned {
			return nil
		}
		return fmt.Errorf("bundle %s: %w", s.Index.BundleID, ErrUnsigned)
	}
	if key == nil {
		if allowUnsigned {
			return nil
		}
		return fmt.Errorf("bundle %s is signed by %s: %w", s.Index.BundleID, s.Index.Signer.KeyID, ErrKeyNeeded)
	}
	if s.Index.Signer.KeyID != key.KeyID() || s.Index.Signer.Algorithm != key.Algorithm() {
		return fmt.Errorf("bundle %s is signed by key %s (%s), not by %s (%s): %w", s.Index.BundleID,
			s.Index.Signer.KeyID, s.Index.Signer.Algorithm, key.KeyID(), key.Algorithm(), ErrWrongKey)
	}
	sigs := s.signatures
	if len(sigs) == 0 {
		sigs = [][]byte{s.Signature}
	}
	for _, sig := range sigs {
		if err := key.Verify(s.IndexBytes, sig); err != nil {
			for _, v := range s.Volumes {
				if bytes.Equal(v.Signature, sig) {
					return fmt.Errorf("bundle %s, %s: %w", s.Index.BundleID, v.Path, ErrBadSignature)
				}
			}
			return fmt.Errorf("bundle %s: %w", s.Index.BundleID, ErrBadSignature)
		}
	}
	return nil
}

// OpenSet finds the volumes in paths (volume files, or directories whose
// files are looked at; files that are not volumes are skipped there) and
// reads their headers. When volumes of several bundles are found, the most
// recently created bundle is chosen and the other volumes are reported as
// problems.
func OpenSet(ctx context.Context, paths []string) (*Set, error) {
	type candidate struct {
		path     string
		explicit bool
	}
	var cands []candidate
	var infos []os.FileInfo
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w; give the directory or the volume files of the bundle", err)
		}
		if !st.IsDir() {
			cands = append(cands, candidate{p, true})
			infos = append(infos, st)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			// Hidden files are temporary files of writers (pack's
			// .vol-*.partial-*), never volumes handed over.
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fp := filepath.Join(p, e.Name())
			st, err := os.Stat(fp)
			if err != nil {
				return nil, err
			}
			cands = append(cands, candidate{fp, false})
			infos = append(infos, st)
		}
	}
	var headers []*VolumeHeader
	var problems []error
	cache := &indexCache{}
	for i, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dup := false
		for j := 0; j < i; j++ {
			if os.SameFile(infos[i], infos[j]) {
				dup = true
			}
		}
		if dup {
			continue
		}
		h, err := readHeaderFileCached(c.path, cache)
		switch {
		case errors.Is(err, ErrNotVolume) && !c.explicit && !IsVolumeFileName(filepath.Base(c.path)):
			continue
		case errors.Is(err, ErrNotVolume) && IsVolumeFileName(filepath.Base(c.path)):
			// Named like a volume but its first header is damaged: report it
			// as a corrupt volume, not as a stranger (nor as missing).
			var n int
			fmt.Sscanf(filepath.Base(c.path), "vol-%d-", &n)
			problems = append(problems, &CorruptError{Path: c.path, Volume: n, Reason: "its first tar header is not the " + MemberLayout + " member every volume starts with"})
			continue
		case err != nil:
			problems = append(problems, err)
			continue
		}
		headers = append(headers, h)
	}
	if len(headers) == 0 {
		if len(problems) > 0 {
			return nil, errors.Join(problems...)
		}
		return nil, fmt.Errorf("%w in %v; give the directories or files that hold the vol-NNNN-of-NNNN.tar volumes", ErrNoVolumes, paths)
	}
	// The newest bundle wins; ties go to the one with more volumes here.
	count := map[string]int{}
	for _, h := range headers {
		count[h.Index.BundleID]++
	}
	sort.SliceStable(headers, func(i, j int) bool {
		a, b := headers[i].Index, headers[j].Index
		if a.Created != b.Created {
			return a.Created > b.Created
		}
		if count[a.BundleID] != count[b.BundleID] {
			return count[a.BundleID] > count[b.BundleID]
		}
		return a.BundleID < b.BundleID
	})
	main := headers[0]
	s := &Set{Index: main.Index, IndexBytes: main.IndexBytes, Signature: main.Signature, Volumes: map[int]*VolumeHeader{}}
	dups := map[int][]string{}
	for _, h := range headers {
		switch {
		case h.Index.BundleID != main.Index.BundleID:
			problems = append(problems, &ForeignVolumeError{Path: h.Path, BundleID: h.Index.BundleID, Created: h.Index.Created,
				Want: main.Index.BundleID, Stale: h.Index.Created < main.Index.Created, Number: h.Number, Total: h.Total()})
		case !bytes.Equal(h.IndexBytes, main.IndexBytes):
			problems = append(problems, &CorruptError{Path: h.Path, Volume: h.Number, Offset: memberSize(int64(len(layoutFileContent))) + memberSize(h.Index.LayoutIndex.Size), Member: MemberIndex,
				Reason: fmt.Sprintf("its bundle index or signature differs from that of %s, another volume of the same bundle", main.Path)})
		case s.Volumes[h.Number] != nil:
			if dups[h.Number] == nil {
				dups[h.Number] = []string{s.Volumes[h.Number].Path}
			}
			dups[h.Number] = append(dups[h.Number], h.Path)
		default:
			s.Volumes[h.Number] = h
			// ECDSA signatures differ from one signing to the next: volumes
			// of two reproducible packs carry the same index with other
			// signatures. Each one is checked.
			if h.Signature != nil && !containsBytes(s.signatures, h.Signature) {
				s.signatures = append(s.signatures, h.Signature)
			}
		}
	}
	var dn []int
	for n := range dups {
		dn = append(dn, n)
	}
	sort.Ints(dn)
	for _, n := range dn {
		problems = append(problems, &DuplicateVolumeError{BundleID: main.Index.BundleID, Number: n, Paths: dups[n]})
	}
	s.Problems = problems
	return s, nil
}

func readHeaderFile(path string) (*VolumeHeader, error) {
	return readHeaderFileCached(path, nil)
}

func readHeaderFileCached(path string, cache *indexCache) (*VolumeHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readVolumeHeader(bufio.NewReaderSize(f, 64<<10), path, cache)
}

// headerPieces is what volume n of the set starts with, in order: the
// header members the set was read from, with that volume's own signature
// and marker. They add up to the prefix size.
func (s *Set) headerPieces(n int) [][]byte {
	h := s.Volumes[n]
	x := s.Index
	mtime := mtimeOf(x)
	var out [][]byte
	add := func(name string, data []byte) {
		out = append(out, tarHeader(name, int64(len(data)), mtime), data, zeroBlock[:padding(int64(len(data)))])
	}
	add(MemberLayout, layoutFileContent)
	add(MemberOCIIndex, h.LayoutIndex)
	add(MemberIndex, s.IndexBytes)
	if h.Signature != nil {
		add(MemberSignature, h.Signature)
	}
	add(MemberVolume, volumeMarker(x.BundleID, n, len(x.Volumes)))
	return out
}

// reheader reads the header members of volume n again from r (at the start
// of the file) to say what is wrong with them, after they did not read as
// those the set was built from.
func (s *Set) reheader(r io.Reader, n int) error {
	path := s.Volumes[n].Path
	_, err := ReadVolumeHeader(bufio.NewReaderSize(r, 64<<10), path)
	if err == nil {
		err = &CorruptError{Path: path, Volume: n, Reason: "the file changed while it was being read"}
	}
	return err
}

// openVolume opens a volume file and reads its header again, checking that
// the file still holds the volume the set was built from: its header
// members are compared byte for byte with those read before (so the index
// is not parsed again).
func (s *Set) openVolume(n int) (*os.File, *bufio.Reader, *VolumeHeader, error) {
	want := s.Volumes[n]
	f, err := os.Open(want.Path)
	if err != nil {
		return nil, nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	same := true
	for _, p := range s.headerPieces(n) {
		for len(p) > 0 && same {
			b, err := br.Peek(min(len(p), br.Size()))
			if err != nil && len(b) == 0 {
				same = false
				break
			}
			same = bytes.Equal(b, p[:len(b)])
			br.Discard(len(b))
			p = p[len(b):]
		}
	}
	if !same {
		err := errors.New("internal error: seek")
		if _, serr := f.Seek(0, io.SeekStart); serr == nil {
			err = s.reheader(f, n)
		}
		f.Close()
		return nil, nil, nil, err
	}
	h := *want
	h.Index, h.IndexBytes = s.Index, s.IndexBytes
	return f, br, &h, nil
}
