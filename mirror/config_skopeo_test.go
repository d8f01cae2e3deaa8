package mirror

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// TestRegistriesConfWithSkopeo has skopeo read the drop-in and pull from a
// real mirror registry an image whose source registry cannot be reached: by
// digest always, by tag only with ConfigOptions.Tags.
func TestRegistriesConfWithSkopeo(t *testing.T) {
	l, err := testlayout.Build(filepath.Join(t.TempDir(), "layout"), testlayout.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := testregistry.Start(t, testregistry.Options{})
	// A port nothing listens on: only the mirror can answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	source := ln.Addr().String()
	ln.Close()

	m := Mapping{Mirror: reg.Host, Prefix: "airgap", Insecure: true}
	name := Name{Registry: source, Repository: "ns/app", Tag: "v1"}
	repo, err := m.Repository(name)
	if err != nil {
		t.Fatal(err)
	}
	testregistry.CopyToRegistry(t, l.Dir, "app:v1", reg.Host+"/"+repo+":v1", "")
	want := l.Refs["app:v1"]

	for _, tags := range []bool{false, true} {
		dir := t.TempDir()
		paths, err := m.WriteConfig(dir, m.Entries([]Name{name}), ConfigOptions{BundleID: bundleA, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		conf := paths[0]
		inspect := func(ref string) (digest.Digest, string, error) {
			out, combined, err := testregistry.RunSkopeo(t, "--registries-conf", conf, "inspect", "--raw", "docker://"+ref)
			return digest.FromString(out), combined, err
		}
		byDigest := source + "/ns/app@" + want.String()
		if got, out, err := inspect(byDigest); err != nil || got != want {
			t.Errorf("tags %v: %s through the mirror: %s, %v\n%s", tags, byDigest, got, err, out)
		}
		byTag := source + "/ns/app:v1"
		got, out, err := inspect(byTag)
		switch {
		case tags && (err != nil || got != want):
			t.Errorf("tags: %s through the mirror: %s, %v\n%s", byTag, got, err, out)
		case !tags && err == nil:
			t.Errorf("digests only: %s was pulled (%s), but only the unreachable source may serve a tag", byTag, got)
		case !tags && !strings.Contains(out, source):
			t.Errorf("digests only: %s failed, but not for the source: %s", byTag, out)
		}
	}
}
