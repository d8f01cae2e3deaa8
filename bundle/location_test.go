package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The example layout's entries: app:v1, and one that has no ref name.
const (
	appV1    = digest.Digest("sha256:8cbb944bdf35e78de679f04bc16ab1d5af06fa62c4187c31896c171c348d26d8")
	untagged = digest.Digest("sha256:333ce0e66cf7a20cef9237f991385d95e9a5dce396f8b8836b15625778908f44")
)

// openTestSource opens s with OpenSource and closes it with the test.
func openTestSource(t *testing.T, s string) Source {
	t.Helper()
	src, err := OpenSource(context.Background(), nil, s, false)
	if err != nil {
		t.Fatalf("OpenSource(%q): %v", s, err)
	}
	if l, ok := src.(*LayoutSource); ok {
		t.Cleanup(func() { l.Close() })
	}
	return src
}

// refNames maps ref name to digest for the tagged entries of the layout at
// path, with "" for the untagged ones (the last one found).
func refNames(t *testing.T, path string) map[string]digest.Digest {
	t.Helper()
	l, err := oci.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	idx, err := l.Index()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]digest.Digest{}
	for _, d := range idx.Manifests {
		out[d.Annotations[ocispec.AnnotationRefName]] = d.Digest
	}
	return out
}

func TestOpenSourceByDigest(t *testing.T) {
	t.Parallel()
	for _, d := range []digest.Digest{untagged, appV1} {
		src := openTestSource(t, "oci:"+exampleLayout+"@"+string(d))
		if want := "oci:" + exampleLayout + "@" + string(d); src.String() != want {
			t.Errorf("String() = %q, want %q", src.String(), want)
		}
		roots, err := src.Roots(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// Asked for by digest, the entry is packed without the name it
		// has in the source layout.
		if len(roots) != 1 || roots[0].Digest != d || roots[0].Annotations[ocispec.AnnotationRefName] != "" {
			t.Fatalf("roots of %s: %+v", src, roots)
		}
		// app:v1 comes with its SBOM (the untagged entry), a referrer.
		dir, x := packSources(t, []Source{src}, PackOptions{})
		if x.Manifests[0].Digest != d || len(x.Manifests) != map[digest.Digest]int{appV1: 2, untagged: 1}[d] {
			t.Fatalf("packed %+v", x.Manifests)
		}
		dest := filepath.Join(t.TempDir(), "d")
		if _, err := unpackFiles(context.Background(), []string{dir}, dest, unpackOpts{AllowUnsigned: true}); err != nil {
			t.Fatal(err)
		}
		l, err := oci.Open(dest)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := l.Index()
		l.Close()
		if err != nil || len(idx.Manifests) != len(x.Manifests) || idx.Manifests[0].Digest != d {
			t.Fatalf("unpacked index.json %+v (%v), want %s first", idx, err, d)
		}
		for _, m := range idx.Manifests {
			if name := m.Annotations[ocispec.AnnotationRefName]; name != "" {
				t.Fatalf("unpacked %s with ref name %q", m.Digest, name)
			}
		}
	}
	missing := digest.FromString("not there")
	_, err := openTestSource(t, "oci:"+exampleLayout+"@"+string(missing)).Roots(context.Background())
	if !errors.Is(err, oci.ErrNotFound) {
		t.Fatalf("Roots of a digest the layout lacks: %v, want ErrNotFound", err)
	}
}

func TestOpenSourceRefusesWhatIsNoSource(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "oci:", "oci:" + exampleLayout + ":", exampleLayout, "docker:alpine"} {
		var le *location.Error
		if _, err := OpenSource(context.Background(), nil, s, false); !errors.As(err, &le) || le.Input != s {
			t.Errorf("OpenSource(%q): %v, want a *location.Error naming it", s, err)
		}
	}
	if _, err := OpenSource(context.Background(), nil, "docker://alpine", false); err == nil {
		t.Error("OpenSource of a registry image without registry access succeeded")
	}
}

// Unpack into oci:PATH writes the layout at PATH, not into a directory
// named "oci:PATH".
func TestUnpackIntoLayoutLocation(t *testing.T) {
	dir, _ := packLayout(t, PackOptions{})
	cwd := t.TempDir()
	t.Chdir(cwd)
	if _, err := unpackFiles(context.Background(), []string{dir}, "oci:d2", unpackOpts{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cwd, "d2", oci.IndexFile)); err != nil {
		t.Fatalf("no layout at d2: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cwd, "oci:d2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a directory named oci:d2: %v", err)
	}
	if got := refNames(t, filepath.Join(cwd, "d2")); got["app:v1"] != appV1 || got["multi:latest"] == "" {
		t.Fatalf("entries %v", got)
	}
}

func TestUnpackTagInDestination(t *testing.T) {
	one, _ := packSources(t, []Source{openTestSource(t, "oci:"+exampleLayout+":app:v1")}, PackOptions{})
	several, _ := packLayout(t, PackOptions{})
	cwd := t.TempDir()
	t.Chdir(cwd)

	// One image: recorded under the destination's tag, as skopeo does
	// with oci:PATH:TAG, in the layout at PATH. Its SBOM, a referrer, is
	// no image of its own: it stays untagged.
	var notices []string
	o := unpackOpts{AllowUnsigned: true, Notice: func(s string) { notices = append(notices, s) }}
	if _, err := unpackFiles(context.Background(), []string{one}, "oci:out/t1:mytag", o); err != nil {
		t.Fatal(err)
	}
	if got := refNames(t, filepath.Join(cwd, "out", "t1")); len(got) != 2 || got["mytag"] != appV1 || got[""] != untagged {
		t.Fatalf("entries of out/t1: %v, want mytag -> %s and the untagged SBOM", got, appV1)
	}
	if _, err := os.Stat(filepath.Join(cwd, "out", "t1:mytag")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a directory named t1:mytag: %v", err)
	}
	if len(notices) != 0 {
		t.Errorf("notices %q: new names are counted in the result, not told one by one", notices)
	}

	// Several entries carry their own names: refused, nothing written.
	_, err := unpackFiles(context.Background(), []string{several}, "oci:out/t2:mytag", unpackOpts{AllowUnsigned: true})
	if !errors.Is(err, ErrTagNeedsOneEntry) {
		t.Fatalf("unpack of a bundle of several entries into oci:PATH:TAG: %v, want ErrTagNeedsOneEntry", err)
	}
	if _, err := os.Stat(filepath.Join(cwd, "out", "t2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused unpack created out/t2: %v", err)
	}

	// Neither a digest nor a registry says where a layout goes.
	for _, dest := range []string{"oci:out/t3@" + string(appV1), "docker://mirror.example/p", "docker:out/t3", "oci:", "oci:out/t3:bad tag"} {
		var le *location.Error
		if _, err := unpackFiles(context.Background(), []string{one}, dest, unpackOpts{AllowUnsigned: true}); !errors.As(err, &le) || le.Input != dest {
			t.Errorf("Unpack into %q: %v, want a *location.Error naming it", dest, err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(cwd, "out"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("out holds %v (%v), want only t1", entries, err)
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 1 {
		t.Fatalf("the working directory holds %v, want only out", entries)
	}
}

// A plain directory path is still a directory, ':' and all.
func TestUnpackIntoPlainPath(t *testing.T) {
	t.Parallel()
	dir, _ := packSources(t, []Source{openTestSource(t, "oci:"+exampleLayout+":app:v1")}, PackOptions{})
	dest := filepath.Join(t.TempDir(), "a:b")
	if _, err := unpackFiles(context.Background(), []string{dir}, dest, unpackOpts{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	if got := refNames(t, dest); got["app:v1"] != appV1 {
		t.Fatalf("entries %v", got)
	}
}

func TestTakeInventoryLocations(t *testing.T) {
	t.Parallel()
	dest := newDest(t, "")
	for _, bad := range []string{dest, "oci:", "oci:" + dest + ":v1", "oci:" + dest + "@" + string(appV1), "docker://mirror/A"} {
		if _, err := inventoryAt(bad, InventoryOptions{}); err == nil {
			t.Errorf("TakeInventory(%q) succeeded", bad)
		}
	}
	v, err := inventoryAt("oci:"+dest, InventoryOptions{})
	if err != nil || v.Destination != "oci:"+dest {
		t.Fatalf("TakeInventory: %v, destination %q", err, v.Destination)
	}
}
