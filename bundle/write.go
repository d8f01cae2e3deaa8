package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// ioChunk is the size of the reads and writes that move data: small enough
// for the CPU's cache, large enough to keep system calls few.
const ioChunk = 128 << 10

// volumeWriter writes the planned volumes one after the other.
type volumeWriter struct {
	ctx         context.Context
	x           *Index
	sink        Sink
	layoutIndex []byte
	indexBytes  []byte
	sig         []byte
	progress    func(Progress)

	vol   int // current volume number, 0 before the first
	wc    io.WriteCloser
	bw    *bufio.Writer
	off   int64 // bytes written to the current volume
	done  int64
	total int64
}

func (w *volumeWriter) write(p []byte) error {
	var n int
	var err error
	// Pieces of ioChunk at most: the kernel copies small writes into the
	// page cache several times faster than large ones (measured: 1 MiB
	// writes cost 2-3 times the system time of 128 KiB ones).
	for len(p) > 0 && err == nil {
		var k int
		k, err = w.bw.Write(p[:min(len(p), ioChunk)])
		n += k
		p = p[k:]
	}
	w.off += int64(n)
	w.done += int64(n)
	if err != nil {
		return fmt.Errorf("write volume %d: %w", w.vol, err)
	}
	if w.progress != nil {
		w.progress(Progress{Op: "pack", Volume: w.vol, Done: w.done, Total: w.total})
	}
	return nil
}

// Write lets blob data be copied straight in, reporting progress.
func (w *volumeWriter) Write(p []byte) (int, error) {
	if err := w.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *volumeWriter) open(n int) error {
	if err := w.finish(); err != nil {
		return err
	}
	v := w.x.Volumes[n-1]
	wc, err := w.sink.Create(w.ctx, v, len(w.x.Volumes))
	if err != nil {
		return err
	}
	w.vol, w.wc, w.off = n, wc, 0
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(wc, ioChunk)
	} else {
		w.bw.Reset(wc)
	}
	mtime := mtimeOf(w.x)
	members := []struct {
		name string
		data []byte
	}{
		{MemberLayout, layoutFileContent},
		{MemberOCIIndex, w.layoutIndex},
		{MemberIndex, w.indexBytes},
	}
	if w.sig != nil {
		members = append(members, struct {
			name string
			data []byte
		}{MemberSignature, w.sig})
	}
	members = append(members, struct {
		name string
		data []byte
	}{MemberVolume, volumeMarker(w.x.BundleID, n, len(w.x.Volumes))})
	for _, m := range members {
		if err := w.write(tarHeader(m.name, int64(len(m.data)), mtime)); err != nil {
			return err
		}
		if err := w.write(m.data); err != nil {
			return err
		}
		if err := w.write(zeroBlock[:padding(int64(len(m.data)))]); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the trailer of the current volume and closes it.
func (w *volumeWriter) finish() error {
	if w.wc == nil {
		return nil
	}
	if err := w.write(zeroBlock[:]); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("write volume %d: %w", w.vol, err)
	}
	if want := w.x.Volumes[w.vol-1].Size; w.off != want {
		return fmt.Errorf("internal error: volume %d is %d bytes, planned %d", w.vol, w.off, want)
	}
	wc := w.wc
	w.wc = nil
	if err := wc.Close(); err != nil {
		return fmt.Errorf("close volume %d: %w", w.vol, err)
	}
	return nil
}

func (w *volumeWriter) abort() {
	if w.wc != nil {
		w.wc.Close()
		w.wc = nil
	}
}

func mtimeOf(x *Index) int64 {
	t, _ := x.CreatedTime()
	return t.Unix()
}

func (w *volumeWriter) writeAll(blobs []*packBlob) error {
	mtime := mtimeOf(w.x)
	buf := make([]byte, 1<<20)
	pf := newPrefetcher(w.ctx, w.x, blobs)
	defer pf.close()
	for i := range w.x.Blobs {
		b := &w.x.Blobs[i]
		if err := w.ctx.Err(); err != nil {
			return err
		}
		rc, err := pf.open(i)
		if err != nil {
			return err
		}
		err = func() error {
			defer rc.Close()
			// An unencoded blob is checked by its own digest as it is read
			// (checkedReader), which also proves its segments are the bytes
			// hashed when planning; encoded bytes need a hash of their own.
			// A blob that fails its check at the end fails the pack, and the
			// sink discards what was written.
			segmentHash := b.Encoding != CompressionNone
			var h hash.Hash
			for j, p := range b.Placements {
				if p.Volume != w.vol {
					if err := w.open(p.Volume); err != nil {
						return err
					}
				}
				if w.off != p.Offset-blockSize {
					return fmt.Errorf("internal error: volume %d at offset %d, member planned at %d", w.vol, w.off, p.Offset-blockSize)
				}
				if err := w.write(tarHeader(MemberName(b, j), p.Length, mtime)); err != nil {
					return err
				}
				var dst io.Writer = w
				if segmentHash {
					h = sha256.New()
					dst = io.MultiWriter(w, h)
				}
				if _, err := io.CopyBuffer(dst, io.LimitReader(rc, p.Length), buf); err != nil {
					return fmt.Errorf("blob %s from %s: %w", b.Digest, blobs[i].src, err)
				}
				if w.off != p.Offset+p.Length {
					return fmt.Errorf("blob %s from %s ended early", b.Digest, blobs[i].src)
				}
				if segmentHash {
					if got := digest.NewDigest(digest.SHA256, h); got != p.Digest {
						return fmt.Errorf("blob %s from %s changed while packing (segment %d hashes to %s, planned %s)", b.Digest, blobs[i].src, j+1, got, p.Digest)
					}
				}
				if err := w.write(zeroBlock[:padding(p.Length)]); err != nil {
					return err
				}
			}
			if err := expectEOF(rc); err != nil {
				return fmt.Errorf("blob %s from %s: %w", b.Digest, blobs[i].src, err)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return w.finish()
}
