package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// TestUnpackRefusesDanglingReference: a validly signed bundle whose image
// manifest references a layer the bundle neither carries nor expects from
// a base (a faulty packer's) is refused before anything is written,
// instead of leaving a layout with a dangling reference.
func TestUnpackRefusesDanglingReference(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	dir, _ := packSources(t, []Source{layoutSource(t, exampleLayout, "app:v1")}, PackOptions{Signer: signer})
	pb := readBundle(t, dir)
	x := *pb.Index
	i := slices.IndexFunc(x.Blobs, func(b format.Blob) bool { return strings.Contains(b.MediaType, "layer") })
	if i < 0 {
		t.Fatal("no layer in the bundle")
	}
	dropped := x.Blobs[i].Digest
	x.Blobs = slices.Delete(slices.Clone(x.Blobs), i, i+1)
	forged, _, _ := writeBundle(t, &x, pb.LayoutIndex, pb.Stored, signer)

	dest := filepath.Join(t.TempDir(), "layout")
	_, err := unpackFiles(context.Background(), volumeFiles(t, forged), dest, unpackOpts{Key: signer.Verifier()})
	var de *DanglingReferenceError
	if !errors.As(err, &de) || de.Blob != dropped || !errors.Is(err, ErrDanglingReference) {
		t.Fatalf("unpack: %v, want a DanglingReferenceError naming %s", err, dropped)
	}
	if _, err := os.Stat(filepath.Join(dest, "index.json")); !os.IsNotExist(err) {
		t.Errorf("the refused unpack left %s/index.json (%v)", dest, err)
	}
}
