package bundle

// Issue 12: a push mounts a blob the mirror holds in a repository that the
// bundle's bases name (format.Base), instead of uploading it again or
// reporting it missing. Against the real registry of internal/testregistry,
// counting uploads and mounts in its proxy's request log.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// mountMirror is a registry behind a recording proxy, pushed into under
// the prefix airgap (so that a base's source names must be mapped).
type mountMirror struct {
	t     *testing.T
	proxy *testregistry.Proxy
	regs  *oci.Registries
	m     mirror.Mapping
}

func newMountMirror(t *testing.T) *mountMirror {
	reg := testregistry.Start(t, testregistry.Options{})
	p := reg.Proxy(t)
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeEmptyAuth(t), Insecure: []string{p.Host}})
	if err != nil {
		t.Fatal(err)
	}
	return &mountMirror{t: t, proxy: p, regs: regs, m: mirror.Mapping{Mirror: p.Host, Prefix: "airgap"}}
}

func (mm *mountMirror) dest() *RegistryDestination {
	return NewRegistryDestination(mm.regs, mm.m, RegistryDestinationOptions{})
}

// push unpacks the signed bundle in dir into the mirror, telling notice
// (the first given) what Set.Unpack tells.
func (mm *mountMirror) push(dir string, notice ...func(string)) (*UnpackResult, error) {
	ctx := context.Background()
	s, err := OpenFiles(ctx, []string{dir})
	if err != nil {
		mm.t.Fatal(err)
	}
	if err := s.Trust(TrustPolicy{Key: testSigner(mm.t).Verifier()}); err != nil {
		mm.t.Fatal(err)
	}
	o := UnpackOptions{}
	if len(notice) > 0 {
		o.Notice = notice[0]
	}
	return s.Unpack(ctx, mm.dest(), o)
}

var uploadsPath = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/$`)

// blobRequests counts, since the last Reset, the blob uploads started
// (POST without mount=) and the mounts that succeeded (POST with mount=,
// 201), by repository.
func (mm *mountMirror) blobRequests() (uploads, mounts map[string]int) {
	uploads, mounts = map[string]int{}, map[string]int{}
	for _, r := range mm.proxy.Requests() {
		m := uploadsPath.FindStringSubmatch(r.Path)
		if r.Method != "POST" || m == nil {
			continue
		}
		if strings.Contains(r.Query, "mount=") {
			if r.Status == 201 {
				mounts[m[1]]++
			}
			continue
		}
		uploads[m[1]]++
	}
	return uploads, mounts
}

// holds reports whether mirror repository repo holds d.
func (mm *mountMirror) holds(repo string, d ocispec.Descriptor) bool {
	mm.t.Helper()
	ctx := context.Background()
	r, err := mm.regs.Repository(ctx, mm.m.Mirror, repo)
	if err != nil {
		mm.t.Fatal(err)
	}
	ok, err := r.Exists(ctx, d)
	if err != nil {
		mm.t.Fatal(err)
	}
	return ok
}

// baseAndDelta are month 1, image x:v1 in repository reg.example/ns/x
// (layers shared and own1), and month 2, image y:v1 in reg.example/ns/y,
// a repository month 1 never pushed to, sharing the layer shared (and the
// config: every memSource image has the same one) and carrying own2 and
// extra.
type baseAndDelta struct {
	m1, m2                    *memSource
	shared, own1, own2, extra ocispec.Descriptor
	x, y                      ocispec.Descriptor
	xRepo, yRepo              string // in the mirror
	baseDir                   string
}

func newBaseAndDelta(t *testing.T) *baseAndDelta {
	b := &baseAndDelta{m1: newMemSource("m1"), m2: newMemSource("m2"), xRepo: "airgap/reg.example/ns/x", yRepo: "airgap/reg.example/ns/y"}
	b.shared, b.own1 = randomLayer(b.m1, 11), randomLayer(b.m1, 12)
	b.x = b.m1.addImage(t, "reg.example/ns/x:v1", b.shared, b.own1)
	b.m2.blobs[b.shared.Digest] = b.m1.blobs[b.shared.Digest]
	b.own2, b.extra = randomLayer(b.m2, 13), randomLayer(b.m2, 14)
	b.y = b.m2.addImage(t, "reg.example/ns/y:v1", b.shared, b.own2, b.extra)
	b.baseDir, _ = packSources(t, []Source{b.m1}, PackOptions{Signer: testSigner(t)})
	return b
}

// TestPushMountsBaseBlobsFromTheBaseRepositories (issue 12, a): a delta
// packed against a base bundle brings image y into a repository new to the
// mirror; the blobs it left to the base are in the base's repository x
// only. The index records x's source name on the base's entry, the push
// maps it (under the prefix) and mounts them from there: no upload, no
// MissingBaseBlobsError. A carried blob that the mirror holds in x too
// (extra, which reached it another way) is mounted from there as well,
// x having been found to hold content of the push.
func TestPushMountsBaseBlobsFromTheBaseRepositories(t *testing.T) {
	t.Parallel()
	mm := newMountMirror(t)
	b := newBaseAndDelta(t)
	if _, err := mm.push(b.baseDir); err != nil {
		t.Fatalf("push of the base: %v", err)
	}
	// extra reaches x outside any bundle.
	ctx := context.Background()
	xr, err := mm.regs.Repository(ctx, mm.m.Mirror, b.xRepo)
	if err != nil {
		t.Fatal(err)
	}
	if err := xr.Push(ctx, b.extra, bytes.NewReader(b.m2.blobs[b.extra.Digest])); err != nil {
		t.Fatal(err)
	}

	deltaDir, delta := packSources(t, []Source{b.m2}, PackOptions{Signer: testSigner(t), Bases: []*BaseBundle{loadBase(t, b.baseDir)}})
	if want := []string{"reg.example/ns/x"}; len(delta.Bases) != 1 || !slices.Equal(delta.Bases[0].Repositories, want) || delta.Bases[0].MirrorRepositories != nil {
		t.Fatalf("bases %+v, want the base's repositories %v", delta.Bases, want)
	}
	if got := fromBase(delta, delta.Bases[0].BundleID); len(got) != 2 { // shared, config
		t.Fatalf("delta expects %v from the base, want the shared layer and the config", got)
	}

	mm.proxy.Reset()
	r, err := mm.push(deltaDir)
	if err != nil {
		t.Fatalf("push of the delta into a new repository: %v", err)
	}
	uploads, mounts := mm.blobRequests()
	// Uploaded: own2 only. Mounted from x: shared, config (from the base)
	// and extra (carried, found in x).
	if !reflect.DeepEqual(uploads, map[string]int{b.yRepo: 1}) || !reflect.DeepEqual(mounts, map[string]int{b.yRepo: 3}) {
		t.Errorf("uploads %v, mounts %v; want 1 upload (own2) and 3 mounts (shared, config, extra) into %s", uploads, mounts, b.yRepo)
	}
	if r.BlobsPut != 1 || r.BlobsMounted != 3 {
		t.Errorf("result: %d put, %d mounted; want 1 and 3", r.BlobsPut, r.BlobsMounted)
	}
	for _, d := range []ocispec.Descriptor{b.shared, b.own2, b.extra} {
		if !mm.holds(b.yRepo, d) {
			t.Errorf("%s lacks %s", b.yRepo, d.Digest)
		}
	}
}

// TestPushMountsBaseBlobsFromTheInventoryRepositories (issue 12, b): the
// same, packed against an inventory of the mirror instead of the base
// bundle. The inventory records the repositories it found content in
// (paths in the mirror, prefix included), the index copies them onto the
// inventory's entry, and the push asks them as they are.
func TestPushMountsBaseBlobsFromTheInventoryRepositories(t *testing.T) {
	t.Parallel()
	mm := newMountMirror(t)
	b := newBaseAndDelta(t)
	if _, err := mm.push(b.baseDir); err != nil {
		t.Fatalf("push of the base: %v", err)
	}
	var notices []string
	v, err := TakeInventory(context.Background(), mm.dest(), InventoryOptions{Registries: mm.regs, Created: epochTime})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{b.xRepo}; !slices.Equal(v.Repositories, want) {
		t.Fatalf("inventory repositories %v, want %v", v.Repositories, want)
	}
	// A repository of the inventory that the mirror refuses to be asked
	// about (403, as Quay answers for a namespace that does not exist):
	// asked first (it sorts first), it is only not where the blobs are.
	v.Repositories = append(v.Repositories, "aaa/ns/x")
	mm.proxy.AllowNamespaces("airgap")
	path := filepath.Join(t.TempDir(), "inventory.json")
	if err := v.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	inv, err := LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"aaa/ns/x", b.xRepo}; !slices.Equal(inv.Inventory.Repositories, want) {
		t.Fatalf("inventory read back: repositories %v, want %v", inv.Inventory.Repositories, want)
	}

	deltaDir, delta := packSources(t, []Source{b.m2}, PackOptions{Signer: testSigner(t), Inventories: []*InventoryFile{inv}})
	if want := []string{"aaa/ns/x", b.xRepo}; len(delta.Bases) != 1 || !slices.Equal(delta.Bases[0].MirrorRepositories, want) || delta.Bases[0].Repositories != nil {
		t.Fatalf("bases %+v, want the inventory's repositories %v", delta.Bases, want)
	}
	mm.proxy.Reset()
	r, err := mm.push(deltaDir, func(s string) { notices = append(notices, s) })
	if err != nil {
		t.Fatalf("push of the delta into a new repository: %v", err)
	}
	if n := strings.Count(strings.Join(notices, "\n"), "aaa/ns/x, named by a base as holding its content, refuses to be asked"); n != 1 {
		t.Errorf("notices %q: want the refusing repository told of once", notices)
	}
	if n := mm.proxy.Count("HEAD", regexp.MustCompile(`^/v2/aaa/ns/x/`), 0); n != 1 {
		t.Errorf("the refusing repository was asked %d times, want once", n)
	}
	uploads, mounts := mm.blobRequests()
	// Uploaded: own2 and extra (which the mirror lacks). Mounted from x:
	// shared and config.
	if !reflect.DeepEqual(uploads, map[string]int{b.yRepo: 2}) || !reflect.DeepEqual(mounts, map[string]int{b.yRepo: 2}) {
		t.Errorf("uploads %v, mounts %v; want 2 uploads (own2, extra) and 2 mounts (shared, config) into %s", uploads, mounts, b.yRepo)
	}
	if r.BlobsPut != 2 || r.BlobsMounted != 2 {
		t.Errorf("result: %d put, %d mounted; want 2 and 2", r.BlobsPut, r.BlobsMounted)
	}
	if !mm.holds(b.yRepo, b.shared) {
		t.Errorf("%s lacks the shared layer", b.yRepo)
	}
}

// TestPushWithoutBaseRepositories (issue 12, c): a delta whose index has
// no repositories on its base entry (packed before they were recorded) is
// pushed as before: into a new repository, the blobs it expects from the
// base are found in none of its own repositories and the push is refused
// before anything is sent, naming them; nothing else is asked.
func TestPushWithoutBaseRepositories(t *testing.T) {
	t.Parallel()
	mm := newMountMirror(t)
	b := newBaseAndDelta(t)
	if _, err := mm.push(b.baseDir); err != nil {
		t.Fatalf("push of the base: %v", err)
	}
	deltaDir, _ := packSources(t, []Source{b.m2}, PackOptions{Signer: testSigner(t), Bases: []*BaseBundle{loadBase(t, b.baseDir)}})
	pb := readBundle(t, deltaDir)
	x := pb.Index
	x.Bases[0].Repositories = nil
	oldDir, old, indexBytes := writeBundle(t, x, pb.LayoutIndex, pb.Stored, testSigner(t))
	if bytes.Contains(indexBytes, []byte("epositories")) {
		t.Fatalf("the rewritten index still names repositories")
	}

	mm.proxy.Reset()
	_, err := mm.push(oldDir)
	var missing *MissingBaseBlobsError
	if !errors.As(err, &missing) {
		t.Fatalf("push: %v, want MissingBaseBlobsError", err)
	}
	want := sortedDigests([]digest.Digest{b.shared.Digest, mustConfig(t, old)})
	if got := sortedDigests(missing.Missing[old.Bases[0].BundleID]); !slices.Equal(got, want) {
		t.Errorf("missing %v, want %v", got, want)
	}
	for _, r := range mm.proxy.Requests() {
		if strings.Contains(r.Path, "/reg.example/ns/x/") || r.Method != "HEAD" && r.Method != "GET" {
			t.Errorf("request %s %s: the push asks nothing of x, and sends nothing", r.Method, r.Path)
		}
	}
}

// mustConfig is the config digest of the one image of x.
func mustConfig(t *testing.T, x *format.Index) digest.Digest {
	t.Helper()
	for _, b := range x.Blobs {
		if b.MediaType == ocispec.MediaTypeImageConfig {
			return b.Digest
		}
	}
	t.Fatal("no config")
	return ""
}

// TestSourceRepositories: a base bundle's repositories are those of its
// named entries, [REGISTRY/]PATH, sorted and once; referrers and bare
// tags have none.
func TestSourceRepositories(t *testing.T) {
	t.Parallel()
	d := digest.FromString("m")
	ref := func(r string) ocispec.Descriptor {
		desc := ocispec.Descriptor{Digest: d}
		if r != "" {
			desc.Annotations = map[string]string{ocispec.AnnotationRefName: r}
		}
		return desc
	}
	x := &format.Index{Manifests: []ocispec.Descriptor{
		ref("quay.io/ns/app:v1"), ref("quay.io/ns/app@" + d.String()), ref("localhost:5000/tool:1"), ref("app:1"),
		ref("v1"), ref(""), ref("quay.io/ns/app:v2"),
	}}
	if got, want := sourceRepositories(x), []string{"app", "localhost:5000/tool", "quay.io/ns/app"}; !slices.Equal(got, want) {
		t.Errorf("repositories %q, want %q", got, want)
	}
}

// TestRecordedBases: only a base that supplies blobs records where its
// content is, and a list longer than the format allows keeps its first
// names, with a notice.
func TestRecordedBases(t *testing.T) {
	t.Parallel()
	supplier, idle := strings.Repeat("a", 32), strings.Repeat("b", 32)
	var many []string
	for i := range format.MaxBaseRepositories + 5 {
		many = append(many, fmt.Sprintf("ns/r%05d", i))
	}
	l := &baseLookup{bases: []format.Base{
		{BundleID: idle, Index: digest.FromString("idle"), Repositories: []string{"ns/idle"}},
		{BundleID: supplier, Index: digest.FromString("supplier"), Repositories: many, MirrorRepositories: []string{"airgap/ns/x"}},
	}}
	var notices []string
	got := l.recorded([]*packBlob{{Blob: &format.Blob{Base: supplier}}, {Blob: &format.Blob{}}}, func(s string) { notices = append(notices, s) })
	if got[0].Repositories != nil || got[0].MirrorRepositories != nil {
		t.Errorf("a base that supplies nothing records %+v", got[0])
	}
	if r := got[1].Repositories; len(r) != format.MaxBaseRepositories || r[0] != many[0] || !slices.Equal(got[1].MirrorRepositories, []string{"airgap/ns/x"}) {
		t.Errorf("supplier records %d repositories from %q, mirror %q", len(r), r[0], got[1].MirrorRepositories)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "1029 repositories") {
		t.Errorf("notices %q, want one of the repositories left out", notices)
	}
	if err := format.CheckRepositoryList(got[1].Repositories, true); err != nil {
		t.Errorf("recorded repositories do not validate: %v", err)
	}
}

// TestBaseRepositoriesMapped: a base's source repositories go through the
// mapping of this push (prefix, rules, stripped registry, nesting limit),
// as the bundle's own names do; its mirror repositories are taken as they
// are; a layout has nowhere else to look.
func TestBaseRepositoriesMapped(t *testing.T) {
	t.Parallel()
	id, inv := strings.Repeat("a", 32), strings.Repeat("b", 32)
	x := &format.Index{Bases: []format.Base{
		{BundleID: id, Repositories: []string{"app", "quay.io/ns/app", "registry.example:5000/team/tool"}},
		{BundleID: inv, MirrorRepositories: []string{"airgap/quay.io/ns/app", "elsewhere/x"}},
	}}
	for _, c := range []struct {
		name string
		m    mirror.Mapping
		want []string
	}{
		{"scoped", mirror.Mapping{Mirror: "m.example", Prefix: "airgap"}, []string{"airgap/app", "airgap/quay.io/ns/app", "airgap/registry.example_5000/team/tool"}},
		{"stripped", mirror.Mapping{Mirror: "m.example", StripRegistry: true}, []string{"app", "ns/app", "team/tool"}},
		{"rule", mirror.Mapping{Mirror: "m.example", Prefix: "airgap", Rules: []mirror.Rule{{Source: "quay.io/ns", Mirror: "ocp/q"}}}, []string{"airgap/app", "ocp/q/app", "airgap/registry.example_5000/team/tool"}},
		{"nesting", mirror.Mapping{Mirror: "m.example", Prefix: "airgap", MaxNestedPaths: 2}, []string{"airgap/app", "airgap/quay.io_ns_app", "airgap/registry.example_5000_team_tool"}},
	} {
		w := &walk{set: &Set{Index: x}, dest: NewRegistryDestination(nil, c.m, RegistryDestinationOptions{})}
		got := w.baseRepositories()
		if !slices.Equal(got[id], c.want) || !slices.Equal(got[inv], x.Bases[1].MirrorRepositories) {
			t.Errorf("%s: %q, want %q and the inventory's as they are", c.name, got, c.want)
		}
	}
	ld := NewLayoutDestination(t.TempDir(), LayoutOptions{})
	defer ld.Close()
	if got := (&walk{set: &Set{Index: x}, dest: ld}).baseRepositories(); got != nil {
		t.Errorf("a layout: %q, want none", got)
	}
}
