package bundle

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPushByTagOwnTaggedIndexChild: on a mirror that refuses manifests by
// digest, an index named by digest only (a release payload's way) lists
// a platform manifest that has a tag of its own in the same repository.
// The index goes in, in the manifests step, under a tag made by the
// pattern, so its child must be in before: under its own tag, not one
// made up. The tags made follow the pattern; an inventory reaches
// everything through them, and a Quay-like collection keeps everything.
func TestPushByTagOwnTaggedIndexChild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t, testregistry.Options{})
	proxy := reg.Proxy(t)
	proxy.RefuseManifestPushByDigest()
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeEmptyAuth(t), Insecure: []string{proxy.Host}})
	if err != nil {
		t.Fatal(err)
	}
	src := newMemSource("payload")
	own := src.addImage(t, "reg.example/ns/app:v1-amd64", randomLayer(src, 1))
	other := src.addImage(t, "x", randomLayer(src, 2))
	src.roots = src.roots[:1] // other is a platform manifest only
	own.Annotations, other.Annotations = nil, nil
	own.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	other.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{own, other}})
	if err != nil {
		t.Fatal(err)
	}
	idx := src.add(ocispec.MediaTypeImageIndex, b)
	idx.Annotations = map[string]string{ocispec.AnnotationRefName: "reg.example/ns/app@" + idx.Digest.String()}
	// The index first: the bundle's order would not bring its child in.
	src.roots = append([]ocispec.Descriptor{idx}, src.roots...)

	dir, _ := packSources(t, []Source{src}, PackOptions{})
	s, err := OpenFiles(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	pattern, err := ParseTagPattern("payload-{hex:16}")
	if err != nil {
		t.Fatal(err)
	}
	dest := NewRegistryDestination(regs, mirror.Mapping{Mirror: proxy.Host, StripRegistry: true}, RegistryDestinationOptions{TagPattern: pattern})
	r, err := s.Unpack(ctx, dest, UnpackOptions{})
	if err != nil {
		t.Fatalf("unpack into a mirror that refuses pushes by digest: %v", err)
	}
	repo := proxy.Host + "/ns/app"
	wantMade := []string{repo + ":payload-" + other.Digest.Encoded()[:16], repo + ":payload-" + idx.Digest.Encoded()[:16]}
	if !slices.Equal(r.MadeTags, wantMade) {
		t.Errorf("tags made %v, want %v (none for the manifest with a tag of its own)", r.MadeTags, wantMade)
	}
	if i := slices.IndexFunc(r.Names, func(c NameChange) bool { return c.Name == repo+":v1-amd64" }); i < 0 || r.Names[i].New != own.Digest || r.NamesSet != 1 {
		t.Errorf("names %+v (%d set): want %s:v1-amd64 set to %s", r.Names, r.NamesSet, repo, own.Digest)
	}
	read := func(ref string, want digest.Digest) {
		t.Helper()
		if got := digest.FromString(testregistry.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+ref)); got != want {
			t.Errorf("%s reads back as %s, want %s", ref, got, want)
		}
	}
	read(repo+":v1-amd64", own.Digest)
	for _, d := range []digest.Digest{idx.Digest, own.Digest, other.Digest} {
		read(repo+"@"+d.String(), d)
	}
	for i, d := range []digest.Digest{other.Digest, idx.Digest} {
		read(wantMade[i], d)
	}

	// Everything is reached from a tag: an inventory lists it, and a
	// collection of untagged manifests deletes nothing.
	v, err := TakeInventory(ctx, dest, InventoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[digest.Digest]bool{}
	for _, c := range v.Blobs {
		listed[c.Digest] = true
	}
	for d := range src.blobs {
		if !listed[d] {
			t.Errorf("the inventory lacks %s", d)
		}
	}
	if got := proxy.CollectUntagged(t); got != nil {
		t.Errorf("the collection deleted %v", got)
	}

	// Again: everything is there, nothing is pushed or made.
	proxy.Reset()
	s2, err := OpenFiles(ctx, []string{dir})
	if err == nil {
		err = s2.Trust(TrustPolicy{AllowUnsigned: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err = s2.Unpack(ctx, NewRegistryDestination(regs, mirror.Mapping{Mirror: proxy.Host, StripRegistry: true}, RegistryDestinationOptions{TagPattern: pattern}), UnpackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := proxy.Count("PUT", testregistry.ManifestPut, 0); n != 0 || r.NamesPresent != 1 || len(r.MadeTags) != 0 {
		t.Errorf("second push: %d manifest PUTs, %d names already there, tags made %v", n, r.NamesPresent, r.MadeTags)
	}
}
