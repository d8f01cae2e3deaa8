package testimages

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Ref is one component of a release: its name (an image-references tag)
// and its pull spec, pinned by digest.
type Ref struct {
	Name, Image string
}

// ImageReferences is the release-manifests/image-references file of a
// release: an ImageStream (image.openshift.io/v1) with one spec.tags entry
// per ref, as the release tooling writes it.
func ImageReferences(version string, refs []Ref) []byte {
	type from struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	type tag struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations,omitempty"`
		From        from              `json:"from"`
	}
	is := map[string]any{
		"kind":       "ImageStream",
		"apiVersion": "image.openshift.io/v1",
		"metadata": map[string]any{
			"name":              version,
			"creationTimestamp": nil,
			"annotations":       map[string]string{"release.openshift.io/from-image-stream": "ocp/" + version},
		},
		"status": map[string]any{"dockerImageRepository": ""},
	}
	var tags []tag
	for _, r := range refs {
		tags = append(tags, tag{Name: r.Name, Annotations: map[string]string{"io.openshift.build.source-location": "https://github.com/openshift/" + r.Name}, From: from{Kind: "DockerImage", Name: r.Image}})
	}
	is["spec"] = map[string]any{"lookupPolicy": map[string]bool{"local": false}, "tags": tags}
	b, _ := json.MarshalIndent(is, "", "  ")
	return b
}

// ReleaseMetadata is the release-manifests/release-metadata file.
func ReleaseMetadata(version string, previous []string) []byte {
	if previous == nil {
		previous = []string{}
	}
	b, _ := json.MarshalIndent(map[string]any{
		"kind":     "cincinnati-metadata-v0",
		"version":  version,
		"previous": previous,
		"metadata": map[string]string{"url": "https://access.redhat.com/errata/RHBA-2025:" + strings.ReplaceAll(version, ".", "")},
	}, "", "  ")
	return b
}

// ReleaseManifestsLayer is the top layer of a release payload: the
// release-manifests/ directory with image-references, release-metadata
// and a few cluster manifests beside them.
func ReleaseManifestsLayer(version string, previous []string, refs []Ref) Blob {
	return Files(map[string][]byte{
		"release-manifests/image-references":                                            ImageReferences(version, refs),
		"release-manifests/release-metadata":                                            ReleaseMetadata(version, previous),
		"release-manifests/0000_00_cluster-version-operator_01_clusterversion.crd.yaml": []byte("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: clusterversions.config.openshift.io\n"),
		"release-manifests/0000_50_cluster-ingress-operator_00-namespace.yaml":          []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openshift-ingress-operator\n"),
		"release-manifests/0000_90_cluster-version-operator_02_servicemonitor.yaml":     []byte("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n  name: cluster-version-operator\n"),
	})
}

// ReleaseImage is a release payload for platform (e.g. "linux/amd64"): a
// base layer with the cluster-version-operator binary, then
// ReleaseManifestsLayer, labelled as release payloads are.
func ReleaseImage(platform, version string, previous []string, refs []Ref) Image {
	base := Files(map[string][]byte{
		"usr/bin/cluster-version-operator": []byte("#!/bin/sh\necho cluster-version-operator " + platform + "\n"),
		"etc/os-release":                   []byte("NAME=\"Red Hat Enterprise Linux CoreOS\"\n"),
	})
	labels := map[string]string{"io.openshift.release": version, "io.openshift.release.operator": "true"}
	return NewImage(platform, labels, base, ReleaseManifestsLayer(version, previous, refs))
}

// ComponentImage is a small image standing for one release component,
// different for every name, version and platform.
func ComponentImage(platform, name, version string) Image {
	return NewImage(platform, map[string]string{"io.openshift.build.name": name},
		Files(map[string][]byte{"usr/bin/" + name: []byte(name + " " + version + " " + platform + "\n")}))
}

// PushComponents builds one ComponentImage per name and pushes each,
// untagged, into repository componentRepo (as upstream's ocp-v4.0-art-dev),
// returning the refs by digest.
func (r Registry) PushComponents(t testing.TB, componentRepo, platform, version string, names ...string) []Ref {
	t.Helper()
	var refs []Ref
	for _, n := range names {
		d := r.Push(t, componentRepo, ComponentImage(platform, n, version))
		refs = append(refs, Ref{Name: n, Image: fmt.Sprintf("%s/%s@%s", r.Host, componentRepo, d.Digest)})
	}
	return refs
}

// PushRelease pushes the components (PushComponents) and a release payload
// for platform naming them into releaseRepo, tagged with tags (e.g.
// "4.18.1-x86_64"). It returns the payload's descriptor and the refs.
func (r Registry) PushRelease(t testing.TB, releaseRepo, componentRepo, platform, version string, previous []string, components []string, tags ...string) (ocispec.Descriptor, []Ref) {
	t.Helper()
	refs := r.PushComponents(t, componentRepo, platform, version, components...)
	return r.Push(t, releaseRepo, ReleaseImage(platform, version, previous, refs), tags...), refs
}

// PushMultiRelease pushes, for each platform, components and a payload
// naming them, then an index over the payloads into releaseRepo tagged
// with tags (e.g. "4.18.1-multi"). It returns the index's descriptor and
// the refs per platform.
func (r Registry) PushMultiRelease(t testing.TB, releaseRepo, componentRepo, version string, previous []string, platforms []string, components []string, tags ...string) (ocispec.Descriptor, map[string][]Ref) {
	t.Helper()
	all := map[string][]Ref{}
	var ims []Image
	for _, p := range platforms {
		refs := r.PushComponents(t, componentRepo, p, version, components...)
		all[p] = refs
		ims = append(ims, ReleaseImage(p, version, previous, refs))
	}
	idx, ims := Index(ims...)
	return r.PushIndex(t, releaseRepo, idx, ims, tags...), all
}
