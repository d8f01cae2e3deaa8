package bundle

// Whole-blob checks of verify (SPEC 11.4). Segment digests prove each
// segment is what the signed index says; they do not prove that the
// segments of a split blob make the blob, nor that a zstd stream decodes
// to it: only a faulty or hostile packer makes such a bundle, which is
// exactly what verify is for. So every blob stored in more than one
// segment, or encoded, gets a task of its own that reads its stored bytes
// in order, across volumes, decodes them and checks the blob's size and
// digest.
//
// The bytes of an unencoded split blob are hashed once: its segments are
// not hashed by the range checks, the whole-blob task hashes the blob, and
// only when that fails are the segments hashed apart to name the volume at
// fault (as unpack does, SPEC 11.5). An encoded blob's segments are hashed
// by the range checks as usual, and its task decodes.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/airgap-bundle/bundle/format"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// wholeBlobTasks adds to tasks a whole-blob task for each carried blob that
// is split or encoded and whose volumes are all being checked, and returns
// the unencoded ones, whose segments the range checks need not hash.
func wholeBlobTasks(x *format.Index, checks map[int]*volumeCheck, tasks *[]*verifyTask) map[*format.Blob]bool {
	skip := map[*format.Blob]bool{}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base != "" || (len(b.Placements) < 2 && b.Encoding == format.CompressionNone) {
			continue
		}
		var vcs []*volumeCheck
		for _, p := range b.Placements {
			if checks[p.Volume] == nil {
				vcs = nil // a volume missing (or unopenable): segments only
				break
			}
			vcs = append(vcs, checks[p.Volume])
		}
		if vcs == nil {
			continue
		}
		first := b.Placements[0]
		t := &verifyTask{v: vcs[0], blob: b, placements: vcs, start: first.Offset - format.BlockSize, end: first.Offset - format.BlockSize + b.StoredSize}
		vcs[0].tasks++
		*tasks = append(*tasks, t)
		if b.Encoding == format.CompressionNone {
			skip[b] = true
		}
	}
	return skip
}

// skipData reads the rest of the current member's data without hashing
// it: a whole-blob task checks it. It reads rather than seeks past it, so
// that a volume cut short inside it is reported where it ends, as a
// sequential reader reports it; reading from the page cache costs far less
// than the hash it saves.
func (c *rangeChecker) skipData(body *format.BodyReader) error {
	n := body.Left()
	k, err := c.br.Discard(int(n))
	body.Consumed(int64(k))
	switch {
	case err == nil:
		return nil
	case err == io.EOF:
		return body.Corrupt("volume ends early (truncated)")
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var ce *format.CorruptError
	if errors.As(err, &ce) {
		return err
	}
	return body.Corrupt(fmt.Sprintf("cannot be read: %v", err))
}

// checkBlob runs a whole-blob task. It records what it finds in the volume
// at fault itself, so that a blob split over volumes fails the right one;
// it returns an error only when it could not run.
func (c *rangeChecker) checkBlob(t *verifyTask) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	b := t.blob
	readers := make([]io.ReaderAt, len(b.Placements))
	for j, vc := range t.placements {
		r, closeFn, err := vc.open()
		if err != nil {
			vc.fail(b.Placements[j].Offset-format.BlockSize, err)
			return nil
		}
		defer closeFn()
		readers[j] = r
	}
	var stored []io.Reader
	for j, p := range b.Placements {
		stored = append(stored, &segmentReader{r: io.NewSectionReader(readers[j], p.Offset, p.Length), p: p, j: j, b: b, vc: t.placements[j]})
	}
	err := c.wholeDigest(b, io.MultiReader(stored...))
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Name the segment at fault, if one is; else the blob is wrong as a
	// whole, and its first volume says so.
	var ce *format.CorruptError
	if errors.As(err, &ce) {
		for _, vc := range t.placements {
			if vc.n == ce.Volume {
				vc.fail(ce.Offset, ce)
				return nil
			}
		}
	}
	if j, reason := badSegment(b, func(j int) io.Reader {
		return io.NewSectionReader(readers[j], b.Placements[j].Offset, b.Placements[j].Length)
	}, c.scratch()); j >= 0 {
		p, vc := b.Placements[j], t.placements[j]
		vc.fail(p.Offset-format.BlockSize, &format.CorruptError{Path: vc.path, Volume: vc.n, Offset: p.Offset + p.Length,
			Member: format.MemberName(b, j), Digest: p.Digest, Reason: reason})
		return nil
	}
	first := b.Placements[0]
	t.v.fail(t.start, &format.CorruptError{Path: t.v.path, Volume: t.v.n, Offset: first.Offset, Member: format.MemberName(b, 0), Digest: b.Digest,
		Reason: fmt.Sprintf("its segments match the index, but %v", err)})
	return nil
}

// wholeDigest reads the stored bytes of b from r, decodes them, and checks
// the blob's size and digest.
func (c *rangeChecker) wholeDigest(b *format.Blob, r io.Reader) error {
	if b.Encoding == format.CompressionZstd {
		dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return err
		}
		defer dec.Close()
		r = decodeErrors{dec, "the zstd stream of blob " + b.Digest.String()}
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.LimitReader(contextReader{c.ctx, r}, b.Size+1), c.scratch())
	if err != nil {
		return err
	}
	switch got := digest.NewDigest(digest.SHA256, h); {
	case n > b.Size:
		return fmt.Errorf("blob %s is longer than the %d bytes the index gives", b.Digest, b.Size)
	case n < b.Size:
		return fmt.Errorf("blob %s is %d bytes, the index gives %d", b.Digest, n, b.Size)
	case got != b.Digest:
		return fmt.Errorf("blob %s hashes to %s", b.Digest, got)
	}
	return nil
}

func (c *rangeChecker) scratch() []byte {
	if c.buf == nil {
		c.buf = make([]byte, c.bufSize)
	}
	return c.buf
}

// segmentReader reads one stored segment of a blob from its volume; a
// read that fails or ends early is that volume's corruption.
type segmentReader struct {
	r    *io.SectionReader
	p    format.Placement
	j    int
	b    *format.Blob
	vc   *volumeCheck
	read int64
}

func (s *segmentReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read += int64(n)
	switch {
	case err == io.EOF && s.read < s.p.Length:
		err = s.corrupt("volume ends early (truncated)")
	case err != nil && err != io.EOF:
		err = s.corrupt(fmt.Sprintf("cannot be read: %v", err))
	}
	return n, err
}

func (s *segmentReader) corrupt(reason string) error {
	return &format.CorruptError{Path: s.vc.path, Volume: s.vc.n, Offset: s.p.Offset + s.read, Member: format.MemberName(s.b, s.j), Digest: s.p.Digest, Reason: reason}
}

// contextReader stops reading when ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
