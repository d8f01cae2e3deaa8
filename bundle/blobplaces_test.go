package bundle

import (
	"fmt"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
)

// TestBlobPlaces: every blob is found at its place, and digests the index
// does not have are not found, whatever their form, at sizes from none to
// enough to make probes wrap around the table.
func TestBlobPlaces(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 100, 5000} {
		blobs := make([]format.Blob, n)
		for i := range blobs {
			blobs[i].Digest = digest.FromString(fmt.Sprint(i))
		}
		p := newBlobPlaces(blobs)
		for i := range blobs {
			if got, ok := p.find(blobs[i].Digest); !ok || got != i {
				t.Fatalf("%d blobs: blob %d found at %d, %v", n, i, got, ok)
			}
		}
		for _, d := range []digest.Digest{digest.FromString("absent"), "", "sha256:", digest.Digest(blobs0(blobs)) + "x"} {
			if got, ok := p.find(d); ok {
				t.Errorf("%d blobs: %q found at %d", n, d, got)
			}
		}
	}
}

func blobs0(blobs []format.Blob) string {
	if len(blobs) == 0 {
		return "sha256:0"
	}
	return string(blobs[0].Digest)
}
