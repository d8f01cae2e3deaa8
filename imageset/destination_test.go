package imageset

import (
	"reflect"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/mirror"
)

const setHeadDest = "apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\nmirror:\n  additionalImages: [{name: quay.io/ns/app:v1}]\n"

func TestDestination(t *testing.T) {
	tests := []struct {
		name, data string
		want       *Destination
		err        string
	}{
		{"absent", setHeadDest, nil, ""},
		{"null", setHeadDest + "destination:\n", nil, ""},
		{"all", setHeadDest + "destination:\n  map:\n    - registry.redhat.io=ocp4/openshift4\n    - quay.io/ns=/team/ns/\n  stripRegistry: true\n  maxNestedPaths: 2\n",
			&Destination{Map: []mirror.Rule{{Source: "registry.redhat.io", Mirror: "ocp4/openshift4"}, {Source: "quay.io/ns", Mirror: "team/ns"}},
				StripRegistry: true, MaxNestedPaths: 2, Pos: Pos{File: name, Line: 6}}, ""},
		{"unknown key", setHeadDest + "destination:\n  maxNestedPath: 2\n", nil,
			"imageset.yaml:6: destination.maxNestedPath: unknown key (known: map, stripRegistry, maxNestedPaths)"},
		{"rule without =", setHeadDest + "destination:\n  map: [registry.redhat.io]\n", nil,
			`imageset.yaml:6: destination.map[0]: mapping rule "registry.redhat.io": want SOURCE_PREFIX=MIRROR_REPOSITORY`},
		{"rule as a mapping", setHeadDest + "destination:\n  map:\n    - registry.redhat.io: ocp4\n", nil,
			"imageset.yaml:7: destination.map[0]: expected SOURCE_PREFIX=MIRROR_REPO as a string, found a mapping"},
		{"bad mirror path", setHeadDest + "destination:\n  map: [quay.io=Team/NS]\n", nil, "imageset.yaml:6: destination.map[0]: mapping rule \"quay.io=Team/NS\""},
		{"two rules for a source", setHeadDest + "destination:\n  map: [quay.io=a, quay.io=b]\n", nil,
			"imageset.yaml:6: destination.map[1]: a second rule for quay.io (the first maps it to a): keep one"},
		{"negative depth", setHeadDest + "destination:\n  maxNestedPaths: -1\n", nil, "imageset.yaml:6: destination.maxNestedPaths: must be 1 or more"},
		{"depth not a number", setHeadDest + "destination:\n  maxNestedPaths: two\n", nil, "destination.maxNestedPaths: expected a whole number"},
		{"not in oc-mirror's file", "apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages: [{name: a}]\ndestination: {}\n", nil,
			"imageset.yaml:5: destination: unknown key (known: apiVersion, kind, metadata, mirror, archiveSize, storageConfig)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.data), name)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Destination, tt.want) {
				t.Errorf("destination %+v, want %+v", f.Destination, tt.want)
			}
		})
	}
}

func TestMergeDestination(t *testing.T) {
	parse := func(file, dest string) *File {
		t.Helper()
		f, err := Parse([]byte(setHeadDest+"destination:\n"+dest), file)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := parse("a.yaml", "  map: [quay.io=q]\n  maxNestedPaths: 3\n")
	b := parse("b.yaml", "  map: [registry.redhat.io=r]\n  stripRegistry: true\n  maxNestedPaths: 2\n")
	c := parse("c.yaml", "  maxNestedPaths: 4\n")
	a.Merge(b)
	a.Merge(c)
	d := a.Destination
	if len(d.Map) != 2 || d.Map[1].Source != "registry.redhat.io" || !d.StripRegistry || d.MaxNestedPaths != 2 {
		t.Errorf("merged %+v", d)
	}
	e := &File{}
	e.Merge(b)
	e.Destination.Map[0].Mirror = "changed"
	if b.Destination.Map[0].Mirror != "r" {
		t.Error("Merge into an empty File shares the other's rules")
	}
}
