package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/writeback"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ioChunk is the size of the reads and writes that move data: small enough
// for the CPU's cache, large enough to keep system calls few.
const ioChunk = 128 << 10

// volumeWriter writes the planned volumes one after the other.
type volumeWriter struct {
	ctx         context.Context
	x           *format.Index
	full        *format.Index // x with the blobs from bases (version 2: volume 1's table lists them)
	indexLen    int           // of bundle.json, planned
	sink        Sink
	layoutIndex io.WriterTo // index.json's bytes, made again as they are written
	indexBytes  []byte
	sig         []byte
	progress    func(Progress)
	image       string // Progress.Image of the blob being written

	vol   int // current volume number, 0 before the first
	wc    io.WriteCloser
	bw    *bufio.Writer
	off   int64 // bytes written to the current volume
	done  int64
	total int64

	// files is set when the sink's volumes are files, open for reading
	// too. Then blobs are written first, from prefixLen on, and each
	// volume's header (which holds the index, with the segment digests
	// found while writing) last, by writeHeaders.
	files FileSink
	// copyFile's hashers: [0] checks blobs whole, [1] finds the segment
	// digests of split blobs, on another core.
	hashers [2]*rangeHasher
}

// FileSink is an optional interface of a Sink whose volumes are files on
// a local file system. When the sink given to Pack implements it, Pack
// writes each volume's blobs first and its header last, into the room left
// for it at the start: the header holds the index, and the index the
// digests of the segments of split blobs, which Pack then finds while
// writing them instead of in a pass of its own (each split blob is read
// once, not twice). It also lets the kernel copy large blobs that are
// stored unencoded from sources whose Fetch returns an *os.File
// (copy_file_range), hashing the bytes back from the volume.
//
// For this, Create must return an *os.File open for reading and writing:
// Pack seeks in it and reads back what it wrote. VolumeFile(n) opens the
// file of volume n, made by Create, again for writing; Pack calls it for
// every volume after all are written and before Commit, writes the header
// at offset 0 and closes the file. DirSink implements FileSink.
//
// The index Begin is given is the planned one, whose volume sizes are
// final: the digests of the segments of split blobs are placeholders, and
// so, when the signer is a sign.PendingSigner still opening its key, are
// the signer's key ID and the bundle id (each of its final length).
type FileSink interface {
	Sink
	VolumeFile(n int) (*os.File, error)
}

func (w *volumeWriter) write(p []byte) error {
	var n int
	var err error
	// Pieces of ioChunk at most: the kernel copies small writes into the
	// page cache several times faster than large ones (measured: 1 MiB
	// writes cost 2-3 times the system time of 128 KiB ones).
	for len(p) > 0 && err == nil {
		var k int
		k, err = w.bw.Write(p[:min(len(p), ioChunk)])
		n += k
		p = p[k:]
	}
	w.off += int64(n)
	w.done += int64(n)
	if err != nil {
		return fmt.Errorf("write volume %d: %w", w.vol, err)
	}
	if w.progress != nil {
		w.progress(Progress{Op: "pack", Volume: w.vol, Done: w.done, Total: w.total, Image: w.image})
	}
	return nil
}

// Write lets blob data be copied straight in, reporting progress.
func (w *volumeWriter) Write(p []byte) (int, error) {
	if err := w.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *volumeWriter) open(n int) error {
	if err := w.finish(); err != nil {
		return err
	}
	v := w.x.Volumes[n-1]
	wc, err := w.sink.Create(w.ctx, v, len(w.x.Volumes))
	if err != nil {
		return err
	}
	w.vol, w.wc, w.off = n, wc, 0
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(wc, ioChunk)
	} else {
		w.bw.Reset(wc)
	}
	if w.files != nil {
		f, ok := wc.(*os.File)
		if !ok {
			return fmt.Errorf("volume %d: the sink is a FileSink but Create returned a %T, not an *os.File", n, wc)
		}
		prefix := w.prefixLen(n)
		if _, err := f.Seek(prefix, io.SeekStart); err != nil {
			return fmt.Errorf("write volume %d: %w", n, err)
		}
		w.off = prefix
		w.done += prefix // written by writeHeaders
		return nil
	}
	start := w.off
	if err := w.header(n, w); err != nil {
		return err
	}
	if want := w.prefixLen(n); w.off-start != want {
		return fmt.Errorf("internal error: header of volume %d is %d bytes, planned %d", n, w.off-start, want)
	}
	return nil
}

// prefixLen is the size of volume n's header members, as planned.
func (w *volumeWriter) prefixLen(n int) int64 { return w.full.VolumePrefixSize(n, w.indexLen) }

// header writes the members of volume n before its blobs, piece by piece
// (the index may be tens of MiB: it is not copied; a version 2 blob table
// is encoded as it is written, and checked as a reader will check it:
// format.WriteBlobTableMember).
func (w *volumeWriter) header(n int, out io.Writer) error {
	if err := format.WritePrefix(out, w.x, w.indexBytes, w.layoutIndex, w.sig, n); err != nil {
		return err
	}
	if w.full.FormatVersion != format.VersionV2 {
		return nil
	}
	return format.WriteBlobTableMember(out, w.full, n)
}

// writeHeaders writes each volume's header into the room left for it.
func (w *volumeWriter) writeHeaders() error {
	for n := 1; n <= len(w.x.Volumes); n++ {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		f, err := w.files.VolumeFile(n)
		if err != nil {
			return fmt.Errorf("write volume %d: %w", n, err)
		}
		// Never past the room planned: a header longer than planned
		// would overwrite blobs.
		room := &roomWriter{w: f, volume: n, left: w.prefixLen(n)}
		bw := bufio.NewWriterSize(room, ioChunk)
		err = w.header(n, bw)
		if err == nil {
			err = bw.Flush()
		}
		if err == nil && room.left != 0 {
			err = fmt.Errorf("internal error: header of volume %d is %d bytes shorter than planned", n, room.left)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write volume %d: %w", n, err)
		}
	}
	return nil
}

// finish writes the trailer of the current volume and closes it.
func (w *volumeWriter) finish() error {
	if w.wc == nil {
		return nil
	}
	for _, h := range w.hashers {
		if h == nil {
			continue
		}
		if err := h.failed(); err != nil {
			return err
		}
	}
	if err := w.write(format.Zeros(2 * format.BlockSize)); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write volume %d: %w", w.vol, err)
	}
	if want := w.x.Volumes[w.vol-1].Size; w.off != want {
		return fmt.Errorf("internal error: volume %d is %d bytes, planned %d", w.vol, w.off, want)
	}
	wc := w.wc
	w.wc = nil
	// The hashers may still be reading this volume back: the last of
	// them to be done with it closes it, and the next volume starts now
	// (waiting here stopped the copying at every volume while they
	// caught up, with the disk's write-back running dry).
	s := &sharedClose{c: wc, name: fmt.Sprintf("volume %d", w.vol)}
	for _, h := range w.hashers {
		if h != nil {
			s.n++
		}
	}
	if s.n == 0 {
		if err := wc.Close(); err != nil {
			return fmt.Errorf("close volume %d: %w", w.vol, err)
		}
		return nil
	}
	for _, h := range w.hashers {
		if h != nil {
			h.release(s)
		}
	}
	return nil
}

func (w *volumeWriter) abort() {
	for i, h := range w.hashers {
		if h != nil {
			h.close()
			w.hashers[i] = nil
		}
	}
	if w.wc != nil {
		w.wc.Close()
		w.wc = nil
	}
}

func (w *volumeWriter) writeAll(blobs []*packBlob) error {
	buf := make([]byte, 1<<20)
	pf := newPrefetcher(w.ctx, w.x, blobs)
	defer pf.close()
	for i := range w.x.Blobs {
		b := &w.x.Blobs[i]
		if err := w.ctx.Err(); err != nil {
			return err
		}
		w.image = blobs[i].image
		if f := w.localFile(blobs[i], b); f != nil {
			err := w.copyFile(b, f, blobs[i].src)
			f.Close()
			if err != nil {
				return err
			}
			continue
		}
		rc, err := pf.open(i)
		if err != nil {
			return err
		}
		err = w.writeBlob(b, rc, blobs[i].src, buf)
		rc.Close()
		if err != nil {
			return err
		}
	}
	w.image = "" // what follows (the headers) is no image's
	for i, h := range w.hashers {
		if h == nil {
			continue
		}
		w.hashers[i] = nil
		if err := h.close(); err != nil {
			return err
		}
	}
	return w.finish()
}

// writeBlob writes the members of blob b, its stored bytes read from rc.
//
// An unencoded blob is checked by its own digest as it is read
// (checkedReader). Its segment digests, when it is split, are either found
// here (headers written last) or were hashed before from one read with
// that digest, which the check proves are the bytes written. Encoded bytes
// need hashes of their own: found here, with the whole stream checked, or
// compared with those hashed before. A blob that fails a check fails the
// pack, and the sink discards what was written.
func (w *volumeWriter) writeBlob(b *format.Blob, rc io.Reader, src Source, buf []byte) error {
	mtime := w.x.Mtime()
	record := w.files != nil && len(b.Placements) > 1
	segmentHash := b.Encoding != format.CompressionNone || record
	var whole hash.Hash
	if record && b.Encoding != format.CompressionNone {
		whole = sha256.New()
	}
	for j, p := range b.Placements {
		if err := w.startMember(b, j, mtime); err != nil {
			return err
		}
		var h hash.Hash
		var dst io.Writer = w
		switch {
		case whole != nil:
			h = sha256.New()
			dst = io.MultiWriter(w, h, whole)
		case segmentHash:
			h = sha256.New()
			dst = io.MultiWriter(w, h)
		}
		if _, err := io.CopyBuffer(dst, io.LimitReader(rc, p.Length), buf); err != nil {
			return fmt.Errorf("blob %s from %s: %w", b.Digest, src, err)
		}
		if w.off != p.Offset+p.Length {
			return fmt.Errorf("blob %s from %s ended early", b.Digest, src)
		}
		if record {
			b.Placements[j].Digest = digest.NewDigest(digest.SHA256, h)
		} else if segmentHash {
			if got := digest.NewDigest(digest.SHA256, h); got != p.Digest {
				return fmt.Errorf("blob %s from %s changed while packing (segment %d hashes to %s, planned %s)", b.Digest, src, j+1, got, p.Digest)
			}
		}
		if err := w.write(format.Zeros(format.Padding(p.Length))); err != nil {
			return err
		}
	}
	if err := expectEOF(rc); err != nil {
		return fmt.Errorf("blob %s from %s: %w", b.Digest, src, err)
	}
	if whole != nil {
		if got := digest.NewDigest(digest.SHA256, whole); got != b.StoredDigest {
			return fmt.Errorf("blob %s from %s changed while packing (its %s encoding hashes to %s, not %s)", b.Digest, src, b.Encoding, got, b.StoredDigest)
		}
	}
	return nil
}

// startMember writes the tar header of segment j of b where it is planned,
// opening its volume first if need be.
func (w *volumeWriter) startMember(b *format.Blob, j int, mtime int64) error {
	p := b.Placements[j]
	if p.Volume != w.vol {
		if err := w.open(p.Volume); err != nil {
			return err
		}
	}
	if w.off != p.Offset-format.BlockSize {
		return fmt.Errorf("internal error: volume %d at offset %d, member planned at %d", w.vol, w.off, p.Offset-format.BlockSize)
	}
	return w.write(format.TarHeader(format.MemberName(b, j), p.Length, mtime))
}

// localFile opens the file holding blob b when b can be copied by the
// kernel: stored as it is, from a local source, into volumes that are files,
// and of copyMin bytes or more (for small blobs the system calls cost more
// than the copying). It returns nil otherwise.
func (w *volumeWriter) localFile(pb *packBlob, b *format.Blob) *os.File {
	if w.files == nil || b.Encoding != format.CompressionNone || b.StoredSize < copyMin {
		return nil
	}
	if isRemote(pb.src) {
		return nil
	}
	rc, err := pb.src.Fetch(w.ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		// The usual path reports it.
		return nil
	}
	f, ok := rc.(*os.File)
	if !ok {
		rc.Close()
		return nil
	}
	return f
}

// copyStep is how much the kernel copies at a time before the range is
// handed to the hasher: small enough that the hasher reads it back from
// the page cache.
const copyStep = 4 << 20

// copyFile copies blob b from src into its placements with
// copy_file_range where the system has it, while other goroutines hash the
// volume's bytes behind the copy: the blob whole against its digest and,
// when it is split, segment by segment for the index (the volume headers
// are written last): the first segment's digest is the whole hash's prefix,
// the later segments are hashed on a second core. So the bytes checked are the
// bytes in the volume, and none passes through this process. It is used
// only with a FileSink.
func (w *volumeWriter) copyFile(b *format.Blob, src *os.File, from Source) error {
	split := len(b.Placements) > 1
	for i := range w.hashers {
		if w.hashers[i] == nil && (i == 0 || split) {
			w.hashers[i] = newRangeHasher()
		}
		if w.hashers[i] != nil {
			if err := w.hashers[i].failed(); err != nil {
				return err
			}
		}
	}
	wholeHasher, segmentHasher := w.hashers[0], w.hashers[1]
	mtime := w.x.Mtime()
	for j, p := range b.Placements {
		if err := w.startMember(b, j, mtime); err != nil {
			return err
		}
		if err := w.bw.Flush(); err != nil {
			return fmt.Errorf("write volume %d: %w", w.vol, err)
		}
		dst, ok := w.wc.(*os.File)
		if !ok {
			return fmt.Errorf("internal error: volume %d is not a file", w.vol)
		}
		for left := p.Length; left > 0; {
			if err := w.ctx.Err(); err != nil {
				return err
			}
			n, err := dst.ReadFrom(&io.LimitedReader{R: src, N: min(copyStep, left)})
			if err != nil {
				return fmt.Errorf("copy blob %s from %s into volume %d: %w", b.Digest, from, w.vol, err)
			}
			if n == 0 {
				return fmt.Errorf("blob %s from %s ended early", b.Digest, from)
			}
			wholeHasher.add(dst, w.off, n)
			if split && j > 0 {
				segmentHasher.add(dst, w.off, n)
			}
			writeback.Start(dst, w.off, n)
			w.off += n
			w.done += n
			left -= n
			if w.progress != nil {
				w.progress(Progress{Op: "pack", Volume: w.vol, Done: w.done, Total: w.total, Image: w.image})
			}
		}
		if split {
			seg := j + 1
			c := &hashCheck{size: p.Length, record: &b.Placements[j].Digest, fail: func(_ digest.Digest, size int64) error {
				return fmt.Errorf("blob %s from %s: segment %d is %d bytes, planned %d", b.Digest, from, seg, size, p.Length)
			}}
			// The first segment is a prefix of the blob: the whole
			// hasher has its digest on the way (hashCheck.prefix), and
			// the segment hasher takes only the segments after it. On a
			// blob split in two that is about half the bytes it would
			// hash a second time.
			if j == 0 {
				c.prefix = true
				wholeHasher.expect(c)
			} else {
				segmentHasher.expect(c)
			}
		}
		if err := w.write(format.Zeros(format.Padding(p.Length))); err != nil {
			return err
		}
	}
	wholeHasher.expect(&hashCheck{want: b.Digest, size: b.Size, fail: func(got digest.Digest, size int64) error {
		if size != b.Size {
			return fmt.Errorf("blob %s from %s: %d bytes, want %d", b.Digest, from, size, b.Size)
		}
		return fmt.Errorf("blob %s in %s is corrupt: its content hashes to %s", b.Digest, from, got)
	}})
	return nil
}

// roomWriter writes a volume's header into the room planned for it at the
// start of the file, and refuses to write past it: the blobs follow.
type roomWriter struct {
	w      io.Writer
	volume int
	left   int64
}

func (r *roomWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > r.left {
		return 0, fmt.Errorf("internal error: header of volume %d longer than planned", r.volume)
	}
	n, err := r.w.Write(p)
	r.left -= int64(n)
	return n, err
}
