package release

import (
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/mirror"
)

// FuzzParseGraph feeds untrusted update service answers to ParseGraph and
// Select: no panic, and what is accepted holds the promised invariants.
func FuzzParseGraph(f *testing.F) {
	d := "@sha256:" + strings.Repeat("a", 64)
	f.Add([]byte(`{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b` + d + `"},{"version":"4.18.2","payload":"quay.io/a/b` + d + `","metadata":{"k":"v"}}],"edges":[[0,1]]}`))
	f.Add([]byte(`{"nodes":[],"edges":[]}`))
	f.Add([]byte(`{"nodes":[{"version":"4.18.0-okd-scos.9","payload":"quay.io/okd/scos-release` + d + `"}],"edges":[[0,0]]}`))
	f.Add([]byte(`{"nodes":[{"version":"1.0.0","payload":"x"}],"edges":[[0,9]]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGraph(data)
		if err != nil {
			return
		}
		for _, e := range g.Edges {
			if e[0] < 0 || e[0] >= len(g.Nodes) || e[1] < 0 || e[1] >= len(g.Nodes) {
				t.Fatalf("edge %v out of range", e)
			}
		}
		for _, n := range g.Nodes {
			if _, err := parseVersion(n.Version); err != nil {
				t.Fatalf("accepted version %q", n.Version)
			}
			if name, err := mirror.ParseName(n.Payload); err != nil || name.Digest == "" {
				t.Fatalf("accepted payload %q", n.Payload)
			}
		}
		for _, s := range []Selection{{}, {Full: true}, {Full: true, ShortestPath: true}} {
			nodes, err := g.Select(s)
			if err != nil {
				continue
			}
			if len(nodes) == 0 {
				t.Fatalf("%v selected nothing without an error", s)
			}
		}
	})
}

// FuzzParseImageReferences feeds untrusted image-references files to
// ParseImageReferences: no panic, and every accepted component is named
// once and pinned by digest.
func FuzzParseImageReferences(f *testing.F) {
	d := "@sha256:" + strings.Repeat("b", 64)
	f.Add(testimages.ImageReferences("4.18.1", []testimages.Ref{{Name: "cli", Image: "quay.io/openshift-release-dev/ocp-v4.0-art-dev" + d}, {Name: "etcd", Image: "quay.io/x/y" + d}}))
	f.Add([]byte(`{"kind":"ImageStream","apiVersion":"image.openshift.io/v1","spec":{"tags":[{"name":"a","from":{"name":"quay.io/a:latest"}}]}}`))
	f.Add([]byte(`{"kind":"ImageStream","apiVersion":"image.openshift.io/v1","spec":{"tags":[{"name":"a"}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		comps, err := ParseImageReferences(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range comps {
			if c.Name == "" || seen[c.Name] {
				t.Fatalf("component name %q empty or repeated", c.Name)
			}
			seen[c.Name] = true
			n, err := mirror.ParseName(c.Image)
			if err != nil || n.Digest == "" || n.Digest != c.Digest || n.Registry == "" {
				t.Fatalf("accepted component %+v", c)
			}
		}
	})
}
