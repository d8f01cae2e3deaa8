package bundle

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageBytes records, from Progress calls, the bytes done under each
// Progress.Image and the order the images first appear in.
type imageBytes struct {
	last  int64
	bytes map[string]int64
	order []string
}

func (ib *imageBytes) progress(p Progress) {
	if ib.bytes == nil {
		ib.bytes = map[string]int64{}
	}
	if p.Image != "" && !slices.Contains(ib.order, p.Image) {
		ib.order = append(ib.order, p.Image)
	}
	ib.bytes[p.Image] += p.Done - ib.last
	ib.last = p.Done
}

// TestProgressNamesTheImage: pack and unpack say which image the bytes
// being written belong to; a layer two images share is the first one's.
func TestProgressNamesTheImage(t *testing.T) {
	t.Parallel()
	const shared, own = 600 << 10, 200 << 10
	src := newMemSource("progress")
	a := src.add(ocispec.MediaTypeImageLayerGzip, pfData(shared, 1))
	b := src.add(ocispec.MediaTypeImageLayerGzip, pfData(own, 2))
	src.addImage(t, "example.com/first:1", a)
	src.addImage(t, "example.com/second:2", a, b)

	check := func(t *testing.T, ib *imageBytes) {
		t.Helper()
		if want := []string{"example.com/first:1", "example.com/second:2"}; !slices.Equal(ib.order, want) {
			t.Fatalf("images in progress %q, want %q", ib.order, want)
		}
		// second:2 brings its own layer; the shared one counts as first:1's.
		if n := ib.bytes["example.com/second:2"]; n < own || n >= shared {
			t.Errorf("%d bytes under second:2, want its own layer's %d and not the shared %d", n, own, shared)
		}
		if n := ib.bytes["example.com/first:1"]; n < shared {
			t.Errorf("%d bytes under first:1, want the shared layer's %d at least", n, shared)
		}
	}

	var packed imageBytes
	dir, _ := packSources(t, []Source{src}, PackOptions{MaxVolumeSize: 512 << 10, Progress: packed.progress})
	t.Run("pack", func(t *testing.T) { check(t, &packed) })

	var unpacked imageBytes
	if _, err := unpackFiles(context.Background(), []string{dir}, filepath.Join(t.TempDir(), "out"),
		unpackOpts{AllowUnsigned: true, Progress: unpacked.progress}); err != nil {
		t.Fatal(err)
	}
	t.Run("unpack", func(t *testing.T) { check(t, &unpacked) })
}
