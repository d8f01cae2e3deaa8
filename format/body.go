package format

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Body is a run of the blob members of one volume, to be read with a
// BodyReader: the whole body of a volume (VolumeHeader.Body), or a part of
// it that a parallel checker takes.
type Body struct {
	Index  *Index
	Path   string // the volume file, for errors
	Volume int
	// Members are read in this order: all of the volume's, in file order,
	// or a run of consecutive ones.
	Members []Member
	// Offset is where the first member's header starts in the volume (or
	// where the trailer starts, when there is no member).
	Offset int64
	// Last is set when the members end the volume: Close then checks the
	// trailer and that nothing follows it.
	Last bool
}

// Body is the whole body of the volume h heads: every blob member after
// the header members, and the trailer.
func (h *VolumeHeader) Body() Body {
	members := h.Index.Members(h.Number)
	if h.Table != nil {
		// Version 2, before a set merged the tables into h.Index.
		members = tableMembers(h.Table, h.Number)
	}
	return Body{Index: h.Index, Path: h.Path, Volume: h.Number, Members: members,
		Offset: h.Index.VolumePrefixSize(h.Number, h.IndexSize()), Last: true}
}

// BodyReader reads the blob members of a Body and checks every byte as
// SPEC 11.4 says: canonical headers, segment digests, zero padding and, for
// the last members of a volume, the trailer and the end of the file. It is
// the one checker of volume bodies: unpack streams through it and verify
// runs one per range of members.
//
// Use: Next, then Read the member's data (or leave it to End), then End;
// after the last member, Close.
type BodyReader struct {
	r      io.Reader
	body   Body
	next   int
	off    int64
	mtime  int64
	report func(n int64)

	cur      *Member
	h        hash.Hash
	sum      [sha256.Size]byte
	left     int64
	unhashed bool // the caller took the member's data: End leaves its digest to the caller
	buf      []byte
	// scratch holds a header or padding read, header the header expected:
	// fields, not locals, which would escape into io.ReadFull, a
	// kilobyte of garbage a member (issue 15).
	scratch [2 * BlockSize]byte
	header  [BlockSize]byte
}

// drainSize is what End reads at once when it reads data the caller left.
const drainSize = 256 << 10

// NewBodyReader reads body from r, which must be positioned at
// body.Offset. report, when not nil, is told of the bytes checked as they
// are.
func NewBodyReader(r io.Reader, body Body, report func(n int64)) *BodyReader {
	b := &BodyReader{}
	b.Reset(r, body, report)
	return b
}

// Reset makes b read body from r, as NewBodyReader does, keeping its
// buffer and hash: a checker that reads many ranges keeps one reader.
// The zero BodyReader is ready for Reset.
func (b *BodyReader) Reset(r io.Reader, body Body, report func(n int64)) {
	h := b.h
	if h == nil {
		h = sha256.New()
	}
	*b = BodyReader{r: r, body: body, off: body.Offset, mtime: body.Index.Mtime(), report: report, h: h, buf: b.buf}
}

// Offset is the position in the volume of the next byte to read.
func (b *BodyReader) Offset() int64 { return b.off }

// Left is the number of data bytes of the current member not read yet.
func (b *BodyReader) Left() int64 { return b.left }

// Corrupt is a CorruptError at the current position, naming the current
// member if there is one.
func (b *BodyReader) Corrupt(reason string) *CorruptError {
	e := &CorruptError{Path: b.body.Path, Volume: b.body.Volume, Offset: b.off, Reason: reason}
	if b.cur != nil {
		e.Member = b.cur.Name()
		e.Digest = b.cur.Placement().Digest
	}
	return e
}

// readErr is what a failed read of the volume means: a truncated volume,
// an unreadable (so damaged) one, or a cancellation, which is passed on.
func (b *BodyReader) readErr(err error, truncated string) error {
	var ce *CorruptError
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return b.Corrupt(truncated)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ce):
		return err
	}
	return b.Corrupt(fmt.Sprintf("cannot be read: %v", err))
}

func (b *BodyReader) count(n int64) {
	b.off += n
	if b.report != nil && n > 0 {
		b.report(n)
	}
}

// readFull reads len(p) bytes of the volume.
func (b *BodyReader) readFull(p []byte, truncated string) error {
	n, err := io.ReadFull(b.r, p)
	b.count(int64(n))
	if err != nil {
		return b.readErr(err, truncated)
	}
	return nil
}

const truncated = "volume ends early (truncated)"

// Next reads the header of the next member and returns the member; ok is
// false after the last member.
func (b *BodyReader) Next() (m Member, ok bool, err error) {
	if b.cur != nil {
		return m, false, errors.New("internal error: member not ended")
	}
	if b.next >= len(b.body.Members) {
		return m, false, nil
	}
	m = b.body.Members[b.next]
	b.next++
	p := m.Placement()
	if b.off != p.Offset-BlockSize {
		return m, false, fmt.Errorf("internal error: %s: member at %d, expected at %d", b.body.Path, b.off, p.Offset-BlockSize)
	}
	b.cur = &m
	h := b.scratch[:BlockSize]
	n, err := io.ReadFull(b.r, h)
	if err != nil {
		b.off += int64(n)
		return m, false, b.readErr(err, truncated)
	}
	b.header = [BlockSize]byte{}
	putTarHeader(&b.header, m.Name(), p.Length, b.mtime)
	if !bytes.Equal(h, b.header[:]) {
		// Reported where the header starts.
		name, _, perr := ParseTarHeader(h)
		reason := fmt.Sprintf("tar header of %q is not the one the index describes", name)
		if perr != nil {
			reason = perr.Error()
		}
		return m, false, b.Corrupt(reason)
	}
	b.count(BlockSize)
	b.left = p.Length
	b.h.Reset()
	return m, true, nil
}

// Read reads the current member's data, hashing it.
func (b *BodyReader) Read(p []byte) (int, error) {
	if b.cur == nil || b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.left -= int64(n)
	b.count(int64(n))
	switch {
	case err == io.EOF && b.left > 0:
		return n, b.Corrupt(truncated)
	case err == io.EOF:
		return n, nil
	case err != nil:
		return n, b.readErr(err, truncated)
	}
	return n, nil
}

// Consumed says that the caller took n bytes of the current member's data
// from the volume itself (a copy by the kernel from the file r reads,
// which must then be positioned after them). The member is then not
// hashed here: the caller must check its digest.
func (b *BodyReader) Consumed(n int64) {
	b.unhashed = true
	b.left -= n
	b.count(n)
}

// End finishes the current member: reads what the caller left, checks the
// segment digest (unless the caller took data itself) and the padding.
func (b *BodyReader) End() error {
	m := b.cur
	if m == nil {
		return errors.New("internal error: no member")
	}
	if b.left > 0 {
		if b.buf == nil {
			b.buf = make([]byte, min(drainSize, b.left))
		}
		for b.left > 0 {
			if _, err := b.Read(b.buf[:min(int64(len(b.buf)), b.left)]); err != nil {
				return err
			}
		}
	}
	if b.unhashed {
		b.unhashed = false
	} else if sum := b.h.Sum(b.sum[:0]); !hexEqual(sum, m.Placement().Digest.Encoded()) {
		return b.Corrupt(fmt.Sprintf("content hashes to sha256:%x", sum))
	}
	if err := b.zeros(Padding(m.Placement().Length), "non-zero padding", truncated); err != nil {
		return err
	}
	b.cur = nil
	return nil
}

// hexEqual reports whether sum is the digest whose hex digits are enc.
func hexEqual(sum []byte, enc string) bool {
	var buf [2 * sha256.Size]byte
	return len(sum) <= sha256.Size && string(hex.AppendEncode(buf[:0], sum)) == enc
}

// zeros reads n bytes that must be zero.
func (b *BodyReader) zeros(n int64, notZero, short string) error {
	z := b.scratch[:n]
	if err := b.readFull(z, short); err != nil {
		return err
	}
	if !bytes.Equal(z, zeroBlocks[:n]) {
		return b.Corrupt(notZero)
	}
	return nil
}

// Close checks, when the members end the volume, the end-of-archive
// trailer and that nothing follows it.
func (b *BodyReader) Close() error {
	if b.next < len(b.body.Members) || b.cur != nil {
		return errors.New("internal error: volume not read to its end")
	}
	if !b.body.Last {
		return nil
	}
	if err := b.zeros(2*BlockSize, "trailer is not two zero blocks", "volume ends early (truncated before the trailer)"); err != nil {
		return err
	}
	var one [1]byte
	if n, _ := io.ReadFull(b.r, one[:]); n != 0 {
		return b.Corrupt(fmt.Sprintf("bytes after the end of the volume (it should be %d bytes)", b.body.Index.Volumes[b.body.Volume-1].Size))
	}
	return nil
}
