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
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/iocount"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Encoding: the stored form of each blob (zstd or as it is), reading it
// from its source with its digest checked, and the digests of its segments.

// newEncoder is the one zstd configuration pack uses: single-threaded, so
// the same input always gives the same bytes.
func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
}

// compress feeds r to enc always the same way: the encoder's output depends
// on how its input arrives (Write calls and ReadFrom cut blocks
// differently), and the stored bytes must be the same in every pass.
func compress(enc *zstd.Encoder, r io.Reader) error {
	_, err := enc.ReadFrom(struct{ io.Reader }{r})
	return err
}

// chooseEncodings picks the stored form of every carried blob.
func chooseEncodings(ctx context.Context, blobs []*packBlob) error {
	for _, b := range blobs {
		if b.Base != "" {
			continue
		}
		if err := chooseEncoding(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// chooseEncoding compresses b once to learn its stored size and digest, and
// keeps the compressed form only when it saves at least a tar block.
func chooseEncoding(ctx context.Context, b *packBlob) error {
	if oci.IsManifest(b.MediaType) || oci.IsIndex(b.MediaType) || oci.IsCompressed(b.MediaType) || b.Size < 2*format.BlockSize {
		return nil
	}
	rc, err := openRaw(ctx, b.src, b.Blob)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if magic, _ := br.Peek(4); isCompressedMagic(magic) {
		return nil
	}
	h := sha256.New()
	cw := &iocount.Writer{W: h}
	enc, err := newEncoder(cw)
	if err != nil {
		return err
	}
	if err := compress(enc, br); err != nil {
		enc.Close()
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if cw.N+format.BlockSize <= b.Size {
		b.Encoding = format.CompressionZstd
		b.StoredSize = cw.N
		b.StoredDigest = digest.NewDigest(digest.SHA256, h)
	}
	return nil
}

func isCompressedMagic(m []byte) bool {
	return bytes.HasPrefix(m, []byte{0x1f, 0x8b}) || bytes.HasPrefix(m, []byte{0x28, 0xb5, 0x2f, 0xfd}) ||
		bytes.HasPrefix(m, []byte{0xfd, '7', 'z', 'X'}) || bytes.HasPrefix(m, []byte("BZh"))
}

// openRaw opens a blob at its source; the reader fails at EOF if the bytes
// do not match the digest, so nothing unverified is packed silently.
func openRaw(ctx context.Context, src Source, b *format.Blob) (io.ReadCloser, error) {
	rc, err := src.Fetch(ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		return nil, err
	}
	return &checkedReader{r: rc, c: rc, h: sha256.New(), want: b.Digest, size: b.Size, what: src.String()}, nil
}

// checkedReader hashes what passes and checks size and digest at EOF.
type checkedReader struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	n    int64
	want digest.Digest
	size int64
	what string
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if r.n > r.size {
		return n, fmt.Errorf("blob %s in %s is larger than %d bytes", r.want, r.what, r.size)
	}
	if err == io.EOF {
		if r.n != r.size {
			return n, fmt.Errorf("blob %s in %s: %d bytes, want %d", r.want, r.what, r.n, r.size)
		}
		if got := digest.NewDigest(digest.SHA256, r.h); got != r.want {
			return n, fmt.Errorf("blob %s in %s is corrupt: its content hashes to %s", r.want, r.what, got)
		}
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.c.Close() }

// openStored streams the stored bytes of b: the blob itself, or its zstd
// compression.
func openStored(ctx context.Context, src Source, b *format.Blob) (io.ReadCloser, error) {
	rc, err := openRaw(ctx, src, b)
	if err != nil || b.Encoding == format.CompressionNone {
		return rc, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		enc, err := newEncoder(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if err := compress(enc, rc); err != nil {
			enc.Close()
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(enc.Close())
	}()
	return pr, nil
}

// segmentDigests hashes the stored bytes of b segment by segment.
func segmentDigests(ctx context.Context, src Source, b *format.Blob) error {
	if b.Encoding == format.CompressionNone {
		return rawSegmentDigests(ctx, src, b)
	}
	rc, err := openStored(ctx, src, b)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Unencoded, the stored bytes are the blob, which rc checks.
	var whole hash.Hash
	if b.Encoding != format.CompressionNone {
		whole = sha256.New()
	}
	for i := range b.Placements {
		h := sha256.New()
		var dst io.Writer = h
		if whole != nil {
			dst = io.MultiWriter(h, whole)
		}
		if _, err := io.CopyN(dst, rc, b.Placements[i].Length); err != nil {
			return fmt.Errorf("read blob %s from %s: %w", b.Digest, src, err)
		}
		b.Placements[i].Digest = digest.NewDigest(digest.SHA256, h)
	}
	if err := expectEOF(rc); err != nil {
		return fmt.Errorf("blob %s from %s: %w", b.Digest, src, err)
	}
	if whole == nil {
		return nil
	}
	if got := digest.NewDigest(digest.SHA256, whole); got != b.StoredDigest {
		return fmt.Errorf("blob %s from %s changed while packing (stored bytes hash to %s, not %s)", b.Digest, src, got, b.StoredDigest)
	}
	return nil
}

// rawSegmentDigests hashes an unencoded blob segment by segment and, from
// the same read, as a whole against its digest, the two on two cores: the
// segment digests are then known to describe the blob itself.
func rawSegmentDigests(ctx context.Context, src Source, b *format.Blob) error {
	rc, err := src.Fetch(ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		return err
	}
	defer rc.Close()
	const pieces, pieceSize = 3, 512 << 10
	free := make(chan []byte, pieces)
	for range pieces {
		free <- make([]byte, pieceSize)
	}
	toWhole := make(chan []byte, pieces)
	whole := sha256.New()
	wholeDone := make(chan struct{})
	go func() {
		defer close(wholeDone)
		for p := range toWhole {
			whole.Write(p)
			free <- p[:cap(p)]
		}
	}()
	read := func() error {
		defer close(toWhole)
		for i := range b.Placements {
			h := sha256.New()
			for left := b.Placements[i].Length; left > 0; {
				if err := ctx.Err(); err != nil {
					return err
				}
				buf := <-free
				n, err := io.ReadFull(rc, buf[:min(int64(len(buf)), left)])
				toWhole <- buf[:n]
				h.Write(buf[:n])
				left -= int64(n)
				if err != nil {
					return fmt.Errorf("read blob %s from %s: %w", b.Digest, src, err)
				}
			}
			b.Placements[i].Digest = digest.NewDigest(digest.SHA256, h)
		}
		if err := expectEOF(rc); err != nil {
			return fmt.Errorf("blob %s from %s: %w", b.Digest, src, err)
		}
		return nil
	}
	err = read()
	<-wholeDone
	if err != nil {
		return err
	}
	if got := digest.NewDigest(digest.SHA256, whole); got != b.Digest {
		return fmt.Errorf("blob %s in %s is corrupt: its content hashes to %s", b.Digest, src, got)
	}
	return nil
}

// expectEOF reads one more byte and fails unless the stream ends there (and
// so surfaces the checks a checkedReader makes at EOF).
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return errors.New("more bytes than expected")
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

// placeholderDigest stands for a segment digest not known yet; it has the
// length of every sha256 digest.
var placeholderDigest = digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat("0", 64))

// presetSegmentDigests sets the digest of every carried blob's one
// segment, the blob's stored digest, and placeholders in the segments of
// blobs cut into several, whose indexes in x.Blobs it returns: their
// digests are found by hashing.
func presetSegmentDigests(x *format.Index) []int {
	var split []int
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base != "" {
			continue
		}
		if len(b.Placements) == 1 {
			b.Placements[0].Digest = b.StoredDigest
			continue
		}
		split = append(split, i)
		for j := range b.Placements {
			b.Placements[j].Digest = placeholderDigest
		}
	}
	return split
}
