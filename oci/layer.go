package oci

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxZstdWindow bounds the memory a zstd layer may ask for (zstd --long
// uses up to 128 MiB; the default levels 8 MiB at most).
const maxZstdWindow = 128 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// LayerReader is the tar stream of one image layer, read once: its
// compression (gzip, zstd or none) is told from its first bytes, not from
// a media type, and its digest and size are checked by Verify, which reads
// what the caller left of the layer. Release and catalog readers look at a
// few files of a layer; they verify it all the same, since those files
// decide what travels.
type LayerReader struct {
	*tar.Reader
	desc     ocispec.Descriptor
	rc       io.ReadCloser
	br       *bufio.Reader
	verifier digest.Verifier
	n        int64
	closeDec func()
}

// OpenLayer fetches layer from f and opens its tar stream. Close it.
func OpenLayer(ctx context.Context, f Fetcher, layer ocispec.Descriptor) (*LayerReader, error) {
	if err := layer.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("layer %q: %w", layer.Digest, err)
	}
	rc, err := f.Fetch(ctx, layer)
	if err != nil {
		return nil, err
	}
	l := &LayerReader{desc: layer, rc: rc, verifier: layer.Digest.Verifier()}
	l.br = bufio.NewReaderSize(io.TeeReader(countReader{rc, &l.n}, l.verifier), 256<<10)
	head, err := l.br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		rc.Close()
		return nil, err
	}
	var plain io.Reader = l.br
	l.closeDec = func() {}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(l.br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("gzip: %w", err)
		}
		plain, l.closeDec = zr, func() { zr.Close() }
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(l.br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("zstd: %w", err)
		}
		plain, l.closeDec = zr, zr.Close
	}
	l.Reader = tar.NewReader(plain)
	return l, nil
}

// Verify reads the rest of the layer's bytes (not decompressing them) and
// checks their size and digest against the descriptor.
func (l *LayerReader) Verify() error {
	if _, err := io.Copy(io.Discard, l.br); err != nil {
		return err
	}
	if l.desc.Size > 0 && l.n != l.desc.Size {
		return fmt.Errorf("%d bytes, its descriptor says %d", l.n, l.desc.Size)
	}
	if !l.verifier.Verified() {
		return errors.New("content does not match its digest")
	}
	return nil
}

// Close releases the decompressor and the fetch.
func (l *LayerReader) Close() error {
	l.closeDec()
	return l.rc.Close()
}

// countReader counts the bytes read through it into *n.
type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	*c.n += int64(k)
	return k, err
}
