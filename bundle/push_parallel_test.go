package bundle

// Parallel pushes into a real docker-registry, through the testregistry
// proxy that counts, holds and fails uploads.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func init() {
	// The push tests' blobs are a few hundred KiB and one of 2 MiB, which
	// streams (see pushBufferMax): pushing tens of MiB through a registry
	// in each of them would take seconds of CPU on a slow machine.
	pushBufferMax = 1 << 20
}

// pushBundle is a packed bundle of many blobs for the push tests: small
// layers of a few sizes, and one larger than pushBufferMax, which
// streams; pushed into three repositories that share a config blob (put
// once, mounted into the others).
type pushBundle struct {
	src    *memSource
	dir    string
	idx    *format.Index
	large  digest.Digest
	small  []digest.Digest
	byRepo map[string][]ocispec.Descriptor // blobs of each mirror repository
}

func sizedLayer(s *memSource, seed uint64, n int) ocispec.Descriptor {
	return s.add(ocispec.MediaTypeImageLayerGzip, benchRandom(n, seed^0xb10b))
}

func newPushBundle(t *testing.T, o PackOptions) *pushBundle {
	t.Helper()
	pb := &pushBundle{src: newMemSource("push"), byRepo: map[string][]ocispec.Descriptor{}}
	large := sizedLayer(pb.src, 1, int(pushBufferMax)+(1<<20)+123)
	pb.large = large.Digest
	var layers []ocispec.Descriptor
	for i := range 14 {
		l := sizedLayer(pb.src, uint64(100+i), []int{300, 40 << 10, 200 << 10, 300<<10 + 7}[i%4]+i)
		layers = append(layers, l)
		pb.small = append(pb.small, l.Digest)
	}
	images := []struct {
		ref    string
		layers []ocispec.Descriptor
	}{
		{"reg.example/ns/a:v1", append([]ocispec.Descriptor{large}, layers[:5]...)},
		{"reg.example/ns/b:v1", layers[5:10]},
		{"reg.example/ns/c:v1", layers[10:]},
	}
	for _, im := range images {
		m := pb.src.addImage(t, im.ref, im.layers...)
		repo := strings.TrimSuffix(im.ref, ":v1")
		var man ocispec.Manifest
		if err := json.Unmarshal(pb.src.blobs[m.Digest], &man); err != nil {
			t.Fatal(err)
		}
		pb.byRepo[repo] = append(append([]ocispec.Descriptor{man.Config}, man.Layers...), ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size})
	}
	if o.MaxVolumeSize == 0 {
		o.MaxVolumeSize = 1 << 20 // the large blob spans volumes
	}
	pb.dir, pb.idx = packSources(t, []Source{pb.src}, o)
	return pb
}

// pushTo pushes the bundle into the mirror at host with jobs uploads in
// flight.
func (pb *pushBundle) pushTo(t *testing.T, r *pushRegistry, jobs int) (*UnpackResult, error) {
	t.Helper()
	ctx := context.Background()
	s, err := OpenFiles(ctx, volumeFiles(t, pb.dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	return s.Unpack(ctx, NewRegistryDestination(r.regs, mirror.Mapping{Mirror: r.Host, Prefix: r.ns}, RegistryDestinationOptions{}), UnpackOptions{Jobs: jobs})
}

// sameInRegistry checks that every blob and manifest of the bundle is in
// its repository, byte for byte.
func (pb *pushBundle) sameInRegistry(t *testing.T, r *pushRegistry) {
	t.Helper()
	ctx := context.Background()
	for name, descs := range pb.byRepo {
		repo, err := r.regs.Repository(ctx, r.Host, r.ns+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range descs {
			rc, err := repo.Fetch(ctx, d)
			if err != nil {
				t.Errorf("%s@%s: %v", name, d.Digest, err)
				continue
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, pb.src.blobs[d.Digest]) {
				t.Errorf("%s@%s: %d bytes (%v), differ from the blob's %d", name, d.Digest, len(got), err, len(pb.src.blobs[d.Digest]))
			}
		}
		m := descs[len(descs)-1]
		if got, err := repo.Resolve(ctx, "v1"); err != nil || got.Digest != m.Digest {
			t.Errorf("%s:v1 is %s (%v), want %s", name, got.Digest, err, m.Digest)
		}
	}
}

// uploadDigest is the blob an upload request carries (the digest= of its
// PUT), "" for a PATCH.
func uploadDigest(r testregistry.Request) digest.Digest {
	q, _ := url.ParseQuery(r.Query)
	return digest.Digest(q.Get("digest"))
}

// completedUploads counts the uploads of each blob the registry completed.
func completedUploads(p *testregistry.Proxy) map[digest.Digest]int {
	n := map[digest.Digest]int{}
	for _, r := range p.Requests() {
		if r.Method == http.MethodPut && r.Status == http.StatusCreated && testregistry.BlobUploadDone.MatchString(r.Path) {
			n[uploadDigest(r)]++
		}
	}
	return n
}

// attemptsOf counts the upload PUTs of blob d, however they ended.
func attemptsOf(p *testregistry.Proxy, d digest.Digest) int {
	n := 0
	for _, r := range p.Requests() {
		if r.Method == http.MethodPut && testregistry.BlobUploadDone.MatchString(r.Path) && uploadDigest(r) == d {
			n++
		}
	}
	return n
}

// checkOrder checks that no manifest went in before the last blob
// (uploaded or mounted) did.
func checkOrder(t *testing.T, p *testregistry.Proxy) {
	t.Helper()
	lastBlob, firstManifest := -1, -1
	for i, r := range p.Requests() {
		switch {
		case r.Method == http.MethodPut && testregistry.ManifestPut.MatchString(r.Path):
			if firstManifest < 0 {
				firstManifest = i
			}
		case r.Method == http.MethodPut && testregistry.BlobUploadDone.MatchString(r.Path),
			r.Method == http.MethodPost && strings.Contains(r.Query, "mount="):
			lastBlob = i
		}
	}
	if firstManifest < 0 || firstManifest < lastBlob {
		t.Errorf("the first manifest went in as request %d, before the last blob (request %d)", firstManifest, lastBlob)
	}
}

// pushRegistry is a proxy of the test's own, in front of the registry the
// push tests share, and the namespace (mirror prefix) the test pushes into.
type pushRegistry struct {
	*testregistry.Proxy
	regs *oci.Registries
	ns   string
}

func newPushRegistry(t *testing.T) *pushRegistry {
	t.Helper()
	reg, ns := testregistry.Shared(t)
	p := reg.Proxy(t)
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeEmptyAuth(t), Insecure: []string{p.Host}})
	if err != nil {
		t.Fatal(err)
	}
	return &pushRegistry{Proxy: p, regs: regs, ns: ns}
}

// TestPushUploadsInParallel: with 4 jobs, uploads overlap, never more
// than 4; with 1, never; either way everything arrives, byte for byte,
// each blob uploaded once and no manifest before the blobs.
func TestPushUploadsInParallel(t *testing.T) {
	pb := newPushBundle(t, PackOptions{})
	if len(pb.idx.Volumes) < 3 {
		t.Fatalf("%d volumes; the test wants the large blob to span some", len(pb.idx.Volumes))
	}
	for _, jobs := range []int{4, 1} {
		t.Run(map[int]string{4: "4 jobs", 1: "1 job"}[jobs], func(t *testing.T) {
			if testing.Short() && jobs == 1 {
				t.Skip("one job is the path every other push test takes, skipped by -short")
			}
			p := newPushRegistry(t)
			if jobs > 1 {
				// Hold each upload until two overlap (a registry on
				// 127.0.0.1 is fast enough to finish each first).
				p.GateUploads(2, 3*time.Second)
			}
			r, err := pb.pushTo(t, p, jobs)
			if err != nil {
				t.Fatal(err)
			}
			maxIn := p.MaxUploadsInFlight()
			if jobs > 1 && (maxIn < 2 || maxIn > jobs) {
				t.Errorf("at most %d uploads in flight at once, want 2 to %d", maxIn, jobs)
			}
			if jobs == 1 && maxIn != 1 {
				t.Errorf("%d uploads in flight at once, want 1", maxIn)
			}
			done := completedUploads(p.Proxy)
			for _, d := range append([]digest.Digest{pb.large}, pb.small...) {
				if done[d] != 1 {
					t.Errorf("blob %s uploaded %d times, want once", d, done[d])
				}
			}
			// 15 layers and the config, put once and mounted twice.
			if r.BlobsPut != 16 || r.BlobsMounted != 2 {
				t.Errorf("blobs put %d, mounted %d; want 16 and 2", r.BlobsPut, r.BlobsMounted)
			}
			checkOrder(t, p.Proxy)
			pb.sameInRegistry(t, p)
		})
	}
}

// faultsBy makes the proxy apply, to the first attempts of the blobs
// named, the faults given; later attempts go through.
func faultsBy(p *testregistry.Proxy, faults map[digest.Digest][]testregistry.Fault) {
	var mu sync.Mutex
	seen := map[digest.Digest]int{}
	p.UploadFaults(func(_ int, r testregistry.Request) testregistry.Fault {
		d := uploadDigest(r)
		mu.Lock()
		defer mu.Unlock()
		k := seen[d]
		seen[d]++
		fs := faults[d]
		if len(fs) == 0 {
			return testregistry.Fault{}
		}
		f := fs[min(k, len(fs)-1)]
		if f.Status < 0 { // for ever
			f.Status = -f.Status
		} else if k >= len(fs) {
			return testregistry.Fault{}
		}
		return f
	})
}

// TestPushReplaysFailedUploads: an upload answered 500, or whose
// connection drops, is replayed: a small blob from memory, the large one
// read again from the volumes (plain or zstd); the push succeeds and
// each blob is in once.
func TestPushReplaysFailedUploads(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry and retry backoff; TestPushReplayChecksTheVolumeAgain keeps a replay in -short, skipped by -short")
	}
	fail := testregistry.Fault{Status: http.StatusInternalServerError}
	drop := testregistry.Fault{Drop: true, DropAfter: 2 << 20}
	dropEarly := testregistry.Fault{Drop: true, DropAfter: 1000}
	for _, tc := range []struct {
		name        string
		compression string
		small, larg []testregistry.Fault
	}{
		{"small 500, large dropped mid-upload", "", []testregistry.Fault{fail}, []testregistry.Fault{drop}},
		{"small dropped, large 500 twice", "", []testregistry.Fault{dropEarly}, []testregistry.Fault{fail, fail}},
		{"zstd, large dropped then 500", format.CompressionZstd, []testregistry.Fault{fail}, []testregistry.Fault{drop, fail}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pb := newPushBundle(t, PackOptions{Compression: tc.compression})
			p := newPushRegistry(t)
			small := pb.small[2] // 200 KiB: held in memory
			faultsBy(p.Proxy, map[digest.Digest][]testregistry.Fault{small: tc.small, pb.large: tc.larg})
			if _, err := pb.pushTo(t, p, 4); err != nil {
				t.Fatal(err)
			}
			if got, want := attemptsOf(p.Proxy, small), 1+len(tc.small); got != want {
				t.Errorf("small blob: %d upload attempts, want %d", got, want)
			}
			if got, want := attemptsOf(p.Proxy, pb.large), 1+len(tc.larg); got != want {
				t.Errorf("large blob: %d upload attempts, want %d", got, want)
			}
			done := completedUploads(p.Proxy)
			for _, d := range append([]digest.Digest{pb.large}, pb.small...) {
				if done[d] != 1 {
					t.Errorf("blob %s uploaded %d times, want once", d, done[d])
				}
			}
			checkOrder(t, p.Proxy)
			pb.sameInRegistry(t, p)
		})
	}
}

// TestPushFailsOnABlobThatKeepsFailing: a blob whose every upload fails
// fails the push after 3 attempts, naming the blob, its volume and the
// registry; a refusal (403) is not retried; nothing is tagged.
func TestPushFailsOnABlobThatKeepsFailing(t *testing.T) {
	t.Parallel()
	pb := newPushBundle(t, PackOptions{})
	for _, tc := range []struct {
		name     string
		large    bool
		fault    testregistry.Fault
		attempts int
	}{
		{"500 for ever", false, testregistry.Fault{Status: -http.StatusInternalServerError}, pushAttempts},
		{"large blob, 503 for ever", true, testregistry.Fault{Status: -http.StatusServiceUnavailable}, pushAttempts},
		{"403", false, testregistry.Fault{Status: -http.StatusForbidden}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.attempts > 1 {
				t.Skip("every retry of a blob that keeps failing waits its backoff, skipped by -short (the 403 case keeps the failure path)")
			}
			p := newPushRegistry(t)
			d := pb.small[3]
			if tc.large {
				d = pb.large
			}
			faultsBy(p.Proxy, map[digest.Digest][]testregistry.Fault{d: {tc.fault}})
			_, err := pb.pushTo(t, p, 4)
			if err == nil {
				t.Fatal("the push succeeded")
			}
			t.Log(err)
			for _, want := range []string{d.String(), p.Host, "vol-"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, err)
				}
			}
			var pe *BlobPushError
			if tc.fault.Status != -http.StatusForbidden && (!errors.As(err, &pe) || pe.Digest != d || pe.Volume == 0) {
				t.Errorf("error %#v is not a BlobPushError naming the blob and its volume", err)
			}
			if tc.fault.Status == -http.StatusForbidden && !errors.Is(err, oci.ErrUnauthorized) {
				t.Errorf("error %v is not oci.ErrUnauthorized", err)
			}
			if got := attemptsOf(p.Proxy, d); got != tc.attempts {
				t.Errorf("%d upload attempts, want %d", got, tc.attempts)
			}
			if n := p.Count(http.MethodPut, testregistry.ManifestPut, 0); n != 0 {
				t.Errorf("%d manifests put after a failed upload", n)
			}
		})
	}
}

// TestPushOfDamagedVolumeCompletesNoUpload: a damaged byte in a blob
// fails the push as corrupt, and the registry never completes an upload
// of that blob, small (held in memory) or large (streamed).
func TestPushOfDamagedVolumeCompletesNoUpload(t *testing.T) {
	t.Parallel()
	for _, large := range []bool{false, true} {
		t.Run(map[bool]string{false: "small blob", true: "large blob"}[large], func(t *testing.T) {
			if testing.Short() && large {
				t.Skip("a second bundle and registry for the large blob's path, skipped by -short")
			}
			pb := newPushBundle(t, PackOptions{})
			d := pb.small[2]
			if large {
				d = pb.large
			}
			var b *format.Blob
			for i := range pb.idx.Blobs {
				if pb.idx.Blobs[i].Digest == d {
					b = &pb.idx.Blobs[i]
				}
			}
			pl := b.Placements[len(b.Placements)-1]
			xorByte(t, volumeFiles(t, pb.dir)[pl.Volume-1], pl.Offset+pl.Length/2, 0x40)
			p := newPushRegistry(t)
			_, err := pb.pushTo(t, p, 4)
			var ce *format.CorruptError
			if !errors.As(err, &ce) || ce.Volume != pl.Volume {
				t.Fatalf("push of a damaged volume: %v, want a CorruptError of volume %d", err, pl.Volume)
			}
			if n := completedUploads(p.Proxy)[d]; n != 0 {
				t.Errorf("the registry completed %d uploads of the damaged blob", n)
			}
			if n := p.Count(http.MethodPut, testregistry.ManifestPut, 0); n != 0 {
				t.Errorf("%d manifests put", n)
			}
		})
	}
}

// TestPushReplayChecksTheVolumeAgain: a blob read again to replay its
// upload is checked again: a volume damaged after the first read (when
// the first upload drops) fails the push as corrupt, naming the volume,
// and the registry completes no upload of the blob.
func TestPushReplayChecksTheVolumeAgain(t *testing.T) {
	pb := newPushBundle(t, PackOptions{})
	var b *format.Blob
	for i := range pb.idx.Blobs {
		if pb.idx.Blobs[i].Digest == pb.large {
			b = &pb.idx.Blobs[i]
		}
	}
	first := b.Placements[0]
	vol := volumeFiles(t, pb.dir)[first.Volume-1]
	p := newPushRegistry(t)
	faultsBy(p.Proxy, map[digest.Digest][]testregistry.Fault{pb.large: {{Drop: true, DropAfter: 1 << 20}}})
	var once sync.Once
	p.OnResponse(func(r testregistry.Request) {
		if r.Status == 0 && uploadDigest(r) == pb.large {
			// The walk has read (and sent) the blob's first MiB by now.
			once.Do(func() { flipInPlace(t, vol, first.Offset) })
		}
	})
	_, err := pb.pushTo(t, p, 4)
	var ce *format.CorruptError
	if !errors.As(err, &ce) || ce.Volume != first.Volume || ce.Path != vol {
		t.Fatalf("push: %v, want a CorruptError of %s", err, vol)
	}
	t.Log(err)
	// The replay's PUT is recorded once the proxy sees it end, which may
	// be after the push returned.
	waitFor(func() bool { return attemptsOf(p.Proxy, pb.large) >= 2 })
	if n := attemptsOf(p.Proxy, pb.large); n != 2 {
		t.Errorf("%d upload attempts of the blob, want 2 (the first, dropped, and the replay that found the damage)", n)
	}
	if n := completedUploads(p.Proxy)[pb.large]; n != 0 {
		t.Errorf("the registry completed %d uploads of the blob", n)
	}
	if n := p.Count(http.MethodPut, testregistry.ManifestPut, 0); n != 0 {
		t.Errorf("%d manifests put", n)
	}
}

// flipInPlace changes the byte at off of the file in place, without
// truncating it (the walk may be reading it).
func flipInPlace(t *testing.T, path string, off int64) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Error(err)
		return
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Error(err)
	}
}
