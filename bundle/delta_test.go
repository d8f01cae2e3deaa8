package bundle

// Incremental bundles (SPEC.md section 9.3): pack --base, and unpacking a
// delta onto what its bases put at the destination.

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const deltaLayerSize = 64 << 10

// randomLayer stores a layer of incompressible bytes drawn from seed.
func randomLayer(s *memSource, seed uint64) ocispec.Descriptor {
	return s.add(ocispec.MediaTypeImageLayerGzip, benchRandom(deltaLayerSize+int(seed%512), seed^0x5eed))
}

// deltaVersions are three releases of a set of images, each in its own
// in-memory source:
//
//	v1: app:1 (L1 L2), tool:1 (L1 L3)
//	v2: app:2 (L1 L2b) (one layer changed), tool:1, db:1 (L4 L1) (added)
//	v3: app:2, tool:1, db:2 (L4 L5) (a layer added)
type deltaVersions struct {
	v1, v2, v3                  *memSource
	l1, l2, l2b, l3, l4, l5     ocispec.Descriptor
	app1, app2, tool1, db1, db2 ocispec.Descriptor
}

func newDeltaVersions(t testing.TB) *deltaVersions {
	t.Helper()
	d := &deltaVersions{v1: newMemSource("v1"), v2: newMemSource("v2"), v3: newMemSource("v3")}
	for _, s := range []*memSource{d.v1, d.v2, d.v3} {
		d.l1, d.l2, d.l2b, d.l3 = randomLayer(s, 1), randomLayer(s, 2), randomLayer(s, 22), randomLayer(s, 3)
		d.l4, d.l5 = randomLayer(s, 4), randomLayer(s, 5)
	}
	d.app1 = d.v1.addImage(t, "app:1", d.l1, d.l2)
	d.tool1 = d.v1.addImage(t, "tool:1", d.l1, d.l3)
	d.app2 = d.v2.addImage(t, "app:2", d.l1, d.l2b)
	d.v2.addImage(t, "tool:1", d.l1, d.l3)
	d.db1 = d.v2.addImage(t, "db:1", d.l4, d.l1)
	d.v3.addImage(t, "app:2", d.l1, d.l2b)
	d.v3.addImage(t, "tool:1", d.l1, d.l3)
	d.db2 = d.v3.addImage(t, "db:2", d.l4, d.l5)
	return d
}

// fetchLog wraps a source and records every blob fetched.
type fetchLog struct {
	Source
	mu      sync.Mutex
	fetched map[digest.Digest]int
}

func (f *fetchLog) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	f.mu.Lock()
	if f.fetched == nil {
		f.fetched = map[digest.Digest]int{}
	}
	f.fetched[d.Digest]++
	f.mu.Unlock()
	return f.Source.Fetch(ctx, d)
}

// loadBase loads the bundle in dir as a base, checking it with the shared
// test key.
func loadBase(t testing.TB, dir string) *BaseBundle {
	t.Helper()
	b, err := LoadBase(context.Background(), dir, testSigner(t).Verifier())
	if err != nil {
		t.Fatalf("load base %s: %v", dir, err)
	}
	return b
}

// carried and fromBase split the blobs of x.
func carried(x *format.Index) []digest.Digest {
	var out []digest.Digest
	for _, b := range x.Blobs {
		if b.Base == "" {
			out = append(out, b.Digest)
		}
	}
	return sortedDigests(out)
}

func fromBase(x *format.Index, id string) []digest.Digest {
	var out []digest.Digest
	for _, b := range x.Blobs {
		if b.Base == id {
			out = append(out, b.Digest)
		}
	}
	return sortedDigests(out)
}

func sortedDigests(ds []digest.Digest) []digest.Digest {
	out := slices.Clone(ds)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return slices.Compact(out)
}

func digestsOf(ds ...ocispec.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return sortedDigests(out)
}

func volumesSize(x *format.Index) int64 {
	var n int64
	for _, v := range x.Volumes {
		n += v.Size
	}
	return n
}

func unpackInto(t testing.TB, dir, dest string, o unpackOpts) {
	t.Helper()
	if o.Key == nil {
		o.Key = testSigner(t).Verifier()
	}
	if _, err := unpackFiles(context.Background(), []string{dir}, dest, o); err != nil {
		t.Fatalf("unpack %s into %s: %v", dir, dest, err)
	}
}

func TestDeltaCarriesOnlyWhatTheBaseLacks(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	base := loadBase(t, v1dir)

	src := &fetchLog{Source: d.v2}
	var notices []string
	deltaDir, delta := packSources(t, []Source{src}, PackOptions{Signer: signer, Bases: []*BaseBundle{base},
		Notice: func(s string) { notices = append(notices, s) }})
	_, full := packSources(t, []Source{d.v2}, PackOptions{Signer: signer})

	// Carried: the new layers and every manifest; the rest comes from v1.
	wantCarried := digestsOf(d.l2b, d.l4, d.app2, d.tool1, d.db1)
	if got := carried(delta); !slices.Equal(got, wantCarried) {
		t.Errorf("delta carries %v, want %v", got, wantCarried)
	}
	var shared int64
	for _, b := range delta.Blobs {
		if b.Base == "" {
			if len(b.Placements) == 0 {
				t.Errorf("carried blob %s has no placements", b.Digest)
			}
			continue
		}
		shared += b.Size
		if b.Base != v1.BundleID || len(b.Placements) != 0 || b.Encoding != format.CompressionNone || b.StoredSize != b.Size || b.StoredDigest != b.Digest {
			t.Errorf("base blob %+v: want base %s, no placements, encoding none, stored = blob", b, v1.BundleID)
		}
		if src.fetched[b.Digest] != 0 {
			t.Errorf("base blob %s was fetched from the source %d times", b.Digest, src.fetched[b.Digest])
		}
		if oci.IsManifest(b.MediaType) || oci.IsIndex(b.MediaType) {
			t.Errorf("manifest %s left to the base", b.Digest)
		}
	}
	var cfg digest.Digest // addImage gives every image the same config
	for _, b := range delta.Blobs {
		if b.MediaType == ocispec.MediaTypeImageConfig {
			cfg = b.Digest
		}
	}
	if got, want := fromBase(delta, v1.BundleID), sortedDigests([]digest.Digest{d.l1.Digest, d.l3.Digest, cfg}); !slices.Equal(got, want) {
		t.Errorf("from base: %v, want l1, l3 and the config %v", got, want)
	}
	// The base records where its images went: their source repositories.
	if want := []format.Base{{BundleID: v1.BundleID, Index: base.Digest(), Repositories: []string{"app", "tool"}}}; !reflect.DeepEqual(delta.Bases, want) {
		t.Errorf("bases %v, want %v", delta.Bases, want)
	}
	if ib, _ := readBundleIndexBytes(t, v1dir); base.Digest() != digest.FromBytes(ib) {
		t.Errorf("base index digest is not that of v1's bundle.json")
	}
	// Same images as the full pack, other id; smaller by the shared bytes
	// (give or take tar headers, padding and the index).
	if !slices.EqualFunc(delta.Manifests, full.Manifests, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }) {
		t.Errorf("delta lists other manifests than the full pack")
	}
	if delta.BundleID == full.BundleID {
		t.Errorf("delta and full pack share the id %s", delta.BundleID)
	}
	saved := volumesSize(full) - volumesSize(delta)
	if diff := saved - shared; diff < -8192 || diff > 8192 {
		t.Errorf("delta is %d bytes smaller than the full pack, the shared blobs are %d bytes", saved, shared)
	}
	if !strings.Contains(strings.Join(notices, "\n"), "3 blobs") {
		t.Errorf("no notice of the blobs left to the base: %q", notices)
	}
	for _, n := range notices {
		if strings.Contains(n, "without checking") {
			t.Errorf("notice of an unchecked base though it was checked: %q", n)
		}
	}

	// Reproducible: the same inputs give the same id and the same bytes
	// (unsigned here: ECDSA signatures differ from run to run).
	onceDir, once := packSources(t, []Source{d.v2}, PackOptions{Bases: []*BaseBundle{base}})
	againDir, again := packSources(t, []Source{d.v2}, PackOptions{Bases: []*BaseBundle{base}})
	if again.BundleID != once.BundleID {
		t.Errorf("delta id %s, then %s", once.BundleID, again.BundleID)
	}
	if a, b := treeHash(t, onceDir), treeHash(t, againDir); !maps.Equal(a, b) {
		t.Errorf("two delta packs differ: %v, %v", a, b)
	}
	// The whole bundle verifies, and inspect tells carried from expected.
	if _, err := verifyFiles(context.Background(), []string{deltaDir}, verifyOpts{Key: signer.Verifier()}); err != nil {
		t.Errorf("verify delta: %v", err)
	}
	sum, err := inspectFiles(context.Background(), []string{deltaDir}, signer.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if sum.CarriedBlobs != 5 || sum.FromBaseBlobs != 3 || sum.FromBaseBytes != shared || sum.CarriedBytes+sum.FromBaseBytes != sum.BlobBytes ||
		len(sum.Bases) != 1 || sum.Bases[0].BundleID != v1.BundleID {
		t.Errorf("inspect: %+v", sum)
	}
}

func TestDeltaUnpackEqualsFull(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, _ := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	deltaDir, _ := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Compression: format.CompressionZstd, MaxVolumeSize: 100 << 10, Bases: []*BaseBundle{loadBase(t, v1dir)}})
	fullDir, _ := packSources(t, []Source{d.v2}, PackOptions{Signer: signer})

	root := t.TempDir()
	viaDelta, viaFull := filepath.Join(root, "delta"), filepath.Join(root, "full")
	unpackInto(t, v1dir, viaDelta, unpackOpts{})
	unpackInto(t, deltaDir, viaDelta, unpackOpts{VerifyBase: true})
	unpackInto(t, v1dir, viaFull, unpackOpts{})
	unpackInto(t, fullDir, viaFull, unpackOpts{})
	a, b := treeHash(t, viaDelta), treeHash(t, viaFull)
	// The rollback records differ: they name other bundles.
	delete(a, HistoryFileName)
	delete(b, HistoryFileName)
	if len(a) != len(b) {
		t.Errorf("%d entries after v1 + delta, %d after v1 + full v2", len(a), len(b))
	}
	for k, v := range b {
		if a[k] != v {
			t.Errorf("%s: %q after v1 + delta, %q after v1 + full v2", k, a[k], v)
		}
	}
	l, err := oci.Open(viaDelta)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	idx, err := l.Index()
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]digest.Digest{}
	for _, m := range idx.Manifests {
		refs[m.Annotations[ocispec.AnnotationRefName]] = m.Digest
	}
	if refs["app:2"] != d.app2.Digest || refs["db:1"] != d.db1.Digest || refs["app:1"] != d.app1.Digest {
		t.Errorf("index.json after v1 + delta: %v", refs)
	}
}

func TestDeltaRefusedWhereTheBaseIsMissing(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	deltaDir, delta := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}})

	check := func(t *testing.T, dest string) {
		t.Helper()
		_, err := unpackFiles(context.Background(), []string{deltaDir}, dest, unpackOpts{Key: signer.Verifier()})
		var me *MissingBaseBlobsError
		if !errors.As(err, &me) {
			t.Fatalf("unpack of a delta into %s: %v, want a MissingBaseBlobsError", dest, err)
		}
		want := fromBase(delta, v1.BundleID)
		if len(me.Missing) != 1 || !slices.Equal(sortedDigests(me.Missing[v1.BundleID]), want) {
			t.Errorf("missing %v, want %v from %s", me.Missing, want, v1.BundleID)
		}
		msg := err.Error()
		for _, s := range append([]string{v1.BundleID, "unpack", delta.BundleID}, digestStrings(want)...) {
			if !strings.Contains(msg, s) {
				t.Errorf("error lacks %q: %s", s, msg)
			}
		}
	}
	t.Run("empty layout", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "dest")
		l, err := oci.Create(dest)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		before := treeHash(t, dest)
		check(t, dest)
		if after := treeHash(t, dest); len(after) != len(before) {
			t.Errorf("the refused unpack wrote into %s: %v", dest, after)
		}
		assertUntouched(t, dest, before)
	})
	t.Run("other layout", func(t *testing.T) {
		dest := newDest(t, "")
		before := treeHash(t, dest)
		check(t, dest)
		if after := treeHash(t, dest); len(after) != len(before) {
			t.Errorf("the refused unpack wrote into %s", dest)
		}
		assertUntouched(t, dest, before)
	})
	t.Run("no directory", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "nothing")
		check(t, dest)
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused unpack created %s: %v", dest, err)
		}
	})
}

func digestStrings(ds []digest.Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// v1 → v2 → v3, and v2's volumes are lost: v3 packed against v1 carries
// what v2 and v3 added, and unpacks where only v1 was unpacked.
func TestDeltaChainWithALostLink(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, _ := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	v2dir, v2 := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}})

	// Against v2 (the normal chain): what v2 expects from v1 is expected
	// from v2 too, since unpacking v2 needed it there.
	_, v3on2 := packSources(t, []Source{d.v3}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v2dir)}})
	if got, want := carried(v3on2), digestsOf(d.l5, d.app2, d.tool1, d.db2); !slices.Equal(got, want) {
		t.Errorf("v3 on v2 carries %v, want %v", got, want)
	}
	if got := fromBase(v3on2, v2.BundleID); !slices.Contains(got, d.l1.Digest) || !slices.Contains(got, d.l4.Digest) {
		t.Errorf("v3 on v2 expects %v from v2, want l1 (v2 has it from v1) and l4", got)
	}

	// v2 is lost: pack v3 against v1 only.
	os.RemoveAll(v2dir)
	v3dir, v3 := packSources(t, []Source{d.v3}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}})
	want := digestsOf(d.l2b, d.l4, d.l5, d.app2, d.tool1, d.db2) // v2's and v3's new layers, and the manifests
	if got := carried(v3); !slices.Equal(got, want) {
		t.Errorf("v3 on v1 carries %v, want %v", got, want)
	}
	dest := filepath.Join(t.TempDir(), "dest")
	unpackInto(t, v1dir, dest, unpackOpts{})
	unpackInto(t, v3dir, dest, unpackOpts{VerifyBase: true})
	l, err := oci.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, b := range v3.Blobs {
		if !l.HasBlob(b.Digest, b.Size) {
			t.Errorf("blob %s of v3 missing after v1 + v3", b.Digest)
		}
	}
}

func TestUnpackVerifyBase(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	deltaDir, _ := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}})
	dest := filepath.Join(t.TempDir(), "dest")
	unpackInto(t, v1dir, dest, unpackOpts{})

	// Damage l1 (same size) and remove l3.
	l1 := filepath.Join(dest, "blobs", "sha256", d.l1.Digest.Encoded())
	xorByte(t, l1, 100, 0x01)
	if err := os.Remove(filepath.Join(dest, "blobs", "sha256", d.l3.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, dest)
	_, err := unpackFiles(context.Background(), []string{deltaDir}, dest, unpackOpts{Key: signer.Verifier(), VerifyBase: true})
	var me *MissingBaseBlobsError
	if !errors.As(err, &me) {
		t.Fatalf("unpack --verify-base onto a damaged base: %v", err)
	}
	if !slices.Equal(me.Damaged[v1.BundleID], []digest.Digest{d.l1.Digest}) || !slices.Equal(me.Missing[v1.BundleID], []digest.Digest{d.l3.Digest}) {
		t.Errorf("damaged %v, missing %v; want l1 damaged, l3 missing", me.Damaged, me.Missing)
	}
	if !strings.Contains(err.Error(), d.l1.Digest.String()+" (damaged)") || !strings.Contains(err.Error(), d.l3.Digest.String()) {
		t.Errorf("error: %v", err)
	}
	assertUntouched(t, dest, before)
	if after := treeHash(t, dest); len(after) != len(before) {
		t.Errorf("the refused unpack wrote into %s", dest)
	}

	// Without --verify-base only presence and size are checked: with l3
	// back, the damaged l1 goes unnoticed.
	unpackInto(t, v1dir, dest, unpackOpts{}) // puts l3 back; l1 has the right size, so stays
	if _, err := unpackFiles(context.Background(), []string{deltaDir}, dest, unpackOpts{Key: signer.Verifier(), VerifyBase: true}); !errors.As(err, &me) || !strings.Contains(err.Error(), "again, re-hashing") {
		t.Errorf("unpack --verify-base with l1 still damaged: %v", err)
	}
	// The base unpacked again with it re-hashes what it carries, and
	// writes the damaged l1 again, and says so: the delta then goes in.
	s, err := OpenFiles(context.Background(), []string{v1dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trust(TrustPolicy{Key: signer.Verifier()}); err != nil {
		t.Fatal(err)
	}
	ld := NewLayoutDestination(dest, LayoutOptions{VerifyBase: true})
	r, err := s.Unpack(context.Background(), ld, UnpackOptions{})
	ld.Close()
	if err != nil {
		t.Fatalf("the base again, re-hashing: %v", err)
	}
	if r.BlobsMended != 1 || r.Report(dest).BlobsMended != 1 {
		t.Errorf("the base again, re-hashing: %d blobs mended, want 1", r.BlobsMended)
	}
	l, err := oci.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := blobMatches(context.Background(), l, d.l1)
	l.Close()
	if err != nil || !ok {
		t.Fatalf("l1 after the base was unpacked again with VerifyBase: intact %v, %v", ok, err)
	}
	unpackInto(t, deltaDir, dest, unpackOpts{VerifyBase: true})
}

func TestPackBasesListedInOrderOnce(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	otherDir, other := packLayout(t, PackOptions{Signer: signer})
	b1, bo := loadBase(t, v1dir), loadBase(t, otherDir)
	_, x := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{bo, b1, bo, b1}})
	// Only a base that supplies blobs says where they are.
	want := []format.Base{{BundleID: other.BundleID, Index: bo.Digest()}, {BundleID: v1.BundleID, Index: b1.Digest(), Repositories: []string{"app", "tool"}}}
	if !reflect.DeepEqual(x.Bases, want) {
		t.Errorf("bases %v, want %v (in order, once, including one that supplies nothing, without repositories)", x.Bases, want)
	}
	if len(fromBase(x, other.BundleID)) != 0 || len(fromBase(x, v1.BundleID)) != 3 {
		t.Errorf("from other: %v, from v1: %v", fromBase(x, other.BundleID), fromBase(x, v1.BundleID))
	}
	// Another order of the same bases is another bundle.
	_, y := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{b1, bo}})
	if y.BundleID == x.BundleID {
		t.Errorf("bases in another order give the same id")
	}
}
