package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/airgap-bundle/bundle/internal/writeback"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

	filesOut bool         // the sink's volumes are files, open for reading too
	hasher   *rangeHasher // checks what copyFile copied
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
	if w.hasher != nil {
		// The hasher may still be reading this volume back.
		if err := w.hasher.wait(); err != nil {
			return err
		}
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
	if w.hasher != nil {
		w.hasher.close()
		w.hasher = nil
	}
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
		if f := w.localFile(blobs[i], b); f != nil {
			err := w.copyFile(b, f, blobs[i].src)
			f.Close()
			if err != nil {
				return err
			}
			continue
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
	if h := w.hasher; h != nil {
		w.hasher = nil
		if err := h.close(); err != nil {
			return err
		}
	}
	return w.finish()
}

// localFile opens the file holding blob b when b can be copied by the
// kernel: stored as it is, from a local source, into volumes that are files,
// and of copyMin bytes or more (for small blobs the system calls cost more
// than the copying). It returns nil otherwise.
func (w *volumeWriter) localFile(pb *packBlob, b *Blob) *os.File {
	if !w.filesOut || b.Encoding != CompressionNone || b.StoredSize < copyMin {
		return nil
	}
	if _, remote := pb.src.(remoteSource); remote {
		return nil
	}
	rc, err := pb.src.Fetch(w.ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		// The usual path reports it.
		return nil
	}
	f, ok := rc.(*os.File)
	if !ok {
		rc.Close()
		return nil
	}
	return f
}

// copyStep is how much the kernel copies at a time before the range is
// handed to the hasher: small enough that the hasher reads it back from
// the page cache.
const copyStep = 4 << 20

// copyFile copies blob b from src into its placements with
// copy_file_range where the system has it, while a second goroutine hashes
// the volume's bytes behind the copy: a whole blob against its digest, each
// segment of a split blob against its planned digest (which planning
// hashed from the same read as the blob's own digest). So every byte in
// the volume is checked once, and no byte passes through this process.
func (w *volumeWriter) copyFile(b *Blob, src *os.File, from Source) error {
	if w.hasher == nil {
		w.hasher = newRangeHasher()
	}
	if err := w.hasher.failed(); err != nil {
		return err
	}
	mtime := mtimeOf(w.x)
	split := len(b.Placements) > 1
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
		if err := w.bw.Flush(); err != nil {
			return fmt.Errorf("write volume %d: %w", w.vol, err)
		}
		dst, ok := w.wc.(*os.File)
		if !ok {
			return fmt.Errorf("internal error: volume %d is not a file", w.vol)
		}
		for left := p.Length; left > 0; {
			if err := w.ctx.Err(); err != nil {
				return err
			}
			n, err := dst.ReadFrom(&io.LimitedReader{R: src, N: min(copyStep, left)})
			if err != nil {
				return fmt.Errorf("copy blob %s from %s into volume %d: %w", b.Digest, from, w.vol, err)
			}
			if n == 0 {
				return fmt.Errorf("blob %s from %s ended early", b.Digest, from)
			}
			w.hasher.add(dst, w.off, n)
			writeback.Start(dst, w.off, n)
			w.off += n
			w.done += n
			left -= n
			if w.progress != nil {
				w.progress(Progress{Op: "pack", Volume: w.vol, Done: w.done, Total: w.total})
			}
		}
		if split {
			seg := j + 1
			w.hasher.expect(&hashCheck{want: p.Digest, size: p.Length, fail: func(got digest.Digest, _ int64) error {
				return fmt.Errorf("blob %s from %s changed while packing (segment %d hashes to %s, planned %s)", b.Digest, from, seg, got, p.Digest)
			}})
		}
		if err := w.write(zeroBlock[:padding(p.Length)]); err != nil {
			return err
		}
	}
	if !split {
		w.hasher.expect(&hashCheck{want: b.Digest, size: b.Size, fail: func(got digest.Digest, size int64) error {
			if size != b.Size {
				return fmt.Errorf("blob %s from %s: %d bytes, want %d", b.Digest, from, size, b.Size)
			}
			return fmt.Errorf("blob %s in %s is corrupt: its content hashes to %s", b.Digest, from, got)
		}})
	}
	return nil
}
