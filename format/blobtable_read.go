package format

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"

	"github.com/airgap-bundle/bundle/internal/intern"
	"github.com/opencontainers/go-digest"
)

// A blob table read as a stream (issue 15). Read whole, volume 1's table of
// a million-blob bundle was 124 MB of bytes held while its 150 MB of
// entries were decoded from them, on top of the decoded index: the peak of
// verify and unpack. readTable decodes the entries as the bytes come,
// holding one entry's bytes at a time, and hashes them on the way: the
// table is accepted only once the whole of it has the digest the signed
// index names, as before.
//
// What it accepts is what checking the whole document (CheckStrictJSON)
// and decoding it (encoding/json) accept: the entries of the top-level
// "blobs" member are each checked and decoded alone, and the rest of the
// document, with that array emptied ("skeleton"), is checked and decoded
// whole. Emptying an array keeps a document well-formed or not, and its
// member names as they were, so the two checks refuse what the one did
// (FuzzBlobTable compares them).
//
// Memory stays bounded before the digest is checked: no more entries than
// the signed index counts are decoded, and no entry with more objects
// than a blob has (its own and one placement per volume).

var (
	reflectBlobTable = reflect.TypeFor[blobTableJSON]()
	reflectBlob      = reflect.TypeFor[Blob]()
)

// ReadBlobTable is ParseBlobTable for a table read from r: the size bytes
// of volume n's blobs.json member. An error reading r is returned
// wrapped, io.ErrUnexpectedEOF when r ends early.
func ReadBlobTable(x *Index, n int, r io.Reader, size int64) ([]Blob, error) {
	return readBlobTable(x, n, r, size, nil)
}

// readBlobTable is ReadBlobTable decoding into room, when it has room for
// the blobs the index counts in the table (HeaderReader gives each table
// of a set its place in one array, which MergeBlobTables then merges in
// place).
func readBlobTable(x *Index, n int, r io.Reader, size int64, room []Blob) ([]Blob, error) {
	if x.FormatVersion != VersionV2 || n < 1 || n > len(x.BlobTables) {
		return nil, fmt.Errorf("blob table of volume %d: the index has none", n)
	}
	want := x.BlobTables[n-1]
	differs := fmt.Errorf("blob table of volume %d %w (%s, %d bytes)", n, ErrTableDiffers, want.Digest, want.Size)
	if size != want.Size {
		return nil, differs
	}
	h := digest.SHA256.Digester()
	lr := &io.LimitedReader{R: r, N: size}
	src := &readErrKeeper{r: io.TeeReader(lr, h.Hash())}
	br := bufio.NewReaderSize(src, 64<<10)
	d, derr := streamBlobTable(x, n, br, room)
	// The rest is read (and hashed) whatever the decoder made of what
	// came before: an entry refused in a table that is not the one signed
	// is a damaged volume, not a bad bundle (ErrTableDiffers).
	io.Copy(io.Discard, br) // an error reading is kept in src.err
	if src.err != nil {
		return nil, fmt.Errorf("blob table of volume %d: %w", n, &tableReadError{src.err})
	}
	if lr.N != 0 {
		return nil, fmt.Errorf("blob table of volume %d: %w", n, &tableReadError{io.ErrUnexpectedEOF})
	}
	if h.Digest() != want.Digest {
		return nil, differs
	}
	if derr != nil {
		return nil, derr
	}
	return d.finish(x, n)
}

// tableReadError is an error reading a table (not one in what was read).
type tableReadError struct{ err error }

func (e *tableReadError) Error() string { return e.err.Error() }
func (e *tableReadError) Unwrap() error { return e.err }

// readErrKeeper keeps the first error other than io.EOF its reader
// returned (bufio.Reader hands an error on only once).
type readErrKeeper struct {
	r   io.Reader
	err error
}

func (k *readErrKeeper) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if err != nil && err != io.EOF && k.err == nil {
		k.err = err
	}
	return n, err
}

// streamBlobTable reads the table r holds, decoding the entries of its
// blobs array as they come, before the table's digest is known to match
// (hence the bounds). finish decodes the rest, the skeleton, once it is:
// the skeleton is small, unless the blobs were not where they are looked
// for.
func streamBlobTable(x *Index, n int, r *bufio.Reader, room []Blob) (*tableDecoder, error) {
	want := x.BlobTables[n-1]
	if cap(room) < want.Count {
		room = make([]Blob, 0, want.Count)
	}
	d := &tableDecoder{r: r, limit: want.Count, maxObjects: 1 + len(x.Volumes),
		blobs: room[:0], names: intern.New()}
	if err := d.document(); err != nil {
		return nil, fmt.Errorf("blob table of volume %d: %w", n, err)
	}
	return d, nil
}

// finish checks and decodes the skeleton and checks the whole table.
func (d *tableDecoder) finish(x *Index, n int) ([]Blob, error) {
	want := x.BlobTables[n-1]
	if err := CheckStrictJSON(d.skeleton, reflectBlobTable); err != nil {
		return nil, fmt.Errorf("blob table of volume %d: %w", n, err)
	}
	t := blobTableJSON{Blobs: []Blob{}}
	if err := json.Unmarshal(d.skeleton, &t); err != nil {
		return nil, fmt.Errorf("blob table of volume %d: %w", n, err)
	}
	blobs := d.blobs
	if !d.streamed {
		// The blobs were not where the stream looks for them (a member
		// name spelled with escapes, say): the skeleton held them.
		if len(t.Blobs) > want.Count {
			return nil, fmt.Errorf("blob table of volume %d: %d blobs listed, the bundle index says %d", n, len(t.Blobs), want.Count)
		}
		blobs = t.Blobs
		for i := range blobs {
			blobs[i].share(d.names)
		}
	}
	return x.finishBlobTable(n, t.Volume, blobs)
}

// finishBlobTable puts the placements of a decoded table in one array and
// checks the table.
func (x *Index) finishBlobTable(n, volume int, blobs []Blob) ([]Blob, error) {
	placements := 0
	for i := range blobs {
		placements += len(blobs[i].Placements)
	}
	// The placements in one array: one allocation (of 48 bytes for a
	// 40-byte placement) for each of a million blobs was 1M more objects
	// for the collector to mark, and 8 MB.
	slab := make([]Placement, 0, placements)
	for i := range blobs {
		b := &blobs[i]
		if b.Placements != nil {
			at := len(slab)
			slab = append(slab, b.Placements...)
			b.Placements = slab[at:len(slab):len(slab)]
		}
	}
	ptrs := make([]*Blob, len(blobs))
	for i := range blobs {
		ptrs[i] = &blobs[i]
	}
	if err := x.checkBlobTable(n, volume, ptrs); err != nil {
		return nil, fmt.Errorf("blob table of volume %d: %w", n, err)
	}
	return blobs, nil
}

// tableDecoder splits a table as it is read into the entries of its
// top-level "blobs" member, decoded one by one, and the skeleton: the
// rest of the document, that array emptied, white space between its
// tokens one space.
type tableDecoder struct {
	r          *bufio.Reader
	off        int64 // bytes read
	space      bool  // next skipped white space before the byte it returned
	objects    int   // objects begun outside strings by value
	limit      int   // entries at most
	maxObjects int   // JSON objects in one entry at most
	skeleton   []byte
	entry      []byte // the entry being read
	blobs      []Blob
	streamed   bool // a "blobs" array was decoded from the stream
	names      *intern.Table
}

const endOfInput = -1

// next is the next byte that is not white space, or endOfInput.
func (d *tableDecoder) next() int {
	d.space = false
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			return endOfInput
		}
		d.off++
		switch c {
		case ' ', '\t', '\r', '\n':
			d.space = true
			continue
		}
		return int(c)
	}
}

// skel appends to the skeleton c, which next returned, with a space before
// it where white space was: left out, it could join two values into one
// ("1 2" is not a value, "12" is).
func (d *tableDecoder) skel(c int) {
	if d.space {
		d.skeleton = append(d.skeleton, ' ')
	}
	if c != endOfInput {
		d.skeleton = append(d.skeleton, byte(c))
	}
}

// document reads the whole table. Where it is not the object it expects,
// the rest goes into the skeleton as it is, for the checks of the whole to
// refuse.
func (d *tableDecoder) document() error {
	c := d.next()
	if c != '{' {
		return d.rest(c)
	}
	d.skel(c)
	if c = d.next(); c == '}' {
		d.skel(c)
		return d.rest(d.next())
	}
	for {
		if c != '"' {
			return d.rest(c)
		}
		d.skel(endOfInput) // the space before the name, if any
		start := len(d.skeleton)
		d.skeleton = d.value(d.skeleton, c)
		name := string(d.skeleton[start:])
		if c = d.next(); c != ':' {
			return d.rest(c)
		}
		d.skel(c)
		if c = d.next(); name == `"blobs"` && c == '[' {
			d.skel(c)
			d.skeleton = append(d.skeleton, ']')
			if err := d.entries(); err != nil {
				return err
			}
		} else {
			d.skel(endOfInput)
			d.skeleton = d.value(d.skeleton, c)
		}
		switch c = d.next(); c {
		case ',':
			d.skel(c)
			c = d.next()
		case '}':
			d.skel(c)
			return d.rest(d.next())
		default:
			return d.rest(c)
		}
	}
}

// rest puts c, which next returned, and all that follows into the
// skeleton.
func (d *tableDecoder) rest(c int) error {
	d.skel(c)
	if c == endOfInput {
		return nil
	}
	var buf bytes.Buffer
	n, _ := buf.ReadFrom(d.r)
	d.off += n
	d.skeleton = append(d.skeleton, buf.Bytes()...)
	return nil
}

// entries decodes the entries of the blobs array, whose '[' was read.
func (d *tableDecoder) entries() error {
	d.streamed = true
	c := d.next()
	if c == ']' {
		return nil
	}
	for {
		at := d.off
		d.objects = 0
		d.entry = d.value(d.entry[:0], c)
		if len(d.blobs) == d.limit {
			return fmt.Errorf("more blobs listed than the %d the bundle index says", d.limit)
		}
		if d.objects > d.maxObjects {
			// More than a blob can hold: refused before it is decoded,
			// as a table not yet known to be the one signed could make
			// one entry of many small objects (48 bytes for each {}).
			return fmt.Errorf("blob %d (at byte %d) holds %d objects, more than a blob and a placement per volume", len(d.blobs), at, d.objects)
		}
		if err := CheckStrictJSON(d.entry, reflectBlob); err != nil {
			return fmt.Errorf("blob %d (at byte %d): %w", len(d.blobs), at, err)
		}
		d.blobs = append(d.blobs, Blob{})
		b := &d.blobs[len(d.blobs)-1]
		if err := json.Unmarshal(d.entry, b); err != nil {
			return fmt.Errorf("blob %d (at byte %d): %w", len(d.blobs)-1, at, err)
		}
		b.share(d.names)
		switch c = d.next(); c {
		case ',':
			c = d.next()
		case ']':
			return nil
		default:
			return fmt.Errorf("malformed blobs array at byte %d", d.off)
		}
	}
}

// value appends to buf the JSON value that starts with c, as it is: a
// string, an object or array (to its matching end), or anything else up
// to the next delimiter. It checks no syntax: what it takes is checked
// and decoded next, and refused there if it is not a value.
func (d *tableDecoder) value(buf []byte, c int) []byte {
	if c == endOfInput {
		return buf
	}
	buf = append(buf, byte(c))
	switch c {
	case '"':
		return d.scan(buf, 0, true)
	case '{', '[':
		if c == '{' {
			d.objects++
		}
		return d.scan(buf, 1, false)
	}
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return buf
		}
		switch b {
		case ',', ']', '}', ' ', '\t', '\r', '\n', ':':
			d.r.UnreadByte()
			return buf
		}
		d.off++
		buf = append(buf, b)
	}
}

// scan appends to buf what follows, up to where the string it is in (when
// inString) ends and depth arrays and objects close, reading the bytes
// the reader holds a buffer at a time (a call per byte was most of the
// time of reading a table).
func (d *tableDecoder) scan(buf []byte, depth int, inString bool) []byte {
	escaped := false
	for depth > 0 || inString {
		if _, err := d.r.Peek(1); err != nil {
			return buf
		}
		chunk, _ := d.r.Peek(d.r.Buffered())
		i := 0
		for ; i < len(chunk) && (depth > 0 || inString); i++ {
			b := chunk[i]
			if inString {
				switch {
				case escaped:
					escaped = false
				case b == '\\':
					escaped = true
				case b == '"':
					inString = false
				}
				continue
			}
			switch b {
			case '"':
				inString = true
			case '{':
				d.objects++
				depth++
			case '[':
				depth++
			case '}', ']':
				depth--
			}
		}
		buf = append(buf, chunk[:i]...)
		d.r.Discard(i)
		d.off += int64(i)
	}
	return buf
}
