package bundle

import (
	"context"
	"errors"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPushMountsFromAnotherRepository: a layer that an image of an
// earlier bundle brought into one repository of the mirror, and that an
// image of this bundle needs in another, is mounted from there rather
// than uploaded again (issue 12), once this walk has found the mirror to
// hold content in that repository.
func TestPushMountsFromAnotherRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t, testregistry.Options{})
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeEmptyAuth(t), Insecure: []string{reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	push := func(src *memSource) *UnpackResult {
		t.Helper()
		dir, _ := packSources(t, []Source{src}, PackOptions{})
		s, err := OpenFiles(ctx, []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Unpack(ctx, NewRegistryDestination(regs, mirror.Mapping{Mirror: reg.Host}, RegistryDestinationOptions{}), UnpackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Month 1: a:v1 with a base layer and one of its own.
	m1 := newMemSource("m1")
	base, a1 := randomLayer(m1, 1), randomLayer(m1, 2)
	m1.addImage(t, "reg.example/ns/a:v1", base, a1)
	push(m1)

	// Month 2: a:v2 drops the base layer, b:v1 (a new repository) uses it.
	m2 := newMemSource("m2")
	m2.blobs[base.Digest] = m1.blobs[base.Digest]
	m2.blobs[a1.Digest] = m1.blobs[a1.Digest]
	a2, b1 := randomLayer(m2, 3), randomLayer(m2, 4)
	m2.addImage(t, "reg.example/ns/a:v2", a1, a2)
	m2.addImage(t, "reg.example/ns/b:v1", base, b1)
	r := push(m2)
	// Put: a2 and b1. Mounted into ns/b: the config (which ns/a holds, and
	// this bundle also sends there) and the base layer (which only month
	// 1's image put in ns/a).
	if r.BlobsPut != 2 || r.BlobsMounted != 2 {
		t.Errorf("blobs put %d, mounted %d; want 2 put (the new layers) and 2 mounted (config, base layer)", r.BlobsPut, r.BlobsMounted)
	}
	repo, err := regs.Repository(ctx, reg.Host, "reg.example/ns/b")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := repo.Exists(ctx, ocispec.Descriptor{Digest: base.Digest, Size: base.Size, MediaType: base.MediaType}); !ok || err != nil {
		t.Errorf("the base layer is not in ns/b: %v %v", ok, err)
	}
}

// TestWalkHearsAStop: the walk's passes over the manifests (reading them
// for the graph, putting them) stop at a cancelled context, not after the
// last of hundreds of thousands (an interrupt at a million blobs went
// unheard for tens of seconds).
func TestWalkHearsAStop(t *testing.T) {
	t.Parallel()
	dir, _ := packLayout(t, PackOptions{MaxVolumeSize: 40 << 10})
	s, err := OpenFiles(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	w := &walk{ctx: stopped, set: s, readers: map[int]VolumeReader{}, places: newBlobPlaces(s.Index.Blobs)}
	defer w.closeReaders()
	if err := w.graph(); !errors.Is(err, context.Canceled) {
		t.Errorf("graph: %v, want context.Canceled", err)
	}
	w.ctx = context.Background()
	if err := w.graph(); err != nil || len(w.kids) == 0 {
		t.Fatalf("graph: %v (%d children)", err, len(w.kids))
	}
	w.ctx = stopped
	if err := w.manifests(); !errors.Is(err, context.Canceled) {
		t.Errorf("manifests: %v, want context.Canceled", err)
	}
}
