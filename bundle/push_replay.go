package bundle

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/airgap-bundle/bundle/format"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// origin is where blob b starts in the volumes, and how to read it again
// to replay its upload.
func (s *Set) origin(b *format.Blob) blobOrigin {
	p := b.Placements[0]
	o := blobOrigin{volume: p.Volume}
	if v := s.Volumes[p.Volume]; v != nil {
		o.path = v.Path
	}
	o.reread = func(ctx context.Context) (io.ReadCloser, error) { return s.rereadBlob(ctx, b) }
	return o
}

// rereadBlob reads blob b's content again from its placements in the
// volumes (io.ReaderAts: no need to read them in order again), each
// segment checked against its digest in the signed index as it ends, and
// decoded when stored compressed. The reader does not check the blob's
// digest: its caller does (uploadSink, before the last byte goes out).
func (s *Set) rereadBlob(ctx context.Context, b *format.Blob) (io.ReadCloser, error) {
	sr := &segmentsReader{ctx: ctx, set: s, b: b, h: sha256.New()}
	if b.Encoding != format.CompressionZstd {
		return sr, nil
	}
	dec, err := zstd.NewReader(sr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow), zstd.WithDecoderLowmem(true))
	if err != nil {
		sr.Close()
		return nil, err
	}
	return &decodedReader{dec: dec, sr: sr, size: b.Size, what: "blob " + b.Digest.String()}, nil
}

// segmentsReader reads the stored segments of a blob one after another.
type segmentsReader struct {
	ctx  context.Context
	set  *Set
	b    *format.Blob
	j    int // the segment being read
	vr   VolumeReader
	r    *io.SectionReader
	h    hash.Hash
	read int64
	err  error // a corruption found: sticky
}

func (s *segmentsReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	for s.r == nil {
		if s.j == len(s.b.Placements) {
			return 0, io.EOF
		}
		pl := s.b.Placements[s.j]
		vr, err := s.set.reopen(s.ctx, pl.Volume)
		if err != nil {
			s.err = err
			return 0, err
		}
		s.vr, s.r, s.read = vr, io.NewSectionReader(vr, pl.Offset, pl.Length), 0
		s.h.Reset()
	}
	pl := s.b.Placements[s.j]
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	s.read += int64(n)
	switch {
	case err == io.EOF && s.read < pl.Length:
		s.err = s.corrupt("volume ends early (truncated)")
	case err != nil && err != io.EOF:
		s.err = s.corrupt(fmt.Sprintf("cannot be read: %v", err))
	case s.read == pl.Length:
		// The segment ends: its digest before the next one (a blob's
		// last byte is held back by the caller until the whole checks).
		if got := digest.NewDigest(digest.SHA256, s.h); got != pl.Digest {
			s.err = s.corrupt("content hashes to " + got.String())
		}
		s.vr.Close()
		s.vr, s.r = nil, nil
		s.j++
	}
	if s.err != nil {
		return n, s.err
	}
	return n, nil
}

func (s *segmentsReader) corrupt(reason string) error {
	pl := s.b.Placements[s.j]
	path := ""
	if v := s.set.Volumes[pl.Volume]; v != nil {
		path = v.Path
	}
	return &format.CorruptError{Path: path, Volume: pl.Volume, Offset: pl.Offset + s.read, Member: format.MemberName(s.b, s.j), Digest: pl.Digest, Reason: reason}
}

func (s *segmentsReader) Close() error {
	if s.vr != nil {
		s.vr.Close()
		s.vr, s.r = nil, nil
	}
	return nil
}

// decodedReader decodes a blob stored compressed, bounded by its size in
// the index; a failure of the stored bytes is reported as theirs.
type decodedReader struct {
	dec  *zstd.Decoder
	sr   *segmentsReader
	size int64
	n    int64
	what string
}

func (d *decodedReader) Read(p []byte) (int, error) {
	if d.n+int64(len(p)) > d.size+1 {
		p = p[:d.size+1-d.n]
	}
	n, err := d.dec.Read(p)
	d.n += int64(n)
	if d.sr.err != nil {
		return n, d.sr.err
	}
	if d.n > d.size {
		return n, &decodeError{what: d.what, err: fmt.Errorf("decompresses to more than the %d bytes the index says", d.size)}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = &decodeError{what: d.what, err: err}
	}
	return n, err
}

func (d *decodedReader) Close() error {
	d.dec.Close()
	return d.sr.Close()
}
