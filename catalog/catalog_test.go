package catalog

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/oci"
)

type E = testimages.FBCEntry

// env is a registry with a way to read from it.
type env struct {
	host string // HOST/NAMESPACE: host + "/" + repository names a repository of the test
	ns   string // "NAMESPACE/", which every repository of the test starts with
	push testimages.Registry
	regs *oci.Registries
}

func newEnv(t *testing.T) *env {
	t.Helper()
	r, ns := testregistry.Shared(t)
	regs, err := oci.NewRegistries(oci.RegistryOptions{
		Insecure:   []string{r.Host},
		Retries:    1,
		Credential: func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{host: r.Host + "/" + ns, ns: ns + "/", push: testimages.Registry{Host: r.Host}, regs: regs}
}

func (e *env) repo(t *testing.T, name string) *oci.Repository {
	t.Helper()
	repo, err := e.regs.Repository(context.Background(), e.push.Host, e.ns+name)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

const (
	catalogLabel = "operators.operatorframework.io.index.configs.v1"
	icon         = "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4K" // an SVG, base64
)

// fooDocs is package foo (JSON): stable (default) is
// 1.0.0 <- 1.1.0 <- 1.3.0 <- 2.0.0 with 1.2.0 (replaces 1.1.0, skipRange)
// skipped by 1.3.0; fast is 1.3.0 <- 2.0.0 <- 2.1.0; candidate is
// 2.1.0 <- 3.0.0-rc.1.
func fooDocs() []byte {
	pkg := testimages.FBCPackage("foo", "stable")
	pkg["icon"] = map[string]string{"base64data": icon, "mediatype": "image/svg+xml"}
	pkg["description"] = "Foo operator\nwith a long description"
	b := func(v string) map[string]any {
		return testimages.FBCBundle("foo", "foo.v"+v, v, "quay.io/foo/bundle@sha256:"+strings.Repeat(v[:1], 64),
			"operator", "quay.io/foo/operator:"+v, "proxy", "quay.io/foo/proxy:"+v)
	}
	return testimages.JSONStream(pkg,
		testimages.FBCChannel("foo", "stable",
			E{Name: "foo.v1.0.0"},
			E{Name: "foo.v1.1.0", Replaces: "foo.v1.0.0"},
			E{Name: "foo.v1.2.0", Replaces: "foo.v1.1.0", SkipRange: ">=1.0.0 <1.2.0"},
			E{Name: "foo.v1.3.0", Replaces: "foo.v1.1.0", Skips: []string{"foo.v1.2.0"}},
			E{Name: "foo.v2.0.0", Replaces: "foo.v1.3.0"}),
		testimages.FBCChannel("foo", "fast",
			E{Name: "foo.v1.3.0", Replaces: "foo.v1.2.0"},
			E{Name: "foo.v2.0.0", Replaces: "foo.v1.3.0"},
			E{Name: "foo.v2.1.0", Replaces: "foo.v2.0.0", SkipRange: "<2.1.0"}),
		testimages.FBCChannel("foo", "candidate",
			E{Name: "foo.v2.1.0"},
			E{Name: "foo.v3.0.0-rc.1", Replaces: "foo.v2.1.0"}),
		b("1.0.0"), b("1.1.0"), b("1.2.0"), b("1.3.0"), b("2.0.0"), b("2.1.0"), b("3.0.0-rc.1"),
	)
}

// barYAML is package bar (YAML): alpha (default) 0.1.0 <- 0.2.0, beta
// 0.2.0 <- 0.3.0, plus a deprecation and a custom document.
const barYAML = `---
schema: olm.package
name: bar
defaultChannel: alpha
description: |
  Bar operator.
---
schema: olm.channel
package: bar
name: alpha
entries:
  - name: bar.v0.1.0
  - name: bar.v0.2.0
    replaces: bar.v0.1.0
---
schema: olm.channel
package: bar
name: beta
entries:
  - name: bar.v0.2.0
  - name: bar.v0.3.0
    replaces: bar.v0.2.0
    skipRange: '<0.3.0'
---
schema: olm.bundle
package: bar
name: bar.v0.1.0
image: quay.io/bar/bundle:v0.1.0
relatedImages:
  - name: operator
    image: quay.io/bar/operator:v0.1.0
properties:
  - type: olm.package
    value: {packageName: bar, version: 0.1.0}
---
schema: olm.bundle
package: bar
name: bar.v0.2.0
image: quay.io/bar/bundle:v0.2.0
relatedImages:
  - name: operator
    image: quay.io/bar/operator:v0.2.0
properties:
  - type: olm.package
    value: {packageName: bar, version: 0.2.0}
---
schema: olm.bundle
package: bar
name: bar.v0.3.0
image: quay.io/bar/bundle:v0.3.0
properties:
  - type: olm.package
    value:
      packageName: bar
      version: 0.3.0
---
schema: olm.deprecations
package: bar
entries:
  - reference: {schema: olm.bundle, name: bar.v0.1.0}
    message: bar.v0.1.0 is deprecated
  - reference: {schema: olm.channel, name: alpha}
    message: alpha is deprecated
---
schema: example.com/custom
package: bar
data: [1, 2, 3]
---
`

// bazPackage and bazBundles are package baz, in two files.
const bazPackage = `{"schema":"olm.package","name":"baz","defaultChannel":"stable"}
{"schema":"olm.channel","package":"baz","name":"stable","entries":[{"name":"baz.v1.0.0"}]}
`
const bazBundles = `schema: olm.bundle
package: baz
name: baz.v1.0.0
image: quay.io/baz/bundle:v1.0.0
properties: [{type: olm.package, value: {packageName: baz, version: 1.0.0}}]
`

// catalogImage is a catalog image as opm builds them: a base layer (opm,
// a stale package removed later, a pre-built cache) and a configs layer.
func catalogImage(platform string, docker bool) testimages.Image {
	base := testimages.Files(map[string][]byte{
		"bin/opm":                  []byte("#!/bin/sh\n"),
		"configs/old/catalog.json": testimages.JSONStream(testimages.FBCPackage("old", "x")),
		"configs/foo/catalog.json": []byte(`{"schema":"olm.package","name":"foo-stale"}`),
		"tmp/cache/cache.json":     []byte(`{"digest":"stale"}`),
	})
	configs := testimages.Layer(append([]testimages.Entry{
		{Name: "configs/.wh.old"},
		{Name: "configs/README.md", Data: []byte("not a catalog file")},
	}, testimages.FilesEntries(map[string][]byte{
		"configs/foo/catalog.json": fooDocs(),
		"configs/bar/index.yaml":   []byte(barYAML),
		"configs/baz/package.json": []byte(bazPackage),
		"configs/baz/bundles.yml":  []byte(bazBundles),
		"configs/extra.json":       []byte(`{"schema":"example.com/global","name":"g"} {"schema":"example.com/custom","package":"baz"}`),
	})...)...)
	return testimages.ConfiguredImage(testimages.ImageConfig{
		Platform:   platform,
		Labels:     map[string]string{catalogLabel: "/configs"},
		Entrypoint: []string{"/bin/opm"},
		Cmd:        []string{"serve", "/configs", "--cache-dir=/tmp/cache"},
		Docker:     docker,
	}, base, configs)
}

func allBundles(s *Selection) []string {
	var out []string
	for _, b := range s.Bundles {
		out = append(out, b.Bundle)
	}
	sort.Strings(out)
	return out
}

func TestReadCatalog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	im := catalogImage("linux/amd64", false)
	desc := e.push.Push(t, e.ns+"catalog", im)
	c, err := Read(context.Background(), e.repo(t, "catalog"), desc)
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, p := range c.Packages() {
		pkgs = append(pkgs, p.Name)
	}
	if want := []string{"bar", "baz", "foo"}; !reflect.DeepEqual(pkgs, want) {
		t.Fatalf("packages %v, want %v (the whited-out package old must be gone)", pkgs, want)
	}
	foo := c.Package("foo")
	if foo.DefaultChannel != "stable" || !reflect.DeepEqual(foo.ChannelNames(), []string{"candidate", "fast", "stable"}) {
		t.Errorf("foo: default %q, channels %v", foo.DefaultChannel, foo.ChannelNames())
	}
	st := foo.Channels["stable"]
	if len(st.Entries) != 5 || st.Entries[2].SkipRange != ">=1.0.0 <1.2.0" || !reflect.DeepEqual(st.Entries[3].Skips, []string{"foo.v1.2.0"}) {
		t.Errorf("foo stable entries: %+v", st.Entries)
	}
	b := foo.Bundles["foo.v3.0.0-rc.1"]
	if b.Version != "3.0.0-rc.1" || b.Image == "" || len(b.RelatedImages) != 2 || b.RelatedImages[1].Image != "quay.io/foo/proxy:3.0.0-rc.1" {
		t.Errorf("foo.v3.0.0-rc.1: %+v", b)
	}
	bar := c.Package("bar")
	if bar.Bundles["bar.v0.3.0"].Version != "0.3.0" || bar.Channels["beta"].Entries[1].Replaces != "bar.v0.2.0" {
		t.Errorf("bar: %+v %+v", bar.Bundles["bar.v0.3.0"], bar.Channels["beta"])
	}
	if baz := c.Package("baz"); baz == nil || baz.Bundles["baz.v1.0.0"].Version != "1.0.0" {
		t.Errorf("baz: %+v", baz)
	}
	if c.Image.Digest != desc.Digest || c.ConfigsDir != "configs" {
		t.Errorf("image %v, configs dir %q", c.Image, c.ConfigsDir)
	}
}

func TestReadIndexCompressionsAndOpaque(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Layer 1 uncompressed, layer 2 zstd with an opaque whiteout over the
	// configs of layer 1, under a labelled directory other than /configs.
	l1 := testimages.UncompressedLayer(testimages.FilesEntries(map[string][]byte{
		"catalog/gone/catalog.json": testimages.JSONStream(testimages.FBCPackage("gone", "")),
	})...)
	l2 := testimages.ZstdLayer(append([]testimages.Entry{{Name: "catalog/", Dir: true}, {Name: "catalog/.wh..wh..opq"}},
		testimages.FilesEntries(map[string][]byte{"catalog/baz/package.json": []byte(bazPackage), "catalog/baz/b.yaml": []byte(bazBundles)})...)...)
	mk := func(p string) testimages.Image {
		return testimages.ConfiguredImage(testimages.ImageConfig{Platform: p, Labels: map[string]string{catalogLabel: "/catalog"}}, l1, l2)
	}
	idx, ims := testimages.Index(mk("linux/amd64"), mk("linux/arm64"))
	desc := e.push.PushIndex(t, e.ns+"idx", idx, ims)
	c, err := Read(context.Background(), e.repo(t, "idx"), desc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Image.Digest != ims[0].Manifest.Desc.Digest {
		t.Errorf("read %s, want the first manifest %s", c.Image.Digest, ims[0].Manifest.Desc.Digest)
	}
	if len(c.Packages()) != 1 || c.Package("baz") == nil {
		t.Errorf("packages: %v", c.Packages())
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name   string
		labels map[string]string
		files  map[string][]byte
		want   []string
	}{
		{"no configs", nil, map[string][]byte{"bin/opm": []byte("x")}, []string{"no " + catalogLabel + " label and no /configs directory"}},
		{"labelled dir missing", map[string]string{catalogLabel: "/cfg"}, map[string][]byte{"configs/a/x.json": []byte(bazPackage)}, []string{"no /cfg directory"}},
		{"no schema", nil, map[string][]byte{"configs/baz/x.json": []byte(bazPackage + `{"name":"x"}`)}, []string{"configs/baz/x.json", "document 3", "no schema"}},
		{"bad JSON", nil, map[string][]byte{"configs/baz/x.json": []byte(`{"schema":"olm.package","name":"baz"}` + "\n{\"schema\": olm}")}, []string{"configs/baz/x.json", "document 2", "invalid JSON at byte offset"}},
		{"bad YAML", nil, map[string][]byte{"configs/baz/x.yaml": []byte("schema: olm.package\nname: [baz\n")}, []string{"configs/baz/x.yaml", "invalid YAML", "line"}},
		{"not an object", nil, map[string][]byte{"configs/baz/x.json": []byte(`[1,2]`)}, []string{"configs/baz/x.json", "not a JSON object"}},
		{"unknown bundle", nil, map[string][]byte{"configs/baz/x.json": []byte(bazPackage)}, []string{"configs/baz/x.json", `lists bundle "baz.v1.0.0", which the package does not have`}},
		{"undeclared package", nil, map[string][]byte{"configs/baz/x.yaml": []byte(bazBundles)}, []string{`package "baz", which the catalog does not declare`}},
		{"bad entries", nil, map[string][]byte{"configs/baz/x.json": []byte(`{"schema":"olm.channel","package":"baz","name":"s","entries":5}`)}, []string{"document 1", "entries"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			im := testimages.NewImage("linux/amd64", tc.labels, testimages.Files(tc.files))
			desc := e.push.Push(t, e.ns+"bad"+string(rune('a'+i)), im)
			_, err := Read(context.Background(), e.repo(t, "bad"+string(rune('a'+i))), desc)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, desc.Digest.String()) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

var (
	fooAll = []string{"foo.v1.0.0", "foo.v1.1.0", "foo.v1.2.0", "foo.v1.3.0", "foo.v2.0.0", "foo.v2.1.0", "foo.v3.0.0-rc.1"}
	barAll = []string{"bar.v0.1.0", "bar.v0.2.0", "bar.v0.3.0"}
)

func join(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	sort.Strings(out)
	return out
}

func TestFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desc := e.push.Push(t, e.ns+"catalog", catalogImage("linux/amd64", false))
	c, err := Read(context.Background(), e.repo(t, "catalog"), desc)
	if err != nil {
		t.Fatal(err)
	}
	type pf = PackageFilter
	type cf = ChannelFilter
	cases := []struct {
		name    string
		f       Filter
		want    []string
		channel map[string][]string // package -> kept channels
		def     map[string]string   // package -> default channel
		err     []string
	}{
		// oc-mirror v2's acceptance table.
		{name: "catalog: heads of every channel", f: Filter{},
			want: join([]string{"foo.v2.0.0", "foo.v2.1.0", "foo.v3.0.0-rc.1", "bar.v0.2.0", "bar.v0.3.0", "baz.v1.0.0"})},
		{name: "catalog full", f: Filter{Full: true}, want: join(fooAll, barAll, []string{"baz.v1.0.0"})},
		{name: "package: heads of its channels", f: Filter{Packages: []pf{{Name: "foo"}}},
			want: join([]string{"foo.v2.0.0", "foo.v2.1.0", "foo.v3.0.0-rc.1"}), channel: map[string][]string{"foo": {"candidate", "fast", "stable"}}},
		{name: "package full", f: Filter{Full: true, Packages: []pf{{Name: "foo"}, {Name: "baz"}}}, want: join(fooAll, []string{"baz.v1.0.0"})},
		{name: "package minVersion", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "1.2.0"}}},
			want: join([]string{"foo.v1.2.0", "foo.v1.3.0", "foo.v2.0.0", "foo.v2.1.0"})},
		{name: "pre-release minVersion", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "3.0.0-rc.0", DefaultChannel: "candidate"}}},
			want: []string{"foo.v3.0.0-rc.1"}, channel: map[string][]string{"foo": {"candidate"}}},
		{name: "package maxVersion drops emptied channels", f: Filter{Packages: []pf{{Name: "foo", MaxVersion: "1.1.0"}}},
			want: join([]string{"foo.v1.0.0", "foo.v1.1.0"}), channel: map[string][]string{"foo": {"stable"}}},
		{name: "package min and max", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "1.1.0", MaxVersion: "1.3.0"}}},
			want: join([]string{"foo.v1.1.0", "foo.v1.2.0", "foo.v1.3.0"}), channel: map[string][]string{"foo": {"fast", "stable"}}},
		{name: "channel head with defaultChannel", f: Filter{Packages: []pf{{Name: "foo", DefaultChannel: "fast", Channels: []cf{{Name: "fast"}}}}},
			want: []string{"foo.v2.1.0"}, def: map[string]string{"foo": "fast"}},
		{name: "channel full", f: Filter{Full: true, Packages: []pf{{Name: "foo", DefaultChannel: "candidate", Channels: []cf{{Name: "candidate"}}}}},
			want: []string{"foo.v2.1.0", "foo.v3.0.0-rc.1"}, def: map[string]string{"foo": "candidate"}},
		{name: "two channels", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "stable"}, {Name: "fast"}}}}},
			want: []string{"foo.v2.0.0", "foo.v2.1.0"}, def: map[string]string{"foo": "stable"}},
		{name: "channel minVersion", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "stable", MinVersion: "1.1.0"}}}}},
			want: []string{"foo.v1.1.0", "foo.v1.2.0", "foo.v1.3.0", "foo.v2.0.0"}},
		{name: "channel maxVersion", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "stable", MaxVersion: "1.3.0"}}}}},
			want: []string{"foo.v1.0.0", "foo.v1.1.0", "foo.v1.2.0", "foo.v1.3.0"}},
		{name: "channel range keeps the chain member out of range", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "stable", MinVersion: "1.1.0", MaxVersion: "1.2.0"}}}}},
			want: []string{"foo.v1.1.0", "foo.v1.2.0", "foo.v1.3.0"}},
		{name: "channels with a package range", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "1.2.0", Channels: []cf{{Name: "stable"}}}}},
			want: []string{"foo.v1.2.0", "foo.v1.3.0", "foo.v2.0.0"}},
		{name: "v prefix tolerated", f: Filter{Packages: []pf{{Name: "bar", MaxVersion: "v0.1.0"}}},
			want: []string{"bar.v0.1.0"}, channel: map[string][]string{"bar": {"alpha"}}},
		{name: "bundles", f: Filter{Packages: []pf{{Name: "bar", Bundles: []string{"bar.v0.2.0"}}}},
			want: []string{"bar.v0.2.0"}, channel: map[string][]string{"bar": {"alpha", "beta"}}},
		{name: "bundles in a chain", f: Filter{Packages: []pf{{Name: "foo", Bundles: []string{"foo.v1.3.0", "foo.v2.0.0"}}}},
			want: []string{"foo.v1.3.0", "foo.v2.0.0"}, channel: map[string][]string{"foo": {"fast", "stable"}}},

		// Errors.
		{name: "unknown package", f: Filter{Packages: []pf{{Name: "nope"}}}, err: []string{`package "nope" is not in the catalog; it has bar, baz, foo`}},
		{name: "unknown channel", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "beta"}}}}}, err: []string{`channel "beta" is not in the package; it has candidate, fast, stable`}},
		{name: "unknown bundle", f: Filter{Packages: []pf{{Name: "foo", Bundles: []string{"foo.v9"}}}}, err: []string{`bundle "foo.v9" is not in the package`}},
		{name: "default channel filtered out", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "fast"}}}}}, err: []string{`default channel "stable" is filtered out`}},
		{name: "default channel override not kept", f: Filter{Packages: []pf{{Name: "foo", DefaultChannel: "candidate", Channels: []cf{{Name: "fast"}}}}}, err: []string{`default channel "candidate" is not among the kept channels (fast)`}},
		{name: "range empties the default channel", f: Filter{Packages: []pf{{Name: "bar", DefaultChannel: "beta", MaxVersion: "0.1.0"}}}, err: []string{`leaves the default channel "beta" empty`}},
		{name: "package and channel ranges", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "1.0.0", Channels: []cf{{Name: "stable", MaxVersion: "2.0.0"}}}}}, err: []string{"cannot be combined"}},
		{name: "full and range", f: Filter{Full: true, Packages: []pf{{Name: "foo", MinVersion: "1.0.0"}}}, err: []string{"full cannot be combined with minVersion"}},
		{name: "full and bundles", f: Filter{Full: true, Packages: []pf{{Name: "foo", Bundles: []string{"foo.v1.0.0"}}}}, err: []string{"full cannot be combined with a bundle list"}},
		{name: "bundles and range", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "1.0.0", Bundles: []string{"foo.v1.0.0"}}}}, err: []string{"bundle list cannot be combined"}},
		{name: "bad version", f: Filter{Packages: []pf{{Name: "foo", MinVersion: "one"}}}, err: []string{`minVersion "one"`}},
		{name: "min above max", f: Filter{Packages: []pf{{Name: "foo", Channels: []cf{{Name: "stable", MinVersion: "2.0.0", MaxVersion: "1.0.0"}}}}}, err: []string{"minVersion 2.0.0 is above maxVersion 1.0.0"}},
		{name: "bundles leaving two heads", f: Filter{Packages: []pf{{Name: "foo", Bundles: []string{"foo.v1.0.0", "foo.v2.0.0"}}}}, err: []string{`channel "stable"`, "several channel heads: foo.v1.0.0, foo.v2.0.0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.Filter(tc.f)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("no error; selected %v", allBundles(s))
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := allBundles(s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("selected %v\nwant     %v", got, tc.want)
			}
			for p, chs := range tc.channel {
				if got := s.Channels(p); !reflect.DeepEqual(got, chs) {
					t.Errorf("%s channels %v, want %v", p, got, chs)
				}
			}
			for p, d := range tc.def {
				if got := s.DefaultChannel(p); got != d {
					t.Errorf("%s default channel %q, want %q", p, got, d)
				}
			}
			// Every selected bundle says what selected it.
			for _, b := range s.Bundles {
				if b.Package == "" || len(b.Channels) == 0 || b.Image == "" {
					t.Errorf("selected %+v: incomplete", b)
				}
			}
		})
	}
}

// pushBuilt pushes the new blobs of a filtered image into repository name
// (which holds the original, so its layers are there) and tags it.
func (e *env) pushBuilt(t *testing.T, name string, b *Built, tag string) {
	t.Helper()
	ctx := context.Background()
	repo := e.repo(t, name)
	for _, d := range b.Blobs() {
		rc, err := b.Fetch(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		err = repo.Push(ctx, d, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("push %s: %v", d.Digest, err)
		}
	}
	if err := repo.PushTag(ctx, b.Root, readAll(t, b, b.Root), tag); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, f oci.Fetcher, d ocispec.Descriptor) *strings.Reader {
	t.Helper()
	data, err := oci.ReadManifest(context.Background(), f, d)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReader(string(data))
}

func TestBuildFilteredImage(t *testing.T) {
	t.Parallel()
	for _, docker := range []bool{false, true} {
		name := "oci"
		if docker {
			name = "docker"
		}
		t.Run(name, func(t *testing.T) { testBuild(t, docker) })
	}
}

func testBuild(t *testing.T, docker bool) {
	e := newEnv(t)
	ctx := context.Background()
	im := catalogImage("linux/amd64", docker)
	desc := e.push.Push(t, e.ns+"catalog", im)
	c, err := Read(ctx, e.repo(t, "catalog"), desc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Filter(Filter{Packages: []PackageFilter{
		{Name: "foo", DefaultChannel: "fast", Channels: []ChannelFilter{{Name: "fast", MinVersion: "2.0.0"}, {Name: "stable", MinVersion: "1.3.0"}}},
		{Name: "bar", Channels: []ChannelFilter{{Name: "alpha"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bar.v0.2.0", "foo.v1.3.0", "foo.v2.0.0", "foo.v2.1.0"}
	if got := allBundles(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("selected %v, want %v", got, want)
	}
	tmp := t.TempDir()
	b1, err := s.Build(ctx, BuildOptions{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	b2, err := s.Build(ctx, BuildOptions{TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if b1.Root.Digest != b2.Root.Digest || b1.Layers[0].Digest != b2.Layers[0].Digest {
		t.Errorf("two builds differ: %s %s", b1.Root.Digest, b2.Root.Digest)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Fetch(ctx, b2.Layers[0]); err == nil {
		t.Error("a closed filtered image still serves its layer")
	}
	// Not even the first build's layer, still open, has a name there: a
	// pack killed while it builds leaves no file behind.
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if b1.Root.MediaType != desc.MediaType || len(b1.Layers) != 1 {
		t.Errorf("root %+v, layers %v", b1.Root, b1.Layers)
	}

	// The config is the original's with one more layer and history entry.
	var oldCfg, newCfg ocispec.Image
	json.Unmarshal(im.Config.Data, &oldCfg)
	var man ocispec.Manifest
	json.NewDecoder(readAll(t, b1, b1.Root)).Decode(&man)
	json.NewDecoder(readAll(t, b1, man.Config)).Decode(&newCfg)
	if len(newCfg.RootFS.DiffIDs) != len(oldCfg.RootFS.DiffIDs)+1 || len(newCfg.History) != len(oldCfg.History)+1 ||
		newCfg.History[len(newCfg.History)-1].Created != nil || !reflect.DeepEqual(newCfg.Config, oldCfg.Config) ||
		len(man.Layers) != len(im.Layers)+1 || man.Layers[len(man.Layers)-1].Digest != b1.Layers[0].Digest || man.Config.MediaType != im.Config.Desc.MediaType {
		t.Errorf("new manifest %+v\nnew config %+v\nold config %+v", man, newCfg, oldCfg)
	}

	// Read back through Built (new blobs from it, the original layers from
	// the registry).
	c2, err := Read(ctx, b1, b1.Root)
	if err != nil {
		t.Fatal(err)
	}
	all, err := c2.Filter(Filter{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := allBundles(all); !reflect.DeepEqual(got, want) {
		t.Errorf("filtered catalog holds %v, want %v", got, want)
	}
	if p := c2.Package("foo"); p.DefaultChannel != "fast" || !reflect.DeepEqual(p.ChannelNames(), []string{"fast", "stable"}) {
		t.Errorf("filtered foo: default %q channels %v", p.DefaultChannel, p.ChannelNames())
	}
	if p := c2.Package("bar"); p.DefaultChannel != "alpha" || !reflect.DeepEqual(p.ChannelNames(), []string{"alpha"}) || len(p.Channels["alpha"].Entries) != 1 {
		t.Errorf("filtered bar: %+v %+v", p, p.Channels["alpha"])
	}
	if p := c2.Package("foo"); p.Channels["fast"].Entries[0].Replaces != "foo.v1.3.0" || p.Channels["fast"].Entries[1].SkipRange != "<2.1.0" {
		t.Errorf("fast entries lost their fields: %+v", p.Channels["fast"].Entries)
	}

	// Push it, copy it with skopeo into an OCI layout, unpack it with umoci.
	e.pushBuilt(t, "catalog", b1, "filtered")
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	testregistry.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+e.host+"/catalog:filtered", "oci:"+layout+":filtered")
	bundleDir := filepath.Join(dir, "bundle")
	if out, err := exec.Command("umoci", "unpack", "--rootless", "--image", layout+":filtered", bundleDir).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack: %v\n%s", err, out)
	}
	rootfs := filepath.Join(bundleDir, "rootfs")
	var files []string
	filepath.Walk(filepath.Join(rootfs, "configs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(rootfs, p)
			files = append(files, rel)
		}
		return nil
	})
	if want := []string{"configs/_global/catalog.json", "configs/bar/catalog.json", "configs/foo/catalog.json"}; !reflect.DeepEqual(files, want) {
		t.Errorf("configs in the rootfs: %v, want %v", files, want)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "tmp/cache")); !os.IsNotExist(err) {
		t.Errorf("the cache directory is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "bin/opm")); err != nil {
		t.Errorf("bin/opm: %v", err)
	}
	fooJSON, err := os.ReadFile(filepath.Join(rootfs, "configs/foo/catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(fooJSON)), "\n")
	// package, channels fast and stable, 3 bundles.
	if len(lines) != 6 || !strings.Contains(lines[0], icon) || !strings.Contains(lines[0], `"defaultChannel":"fast"`) || !strings.Contains(lines[1], `"name":"fast"`) {
		t.Errorf("configs/foo/catalog.json:\n%s", fooJSON)
	}
	if g, _ := os.ReadFile(filepath.Join(rootfs, "configs/_global/catalog.json")); string(g) != `{"schema":"example.com/global","name":"g"}`+"\n" {
		t.Errorf("configs/_global/catalog.json: %q", g)
	}
	barJSON, _ := os.ReadFile(filepath.Join(rootfs, "configs/bar/catalog.json"))
	for _, w := range []string{"example.com/custom", `"olm.deprecations"`, "alpha is deprecated"} {
		if !strings.Contains(string(barJSON), w) {
			t.Errorf("configs/bar/catalog.json lacks %s:\n%s", w, barJSON)
		}
	}
	if strings.Contains(string(barJSON), "bar.v0.1.0 is deprecated") {
		t.Errorf("configs/bar/catalog.json keeps the deprecation of a dropped bundle:\n%s", barJSON)
	}
}

func TestBuildIndex(t *testing.T) {
	t.Parallel()
	t.Run("oci", func(t *testing.T) { testBuildIndex(t, false) })
	t.Run("docker", func(t *testing.T) { testBuildIndex(t, true) })
}

func testBuildIndex(t *testing.T, docker bool) {
	e := newEnv(t)
	ctx := context.Background()
	idx, ims := testimages.Index(catalogImage("linux/amd64", false), catalogImage("linux/arm64", false))
	if docker {
		idx, ims = testimages.DockerIndex(catalogImage("linux/amd64", true), catalogImage("linux/arm64", true))
	}
	desc := e.push.PushIndex(t, e.ns+"multi", idx, ims)
	c, err := Read(ctx, e.repo(t, "multi"), desc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Filter(Filter{Packages: []PackageFilter{{Name: "baz"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Build(ctx, BuildOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Root.MediaType != desc.MediaType || len(b.Manifests) != 2 || len(b.Layers) != 1 {
		t.Fatalf("root %+v, %d manifests, %d layers", b.Root, len(b.Manifests), len(b.Layers))
	}
	e.pushBuilt(t, "multi", b, "filtered")
	out := testregistry.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+e.host+"/multi:filtered")
	for _, m := range b.Manifests {
		if !strings.Contains(out, m.Digest.String()) {
			t.Errorf("index lacks %s:\n%s", m.Digest, out)
		}
	}
	if !strings.Contains(out, `"arm64"`) {
		t.Errorf("index lost its platforms:\n%s", out)
	}
	for i, m := range b.Manifests {
		c2, err := Read(ctx, b, m)
		if err != nil {
			t.Fatal(err)
		}
		all, _ := c2.Filter(Filter{Full: true})
		if got := allBundles(all); !reflect.DeepEqual(got, []string{"baz.v1.0.0"}) {
			t.Errorf("platform %d: %v", i, got)
		}
	}
}

func TestListNames(t *testing.T) {
	t.Parallel()
	var names []string
	for i := 0; i < 25; i++ {
		names = append(names, string(rune('a'+i)))
	}
	if got := listNames(names); got != "a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t and 5 more" {
		t.Errorf("listNames: %q", got)
	}
	if got := listNames(nil); got != "none" {
		t.Errorf("listNames(nil): %q", got)
	}
}

func TestSelectionImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	desc := e.push.Push(t, e.ns+"catalog", catalogImage("linux/amd64", false))
	c, err := Read(context.Background(), e.repo(t, "catalog"), desc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Filter(Filter{Packages: []PackageFilter{{Name: "foo", Channels: []ChannelFilter{{Name: "stable"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, im := range s.Images() {
		got = append(got, im.Image+" "+im.Name+" <- "+im.Bundle.Describe())
	}
	want := []string{
		"quay.io/foo/bundle@sha256:" + strings.Repeat("2", 64) + "  <- catalog package foo, channel stable, bundle foo.v2.0.0",
		"quay.io/foo/operator:2.0.0 operator <- catalog package foo, channel stable, bundle foo.v2.0.0",
		"quay.io/foo/proxy:2.0.0 proxy <- catalog package foo, channel stable, bundle foo.v2.0.0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("images:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestReadMemory reads a catalog whose bundles carry large properties and
// descriptions (as real CSVs do) and checks that the catalog kept in
// memory is a small fraction of the configs.
func TestReadMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large data (30 MB of catalog configs), skipped by -short")
	}
	e := newEnv(t)
	const bundles, blob = 300, 100 << 10
	docs := []map[string]any{testimages.FBCPackage("big", "stable")}
	docs[0]["description"] = strings.Repeat("d", blob)
	var entries []E
	for i := 0; i < bundles; i++ {
		name := fmt.Sprintf("big.v1.0.%d", i)
		en := E{Name: name}
		if i > 0 {
			en.Replaces = fmt.Sprintf("big.v1.0.%d", i-1)
		}
		entries = append(entries, en)
		b := testimages.FBCBundle("big", name, fmt.Sprintf("1.0.%d", i), "quay.io/big/bundle:"+name)
		b["properties"] = append(b["properties"].([]any), map[string]any{"type": "olm.bundle.object", "value": map[string]string{"data": strings.Repeat("A", blob)}})
		docs = append(docs, b)
	}
	docs = append(docs, testimages.FBCChannel("big", "stable", entries...))
	configs := testimages.JSONStream(docs...)
	im := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"configs/big/catalog.json": configs}))
	desc := e.push.Push(t, e.ns+"big", im)
	repo := e.repo(t, "big")
	configs, im, docs = nil, testimages.Image{}, nil
	// Collect often, so that the heap's peak tracks live memory rather
	// than garbage.
	defer debug.SetGCPercent(debug.SetGCPercent(20))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Sample the heap while reading: the peak must stay far below the
	// configs' size too (one document at a time).
	var c *Catalog
	var err error
	peakAlloc := peakHeap(before.HeapAlloc, func() { c, err = Read(context.Background(), repo, desc) })
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	total := int64(bundles+1) * blob
	t.Logf("configs of %d MiB, catalog keeps %d KiB, peak heap growth while reading %d KiB", total>>20, kept>>10, peakAlloc>>10)
	if peakAlloc > total/3 {
		t.Errorf("reading %d bytes of configs took %d bytes of heap at its peak", total, peakAlloc)
	}
	if kept > total/20 {
		t.Errorf("the catalog keeps %d bytes for %d bytes of configs", kept, total)
	}
	if len(c.Package("big").Bundles) != bundles {
		t.Fatalf("%d bundles", len(c.Package("big").Bundles))
	}

	// Building the full catalog spools documents to disk, not memory.
	s, err := c.Filter(Filter{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	var b *Built
	peakAlloc = peakHeap(before.HeapAlloc, func() { b, err = s.Build(context.Background(), BuildOptions{TempDir: t.TempDir()}) })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t.Logf("build: peak heap growth %d KiB", peakAlloc>>10)
	if peakAlloc > total/3 {
		t.Errorf("building from %d bytes of configs took %d bytes of heap at its peak", total, peakAlloc)
	}
	c2, err := Read(context.Background(), b, b.Root)
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Package("big").Bundles) != bundles {
		t.Fatalf("filtered: %d bundles", len(c2.Package("big").Bundles))
	}
}

// peakHeap runs f while sampling the heap, and returns the highest
// HeapAlloc seen above base.
func peakHeap(base uint64, f func()) int64 {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var m runtime.MemStats
		for {
			select {
			case <-done:
				peak <- max
				return
			case <-time.After(2 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > max {
					max = m.HeapAlloc
				}
			}
		}
	}()
	f()
	close(done)
	return int64(<-peak) - int64(base)
}

func TestCacheDirOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		entrypoint, cmd []string
		want            string
	}{
		{nil, nil, "/tmp/cache"},
		{[]string{"/bin/opm"}, []string{"serve", "/configs", "--cache-dir=/tmp/cache"}, "/tmp/cache"},
		{[]string{"/bin/opm", "serve", "/configs", "--cache-dir", "/var/cache/opm"}, nil, "/var/cache/opm"},
		{[]string{"/bin/opm"}, []string{"serve", "/configs"}, "/tmp/cache"},
	} {
		cfg, _ := json.Marshal(ocispec.Image{Config: ocispec.ImageConfig{Entrypoint: tc.entrypoint, Cmd: tc.cmd}})
		if got, err := cacheDirOf(cfg); err != nil || got != tc.want {
			t.Errorf("%v %v: %q, %v; want %q", tc.entrypoint, tc.cmd, got, err, tc.want)
		}
	}
}

func TestGraph(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		entries []Entry
		head    string
		err     string
	}{
		{"single", []Entry{{Name: "a", Replaces: "gone", Skips: []string{"gone2"}}}, "a", ""},
		{"chain with skips", []Entry{{Name: "a"}, {Name: "b", Replaces: "a"}, {Name: "c", Replaces: "a", Skips: []string{"b"}}}, "c", ""},
		{"replaces and skips the same", []Entry{{Name: "a"}, {Name: "b", Replaces: "a", Skips: []string{"a"}}}, "b", ""},
		{"several heads", []Entry{{Name: "a"}, {Name: "b", Replaces: "a"}, {Name: "c", Replaces: "a"}}, "", "several channel heads: b, c"},
		{"cycle", []Entry{{Name: "a", Replaces: "b"}, {Name: "b", Replaces: "a"}}, "", "no channel head"},
		{"cycle below the head", []Entry{{Name: "h", Replaces: "a"}, {Name: "a", Replaces: "b"}, {Name: "b", Skips: []string{"a"}}}, "", "cycle through a, b"},
		{"stranded", []Entry{{Name: "a"}, {Name: "b", Replaces: "a"}, {Name: "c", Replaces: "b", Skips: []string{"x"}}, {Name: "x", Skips: []string{"y"}}, {Name: "y"}}, "", "entries y are neither on the replaces chain"},
		{"duplicate", []Entry{{Name: "a"}, {Name: "a"}}, "", `entry "a" listed twice`},
		{"replaces itself", []Entry{{Name: "a", Replaces: "a"}}, "", "replaces itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newGraph(tc.entries)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.head.Name != tc.head {
				t.Errorf("head %s, want %s", g.head.Name, tc.head)
			}
		})
	}
}

func TestReadLinkRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "configs/baz/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "configs/baz/catalog.json", Typeflag: tar.TypeSymlink, Linkname: "/elsewhere/catalog.json"})
	tw.Close()
	layer := testimages.NewBlob(ocispec.MediaTypeImageLayer, raw.Bytes())
	layer.DiffID = layer.Desc.Digest
	desc := e.push.Push(t, e.ns+"link", testimages.NewImage("linux/amd64", nil, layer))
	_, err := Read(context.Background(), e.repo(t, "link"), desc)
	if err == nil || !strings.Contains(err.Error(), "configs/baz/catalog.json is a link to /elsewhere/catalog.json") {
		t.Fatalf("error %v", err)
	}
}

// TestInRange checks the range walk on the cases the filter library
// oc-mirror uses documents for its own (rewritten here: bounds are
// inclusive, "<2.0.0" becomes a maximum of 1.9.9).
func TestInRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		entries  []Entry
		versions map[string]string // bundle -> version ("" unversioned)
		min, max string
		want     []string
	}{
		{"single entry", []Entry{{Name: "a"}}, map[string]string{"a": "1.0.0"}, "1.0.0", "1.9.9", []string{"a"}},
		{"single entry out of range", []Entry{{Name: "a"}}, map[string]string{"a": "2.0.0"}, "1.0.0", "1.9.9", nil},
		{"head but not tail",
			[]Entry{{Name: "v1.1", Replaces: "v1.0"}, {Name: "v1.0", Replaces: "v0.1"}, {Name: "v0.1"}},
			map[string]string{"v1.1": "1.1.0", "v1.0": "1.0.0", "v0.1": "0.1.0"}, "1.0.0", "1.9.9", []string{"v1.0", "v1.1"}},
		{"tail but not head",
			[]Entry{{Name: "v2.0", Replaces: "v1.1"}, {Name: "v1.1", Replaces: "v1.0"}, {Name: "v1.0"}},
			map[string]string{"v2.0": "2.0.0", "v1.1": "1.1.0", "v1.0": "1.0.0"}, "1.0.0", "1.9.9", []string{"v1.0", "v1.1"}},
		{"neither head nor tail",
			[]Entry{{Name: "v2.0", Replaces: "v1.1"}, {Name: "v1.1", Replaces: "v1.0"}, {Name: "v1.0", Replaces: "v0.1"}, {Name: "v0.1"}},
			map[string]string{"v2.0": "2.0.0", "v1.1": "1.1.0", "v1.0": "1.0.0", "v0.1": "0.1.0"}, "1.0.0", "1.9.9", []string{"v1.0", "v1.1"}},
		{"head out of range, its skip in range",
			[]Entry{{Name: "v2.0", Skips: []string{"v1.0"}}, {Name: "v1.0"}},
			map[string]string{"v2.0": "2.0.0", "v1.0": "1.0.0"}, "1.0.0", "1.9.9", []string{"v1.0", "v2.0"}},
		{"head outside the range kept",
			[]Entry{{Name: "v2.0", Replaces: "v1.1.1", Skips: []string{"v1.1.0"}}, {Name: "v1.1.1"}, {Name: "v1.1.0"}},
			map[string]string{"v2.0": "2.0.0", "v1.1.1": "1.1.1", "v1.1.0": "1.1.0"}, "1.0.0", "1.9.9", []string{"v1.1.0", "v1.1.1", "v2.0"}},
		{"intermediate outside the range kept",
			[]Entry{{Name: "v1.1", Replaces: "v2.0"}, {Name: "v2.0", Replaces: "v1.0"}, {Name: "v1.0", Replaces: "v0.1"}, {Name: "v0.1"}},
			map[string]string{"v2.0": "2.0.0", "v1.1": "1.1.0", "v1.0": "1.0.0", "v0.1": "0.1.0"}, "1.0.0", "1.9.9", []string{"v1.0", "v1.1", "v2.0"}},
		{"unversioned head kept",
			[]Entry{{Name: "v2.0", Replaces: "v1.1.1", Skips: []string{"v1.1.0"}}, {Name: "v1.1.1"}, {Name: "v1.1.0"}},
			map[string]string{"v2.0": "", "v1.1.1": "1.1.1", "v1.1.0": "1.1.0"}, "1.0.0", "1.9.9", []string{"v1.1.0", "v1.1.1", "v2.0"}},
		{"minimal set",
			[]Entry{{Name: "v1.1.3", Replaces: "v1.1.2", Skips: []string{"v1.1.0"}}, {Name: "v1.1.2", Replaces: "v1.1.1", Skips: []string{"v1.1.0"}}, {Name: "v1.1.1", Skips: []string{"v1.1.0"}}, {Name: "v1.1.0"}},
			map[string]string{"v1.1.3": "1.1.3", "v1.1.2": "1.1.2", "v1.1.1": "1.1.1", "v1.1.0": "1.1.0"}, "1.1.0", "1.1.1", []string{"v1.1.0", "v1.1.1"}},
		{"unversioned intermediate kept",
			[]Entry{{Name: "v1.1", Replaces: "v2.0"}, {Name: "v2.0", Replaces: "v1.0"}, {Name: "v1.0", Replaces: "v0.1"}, {Name: "v0.1"}},
			map[string]string{"v2.0": "", "v1.1": "1.1.0", "v1.0": "1.0.0", "v0.1": "0.1.0"}, "1.0.0", "1.9.9", []string{"v1.0", "v1.1", "v2.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newGraph(tc.entries)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseRange(tc.min, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			bundles := map[string]*Bundle{}
			for n, v := range tc.versions {
				bundles[n] = &Bundle{Name: n, Version: v}
			}
			var got []string
			for n := range g.inRange(r, bundles) {
				got = append(got, n)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}
