package oci

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAllSized: whatever the size guessed, all is read, as io.ReadAll
// reads it.
func TestReadAllSized(t *testing.T) {
	data := strings.Repeat("index.json ", 1000)
	for _, n := range []int{1, 10, len(data) - 1, len(data), len(data) + 1, 3 * len(data)} {
		b, err := readAllSized(iotest.OneByteReader(strings.NewReader(data)), n)
		if err != nil || string(b) != data {
			t.Fatalf("n=%d: %d bytes, %v", n, len(b), err)
		}
	}
	b, err := readAllSized(strings.NewReader(""), 1)
	if err != nil || b == nil || len(b) != 0 {
		t.Fatalf("empty: %v %v", b, err)
	}
	if _, err := readAllSized(iotest.ErrReader(bytes.ErrTooLarge), 1); err != bytes.ErrTooLarge {
		t.Fatalf("error: %v", err)
	}
}
