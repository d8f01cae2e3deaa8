package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestIncrementalCLI: pack app:v1, then the whole example layout against
// it with --base and --base-key; inspect shows the base; unpack refuses
// where the base was not unpacked and succeeds after it.
func TestIncrementalCLI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("seven scrypt key loads; TestDryRun packs on a base through the CLI and bundle's delta tests keep deltas in -short, skipped by -short")
	}
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, env, args...) }
	k, other := filepath.Join(dir, "k"), filepath.Join(dir, "other")
	must(0, "keygen", "--out", k)
	must(0, "keygen", "--type", "ed25519", "--out", other)
	v1, v2 := filepath.Join(dir, "v1"), filepath.Join(dir, "v2")
	must(0, "pack", "--key", k+".key", "--out", v1, "oci:"+example+":app:v1")

	must(4, "pack", "--key", k+".key", "--base", v1, "--base-key", other+".pub", "--out", v2, "oci:"+example)
	must(2, "pack", "--key", k+".key", "--base-key", k+".pub", "--out", v2, "oci:"+example)
	out := must(0, "pack", "--key", k+".key", "--base", v1, "--base-key", k+".pub", "--out", v2, "oci:"+example)
	if strings.Contains(out, "without checking") || !strings.Contains(out, "expected at the destination") {
		t.Errorf("pack --base output:\n%s", out)
	}
	out = must(0, "pack", "--key", k+".key", "--base", v1, "--out", filepath.Join(dir, "v2-unchecked"), "oci:"+example)
	if !strings.Contains(out, "without checking its signature") {
		t.Errorf("pack --base without --base-key does not say the base is unchecked:\n%s", out)
	}

	var s1, s2 struct {
		BundleID      string `json:"bundleId"`
		Bases         []struct{ BundleID, Index string }
		CarriedBlobs  int `json:"carriedBlobs"`
		FromBaseBlobs int `json:"fromBaseBlobs"`
	}
	if err := json.Unmarshal([]byte(must(0, "inspect", "--json", v1)), &s1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(must(0, "inspect", "--json", v2)), &s2); err != nil {
		t.Fatal(err)
	}
	if len(s1.Bases) != 0 || len(s2.Bases) != 1 || s2.Bases[0].BundleID != s1.BundleID || !strings.HasPrefix(s2.Bases[0].Index, "sha256:") ||
		s2.FromBaseBlobs == 0 || s2.CarriedBlobs == 0 {
		t.Errorf("inspect --json: v1 %+v, v2 %+v", s1, s2)
	}
	out = must(0, "inspect", "--key", k+".pub", v2)
	for _, want := range []string{"bases:", s1.BundleID, "carried:", "from bases:"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if out := must(0, "inspect", v1); strings.Contains(out, "bases:") {
		t.Errorf("inspect of a full bundle shows bases:\n%s", out)
	}

	dest := filepath.Join(dir, "dest")
	out = must(5, "unpack", "--key", k+".pub", "--to", "oci:"+dest, v2)
	if !strings.Contains(out, s1.BundleID) || !strings.Contains(out, "first") {
		t.Errorf("unpack of a delta without its base:\n%s", out)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("the refused unpack created %s", dest)
	}
	must(0, "unpack", "--key", k+".pub", "--to", "oci:"+dest, v1)
	must(0, "unpack", "--key", k+".pub", "--verify-base", "--to", "oci:"+dest, v2)
	must(2, "unpack", "--key", k+".pub", "--verify-base", "--to", "docker://localhost:1/x", v2)
}

// exampleRefs maps the tags of the example layout to their digests.
func exampleRefs(t *testing.T) map[string]digest.Digest {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal(mustReadFile(t, filepath.Join(example, "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	out := map[string]digest.Digest{}
	for _, m := range idx.Manifests {
		if ref := m.Annotations[ocispec.AnnotationRefName]; ref != "" {
			out[ref] = m.Digest
		}
	}
	return out
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleIndex reads the signed index of the bundle in dir.
func bundleIndex(t *testing.T, dir string) *format.Index {
	t.Helper()
	s, err := bundle.OpenFiles(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return s.Index
}

// TestInventoryCLI: inventory of a layout, pack --have against it, and the
// usage errors.
func TestInventoryCLI(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: skopeo-made layouts; bundle's TestLoadBasesAndInventories keeps inventories in -short, skipped by -short")
	}
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, env, args...) }
	k := filepath.Join(dir, "k")
	must(0, "keygen", "--out", k)
	v1, v2, dest := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "dest")
	must(0, "pack", "--key", k+".key", "--out", v1, "oci:"+example+":app:v1")
	must(0, "unpack", "--key", k+".pub", "--to", "oci:"+dest, v1)

	inv := filepath.Join(dir, "inventory.json")
	out := must(0, "inventory", "--to", "oci:"+dest, "--out", inv)
	v, err := bundle.LoadInventory(inv)
	if err != nil {
		t.Fatalf("the inventory written does not load: %v", err)
	}
	if !strings.Contains(out, v.Inventory.InventoryID) || len(v.Inventory.Blobs) != len(layoutBlobs(t, dest)) {
		t.Errorf("inventory %s lists %d blobs, the layout has %d:\n%s", v.Inventory.InventoryID, len(v.Inventory.Blobs), len(layoutBlobs(t, dest)), out)
	}
	if stdout := must(0, "inventory", "--verify", "--to", "oci:"+dest, "--out", "-"); !strings.Contains(stdout, `"verified":true`) {
		t.Errorf("inventory --verify --out -:\n%s", stdout)
	}

	out = must(0, "pack", "--key", k+".key", "--have", inv, "--out", v2, "oci:"+example)
	if !strings.Contains(out, v.Inventory.InventoryID) || !strings.Contains(out, "expected at the destination") {
		t.Errorf("pack --have output:\n%s", out)
	}
	x := bundleIndex(t, v2)
	if len(x.Bases) != 1 || x.Bases[0].BundleID != v.Inventory.InventoryID || x.Bases[0].Index != v.Digest() {
		t.Errorf("bases of the delta: %+v", x.Bases)
	}
	must(5, "unpack", "--key", k+".pub", "--to", "oci:"+filepath.Join(dir, "elsewhere"), v2)
	must(0, "unpack", "--key", k+".pub", "--verify-base", "--to", "oci:"+dest, v2)
	for ref, d := range exampleRefs(t) {
		if got := digest.FromString(testregistry.Skopeo(t, "inspect", "--raw", "oci:"+dest+":"+ref)); got != d {
			t.Errorf("%s after v1 + delta: %s, want %s", ref, got, d)
		}
	}

	// Usage errors: exit 2, nothing written.
	must(2, "inventory", "--to", dest, "--out", inv+".x")
	must(2, "inventory", "--to", "oci:"+dest, "--repository", "m/app", "--out", inv+".x")
	must(2, "inventory", "--to", "docker://127.0.0.1:1/m", "--verify", "--out", inv+".x")
	must(2, "inventory", "--to", "docker://Not A Host", "--out", inv+".x")
	must(1, "inventory", "--to", "oci:"+filepath.Join(dir, "none"), "--out", inv+".x")
	if _, err := os.Stat(inv + ".x"); err == nil {
		t.Errorf("a failed inventory wrote %s", inv+".x")
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{}"), 0o644)
	if out := must(1, "pack", "--key", k+".key", "--have", bad, "--out", filepath.Join(dir, "v3"), "oci:"+example); !strings.Contains(out, bad) {
		t.Errorf("pack --have with a bad file does not name it:\n%s", out)
	}
}

// TestRegistryDelta: incremental bundles against a registry destination.
// v1 (app:v1) is pushed; v2 (app:v1, app:v2) packed against v1 is refused
// by an empty mirror and, pushed after v1, gives what a full v2 gives.
// Then v2 is lost for a second mirror that has v1 only: v3 (the whole
// example) packed against v2 is refused there, and packed against an
// inventory of that mirror fills exactly the gap.
func TestRegistryDelta(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry, skipped by -short")
	}
	dir := t.TempDir()
	env, key, pub := keys(t, dir)
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, env, args...) }
	push := func(want int, host, vols string) string {
		t.Helper()
		return must(want, "unpack", "--key", pub, "--insecure-registry", host, "--to", "docker://"+host+"/m", vols)
	}
	refs := exampleRefs(t)
	v1, v2, v2full := filepath.Join(dir, "v1"), filepath.Join(dir, "v2"), filepath.Join(dir, "v2full")
	must(0, "pack", "--key", key, "--out", v1, "oci:"+example+":app:v1")
	must(0, "pack", "--key", key, "--base", v1, "--base-key", pub, "--max-size", "40K", "--out", v2, "oci:"+example+":app:v1", "oci:"+example+":app:v2")
	must(0, "pack", "--key", key, "--out", v2full, "oci:"+example+":app:v1", "oci:"+example+":app:v2")
	id1 := bundleIndex(t, v1).BundleID

	// Into an empty mirror: refused before anything is stored.
	empty := testregistry.Start(t, testregistry.Options{})
	out := push(5, empty.Host, v2)
	if !strings.Contains(out, id1) {
		t.Errorf("refused delta push does not name v1 (%s):\n%s", id1, out)
	}
	if _, err := os.Stat(filepath.Join(empty.Dir, "docker/registry/v2/repositories")); err == nil {
		t.Errorf("the refused delta push stored repositories in the mirror")
	}

	// v1 then the delta equals the full v2.
	b, full := testregistry.Start(t, testregistry.Options{}), testregistry.Start(t, testregistry.Options{})
	push(0, b.Host, v1)
	push(0, b.Host, v2)
	push(0, full.Host, v2full)
	for _, ref := range []string{"app:v1", "app:v2"} {
		got, want := rawDigest(t, b.Host+"/m/"+ref), rawDigest(t, full.Host+"/m/"+ref)
		if got != want || got != refs[ref] {
			t.Errorf("%s: %s after v1 + delta, %s after full v2, %s in the source", ref, got, want, refs[ref])
		}
		// Every blob is there: skopeo copies the image out.
		testregistry.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+b.Host+"/m/"+ref, "oci:"+filepath.Join(dir, "out-"+strings.ReplaceAll(ref, ":", "-"))+":x")
	}

	// A mirror that got v1 only (v2 is lost on the way).
	c := testregistry.Start(t, testregistry.Options{})
	push(0, c.Host, v1)
	v3onv2, v3 := filepath.Join(dir, "v3onv2"), filepath.Join(dir, "v3")
	must(0, "pack", "--key", key, "--base", v2, "--base-key", pub, "--out", v3onv2, "oci:"+example)
	out = push(5, c.Host, v3onv2)
	if id2 := bundleIndex(t, v2).BundleID; !strings.Contains(out, id2) {
		t.Errorf("v3 on v2 into a mirror without v2: does not name v2 (%s):\n%s", id2, out)
	}

	inv, invRepo := filepath.Join(dir, "inventory.json"), filepath.Join(dir, "inventory-repo.json")
	must(0, "inventory", "--insecure-registry", c.Host, "--to", "docker://"+c.Host+"/m", "--out", inv)
	must(0, "inventory", "--insecure-registry", c.Host, "--to", "docker://"+c.Host+"/m", "--repository", "m/app", "--out", invRepo)
	f, err := bundle.LoadInventory(inv)
	if err != nil {
		t.Fatal(err)
	}
	g, err := bundle.LoadInventory(invRepo)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Inventory.Blobs) == 0 || !reflect.DeepEqual(f.Inventory.Blobs, g.Inventory.Blobs) {
		t.Errorf("inventory from the catalog lists %d blobs, with --repository m/app %d", len(f.Inventory.Blobs), len(g.Inventory.Blobs))
	}
	// It lists every blob of v1, and none that only v2 brought. (It may
	// list more: the referrers index tag the push made for v1's referrer
	// is in the mirror too.)
	var want []digest.Digest
	for _, bl := range bundleIndex(t, v1).Blobs {
		want = append(want, bl.Digest)
	}
	var got []digest.Digest
	for _, bl := range f.Inventory.Blobs {
		got = append(got, bl.Digest)
	}
	for _, d := range want {
		if !slices.Contains(got, d) {
			t.Errorf("inventory of a mirror holding v1 lacks %s", d)
		}
	}
	for _, bl := range bundleIndex(t, v2).Blobs {
		if bl.Base == "" && !slices.Contains(want, bl.Digest) && slices.Contains(got, bl.Digest) {
			t.Errorf("inventory of a mirror without v2 lists %s, which only v2 carried", bl.Digest)
		}
	}
	if !strings.HasPrefix(f.Inventory.Destination, "docker://"+c.Host+"/m") {
		t.Errorf("inventory destination %q", f.Inventory.Destination)
	}

	must(0, "pack", "--key", key, "--have", inv, "--out", v3, "oci:"+example)
	x := bundleIndex(t, v3)
	for _, bl := range x.Blobs {
		held := slices.Contains(got, bl.Digest) && !format.IsManifestMediaType(bl.MediaType)
		if held != (bl.Base != "") {
			t.Errorf("v3 against the inventory: blob %s (%s) base %q", bl.Digest, bl.MediaType, bl.Base)
		}
	}
	push(0, c.Host, v3)
	for ref, d := range refs {
		if got := rawDigest(t, c.Host+"/m/"+ref); got != d {
			t.Errorf("%s in the mirror after v1 + v3: %s, want %s", ref, got, d)
		}
		testregistry.Skopeo(t, "copy", "--all", "--src-tls-verify=false", "docker://"+c.Host+"/m/"+ref, "oci:"+filepath.Join(dir, "c-"+strings.ReplaceAll(ref, ":", "-"))+":x")
	}

	// A blob the repository no longer holds (its link removed, as garbage
	// collection or a damaged store leaves it) is left out, with a notice.
	var layer digest.Digest
	for _, bl := range bundleIndex(t, v1).Blobs {
		if strings.Contains(bl.MediaType, "layer") {
			layer = bl.Digest
			break
		}
	}
	whole := filepath.Join(dir, "inventory-whole.json")
	must(0, "inventory", "--insecure-registry", c.Host, "--to", "docker://"+c.Host+"/m", "--out", whole)
	w, err := bundle.LoadInventory(whole)
	if err != nil {
		t.Fatal(err)
	}
	links, _ := filepath.Glob(filepath.Join(c.Dir, "docker/registry/v2/repositories/m/*/_layers/sha256", layer.Encoded()))
	if len(links) == 0 {
		t.Fatalf("no repository of the mirror links %s", layer)
	}
	for _, link := range links { // every repository loses it
		if err := os.RemoveAll(link); err != nil {
			t.Fatal(err)
		}
	}
	lacking := filepath.Join(dir, "inventory-lacking.json")
	out = must(0, "inventory", "--insecure-registry", c.Host, "--to", "docker://"+c.Host+"/m", "--out", lacking)
	if !strings.Contains(out, layer.String()) || !strings.Contains(out, "lacks") {
		t.Errorf("inventory does not say the mirror lacks %s:\n%s", layer, out)
	}
	h, err := bundle.LoadInventory(lacking)
	if err != nil {
		t.Fatal(err)
	}
	for _, bl := range h.Inventory.Blobs {
		if bl.Digest == layer {
			t.Errorf("inventory lists %s, which the mirror no longer holds", layer)
		}
	}
	if len(h.Inventory.Blobs) != len(w.Inventory.Blobs)-1 {
		t.Errorf("inventory without one blob lists %d, the whole one %d", len(h.Inventory.Blobs), len(w.Inventory.Blobs))
	}

	// No catalog, no --repository: a clear error naming the registry.
	out = must(1, "inventory", "--to", "docker://127.0.0.1:1/m", "--out", filepath.Join(dir, "x.json"))
	if !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("inventory of an unreachable mirror:\n%s", out)
	}
}
