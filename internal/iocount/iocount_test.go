package iocount

import (
	"bytes"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
)

type failAfter struct{ left int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errors.New("full")
	}
	f.left -= len(p)
	return len(p), nil
}

// TestWriter counts what its writer took, all of it without one, and
// what a failing one took before it failed.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	c := &Writer{W: &buf}
	c.Write([]byte("hello, "))
	c.Write([]byte("world"))
	if c.N != 12 || buf.String() != "hello, world" {
		t.Errorf("counted %d, passed %q", c.N, buf.String())
	}
	only := &Writer{}
	only.Write(make([]byte, 1000))
	if only.N != 1000 {
		t.Errorf("counted %d without a writer, want 1000", only.N)
	}
	h := digest.SHA256.Digester()
	hc := &Writer{W: h.Hash()}
	hc.Write([]byte("abc"))
	if hc.N != 3 || h.Digest() != digest.FromString("abc") {
		t.Errorf("through a hash: %d, %s", hc.N, h.Digest())
	}
	f := &Writer{W: &failAfter{left: 4}}
	if n, err := f.Write([]byte("123456")); err == nil || n != 4 || f.N != 4 {
		t.Errorf("a writer that failed after 4 bytes: n %d, counted %d, %v", n, f.N, err)
	}
}
