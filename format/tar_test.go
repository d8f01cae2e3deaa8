package format

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestTarHeaderAsArchiveTar: the member headers are the ustar headers
// Go's archive/tar writes for the same name, size and time (an
// implementation of its own, so a slip in the octal fields or the
// checksum shows), at the bounds the format allows.
func TestTarHeaderAsArchiveTar(t *testing.T) {
	cases := []struct {
		name        string
		size, mtime int64
	}{
		{"oci-layout", 30, 1700000000},
		{"blobs/sha256/" + strings.Repeat("a", 64), 0, 0},
		{"blobs/sha256/" + strings.Repeat("f", 64) + ".zst.part0002", MaxMemberSize, 1<<33 - 1},
		{strings.Repeat("n", 100), 1, 1},
		{"bundle.json", 123456789, 1234567890},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		w := tar.NewWriter(&buf)
		err := w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: c.name, Mode: 0o644, Size: c.size,
			ModTime: time.Unix(c.mtime, 0), Format: tar.FormatUSTAR})
		if err != nil {
			t.Fatalf("%s: archive/tar: %v", c.name, err)
		}
		want := buf.Bytes()[:BlockSize]
		if got := TarHeader(c.name, c.size, c.mtime); !bytes.Equal(got, want) {
			t.Errorf("%s, %d bytes, mtime %d:\n got %q\nwant %q", c.name, c.size, c.mtime, got, want)
		}
	}
}
