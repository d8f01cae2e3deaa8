package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/airgap-bundle/bundle/format"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxDecoderWindow bounds the memory a zstd frame may ask for; pack uses
// 8 MiB windows.
const maxDecoderWindow = 64 << 20

// blobDest is where unpack writes blobs: a layout or a registry.
type blobDest interface {
	// openBlob returns where b's stored bytes go; a discardSink when the
	// destination needs nothing (the bytes are still read and checked).
	openBlob(b *format.Blob) (blobSink, error)
}

type unpacker struct {
	ctx      context.Context
	dest     blobDest
	set      *Set
	op       string
	progress func(Progress)
	done     int64
	total    int64
	// imageOf names the image of each carried blob (imagesOf); image is
	// that of the blob being written, or of the last one that had one.
	imageOf func(digest.Digest) string
	image   string

	// The blob being assembled, kept across volumes when it is split.
	blob *format.Blob
	w    blobSink
	// Set when the blob's stored bytes go straight into its file: copied
	// by the kernel and checked by hasher, reading the file back.
	copier  BlobCopier
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
		n, err := io.Copy(bw, decodeErrors{io.LimitReader(dec, size+1), what})
		if err == nil && n != size {
			err = &decodeError{what: what, err: fmt.Errorf("decompresses to %d bytes, the index says %d", n, size)}
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

// decodeError is stored bytes that do not decode to the blob the index
// describes: damaged bytes (which their segment digest then shows), or a
// stream a faulty packer wrote.
type decodeError struct {
	what string
	err  error
}

func (e *decodeError) Error() string { return fmt.Sprintf("%s does not decode: %v", e.what, e.err) }
func (e *decodeError) Unwrap() error { return e.err }

// decodeErrors tells the decoder's errors from the destination's.
type decodeErrors struct {
	r    io.Reader
	what string
}

func (d decodeErrors) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = &decodeError{what: d.what, err: err}
	}
	return n, err
}

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

func (u *unpacker) startBlob(b *format.Blob) error {
	u.blob, u.copier = b, nil
	if u.imageOf != nil {
		if im := u.imageOf(b.Digest); im != "" {
			u.image = im
		}
	}
	w, err := u.dest.openBlob(b)
	if err != nil {
		return err
	}
	if bw, ok := w.(BlobCopier); ok && b.Encoding == format.CompressionNone && b.StoredSize >= copyMin {
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
func (u *unpacker) blame(b *format.Blob, bw BlobCopier, got digest.Digest, size int64) error {
	starts := segmentStarts(b)
	j, reason := badSegment(b, func(j int) io.Reader {
		return io.NewSectionReader(bw, starts[j], b.Placements[j].Length)
	}, make([]byte, ioChunk))
	if j >= 0 {
		p := b.Placements[j]
		return &format.CorruptError{Path: u.set.Volumes[p.Volume].Path, Volume: p.Volume, Offset: p.Offset + p.Length, Member: format.MemberName(b, j), Digest: p.Digest, Reason: reason}
	}
	// Every segment is what the signed index says, and yet the blob is
	// not: the index lies.
	last := b.Placements[len(b.Placements)-1]
	return &format.CorruptError{Path: u.set.Volumes[last.Volume].Path, Volume: last.Volume, Offset: last.Offset + last.Length,
		Member: format.MemberName(b, len(b.Placements)-1), Digest: b.Digest, Reason: fmt.Sprintf("blob %s: its segments match the index but the blob (%d bytes) hashes to %s", b.Digest, size, got)}
}

// segmentStarts is where each stored segment of b starts in its stored
// bytes.
func segmentStarts(b *format.Blob) []int64 {
	starts := make([]int64, len(b.Placements))
	var off int64
	for j, p := range b.Placements {
		starts[j], off = off, off+p.Length
	}
	return starts
}

// badSegment hashes the stored segments of b apart, segment(j) reading
// placement j's bytes, to name the one at fault when the blob as a whole
// did not check out. It returns the first whose bytes are not what its
// placement says, and why; -1 when every one is.
func badSegment(b *format.Blob, segment func(j int) io.Reader, buf []byte) (int, string) {
	for j, p := range b.Placements {
		h := sha256.New()
		k, err := io.CopyBuffer(h, segment(j), buf)
		got := digest.NewDigest(digest.SHA256, h)
		switch {
		case err != nil || k != p.Length:
			return j, fmt.Sprintf("%d bytes, want %d", k, p.Length)
		case got != p.Digest:
			return j, fmt.Sprintf("content hashes to %s", got)
		}
	}
	return -1, ""
}

// pendingBlob is a copied blob waiting for its check before its commit.
type pendingBlob struct {
	b       *format.Blob
	w       BlobCopier
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
	u.done += u.set.Index.VolumePrefixSize(n, u.set.indexSize())
	u.report(n)
	body := format.NewBodyReader(ov.br, ov.h.Body(), func(k int64) {
		u.done += k
		u.report(n)
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
			return body.Close()
		}
		if err := u.member(ov, body, m, buf); err != nil {
			return err
		}
	}
}

func (u *unpacker) report(volume int) {
	if u.progress != nil {
		u.progress(Progress{Op: u.op, Volume: volume, Done: u.done, Total: u.total, Image: u.image})
	}
}

// imagesOf names, for Progress.Image, the image each blob of x belongs
// to: the first entry of x.Manifests that reaches it through children
// (the carried children of each manifest and index), entries with a ref
// name first, so that a layer a referrer shares is shown as its image's.
// places finds the place of each blob in x.Blobs, kidsOf the places of
// its children: what is kept is an entry's number by that place (4 bytes
// a blob; a map by digest was 60 MB at a million blobs).
func imagesOf(x *format.Index, places *blobPlaces, kidsOf func(int) []int32) func(digest.Digest) string {
	entry := make([]int32, len(x.Blobs)) // the entry's number plus one; 0: none yet
	var mark func(i int, e int32)
	mark = func(i int, e int32) {
		if entry[i] != 0 {
			return
		}
		entry[i] = e + 1
		for _, k := range kidsOf(i) {
			mark(int(k), e)
		}
	}
	for _, named := range []bool{true, false} {
		for e, m := range x.Manifests {
			if (m.Annotations[ocispec.AnnotationRefName] != "") == named {
				if i, ok := places.find(m.Digest); ok {
					mark(i, int32(e))
				}
			}
		}
	}
	return func(d digest.Digest) string {
		if i, ok := places.find(d); ok && entry[i] != 0 {
			return imageName(x.Manifests[entry[i]-1])
		}
		return ""
	}
}

// member puts the data of member m into the blob it is a segment of,
// starting the blob at its first segment and ending it after its last.
func (u *unpacker) member(ov *openedVolume, body *format.BodyReader, m format.Member, buf []byte) error {
	h := ov.h
	// A failure of the destination names the blob and where it came from.
	destFailed := func(err error) error {
		return fmt.Errorf("blob %s from %s (volume %d): %w", m.Blob.Digest, h.Path, h.Number, err)
	}
	last := m.Part == len(m.Blob.Placements)-1
	if m.Part == 0 {
		if u.w != nil {
			return fmt.Errorf("internal error: blob %s left unfinished", u.blob.Digest)
		}
		if err := u.startBlob(m.Blob); err != nil {
			return err
		}
	} else if u.blob != m.Blob {
		return &format.CorruptError{Path: h.Path, Volume: h.Number, Member: m.Name(), Reason: "segment of a blob whose earlier segments were not read"}
	}
	if u.copier != nil {
		if err := u.copyMember(body, ov.file, ov.br, m); err != nil {
			var de *destError
			if errors.As(err, &de) {
				return destFailed(de.err)
			}
			return err
		}
		if err := body.End(); err != nil {
			return err
		}
		if !last {
			return nil
		}
		u.w, u.copier = nil, nil // in pending now
		return u.commitChecked(false)
	}
	if _, err := io.CopyBuffer(u.w, body, buf); err != nil {
		var ce *format.CorruptError
		if errors.As(err, &ce) {
			return err
		}
		var de *decodeError
		if errors.As(err, &de) {
			// Most likely the bytes are damaged: reading the rest of the
			// member checks its digest and names the volume. If they are
			// those the signed index vouches for, the packer wrote a
			// stream that does not decode: the bundle is corrupt all the
			// same.
			if err := body.End(); err != nil {
				return err
			}
			return &format.CorruptError{Path: h.Path, Volume: h.Number, Offset: body.Offset(), Member: m.Name(), Digest: m.Blob.Digest, Reason: de.Error()}
		}
		// The write side failed: a full disk, or a zstd stream that
		// does not decode within the bounds the index sets.
		return destFailed(err)
	}
	// The segment digest is checked before the blob may be committed.
	if err := body.End(); err != nil || !last {
		return err
	}
	w := u.w
	u.w = nil
	if err := w.Commit(); err != nil {
		var de *destError
		if errors.As(err, &de) {
			return destFailed(de.err)
		}
		return &format.CorruptError{Path: h.Path, Volume: h.Number, Member: m.Name(), Digest: m.Blob.Digest, Reason: err.Error()}
	}
	return nil
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

// blobCopier is what copyData puts a member's data into.
type blobCopier interface {
	io.Writer
	CopyFrom(src *os.File, n int64) (int64, error)
	Written() int64
}
