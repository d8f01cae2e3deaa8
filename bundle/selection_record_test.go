package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestSelectionRecord packs the example layout through two sources that
// deliver the same entries for different reasons: every manifests entry
// records both, in one canonical value, the record survives the trip into
// the unpacked layout's index.json, and the bundle id does not depend on
// the order the sources came in.
func TestSelectionRecord(t *testing.T) {
	t.Parallel()
	open := func(sel format.Selection) Source {
		l, err := oci.Open(exampleLayout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return &LayoutSource{Layout: l, Selected: []format.Selection{sel}}
	}
	listed := format.Selection{By: format.SelectedByList, Rule: "images.txt:3"}
	release := format.Selection{By: format.SelectedByRelease, Release: "4.18.1", Channel: "stable-4.18", Component: "cli", Rule: "set.yaml:5"}
	dir, x := packSources(t, []Source{open(listed), open(release)}, PackOptions{})
	_, y := packSources(t, []Source{open(release), open(listed)}, PackOptions{})
	if x.BundleID != y.BundleID {
		t.Errorf("bundle id depends on source order: %s and %s", x.BundleID, y.BundleID)
	}
	want := format.FormatSelections([]format.Selection{listed, release})
	for _, m := range x.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == "" {
			continue // referrers are not selected, they follow their subject
		}
		if got := m.Annotations[format.AnnotationSelectedBy]; got != want {
			t.Errorf("%s: selected-by %q, want %q", m.Digest, got, want)
		}
	}
	dest := filepath.Join(t.TempDir(), "out")
	if _, err := unpackFiles(context.Background(), volumeFiles(t, dir), dest, unpackOpts{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	b, err := os.ReadFile(filepath.Join(dest, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range idx.Manifests {
		if m.Annotations[format.AnnotationSelectedBy] == want {
			found++
		}
	}
	if found == 0 {
		t.Fatalf("unpacked index.json lost the selection record:\n%s", b)
	}
}

// TestPlatformFilterEmptiedByRule: an index the platform filter leaves none
// of its manifests is refused when it was named on purpose (a line of a
// list), and carried as it is, with a notice, when a rule brought it (an
// operator's related image): an operator built for fewer architectures
// than the cluster's should not stop the pack.
func TestPlatformFilterEmptiedByRule(t *testing.T) {
	t.Parallel()
	windows := []ocispec.Platform{{OS: "windows", Architecture: "amd64"}}
	source := func(sel format.Selection) Source {
		l, err := oci.Open(exampleLayout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return &LayoutSource{Layout: l, Tag: "multi:latest", Selected: []format.Selection{sel}}
	}
	listed := format.Selection{By: format.SelectedByList, Rule: "images.txt:3"}
	operator := format.Selection{By: format.SelectedByOperator, Package: "foo", Rule: "set.yaml:9"}

	_, err := Pack(context.Background(), []Source{source(listed)}, &DirSink{Dir: filepath.Join(t.TempDir(), "v")}, PackOptions{Created: testCreated, Platforms: windows})
	if _, ok := errors.AsType[*oci.NoPlatformError](err); !ok || !strings.Contains(err.Error(), "image multi:latest") {
		t.Fatalf("listed image: %v", err)
	}
	// Named on purpose and by a rule, in either order: on purpose wins.
	for _, sources := range [][]Source{{source(listed), source(operator)}, {source(operator), source(listed)}} {
		_, err = Pack(context.Background(), sources, &DirSink{Dir: filepath.Join(t.TempDir(), "v")}, PackOptions{Created: testCreated, Platforms: windows})
		if _, ok := errors.AsType[*oci.NoPlatformError](err); !ok {
			t.Fatalf("image listed and related to an operator: %v", err)
		}
	}

	var notices []string
	_, x := packSources(t, []Source{source(operator)}, PackOptions{Platforms: windows, Notice: func(s string) { notices = append(notices, s) }})
	if len(x.Manifests) != 1 || len(x.Blobs) != 1 {
		t.Errorf("carried %d entries, %d blobs; want the index alone", len(x.Manifests), len(x.Blobs))
	}
	if !slices.ContainsFunc(notices, func(s string) bool {
		return strings.Contains(s, "image multi:latest: index ") && strings.Contains(s, "not named on its own")
	}) {
		t.Errorf("no notice of the emptied index: %q", notices)
	}
}

// TestSourceErrorNamesTheLine: a source a list line or an image set file
// asked for that cannot deliver (a tag it lacks) is reported with that
// file and line first, so that the user finds which of many.
func TestSourceErrorNamesTheLine(t *testing.T) {
	t.Parallel()
	l, err := oci.Open(exampleLayout)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sels := []format.Selection{{By: format.SelectedByList, Rule: "images.txt:7"}, {By: format.SelectedByAdditional, Rule: "set.yaml:12"}}
	_, err = Pack(context.Background(), []Source{&LayoutSource{Layout: l, Tag: "app:v9", Selected: sels}}, &DirSink{Dir: filepath.Join(t.TempDir(), "v")}, PackOptions{Created: testCreated})
	if err == nil || !strings.HasPrefix(err.Error(), "images.txt:7, set.yaml:12: ") || !strings.Contains(err.Error(), "app:v9") {
		t.Fatalf("pack of a tag the layout lacks: %v", err)
	}
	if got := format.SelectedWhere(append(sels, format.Selection{By: format.SelectedByRelease}, sels[0])); got != "images.txt:7, set.yaml:12" {
		t.Errorf("SelectedWhere: %q", got)
	}
}
