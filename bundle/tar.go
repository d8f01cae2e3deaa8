package bundle

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// Volumes are ustar archives whose every header is canonical: a reader
// rebuilds the exact 512 bytes it expects and compares, so no field of a
// header (type, link name, mode, owner) can carry anything unexpected.

const blockSize = 512

// memberSize is what a member with n data bytes occupies: its header and its
// data padded to whole blocks.
func memberSize(n int64) int64 {
	return blockSize + (n+blockSize-1)/blockSize*blockSize
}

// tarHeader builds the canonical ustar header of a regular file.
func tarHeader(name string, size, mtime int64) []byte {
	h := make([]byte, blockSize)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], fmt.Sprintf("%011o\x00", mtime))
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
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// parseTarHeader reads the name and size of a header that a reader will
// afterwards compare with tarHeader(name, size, mtime).
func parseTarHeader(h []byte) (name string, size int64, err error) {
	if len(h) != blockSize {
		return "", 0, fmt.Errorf("short tar header")
	}
	if bytes.Equal(h, make([]byte, blockSize)) {
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

// padding returns the number of zero bytes after n data bytes.
func padding(n int64) int64 {
	return (blockSize - n%blockSize) % blockSize
}

var zeroBlock [2 * blockSize]byte

// writeMember writes a whole small member.
func writeMember(w io.Writer, name string, data []byte, mtime int64) error {
	if _, err := w.Write(tarHeader(name, int64(len(data)), mtime)); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err := w.Write(zeroBlock[:padding(int64(len(data)))])
	return err
}
