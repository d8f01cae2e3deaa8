package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
)

// mustLocation parses a source or destination location.
func mustLocation(t *testing.T, s string, destination bool) location.Location {
	t.Helper()
	parse := location.Parse
	if destination {
		parse = location.ParseDestination
	}
	l, err := parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// registriesCounter returns a registries func for OpenLocations and
// NewDestination that counts its calls, and the count.
func registriesCounter(t *testing.T, o oci.RegistryOptions) (func() (*oci.Registries, error), *int) {
	calls := 0
	return func() (*oci.Registries, error) {
		calls++
		o.AuthFile = filepath.Join(t.TempDir(), "auth.json") // none: read no credentials of the machine
		if err := os.WriteFile(o.AuthFile, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		return oci.NewRegistries(o)
	}, &calls
}

func TestOpenLocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	layouts := []location.Location{mustLocation(t, "oci:"+exampleLayout, false), mustLocation(t, "oci:"+exampleLayout+":app:v1", false)}

	// Layouts only: no registries at all.
	sources, err := OpenLocations(ctx, layouts, func() (*oci.Registries, error) {
		t.Error("registries opened for layouts only")
		return nil, errors.New("no")
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSources(sources) })
	if len(sources) != 2 || sources[1].(*LayoutSource).Tag != "app:v1" {
		t.Fatalf("sources %v, want the two layouts in order, the second with tag app:v1", sources)
	}

	// Registry images: registries opened once, for all of them.
	registries, calls := registriesCounter(t, oci.RegistryOptions{})
	mixed := append(layouts[:1:1], mustLocation(t, "docker://registry.example/ns/app:v1", false), mustLocation(t, "docker://registry.example/ns/b@sha256:"+strings.Repeat("a", 64), false))
	sources, err = OpenLocations(ctx, mixed, registries, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeSources(sources) })
	if *calls != 1 || len(sources) != 3 {
		t.Fatalf("%d sources, registries opened %d times; want 3 and once", len(sources), *calls)
	}
	if r, ok := sources[1].(*RegistrySource); !ok || !r.NoReferrers || r.String() != "docker://registry.example/ns/app:v1" {
		t.Errorf("source 2: %#v, want the registry image, without referrers", sources[1])
	}

	// Registries that cannot be opened: their error, nothing opened.
	boom := errors.New("credentials file unreadable")
	if _, err := OpenLocations(ctx, mixed, func() (*oci.Registries, error) { return nil, boom }, false); !errors.Is(err, boom) {
		t.Errorf("OpenLocations with failing registries: %v, want %v", err, boom)
	}
	// A registry image without registries.
	if _, err := OpenLocations(ctx, mixed, nil, false); err == nil {
		t.Error("OpenLocations of a registry image without registries succeeded")
	}
	// A layout that is not there is named.
	missing := filepath.Join(t.TempDir(), "nothing-here")
	if _, err := OpenLocations(ctx, append(layouts[:1:1], mustLocation(t, "oci:"+missing, false)), nil, false); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("OpenLocations of a missing layout: %v, want an error naming %s", err, missing)
	}
	// A mirror is no source.
	if _, err := OpenLocations(ctx, []location.Location{mustLocation(t, "docker://mirror.example:5000/prefix", true)}, registries, false); err == nil {
		t.Error("OpenLocations of a mirror destination succeeded")
	}
}

func TestLoadBasesAndInventories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer := testSigner(t)
	dir, x := packLayout(t, PackOptions{Signer: signer})
	bases, err := LoadBases(ctx, []string{dir, volumeFiles(t, dir)[0]}, signer.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if len(bases) != 2 || !bases[0].Verified || bases[1].Index.BundleID != x.BundleID || bases[1].Path != volumeFiles(t, dir)[0] {
		t.Errorf("bases %+v, want two, verified, of bundle %s, in order", bases, x.BundleID)
	}
	if bases, err := LoadBases(ctx, nil, nil); err != nil || len(bases) != 0 {
		t.Errorf("LoadBases of no paths: %v, %v", bases, err)
	}
	other := newSigner(t, sign.Ed25519).Verifier()
	if _, err := LoadBases(ctx, []string{dir}, other); !errors.Is(err, ErrWrongKey) {
		t.Errorf("LoadBases with another key: %v, want ErrWrongKey", err)
	}

	invDir := t.TempDir()
	var paths []string
	for _, dest := range []string{"oci:/srv/a", "docker://mirror.example/m"} {
		v := &Inventory{Created: "2023-11-14T22:13:20Z", Destination: dest}
		p := filepath.Join(invDir, dest[:3]+".json")
		if err := v.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	files, err := LoadInventories(paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Inventory.Destination != "oci:/srv/a" || files[1].Path != paths[1] {
		t.Errorf("inventories %+v, want the two files in order", files)
	}
	missing := filepath.Join(invDir, "missing.json")
	if _, err := LoadInventories(append(paths, missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadInventories with a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestNewDestination(t *testing.T) {
	t.Parallel()
	unused := func() (*oci.Registries, error) {
		t.Error("registries opened for a layout")
		return nil, errors.New("no")
	}
	layout := filepath.Join(t.TempDir(), "layout")
	d, err := NewDestination(mustLocation(t, "oci:"+layout+":v2", true), unused, DestinationOptions{VerifyBase: true, StripRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ld, ok := d.(*LayoutDestination)
	if !ok || ld.path != layout || ld.o != (LayoutOptions{Tag: "v2", VerifyBase: true}) {
		t.Errorf("destination %#v, want the layout %s with tag v2, verifying bases", d, layout)
	}

	registries, calls := registriesCounter(t, oci.RegistryOptions{Insecure: []string{"mirror.example"}})
	for _, c := range []struct {
		loc      string
		strip    bool
		insecure bool
	}{
		{"docker://mirror.example:5000/air/gap", true, true}, // a listed HOST covers every port
		{"docker://other.example", false, false},
	} {
		d, err := NewDestination(mustLocation(t, c.loc, true), registries, DestinationOptions{VerifyBase: true, StripRegistry: c.strip})
		if err != nil {
			t.Fatal(err)
		}
		rd, ok := d.(*RegistryDestination)
		if !ok {
			t.Fatalf("%s: destination %#v, want a registry", c.loc, d)
		}
		if m := rd.Mapping(); rd.Location().String() != c.loc || m.StripRegistry != c.strip || m.Insecure != c.insecure {
			t.Errorf("%s: mapping %+v at %s, want strip %v, insecure %v", c.loc, m, rd.Location(), c.strip, c.insecure)
		}
	}
	if *calls != 2 {
		t.Errorf("registries opened %d times for two mirrors", *calls)
	}

	boom := errors.New("credentials file unreadable")
	if _, err := NewDestination(mustLocation(t, "docker://mirror.example", true), func() (*oci.Registries, error) { return nil, boom }, DestinationOptions{}); !errors.Is(err, boom) {
		t.Errorf("NewDestination with failing registries: %v, want %v", err, boom)
	}
	// An image reference names no mirror.
	if _, err := NewDestination(mustLocation(t, "docker://nginx", false), registries, DestinationOptions{}); err == nil || !strings.Contains(err.Error(), "nginx") {
		t.Errorf("NewDestination of an image reference: %v, want an error naming it", err)
	}
}
