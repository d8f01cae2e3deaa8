package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// UnpackOptions control Unpack.
type UnpackOptions struct {
	Progress func(Progress)
	// Notice, when set, is told of tags added or moved in the destination.
	Notice func(string)
	// VerifyBase re-hashes every blob the bundle expects from its bases
	// at the destination; one whose content does not match its digest
	// counts as missing (damaged).
	VerifyBase bool
}

// maxDecoderWindow bounds the memory a zstd frame may ask for; pack uses
// 8 MiB windows.
const maxDecoderWindow = 64 << 20

// ErrTagNeedsOneEntry: an unpack destination oci:PATH:TAG names one
// image, and the bundle has several. Each image entry carries its own ref
// name (or none), which is what it is recorded under at the destination;
// only the one image of a bundle can take a name from the destination
// instead. Entries attached to it (referrers: signatures, SBOMs) are not
// images of their own and do not count.
var ErrTagNeedsOneEntry = errors.New("a tag in the destination names the one image of a bundle")

// Unpack verifies the bundle as it writes it into the OCI layout
// at dest (created if missing, merged into if it exists). dest is a
// directory path, or oci:PATH, or oci:PATH:TAG (location.ParseDestination)
// which means what it means to skopeo: the image is recorded under ref name
// TAG in the layout at PATH. That is only possible for a bundle of exactly
// one image (its referrers aside); a bundle of more is refused
// (ErrTagNeedsOneEntry) before
// anything is written, since its entries carry their own names. A registry
// destination (docker://) is refused: that is Push. Each volume is
// read once. Blobs are written to temporary files and moved into place only
// once their digest checks out; index.json is replaced, atomically and
// under a lock, only after every blob is in place. If anything fails,
// every file that was in dest stays as it was; verified blobs may remain,
// unreferenced, so that a re-run skips them.
// The set must be complete, and trusted.
func (s *Set) Unpack(ctx context.Context, dest string, o UnpackOptions) (*Index, error) {
	loc, err := unpackDestination(dest)
	if err != nil {
		return nil, err
	}
	dest = loc.Path
	if err := s.complete(); err != nil {
		return nil, err
	}
	notice := o.Notice
	if notice == nil {
		notice = func(string) {}
	}
	x := s.Index
	manifests := x.Manifests
	if loc.Ref != "" {
		if manifests, err = retag(x, loc); err != nil {
			return nil, err
		}
	}
	// A bundle that builds on others is refused, before anything is
	// written (even the directory), unless the destination holds all that
	// they carried.
	if _, err := os.Stat(dest); errors.Is(err, os.ErrNotExist) {
		if err := checkBaseBlobs(ctx, x, dest, nil, false); err != nil {
			return nil, err
		}
	}
	l, err := oci.Create(dest)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := checkBaseBlobs(ctx, x, dest, l, o.VerifyBase); err != nil {
		return nil, err
	}

	var need, total int64
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base != "" {
			continue
		}
		if !l.HasBlob(b.Digest, b.Size) {
			need += b.Size
		}
	}
	for _, v := range x.Volumes {
		total += v.Size
	}
	if free, err := FreeSpace(dest); err == nil && free < need {
		return nil, fmt.Errorf("%s has %s free and the bundle needs %s there: free some space or unpack elsewhere: %w", dest, FormatSize(free), FormatSize(need), ErrNoSpace)
	}

	// Blobs are made durable in batches, with one sync each, and always
	// before index.json names them.
	l.BatchCommits()
	u := &unpacker{ctx: ctx, dest: layoutDest{l}, set: s, op: "unpack", progress: o.Progress, total: total}
	if err := u.run(); err != nil {
		return nil, err
	}
	if err := l.FlushCommits(); err != nil {
		return nil, err
	}
	changes, err := l.AddManifests(manifests)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		switch {
		case c.Ref == "":
			notice(fmt.Sprintf("added %s (untagged) to %s", c.New, filepath.Join(dest, oci.IndexFile)))
		case c.Old == "":
			notice(fmt.Sprintf("tagged %s as %s", c.New, c.Ref))
		default:
			notice(fmt.Sprintf("moved tag %s from %s to %s", c.Ref, c.Old, c.New))
		}
	}
	return x, nil
}

// retag returns x's index.json entries with the one image, the entry not
// attached to another (a signature or SBOM referrer keeps pointing at its
// subject by digest), recorded under the ref name loc.Ref.
func retag(x *Index, loc location.Location) ([]ocispec.Descriptor, error) {
	attached := map[digest.Digest]bool{}
	for _, im := range x.Images {
		if im.Subject != "" {
			attached[im.Digest] = true
		}
	}
	out := slices.Clone(x.Manifests)
	image := -1
	var n int
	for i, m := range out {
		if !attached[m.Digest] {
			image, n = i, n+1
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("unpack into %s: bundle %s has %d images, each recorded under its own ref name; unpack it into %s: %w",
			loc, x.BundleID, n, location.Location{Transport: location.Layout, Path: loc.Path}, ErrTagNeedsOneEntry)
	}
	m := &out[image]
	m.Annotations = maps.Clone(m.Annotations)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[ocispec.AnnotationRefName] = loc.Ref
	return out, nil
}

// unpackDestination reads Unpack's dest: a location when it starts with a
// transport, otherwise a directory path (which may contain ':').
func unpackDestination(dest string) (location.Location, error) {
	if !location.HasTransport(dest) {
		if dest == "" {
			return location.Location{}, errors.New("unpack: no destination directory")
		}
		return location.Location{Transport: location.Layout, Path: dest}, nil
	}
	loc, err := location.ParseDestination(dest)
	if err != nil {
		return location.Location{}, fmt.Errorf("unpack: %w", err)
	}
	if loc.Transport != location.Layout {
		return location.Location{}, fmt.Errorf("unpack: %w", &location.Error{Input: dest, Expected: "a directory, oci:PATH or oci:PATH:TAG",
			Err: errors.New("a registry is a destination for Push; Unpack writes an OCI layout")})
	}
	return loc, nil
}

// checkBaseBlobs checks that every blob x expects from a base bundle is in
// the layout l (nil: nothing is there), a regular file of the right size,
// and with verify its content hashes to its digest. It lists every blob
// that fails in one *MissingBaseBlobsError.
func checkBaseBlobs(ctx context.Context, x *Index, dest string, l *oci.Layout, verify bool) error {
	e := &MissingBaseBlobsError{BundleID: x.BundleID, Dest: dest, Missing: map[string][]digest.Digest{}, Damaged: map[string][]digest.Digest{}}
	bad := false
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if l == nil || !l.HasBlob(b.Digest, b.Size) {
			e.Missing[b.Base] = append(e.Missing[b.Base], b.Digest)
			bad = true
			continue
		}
		if verify {
			ok, err := blobMatches(ctx, l, b)
			if err != nil {
				return err
			}
			if !ok {
				e.Damaged[b.Base] = append(e.Damaged[b.Base], b.Digest)
				bad = true
			}
		}
	}
	if bad {
		return e
	}
	return nil
}

// blobMatches re-hashes the blob file of b in l.
func blobMatches(ctx context.Context, l *oci.Layout, b *Blob) (bool, error) {
	rc, err := l.Fetch(ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		return false, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return false, fmt.Errorf("read blob %s in %s: %w", b.Digest, l.Path, err)
	}
	return n == b.Size && digest.NewDigest(digest.SHA256, h) == b.Digest, nil
}

// blobDest is where unpack writes blobs: a layout or a registry.
type blobDest interface {
	// openBlob returns where b's stored bytes go; a discardSink when the
	// destination needs nothing (the bytes are still read and checked).
	openBlob(b *Blob) (blobSink, error)
}

type unpacker struct {
	ctx      context.Context
	dest     blobDest
	set      *Set
	op       string
	progress func(Progress)
	done     int64
	total    int64

	// The blob being assembled, kept across volumes when it is split.
	blob *Blob
	w    blobSink
	// Set when the blob's stored bytes go straight into its file: copied
	// by the kernel and checked by hasher, reading the file back.
	copier  *oci.BlobWriter
	hasher  *rangeHasher
	pending []pendingBlob
}

// blobSink takes a blob's stored bytes and ends in a verified blob file (or
// nowhere, when the destination has the blob already).
type blobSink interface {
	io.Writer
	Commit() error
	Abort()
}

type discardSink struct{}

func (discardSink) Write(p []byte) (int, error) { return len(p), nil }
func (discardSink) Commit() error               { return nil }
func (discardSink) Abort()                      {}

// zstdSink decodes stored bytes into a blob sink in a goroutine, bounded
// by the blob size the signed index gives.
type zstdSink struct {
	pw   *io.PipeWriter
	done chan error
	bw   blobSink
}

func newZstdSink(bw blobSink, size int64, what string) *zstdSink {
	pr, pw := io.Pipe()
	z := &zstdSink{pw: pw, done: make(chan error, 1), bw: bw}
	go func() {
		dec, err := zstd.NewReader(pr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			pr.CloseWithError(err)
			z.done <- err
			return
		}
		defer dec.Close()
		n, err := io.Copy(bw, io.LimitReader(dec, size+1))
		if err == nil && n != size {
			err = fmt.Errorf("%s decompresses to %d bytes, the index says %d", what, n, size)
		}
		if err != nil {
			pr.CloseWithError(err)
		} else {
			io.Copy(io.Discard, pr)
		}
		z.done <- err
	}()
	return z
}

func (z *zstdSink) Write(p []byte) (int, error) { return z.pw.Write(p) }

func (z *zstdSink) Commit() error {
	z.pw.Close()
	if err := <-z.done; err != nil {
		z.bw.Abort()
		return err
	}
	return z.bw.Commit()
}

func (z *zstdSink) Abort() {
	z.pw.CloseWithError(errors.New("aborted"))
	<-z.done
	z.bw.Abort()
}

type layoutDest struct{ l *oci.Layout }

func (d layoutDest) openBlob(b *Blob) (blobSink, error) {
	if d.l.HasBlob(b.Digest, b.Size) {
		return discardSink{}, nil
	}
	bw, err := d.l.NewBlobWriter(ocispec.Descriptor{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
	if err != nil {
		return nil, err
	}
	if b.Encoding == CompressionNone && len(b.Placements) == 1 {
		// The one segment's digest is the blob digest (ParseIndex checks),
		// and it is checked before Commit: hash once.
		bw.DigestCheckedByCaller()
	}
	if b.Encoding == CompressionZstd {
		return newZstdSink(bw, b.Size, "blob "+b.Digest.String()), nil
	}
	return bw, nil
}

func (u *unpacker) startBlob(b *Blob) error {
	u.blob, u.copier = b, nil
	w, err := u.dest.openBlob(b)
	if err != nil {
		return err
	}
	if bw, ok := w.(*oci.BlobWriter); ok && b.Encoding == CompressionNone && b.StoredSize >= copyMin {
		if u.hasher == nil {
			u.hasher = newRangeHasher()
		}
		bw.DigestCheckedByCaller() // by u.hasher
		u.copier = bw
	} else if _, discard := w.(discardSink); !discard && b.StoredSize >= asyncMin {
		w = newAsyncSink(w)
	}
	u.w = w
	return nil
}

// copyMin is the size from which pack and unpack leave copying a blob to
// the kernel (a variable so that tests can send every blob that way).
// Below it, a blob is read and written by the process: for small files the
// system calls cost more than the copying.
var copyMin int64 = asyncMin

// copyMember copies member m's data from the volume into the blob file.
// After the blob's last segment, the check of the whole blob is queued and
// the blob waits in pending for it: the next blob is copied meanwhile.
func (u *unpacker) copyMember(body *format.BodyReader, f *os.File, br *bufio.Reader, m format.Member) error {
	b, bw := m.Blob, u.copier
	name := fmt.Sprintf("blob %s being written", b.Digest)
	if err := copyData(body, f, br, bw, func(off, k int64) { u.hasher.addFrom(bw, name, off, k) }); err != nil {
		return err
	}
	if m.Part < len(b.Placements)-1 {
		return u.hasher.failed()
	}
	// One hash of the whole blob: its segments are hashed apart only
	// when it fails, to name the volume at fault.
	done := make(chan struct{})
	u.hasher.expect(&hashCheck{want: b.Digest, size: b.Size, done: done, fail: func(got digest.Digest, size int64) error {
		return u.blame(b, bw, got, size)
	}})
	u.pending = append(u.pending, pendingBlob{b: b, w: bw, checked: done})
	return nil
}

// blame finds the segment of b whose bytes in bw do not hash to its
// digest, and reports the volume it came from as corrupt.
func (u *unpacker) blame(b *Blob, bw *oci.BlobWriter, got digest.Digest, size int64) error {
	buf := make([]byte, ioChunk)
	var start int64
	last := b.Placements[len(b.Placements)-1]
	for j, p := range b.Placements {
		h := sha256.New()
		k, err := hashRange(h, bw, start, p.Length, buf)
		if err == nil && k == p.Length && digest.NewDigest(digest.SHA256, h) == p.Digest {
			start += p.Length
			continue
		}
		v := u.set.Volumes[p.Volume]
		reason := fmt.Sprintf("content hashes to %s", digest.NewDigest(digest.SHA256, h))
		if err != nil || k != p.Length {
			reason = fmt.Sprintf("%d bytes, want %d", k, p.Length)
		}
		return &CorruptError{Path: v.Path, Volume: p.Volume, Offset: p.Offset + p.Length, Member: MemberName(b, j), Digest: p.Digest, Reason: reason}
	}
	// Every segment is what the signed index says, and yet the blob is
	// not: the index lies.
	return &CorruptError{Path: u.set.Volumes[last.Volume].Path, Volume: last.Volume, Offset: last.Offset + last.Length,
		Member: MemberName(b, len(b.Placements)-1), Digest: b.Digest, Reason: fmt.Sprintf("blob %s: its segments match the index but the blob (%d bytes) hashes to %s", b.Digest, size, got)}
}

// pendingBlob is a copied blob waiting for its check before its commit.
type pendingBlob struct {
	b       *Blob
	w       *oci.BlobWriter
	checked chan struct{}
}

// maxPending bounds the blobs copied but not yet committed (each holds an
// open file).
const maxPending = 8

// commitChecked commits the pending blobs whose check has passed, in
// order; with all set, it waits for every check.
func (u *unpacker) commitChecked(all bool) error {
	for len(u.pending) > 0 {
		p := u.pending[0]
		if all || len(u.pending) > maxPending {
			<-p.checked
		} else {
			select {
			case <-p.checked:
			default:
				return nil
			}
		}
		if err := u.hasher.failed(); err != nil {
			return err
		}
		u.pending = u.pending[1:]
		if err := p.w.Commit(); err != nil {
			// The bytes were checked: what failed is the destination.
			return fmt.Errorf("blob %s: %w", p.b.Digest, err)
		}
	}
	return nil
}

func (u *unpacker) run() error {
	defer func() {
		if u.hasher != nil {
			u.hasher.close() // before the files it may be reading are removed
		}
		for _, p := range u.pending {
			p.w.Abort()
		}
		if u.w != nil {
			u.w.Abort()
		}
	}()
	for n := 1; n <= len(u.set.Index.Volumes); n++ {
		if err := u.volume(n); err != nil {
			return err
		}
	}
	return u.commitChecked(true)
}

func (u *unpacker) volume(n int) error {
	ov, err := u.set.openVolume(u.ctx, n)
	if err != nil {
		return err
	}
	defer ov.r.Close()
	f, br, h := ov.file, ov.br, ov.h
	u.done += u.set.Index.PrefixSize(len(u.set.IndexBytes))
	if u.progress != nil {
		u.progress(Progress{Op: u.op, Volume: n, Done: u.done, Total: u.total})
	}
	body := format.NewBodyReader(br, h.Body(), func(k int64) {
		u.done += k
		if u.progress != nil {
			u.progress(Progress{Op: u.op, Volume: n, Done: u.done, Total: u.total})
		}
	})
	buf := make([]byte, ioChunk)
	for {
		if err := u.ctx.Err(); err != nil {
			return err
		}
		m, ok, err := body.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if m.Part == 0 {
			if u.w != nil {
				return fmt.Errorf("internal error: blob %s left unfinished", u.blob.Digest)
			}
			if err := u.startBlob(m.Blob); err != nil {
				return err
			}
		} else if u.blob != m.Blob {
			return &CorruptError{Path: h.Path, Volume: n, Member: MemberName(m.Blob, m.Part), Reason: "segment of a blob whose earlier segments were not read"}
		}
		if u.copier != nil {
			if err := u.copyMember(body, f, br, m); err != nil {
				var de *destError
				if errors.As(err, &de) {
					return fmt.Errorf("blob %s from %s (volume %d): %w", m.Blob.Digest, h.Path, n, de.err)
				}
				return err
			}
			if err := body.End(); err != nil {
				return err
			}
			if m.Part == len(m.Blob.Placements)-1 {
				u.w, u.copier = nil, nil // in pending now
				if err := u.commitChecked(false); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := io.CopyBuffer(u.w, body, buf); err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				return err
			}
			// The write side failed: a full disk, or a zstd stream that
			// does not decode within the bounds the index sets.
			return fmt.Errorf("blob %s from %s (volume %d): %w", m.Blob.Digest, h.Path, n, err)
		}
		// The segment digest is checked before the blob may be committed.
		if err := body.End(); err != nil {
			return err
		}
		if m.Part == len(m.Blob.Placements)-1 {
			w := u.w
			u.w = nil
			if err := w.Commit(); err != nil {
				var de *destError
				if errors.As(err, &de) {
					return fmt.Errorf("blob %s from %s (volume %d): %w", m.Blob.Digest, h.Path, n, de.err)
				}
				return &CorruptError{Path: h.Path, Volume: n, Member: MemberName(m.Blob, m.Part), Digest: m.Blob.Digest, Reason: err.Error()}
			}
		}
	}
	return body.Close()
}

// copyData puts the rest of the current member's data into dst without
// reading it into memory: what br holds already is written, and the rest
// is copied from the volume file f (which br reads) by the kernel,
// copyStep bytes at a time; when the volume is not a file (f is nil), br
// reads it all. added gets where each piece went in dst, for
// the caller to hash it there; body.End then checks everything but the
// digest.
func copyData(body *format.BodyReader, f *os.File, br *bufio.Reader, dst blobCopier, added func(off, n int64)) error {
	// What br holds is written first; without a file, everything is.
	for body.Left() > 0 && (br.Buffered() > 0 || f == nil) {
		n := min(int64(br.Size()), body.Left())
		if f != nil {
			n = min(int64(br.Buffered()), n) // no read: the file's position must stay behind br
		}
		p, err := br.Peek(int(n))
		if len(p) == 0 {
			if err == io.EOF {
				return body.Corrupt("volume ends early (truncated)")
			}
			return body.Corrupt(fmt.Sprintf("cannot be read: %v", err))
		}
		off := dst.Written()
		if _, err := dst.Write(p); err != nil {
			return &destError{err}
		}
		br.Discard(len(p))
		body.Consumed(int64(len(p)))
		added(off, int64(len(p)))
	}
	// br holds nothing now, so the file's position is body.Offset().
	for body.Left() > 0 {
		off, err := dst.CopyFrom(f, min(copyStep, body.Left()))
		if k := dst.Written() - off; k > 0 {
			body.Consumed(k)
			added(off, k)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return body.Corrupt("volume ends early (truncated)")
		}
		if err != nil {
			// The kernel does not say which side failed: if the volume
			// cannot be read where the copy stopped, it is damaged, as
			// verify would say; otherwise the destination failed.
			var one [1]byte
			if _, rerr := f.ReadAt(one[:], body.Offset()); rerr != nil && rerr != io.EOF {
				return body.Corrupt(fmt.Sprintf("cannot be read: %v", rerr))
			}
			return &destError{err}
		}
	}
	return nil
}

// blobCopier is where copyData puts a member's data.
type blobCopier interface {
	io.Writer
	// CopyFrom appends n bytes of src from its position; see oci.BlobWriter.
	CopyFrom(src *os.File, n int64) (int64, error)
	// Written is the number of bytes written so far.
	Written() int64
}
