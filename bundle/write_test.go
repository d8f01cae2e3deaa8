package bundle

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// changingSource serves one blob's bytes altered from the n-th fetch on,
// as a layout being rewritten during a pack would.
type changingSource struct {
	*memSource
	target  digest.Digest
	from    int
	files   string // when set, blobs are served as files made in this directory
	mu      sync.Mutex
	fetches int
}

func (s *changingSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest != s.target {
		return s.serve(ctx, d)
	}
	s.mu.Lock()
	s.fetches++
	n := s.fetches
	s.mu.Unlock()
	b := s.blobs[d.Digest]
	if n >= s.from {
		b = bytes.Clone(b)
		b[len(b)-10] ^= 0xff // in the last segment, same size
	}
	if s.files != "" {
		return blobFile(s.files, b)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *changingSource) serve(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if s.files == "" {
		return s.memSource.Fetch(ctx, d)
	}
	b, ok := s.blobs[d.Digest]
	if !ok {
		return s.memSource.Fetch(ctx, d)
	}
	return blobFile(s.files, b)
}

// diskSource serves a memSource's blobs as files, as a layout does: pack
// copies those in the kernel and reads the volume back to check them.
type diskSource struct {
	*memSource
	dir string
}

func (s *diskSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := s.blobs[d.Digest]
	if !ok {
		return s.memSource.Fetch(ctx, d)
	}
	return blobFile(s.dir, b)
}

// blobFile writes b into a new file in dir and returns it open for reading.
func blobFile(dir string, b []byte) (*os.File, error) {
	f, err := os.CreateTemp(dir, "blob-")
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// A blob that changes while it is packed fails the pack, whichever pass
// sees the change, and no volume is left behind. Split across volumes, it
// is read once to hash its segments and once to write them; the write pass
// checks the whole blob's digest and so sees a change after the first.
func TestPackFailsWhenABlobChanges(t *testing.T) {
	for _, tc := range []struct {
		name        string
		from        int
		compression string
		files       bool
		whole       bool // small enough for one volume
		stream      bool // into a sink that is not files: segment digests in a pass of their own
	}{
		{name: "split, changed for the write pass", from: 2, compression: format.CompressionNone, stream: true},
		{name: "split, changed from the start", from: 1, compression: format.CompressionNone},
		{name: "split, changed from the start, stream", from: 1, compression: format.CompressionNone, stream: true},
		{name: "split zstd, changed for the write pass", from: 2, compression: format.CompressionZstd},
		{name: "split zstd, changed for the write pass, stream", from: 2, compression: format.CompressionZstd, stream: true},
		{name: "whole, changed", from: 1, compression: format.CompressionNone, whole: true},
		{name: "file, split, changed for the write pass, stream", from: 2, compression: format.CompressionNone, files: true, stream: true},
		// From files, pack copies in the kernel and checks the volume.
		{name: "file, split, changed from the start", from: 1, compression: format.CompressionNone, files: true},
		{name: "file, whole, changed", from: 1, compression: format.CompressionNone, files: true, whole: true},
		{name: "file, split zstd, changed for the write pass", from: 2, compression: format.CompressionZstd, files: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &changingSource{memSource: newMemSource("changing"), from: tc.from}
			if tc.files {
				src.files = t.TempDir()
				copyEveryBlob(t)
			}
			data := pfData(256<<10, 7)
			if tc.compression == format.CompressionZstd {
				// Words drawn at random: compresses, to more than a volume.
				var text []byte
				for _, r := range pfData(1<<20, 8)[:200000] {
					text = append(text, []byte(fmtWord(int(r)%64))...)
				}
				data = text
			}
			layer := src.add(ocispec.MediaTypeImageLayer, data)
			src.target = layer.Digest
			src.addImage(t, "app:1", layer)
			o := PackOptions{MaxVolumeSize: 64 << 10, Compression: tc.compression, Created: testCreated}
			if tc.whole {
				o.MaxVolumeSize = 0
			}
			// Unchanged, the blob packs, split as the test wants.
			src.from = 1 << 30
			_, x := packSources(t, []Source{src}, o)
			for _, b := range x.Blobs {
				if b.Digest == layer.Digest && (len(b.Placements) < 2 != tc.whole || b.Encoding != tc.compression) {
					t.Fatalf("the layer is stored %s in %d segments; the test wants it split (%v), %s", b.Encoding, len(b.Placements), !tc.whole, tc.compression)
				}
			}
			src.from, src.fetches = tc.from, 0
			dir := t.TempDir()
			var sink Sink = &DirSink{Dir: dir}
			if tc.stream {
				sink = streamSink{&DirSink{Dir: dir}}
			}
			_, err := Pack(context.Background(), []Source{src}, sink, o)
			if err == nil {
				t.Fatal("pack of a blob that changed succeeded")
			}
			if !strings.Contains(err.Error(), layer.Digest.String()) {
				t.Errorf("error does not name the blob %s: %v", layer.Digest, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("a failed pack left %d files in %s", len(ents), dir)
			}
		})
	}
}

func fmtWord(n int) string { return strings.Repeat(string(rune('a'+n%26)), 1+n/26) + " " }

// Into files, volume headers are written last; a layout's blobs are
// copied by the kernel and checked by reading the volume back; blobs from
// anywhere else pass through the process. Into any other sink, volumes are
// written in order. All must give the same bytes, offsets and all.
func TestPackFromFilesMatchesPackFromStreams(t *testing.T) {
	for _, tc := range []struct {
		name        string
		max         int64
		compression string
	}{
		{"one volume", 0, format.CompressionNone},
		{"split into volumes", 96 << 10, format.CompressionNone},
		{"split, zstd", 96 << 10, format.CompressionZstd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := newMemSource("same")
			var layers []ocispec.Descriptor
			for i, n := range []int{300 << 10, 5000, 1, 130 << 10, 777} {
				layers = append(layers, mem.add(ocispec.MediaTypeImageLayerGzip, pfData(n, i+20)))
			}
			mem.addImage(t, "app:1", layers...)
			o := PackOptions{MaxVolumeSize: tc.max, Compression: tc.compression, Created: testCreated, Packer: "bundle-test"}
			// Into a sink that is not files: segment digests first, then
			// volumes written in order, headers first.
			streamed := t.TempDir()
			if _, err := Pack(context.Background(), []Source{mem}, streamSink{&DirSink{Dir: streamed}}, o); err != nil {
				t.Fatal(err)
			}
			// Into files: headers last, blobs read by the process.
			headersLast, _ := packSources(t, []Source{mem}, o)
			// Into files, blobs copied by the kernel.
			copyEveryBlob(t)
			copied, x := packSources(t, []Source{&diskSource{memSource: mem, dir: t.TempDir()}}, o)
			a := volumeFiles(t, streamed)
			if len(a) != len(x.Volumes) {
				t.Fatalf("%d volume files, the index lists %d", len(a), len(x.Volumes))
			}
			for name, dir := range map[string]string{"headers last": headersLast, "copied by the kernel": copied} {
				b := volumeFiles(t, dir)
				if len(b) != len(a) {
					t.Fatalf("%s: %d volume files, want %d", name, len(b), len(a))
				}
				for i := range a {
					if !bytes.Equal(mustRead(t, a[i]), mustRead(t, b[i])) {
						t.Errorf("%s: volume %d differs from the one written in order", name, i+1)
					}
				}
			}
			if _, err := verifyFiles(context.Background(), []string{copied}, verifyOpts{AllowUnsigned: true}); err != nil {
				t.Fatalf("verify the pack from files: %v", err)
			}
		})
	}
}

// copyEveryBlob makes pack and unpack copy blobs of every size by the
// kernel, for the rest of the test.
func copyEveryBlob(t *testing.T) {
	old := copyMin
	copyMin = 0
	t.Cleanup(func() { copyMin = old })
}

// streamSink is a DirSink that pack cannot treat as files: it writes each
// volume once, in order, as a sink on a tape or a pipe would.
type streamSink struct{ d *DirSink }

func (s streamSink) Begin(ctx context.Context, x *format.Index) error { return s.d.Begin(ctx, x) }
func (s streamSink) Create(ctx context.Context, v format.Volume, total int) (io.WriteCloser, error) {
	wc, err := s.d.Create(ctx, v, total)
	return struct{ io.WriteCloser }{wc}, err
}
func (s streamSink) Commit() error { return s.d.Commit() }
func (s streamSink) Abort()        { s.d.Abort() }
