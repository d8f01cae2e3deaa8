package bundle

import (
	"bytes"
	"errors"
	"testing"
)

// recordingSink is a blob sink that keeps what it is given and can fail
// after a number of bytes.
type recordingSink struct {
	buf       bytes.Buffer
	failAfter int // fail a write that would pass this many bytes (0: never)
	committed bool
	aborted   bool
}

var errDiskFull = errors.New("no space left on device")

func (r *recordingSink) Write(p []byte) (int, error) {
	if r.failAfter > 0 && r.buf.Len()+len(p) > r.failAfter {
		return 0, errDiskFull
	}
	return r.buf.Write(p)
}
func (r *recordingSink) Commit() error { r.committed = true; return nil }
func (r *recordingSink) Abort()        { r.aborted = true }

func TestAsyncSink(t *testing.T) {
	t.Parallel()
	data := pfData(5*prefetchChunkSize+123, 1)
	for _, tc := range []struct {
		name      string
		chunk     int // size of each Write
		failAfter int
	}{
		{"writes larger than a chunk", 3*prefetchChunkSize + 7, 0},
		{"small writes", 4096, 0},
		{"destination fails midway", 1 << 20, 2*prefetchChunkSize + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &recordingSink{failAfter: tc.failAfter}
			a := newAsyncSink(inner)
			var writeErr error
			for p := data; len(p) > 0 && writeErr == nil; {
				k := min(tc.chunk, len(p))
				var n int
				n, writeErr = a.Write(p[:k])
				if writeErr == nil && n != k {
					t.Fatalf("Write wrote %d of %d", n, k)
				}
				p = p[k:]
			}
			err := a.Commit()
			if tc.failAfter == 0 {
				if writeErr != nil || err != nil {
					t.Fatalf("write %v, commit %v", writeErr, err)
				}
				if !bytes.Equal(inner.buf.Bytes(), data) || !inner.committed || inner.aborted {
					t.Errorf("the sink got %d bytes (equal: %v), committed %v, aborted %v", inner.buf.Len(), bytes.Equal(inner.buf.Bytes(), data), inner.committed, inner.aborted)
				}
				return
			}
			var de *destError
			if !errors.Is(err, errDiskFull) || !errors.As(err, &de) {
				t.Errorf("Commit after a failed write: %v, want the destination's error", err)
			}
			if writeErr != nil && !errors.Is(writeErr, errDiskFull) {
				t.Errorf("Write after the failure: %v", writeErr)
			}
			if inner.committed || !inner.aborted {
				t.Errorf("after a failed write: committed %v, aborted %v; want aborted only", inner.committed, inner.aborted)
			}
		})
	}
	t.Run("abort", func(t *testing.T) {
		inner := &recordingSink{}
		a := newAsyncSink(inner)
		a.Write(data[:100])
		a.Abort()
		if inner.committed || !inner.aborted {
			t.Errorf("abort: committed %v, aborted %v", inner.committed, inner.aborted)
		}
	})
}
