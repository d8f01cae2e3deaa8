package bundle

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// changingSource serves one blob's bytes altered from the n-th fetch on,
// as a layout being rewritten during a pack would.
type changingSource struct {
	*memSource
	target  digest.Digest
	from    int
	mu      sync.Mutex
	fetches int
}

func (s *changingSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest != s.target {
		return s.memSource.Fetch(ctx, d)
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
	return io.NopCloser(bytes.NewReader(b)), nil
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
	}{
		{"split, changed for the write pass", 2, CompressionNone},
		{"split, changed from the start", 1, CompressionNone},
		{"split zstd, changed for the write pass", 2, CompressionZstd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &changingSource{memSource: newMemSource("changing"), from: tc.from}
			data := pfData(256<<10, 7)
			if tc.compression == CompressionZstd {
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
			// Unchanged, the blob packs, split as the test wants.
			src.from = 1 << 30
			_, x := packSources(t, []Source{src}, o)
			for _, b := range x.Blobs {
				if b.Digest == layer.Digest && (len(b.Placements) < 2 || b.Encoding != tc.compression) {
					t.Fatalf("the layer is stored %s in %d segments; the test wants it split, %s", b.Encoding, len(b.Placements), tc.compression)
				}
			}
			src.from, src.fetches = tc.from, 0
			dir := t.TempDir()
			_, err := Pack(context.Background(), []Source{src}, &DirSink{Dir: dir}, o)
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
