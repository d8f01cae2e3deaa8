package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestRangeHasher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := pfData(300<<10, 3)
	f1 := writeTemp(t, filepath.Join(dir, "a"), data[:100<<10])
	f2 := writeTemp(t, filepath.Join(dir, "b"), data[100<<10:])
	whole := digest.FromBytes(data)
	mismatch := errors.New("mismatch")
	fail := func(digest.Digest, int64) error { return mismatch }

	t.Run("ranges of two files hash as one", func(t *testing.T) {
		h := newRangeHasher()
		h.add(f1, 0, 60<<10)
		h.add(f1, 60<<10, 40<<10)
		h.add(f2, 0, 200<<10)
		h.expect(&hashCheck{want: whole, size: int64(len(data)), fail: fail})
		// A second check covers only what came after the first.
		h.add(f2, 0, 10)
		h.expect(&hashCheck{want: digest.FromBytes(data[100<<10 : 100<<10+10]), size: 10, fail: fail})
		if err := h.close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a wrong digest fails", func(t *testing.T) {
		h := newRangeHasher()
		h.add(f1, 0, 100<<10)
		h.expect(&hashCheck{want: whole, size: 100 << 10, fail: fail})
		if err := h.wait(); !errors.Is(err, mismatch) {
			t.Fatalf("wait: %v, want the mismatch", err)
		}
		h.add(f1, 0, 100<<10) // ignored after a failure
		if err := h.close(); !errors.Is(err, mismatch) {
			t.Fatalf("close: %v, want the first failure", err)
		}
	})
	t.Run("the right bytes of the wrong size fail", func(t *testing.T) {
		var got int64
		h := newRangeHasher()
		h.add(f1, 0, 100<<10)
		h.expect(&hashCheck{want: digest.FromBytes(data[:100<<10]), size: 99 << 10, fail: func(_ digest.Digest, n int64) error { got = n; return mismatch }})
		if err := h.close(); !errors.Is(err, mismatch) || got != 100<<10 {
			t.Fatalf("close: %v after %d bytes, want the mismatch after %d", err, got, 100<<10)
		}
	})
	t.Run("a record check stores the digest", func(t *testing.T) {
		var first, second digest.Digest
		h := newRangeHasher()
		h.add(f1, 0, 100<<10)
		h.expect(&hashCheck{size: 100 << 10, record: &first, fail: fail})
		h.add(f2, 0, 200<<10)
		h.expect(&hashCheck{size: 200 << 10, record: &second, fail: fail})
		if err := h.close(); err != nil {
			t.Fatal(err)
		}
		if first != digest.FromBytes(data[:100<<10]) || second != digest.FromBytes(data[100<<10:]) {
			t.Errorf("recorded %s and %s, want the digests of the two ranges", first, second)
		}
	})
	t.Run("a record check of the wrong size fails and stores nothing", func(t *testing.T) {
		var got digest.Digest
		h := newRangeHasher()
		h.add(f1, 0, 100<<10)
		h.expect(&hashCheck{size: 99 << 10, record: &got, fail: fail})
		if err := h.close(); !errors.Is(err, mismatch) || got != "" {
			t.Fatalf("close: %v, recorded %q; want the mismatch and nothing", err, got)
		}
	})
	t.Run("a prefix check records the bytes so far and the hash goes on", func(t *testing.T) {
		var prefix digest.Digest
		h := newRangeHasher()
		h.add(f1, 0, 100<<10)
		h.expect(&hashCheck{prefix: true, size: 100 << 10, record: &prefix, fail: fail})
		h.add(f2, 0, 200<<10)
		h.expect(&hashCheck{want: whole, size: int64(len(data)), fail: fail})
		if err := h.close(); err != nil {
			t.Fatal(err)
		}
		if prefix != digest.FromBytes(data[:100<<10]) {
			t.Errorf("recorded %s, want the digest of the first range", prefix)
		}
	})
	t.Run("a prefix check of the wrong size fails", func(t *testing.T) {
		var prefix digest.Digest
		h := newRangeHasher()
		h.add(f1, 0, 100<<10)
		h.expect(&hashCheck{prefix: true, size: 99 << 10, record: &prefix, fail: fail})
		if err := h.close(); !errors.Is(err, mismatch) || prefix != "" {
			t.Fatalf("close: %v, recorded %q; want the mismatch and nothing", err, prefix)
		}
	})
	t.Run("a released file is closed by the last hasher past it", func(t *testing.T) {
		f := writeTemp(t, filepath.Join(dir, "c"), data)
		a, b := newRangeHasher(), newRangeHasher()
		a.add(f, 0, int64(len(data)))
		b.add(f, 100<<10, 200<<10)
		s := &sharedClose{c: f, name: "c", n: 2}
		a.release(s)
		if err := a.wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
			t.Fatalf("closed while a hasher still held it: %v", err)
		}
		b.release(s)
		a.expect(&hashCheck{want: whole, size: int64(len(data)), fail: fail})
		b.expect(&hashCheck{want: digest.FromBytes(data[100<<10:]), size: 200 << 10, fail: fail})
		if err := errors.Join(a.close(), b.close()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after both released: %v, want the file closed", err)
		}
	})
	t.Run("a range past the end of the file fails and names it", func(t *testing.T) {
		h := newRangeHasher()
		h.add(f1, 90<<10, 20<<10)
		err := h.close()
		if err == nil || !strings.Contains(err.Error(), f1.Name()) {
			t.Fatalf("close: %v, want an error naming %s", err, f1.Name())
		}
	})
}

func writeTemp(t *testing.T, path string, b []byte) *os.File {
	t.Helper()
	mustWrite(t, path, b)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
