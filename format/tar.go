package format

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// Volumes are ustar archives whose every header is canonical (SPEC 4.4): a
// reader rebuilds the exact 512 bytes it expects and compares, so no field
// of a header (type, link name, mode, owner) can carry anything unexpected.

// BlockSize is the tar block size.
const BlockSize = 512

// MemberSize is what a member with n data bytes occupies: its header and
// its data padded to whole blocks.
func MemberSize(n int64) int64 {
	return BlockSize + (n+BlockSize-1)/BlockSize*BlockSize
}

// Padding is the number of zero bytes after n data bytes.
func Padding(n int64) int64 {
	return (BlockSize - n%BlockSize) % BlockSize
}

// zeroBlocks is the trailer, and holds any padding.
var zeroBlocks [2 * BlockSize]byte

// Zeros returns n zero bytes, n ≤ 1024 (padding or the trailer). The
// slice is shared: callers must not write to it.
func Zeros(n int64) []byte { return zeroBlocks[:n] }

// TarHeader builds the canonical ustar header of a regular file.
func TarHeader(name string, size, mtime int64) []byte {
	h := make([]byte, BlockSize)
	putTarHeader((*[BlockSize]byte)(h), name, size, mtime)
	return h
}

// putTarHeader writes TarHeader(name, size, mtime) into h, which must be
// zero: the readers and the writer build one for every member, a million
// at a million blobs, and this makes none of the garbage of the
// formatted version.
func putTarHeader(h *[BlockSize]byte, name string, size, mtime int64) {
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	putOctal(h[124:136], size)
	putOctal(h[136:148], mtime)
	copy(h[148:156], "        ")
	h[156] = '0'
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	copy(h[329:337], "0000000\x00")
	copy(h[337:345], "0000000\x00")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	putOctal(h[148:155], sum) // six digits and a NUL, then the space that is there
}

// putOctal writes v as len(f)-1 octal digits, zero-padded, and a NUL (as
// fmt's %0No with N = len(f)-1, then "\x00"). v is never negative and
// always fits: sizes are below MaxMemberSize, mtimes below 1<<33, and a
// header's checksum below 512*255.
func putOctal(f []byte, v int64) {
	f[len(f)-1] = 0
	for i := len(f) - 2; i >= 0; i-- {
		f[i] = byte('0' + v&7)
		v >>= 3
	}
}

// ParseTarHeader reads the name and size of a header that a reader will
// afterwards compare with TarHeader(name, size, mtime).
func ParseTarHeader(h []byte) (name string, size int64, err error) {
	if len(h) != BlockSize {
		return "", 0, fmt.Errorf("short tar header")
	}
	if bytes.Equal(h, zeroBlocks[:BlockSize]) {
		return "", 0, fmt.Errorf("end-of-archive block where a member was expected")
	}
	if h[156] != '0' {
		return "", 0, fmt.Errorf("tar member type %q: only regular files are allowed", h[156])
	}
	n := bytes.IndexByte(h[0:100], 0)
	if n < 0 {
		n = 100
	}
	name = string(h[:n])
	sz := h[124:136]
	if sz[11] != 0 {
		return name, 0, fmt.Errorf("tar member %q: size field is not canonical", name)
	}
	for _, c := range sz[:11] {
		if c < '0' || c > '7' {
			return name, 0, fmt.Errorf("tar member %q: size field is not 11 octal digits", name)
		}
	}
	size, err = strconv.ParseInt(string(sz[:11]), 8, 64)
	if err != nil {
		return name, 0, fmt.Errorf("tar member %q: bad size field", name)
	}
	return name, size, nil
}

// WriteMember writes a whole small member: header, data, padding.
func WriteMember(w io.Writer, name string, data []byte, mtime int64) error {
	for _, p := range memberPieces(name, data, mtime) {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// memberPieces is a small member as its header, data and padding.
func memberPieces(name string, data []byte, mtime int64) [][]byte {
	return [][]byte{TarHeader(name, int64(len(data)), mtime), data, Zeros(Padding(int64(len(data))))}
}
