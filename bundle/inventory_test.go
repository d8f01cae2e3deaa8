package bundle

// Inventories (SPEC.md 9.4): what a destination holds, and packing against
// it with PackOptions.Inventories.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func takeInventory(t testing.TB, dest string, o InventoryOptions) *InventoryFile {
	t.Helper()
	if o.Created.IsZero() {
		o.Created = epochTime
	}
	v, err := inventoryAt("oci:"+dest, o)
	if err != nil {
		t.Fatalf("inventory of %s: %v", dest, err)
	}
	b, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "inventory.json")
	mustWrite(t, path, b)
	f, err := LoadInventory(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var epochTime = time.Unix(1700000000, 0)

func inventoryDigests(v *Inventory) []digest.Digest {
	var out []digest.Digest
	for _, c := range v.Blobs {
		out = append(out, c.Digest)
	}
	return out
}

func TestInventoryOfLayout(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	dest := filepath.Join(t.TempDir(), "dest")
	unpackInto(t, v1dir, dest, unpackOpts{})
	// Things that are not blobs are not listed.
	mustWrite(t, filepath.Join(dest, "blobs", "sha256", "notes.txt"), []byte("x"))
	mustWrite(t, filepath.Join(dest, "blobs", "sha256", ".tmp-123"), []byte("x"))
	if err := os.Mkdir(filepath.Join(dest, "blobs", "sha256", strings.Repeat("a", 64)), 0o755); err != nil {
		t.Fatal(err)
	}

	f := takeInventory(t, dest, InventoryOptions{})
	var want []digest.Digest
	sizes := map[digest.Digest]int64{}
	for _, b := range v1.Blobs {
		want = append(want, b.Digest)
		sizes[b.Digest] = b.Size
	}
	if got := inventoryDigests(f.Inventory); !slices.Equal(got, sortedDigests(want)) {
		t.Errorf("inventory lists %v, want the blobs of v1 %v", got, sortedDigests(want))
	}
	for _, c := range f.Inventory.Blobs {
		if sizes[c.Digest] != c.Size {
			t.Errorf("%s: size %d, want %d", c.Digest, c.Size, sizes[c.Digest])
		}
	}
	if f.Inventory.Destination != "oci:"+dest || f.Inventory.Created != "2023-11-14T22:13:20Z" || f.Inventory.Verified {
		t.Errorf("inventory header: %+v", f.Inventory)
	}
	// The same destination gives the same file; another gives another id.
	if again := takeInventory(t, dest, InventoryOptions{}); !bytes.Equal(again.Bytes, f.Bytes) {
		t.Errorf("two inventories of one layout differ:\n%s\n%s", f.Bytes, again.Bytes)
	}

	// With Verify, a damaged blob (same size) is left out and named.
	damaged := filepath.Join(dest, "blobs", "sha256", d.l2.Digest.Encoded())
	xorByte(t, damaged, 10, 0x80)
	var notices []string
	g := takeInventory(t, dest, InventoryOptions{Verify: true, Notice: func(s string) { notices = append(notices, s) }})
	if slices.Contains(inventoryDigests(g.Inventory), d.l2.Digest) || len(g.Inventory.Blobs) != len(want)-1 || !g.Inventory.Verified {
		t.Errorf("verified inventory lists %d blobs (damaged l2 in it: %v), want %d", len(g.Inventory.Blobs),
			slices.Contains(inventoryDigests(g.Inventory), d.l2.Digest), len(want)-1)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], damaged) {
		t.Errorf("notices %q, want one naming %s", notices, damaged)
	}
	if g.Inventory.InventoryID == f.Inventory.InventoryID {
		t.Errorf("different inventories share the id %s", g.Inventory.InventoryID)
	}

	// Not a layout: a clear error naming the path, nothing created.
	missing := filepath.Join(t.TempDir(), "nothing")
	if _, err := inventoryAt("oci:"+missing, InventoryOptions{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("inventory of a missing layout: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("inventory created %s", missing)
	}
}

// The return path: one blob of v1 was lost at the destination after v1 was
// unpacked. A delta against v1 (what was sent) is refused there; a delta
// against an inventory (what arrived) carries the lost blob too and
// unpacks.
func TestDeltaAgainstInventoryCarriesWhatArrivedNot(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, _ := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	dest := filepath.Join(t.TempDir(), "dest")
	unpackInto(t, v1dir, dest, unpackOpts{})
	if err := os.Remove(filepath.Join(dest, "blobs", "sha256", d.l3.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}

	againstBase, _ := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}})
	var me *MissingBaseBlobsError
	if _, err := unpackFiles(context.Background(), []string{againstBase}, dest, unpackOpts{Key: signer.Verifier()}); !errors.As(err, &me) {
		t.Fatalf("delta against v1 where l3 was lost: %v, want MissingBaseBlobsError", err)
	}

	inv := takeInventory(t, dest, InventoryOptions{})
	src := &fetchLog{Source: d.v2}
	var notices []string
	haveDir, have := packSources(t, []Source{src}, PackOptions{Signer: signer, Inventories: []*InventoryFile{inv},
		Notice: func(s string) { notices = append(notices, s) }})
	// Carried: v2's new layers, l3 (lost), and every manifest; what the
	// destination holds is expected there.
	id := inv.Inventory.InventoryID
	held := map[digest.Digest]bool{}
	for _, c := range inv.Inventory.Blobs {
		held[c.Digest] = true
	}
	for _, b := range have.Blobs {
		wantBase := ""
		if held[b.Digest] && !format.IsManifestMediaType(b.MediaType) {
			wantBase = id
		}
		if b.Base != wantBase {
			t.Errorf("blob %s (%s): base %q, want %q", b.Digest, b.MediaType, b.Base, wantBase)
		}
	}
	for _, want := range digestsOf(d.l2b, d.l4, d.l3, d.app2, d.tool1, d.db1) {
		if !slices.Contains(carried(have), want) {
			t.Errorf("delta against the inventory does not carry %s", want)
		}
	}
	if !slices.Contains(fromBase(have, id), d.l1.Digest) {
		t.Errorf("delta does not expect l1 from the inventory")
	}
	if len(have.Bases) != 1 || !reflect.DeepEqual(have.Bases[0], format.Base{BundleID: id, Index: inv.Digest()}) {
		t.Errorf("bases %+v, want the inventory %s %s", have.Bases, id, inv.Digest())
	}
	if src.fetched[d.l1.Digest] != 0 {
		t.Errorf("l1, which the destination holds, was fetched %d times", src.fetched[d.l1.Digest])
	}
	if !slices.ContainsFunc(notices, func(s string) bool { return strings.Contains(s, id) && strings.Contains(s, dest) }) {
		t.Errorf("pack does not say which inventory it uses: %q", notices)
	}
	// Into another layout, which the inventory does not describe: the
	// error does not only say to unpack the inventory's id as a bundle.
	_, err := unpackFiles(context.Background(), []string{haveDir}, filepath.Join(t.TempDir(), "other"), unpackOpts{Key: signer.Verifier()})
	if me := (*MissingBaseBlobsError)(nil); !errors.As(err, &me) || len(me.Missing[id]) == 0 || !strings.Contains(err.Error(), "an inventory's id names what a destination held") {
		t.Errorf("delta against an inventory, into another layout: %v", err)
	}
	unpackInto(t, haveDir, dest, unpackOpts{VerifyBase: true})
	full := filepath.Join(t.TempDir(), "full")
	fullDir, _ := packSources(t, []Source{d.v2}, PackOptions{Signer: signer})
	unpackInto(t, v1dir, full, unpackOpts{})
	unpackInto(t, fullDir, full, unpackOpts{})
	a, b := treeHash(t, dest), treeHash(t, full)
	delete(a, HistoryFileName) // the rollback records name other bundles
	delete(b, HistoryFileName)
	for k, v := range b {
		if a[k] != v {
			t.Errorf("%s: %q after v1 + inventory delta, %q after v1 + full v2", k, a[k], v)
		}
	}
}

// An inventory and a base together: the inventory comes first in bases
// and wins for blobs both list.
func TestInventoryBeforeBases(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	dest := filepath.Join(t.TempDir(), "dest")
	unpackInto(t, v1dir, dest, unpackOpts{})
	inv := takeInventory(t, dest, InventoryOptions{})
	_, x := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}, Inventories: []*InventoryFile{inv, inv}})
	id := inv.Inventory.InventoryID
	if len(x.Bases) != 2 || x.Bases[0].BundleID != id || x.Bases[1].BundleID != v1.BundleID {
		t.Errorf("bases %+v, want the inventory once then v1", x.Bases)
	}
	if got := fromBase(x, v1.BundleID); len(got) != 0 {
		t.Errorf("%v expected from v1, want everything from the inventory listed first", got)
	}
	if got := fromBase(x, id); !slices.Contains(got, d.l1.Digest) || !slices.Contains(got, d.l3.Digest) {
		t.Errorf("from the inventory: %v, want l1 and l3 among them", got)
	}
}

func TestParseInventory(t *testing.T) {
	t.Parallel()
	good := &Inventory{Destination: "docker://mirror.example:5000/airgap", Created: "2026-11-21T10:00:00Z", Blobs: []format.Content{
		{Digest: digest.FromString("b"), Size: 1}, {Digest: digest.FromString("a"), Size: 1}, {Digest: digest.FromString("a"), Size: 1},
	}}
	b, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseInventory(b)
	if err != nil {
		t.Fatalf("parse of an encoded inventory: %v", err)
	}
	if len(v.Blobs) != 2 || v.Blobs[0].Digest > v.Blobs[1].Digest {
		t.Errorf("encode does not sort and deduplicate: %+v", v.Blobs)
	}
	s := string(b)
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "inventory"},
		{"not an object", "[]", "inventory"},
		{"unknown member", strings.Replace(s, `"verified"`, `"extra":1,"verified"`, 1), "unknown field"},
		{"media type", strings.Replace(s, "inventory.v1", "inventory.v2", 1), "mediaType"},
		{"id", strings.Replace(s, `"inventoryId":"`, `"inventoryId":"X`, 1), "inventoryId"},
		{"created", strings.Replace(s, "2026-11-21T10:00:00Z", "2026-11-21T10:00:00+01:00", 1), "created"},
		{"destination", strings.Replace(s, "docker://", "https://", 1), "destination"},
		{"no blobs", strings.Replace(s, `"blobs":[`, `"blobz":[`, 1), "unknown field"},
		{"null blobs", s[:strings.Index(s, `"blobs"`)] + `"blobs":null}`, "blobs missing"},
		{"digest", strings.Replace(s, `"sha256:`, `"sha512:`, 1), "digest"},
		{"size", strings.Replace(s, `"size":1`, `"size":-1`, 1), "negative"},
		{"trailing", s + "{}", "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseInventory([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseInventory: %v, want an error with %q", err, tc.want)
			}
		})
	}
	// Out of order or twice.
	swapped := &Inventory{MediaType: MediaTypeInventory, InventoryID: strings.Repeat("0", 32), Destination: "oci:x", Created: "2026-11-21T10:00:00Z",
		Blobs: []format.Content{good.Blobs[1], good.Blobs[0]}}
	for _, blobs := range [][]format.Content{{good.Blobs[1], good.Blobs[0]}, {good.Blobs[0], good.Blobs[0]}} {
		swapped.Blobs = blobs
		doc, _ := json.Marshal(swapped)
		if _, err := ParseInventory(doc); err == nil || !strings.Contains(err.Error(), "sorted") {
			t.Errorf("blobs %v: %v, want not sorted", blobs, err)
		}
	}
	// Repositories: optional, sorted, each once, valid paths in a mirror.
	withRepos := *good
	withRepos.Repositories = []string{"airgap/quay.io/ns/b", "airgap/quay.io/ns/a", "airgap/quay.io/ns/a"}
	rb, err := withRepos.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if rv, err := ParseInventory(rb); err != nil || !slices.Equal(rv.Repositories, []string{"airgap/quay.io/ns/a", "airgap/quay.io/ns/b"}) {
		t.Errorf("repositories read back: %v, %v; want them sorted, once", rv, err)
	}
	if withRepos.InventoryID == v.InventoryID {
		t.Errorf("repositories do not enter the inventory id")
	}
	rs := string(rb)
	for _, tc := range []struct{ name, doc, want string }{
		{"repositories empty", strings.Replace(s, `"blobs":[`, `"repositories":[],"blobs":[`, 1), "repositories is empty"},
		{"repositories unsorted", strings.Replace(rs, `"airgap/quay.io/ns/a","airgap/quay.io/ns/b"`, `"airgap/quay.io/ns/b","airgap/quay.io/ns/a"`, 1), "not sorted"},
		{"repositories twice", strings.Replace(rs, `"airgap/quay.io/ns/b"`, `"airgap/quay.io/ns/a"`, 1), "listed twice"},
		{"repositories registry", strings.Replace(rs, `"airgap/quay.io/ns/a"`, `"mirror:5000/ns/a"`, 1), "path component"},
		{"repositories case variant", strings.Replace(rs, `"repositories"`, `"Repositories"`, 1), "Repositories"},
		{"repositories not strings", strings.Replace(rs, `"airgap/quay.io/ns/a"`, `1`, 1), "cannot unmarshal"},
	} {
		if _, err := ParseInventory([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	// Without repositories, the bytes and the id are those from before
	// they were recorded: the derivation of SPEC 9.4.1 without its last
	// lines, and no member.
	if strings.Contains(s, "repositories") || good.InventoryID != legacyInventoryID(good) {
		t.Errorf("an inventory without repositories changed: %s (id %s, want %s)", s, good.InventoryID, legacyInventoryID(good))
	}
	dir := t.TempDir()
	if _, err := LoadInventory(filepath.Join(dir, "none.json")); err == nil || !strings.Contains(err.Error(), "bundle inventory") {
		t.Errorf("LoadInventory of a missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	mustWrite(t, bad, []byte(`{"mediaType":"application/vnd.oci.image.index.v1+json"}`))
	if _, err := LoadInventory(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadInventory of a wrong file: %v, want the path named", err)
	}
}

// legacyInventoryID is the id of SPEC 9.4.1 as it was before inventories
// recorded repositories.
func legacyInventoryID(v *Inventory) string {
	var b strings.Builder
	fmt.Fprintf(&b, "airgap-bundle inventory v1\n%s\n%s\n", v.Destination, v.Created)
	for _, c := range v.Blobs {
		fmt.Fprintf(&b, "%s %d\n", c.Digest, c.Size)
	}
	return digest.FromString(b.String()).Encoded()[:32]
}

func FuzzParseInventory(f *testing.F) {
	v := &Inventory{Destination: "oci:/srv/mirror", Created: "2026-11-21T10:00:00Z", Blobs: []format.Content{{Digest: digest.FromString("a"), Size: 3}}}
	b, err := v.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte(`{}`))
	// With repositories (a mirror's inventory), and broken ones.
	v.Destination, v.Repositories = "docker://mirror.example:5000/airgap", []string{"airgap/a", "airgap/quay.io/ns/b"}
	if b, err = v.Encode(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(bytes.Replace(b, []byte(`"airgap/a"`), []byte(`"airgap/z"`), 1))
	f.Add(bytes.Replace(b, []byte(`"repositories":[`), []byte(`"repositories":[],"x":[`), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseInventory(b)
		if err != nil {
			return
		}
		for i := 1; i < len(v.Blobs); i++ {
			if v.Blobs[i].Digest <= v.Blobs[i-1].Digest {
				t.Fatalf("accepted unsorted blobs: %s", b)
			}
		}
		if v.Repositories != nil && (len(v.Repositories) == 0 || !slices.IsSorted(v.Repositories) || len(slices.Compact(slices.Clone(v.Repositories))) != len(v.Repositories)) {
			t.Fatalf("accepted repositories empty, unsorted or twice: %q", v.Repositories)
		}
		repos := slices.Clone(v.Repositories)
		// What parses encodes again, to something that parses, with the
		// same repositories.
		if again, err := v.Encode(); err != nil {
			t.Fatalf("encode of a parsed inventory: %v", err)
		} else if w, err := ParseInventory(again); err != nil {
			t.Fatalf("re-encoded inventory does not parse: %v", err)
		} else if !slices.Equal(w.Repositories, repos) {
			t.Fatalf("repositories %q encode to %q", repos, w.Repositories)
		}
	})
}

// TestRegistryInventoryUntaggedRepository: a repository of the mirror that
// holds only untagged images (release components, operator bundles pushed
// by digest) lists no tags; the inventory says so and goes on with the
// other repositories, instead of failing.
func TestRegistryInventoryUntaggedRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t, testregistry.Options{})
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeEmptyAuth(t), Insecure: []string{reg.Host}})
	if err != nil {
		t.Fatal(err)
	}
	src := newMemSource("inv")
	push := func(repoPath, tag string, seed uint64) ocispec.Descriptor {
		repo, err := regs.Repository(ctx, reg.Host, repoPath)
		if err != nil {
			t.Fatal(err)
		}
		layer := randomLayer(src, seed)
		m := src.addImage(t, "x", layer)
		var manifest []byte
		for d, b := range src.blobs {
			desc := ocispec.Descriptor{Digest: d, Size: int64(len(b)), MediaType: ocispec.MediaTypeImageLayer}
			if d == m.Digest {
				manifest = b
				continue
			}
			if err := repo.Push(ctx, desc, bytes.NewReader(b)); err != nil && !strings.Contains(err.Error(), "exist") {
				t.Fatal(err)
			}
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: m.Digest, Size: m.Size}
		if tag == "" {
			err = repo.Push(ctx, desc, bytes.NewReader(manifest))
		} else {
			err = repo.PushTag(ctx, desc, bytes.NewReader(manifest), tag)
		}
		if err != nil {
			t.Fatal(err)
		}
		src.blobs = map[digest.Digest][]byte{}
		return m
	}
	push("team/untagged", "", 1)
	tagged := push("team/tagged", "v1", 2)

	var notices []string
	v, err := TakeInventory(ctx, NewRegistryDestination(regs, mirror.Mapping{Mirror: reg.Host}, RegistryDestinationOptions{}),
		InventoryOptions{Notice: func(s string) { notices = append(notices, s) }})
	if err != nil {
		t.Fatalf("inventory of a mirror with a repository of untagged images: %v", err)
	}
	if !strings.Contains(strings.Join(notices, "\n"), "team/untagged has no tags") {
		t.Errorf("no notice of the untagged repository: %q", notices)
	}
	listed := map[digest.Digest]bool{}
	for _, c := range v.Blobs {
		listed[c.Digest] = true
	}
	if !listed[tagged.Digest] || len(v.Blobs) != 3 {
		t.Errorf("inventory lists %d blobs (tagged manifest listed: %v), want the tagged image's 3", len(v.Blobs), listed[tagged.Digest])
	}
}

func writeEmptyAuth(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
