package mirror

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/opencontainers/go-digest"
	"gopkg.in/yaml.v3"
)

const (
	bundleA = "9c5692d27063a390e55e9202b68f773e"
	bundleB = "0123456789abcdef0123456789abcdef"
)

// testEntries are entries as Entries makes them, from every kind of name.
func testEntries(m Mapping) []Entry {
	return m.Entries(testNames)
}

var testNames = []Name{
	{Registry: "quay.io", Repository: "ns/app", Tag: "v1"},
	{Registry: "registry.example:5000", Repository: "a/b", Digest: dig},
	{Registry: "localhost", Repository: "dev/app", Tag: "1"},
	{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"},
	{Repository: "local/only", Tag: "v1"},
}

// testImages are the images a push of testNames reports.
func testImages(m Mapping) []Image {
	var out []Image
	for _, n := range testNames {
		target := m.Mirror + "/" + m.repository(n)
		if n.Tag != "" {
			target += ":" + n.Tag
		} else {
			target += "@" + n.Digest.String()
		}
		d := n.Digest
		if d == "" {
			d = digest.FromString(n.String())
		}
		out = append(out, Image{Source: n.String(), Target: target, Digest: d})
	}
	return out
}

// registriesConf holds every key containers-registries.conf(5) version 2
// defines for [[registry]] and [[registry.mirror]] tables, so that decoding
// leaves no key undecoded unless the output has one the format lacks.
type registriesConf struct {
	Registry []struct {
		Prefix             string `toml:"prefix"`
		Location           string `toml:"location"`
		Insecure           bool   `toml:"insecure"`
		Blocked            bool   `toml:"blocked"`
		MirrorByDigestOnly bool   `toml:"mirror-by-digest-only"`
		Mirror             []struct {
			Location       string `toml:"location"`
			Insecure       bool   `toml:"insecure"`
			PullFromMirror string `toml:"pull-from-mirror"`
		} `toml:"mirror"`
	} `toml:"registry"`
}

func decodeRegistriesConf(t *testing.T, b []byte) registriesConf {
	t.Helper()
	var c registriesConf
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		t.Fatalf("registries.conf is not TOML: %v\n%s", err, b)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("registries.conf has keys the format does not define: %v\n%s", u, b)
	}
	return c
}

// The types below hold the fields of the OpenShift objects and of
// install-config.yaml, with the names their json tags have in
// github.com/openshift/api (config/v1 types_image_digest_mirror_set.go and
// types_image_tag_mirror_set.go, operator/v1alpha1
// types_image_content_source_policy.go) and github.com/openshift/installer
// (pkg/types installconfig.go), and the Kubernetes TypeMeta/ObjectMeta
// fields this package could emit. Those modules cannot be had from the
// module proxy at versions that have the types.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// mirrorItem is ImageDigestMirrors, ImageTagMirrors and
// RepositoryDigestMirrors (which lacks mirrorSourcePolicy).
type mirrorItem struct {
	Source             string   `yaml:"source"`
	Mirrors            []string `yaml:"mirrors"`
	MirrorSourcePolicy string   `yaml:"mirrorSourcePolicy"`
}

type imageDigestMirrorSet struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       *struct {
		ImageDigestMirrors []mirrorItem `yaml:"imageDigestMirrors"`
	} `yaml:"spec"`
	Status *struct{} `yaml:"status"`
}

type imageTagMirrorSet struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       *struct {
		ImageTagMirrors []mirrorItem `yaml:"imageTagMirrors"`
	} `yaml:"spec"`
	Status *struct{} `yaml:"status"`
}

type imageContentSourcePolicy struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       *struct {
		RepositoryDigestMirrors []struct {
			Source  string   `yaml:"source"`
			Mirrors []string `yaml:"mirrors"`
		} `yaml:"repositoryDigestMirrors"`
	} `yaml:"spec"`
}

type installConfigDigestSources struct {
	ImageDigestSources []struct {
		Source       string   `yaml:"source"`
		Mirrors      []string `yaml:"mirrors"`
		SourcePolicy string   `yaml:"sourcePolicy"`
	} `yaml:"imageDigestSources"`
}

type installConfigContentSources struct {
	ImageContentSources []struct {
		Source  string   `yaml:"source"`
		Mirrors []string `yaml:"mirrors"`
	} `yaml:"imageContentSources"`
}

// The validation of openshift/api config/v1: the kubebuilder patterns of
// ImageDigestMirrors.Source (ImageTagMirrors.Source is the same) and of
// ImageMirror, and the MirrorSourcePolicy enum.
var (
	crdSourceRE = regexp.MustCompile(`^\*(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+$|^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?)(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$`)
	crdMirrorRE = regexp.MustCompile(`^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?)(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$`)
	crdPolicies = []string{"", "NeverContactSource", "AllowContactingSource"}
)

// decodeStrict decodes b, one YAML document, into a T, refusing fields T
// lacks.
func decodeStrict[T any](t *testing.T, b []byte) T {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var v T
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%T does not decode strictly: %v\n%s", v, err, b)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("%T has more than one YAML document (%v):\n%s", v, err, b)
	}
	return v
}

// decoded is what every emitted cluster file says, whatever its kind.
type decoded struct {
	apiVersion, kind string
	meta             objectMeta
	hasSpec          bool
	items            []mirrorItem
}

// clusterFiles decode each YAML file WriteConfig writes.
var clusterFiles = map[string]func(*testing.T, []byte) decoded{
	"-idms.yaml": func(t *testing.T, b []byte) decoded {
		v := decodeStrict[imageDigestMirrorSet](t, b)
		d := decoded{apiVersion: v.APIVersion, kind: v.Kind, meta: v.Metadata, hasSpec: v.Spec != nil}
		if v.Spec != nil {
			d.items = v.Spec.ImageDigestMirrors
		}
		return d
	},
	"-itms.yaml": func(t *testing.T, b []byte) decoded {
		v := decodeStrict[imageTagMirrorSet](t, b)
		d := decoded{apiVersion: v.APIVersion, kind: v.Kind, meta: v.Metadata, hasSpec: v.Spec != nil}
		if v.Spec != nil {
			d.items = v.Spec.ImageTagMirrors
		}
		return d
	},
	"-icsp.yaml": func(t *testing.T, b []byte) decoded {
		v := decodeStrict[imageContentSourcePolicy](t, b)
		d := decoded{apiVersion: v.APIVersion, kind: v.Kind, meta: v.Metadata, hasSpec: v.Spec != nil}
		if v.Spec != nil {
			for _, it := range v.Spec.RepositoryDigestMirrors {
				d.items = append(d.items, mirrorItem{Source: it.Source, Mirrors: it.Mirrors})
			}
		}
		return d
	},
	"-install-config.yaml": func(t *testing.T, b []byte) decoded {
		v := decodeStrict[installConfigDigestSources](t, b)
		d := decoded{hasSpec: v.ImageDigestSources != nil}
		for _, it := range v.ImageDigestSources {
			d.items = append(d.items, mirrorItem{Source: it.Source, Mirrors: it.Mirrors, MirrorSourcePolicy: it.SourcePolicy})
		}
		return d
	},
	"-install-config-legacy.yaml": func(t *testing.T, b []byte) decoded {
		v := decodeStrict[installConfigContentSources](t, b)
		d := decoded{hasSpec: v.ImageContentSources != nil}
		for _, it := range v.ImageContentSources {
			d.items = append(d.items, mirrorItem{Source: it.Source, Mirrors: it.Mirrors})
		}
		return d
	},
}

var wantKinds = map[string][2]string{
	"-idms.yaml": {"config.openshift.io/v1", "ImageDigestMirrorSet"},
	"-itms.yaml": {"config.openshift.io/v1", "ImageTagMirrorSet"},
	"-icsp.yaml": {"operator.openshift.io/v1alpha1", "ImageContentSourcePolicy"},
}

// checkClusterFile decodes the file at path as suffix says and checks it
// against the API's rules and against want (source → mirrors), and that it
// names bundles.
func checkClusterFile(t *testing.T, path, suffix, objName string, bundles []string, want map[string][]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkBundleComment(t, path, b, bundles)
	d := clusterFiles[suffix](t, b)
	if !d.hasSpec {
		t.Errorf("%s: the required list is missing:\n%s", path, b)
	}
	if k, ok := wantKinds[suffix]; ok {
		if d.apiVersion != k[0] || d.kind != k[1] || d.meta.Name != objName {
			t.Errorf("%s: apiVersion %q kind %q name %q, want %s %s %q", path, d.apiVersion, d.kind, d.meta.Name, k[0], k[1], objName)
		}
		if got := d.meta.Annotations[BundlesAnnotation]; got != strings.Join(bundles, ",") {
			t.Errorf("%s: annotation %s = %q, want %q", path, BundlesAnnotation, got, strings.Join(bundles, ","))
		}
	}
	got := map[string][]string{}
	var order []string
	for _, it := range d.items {
		if it.Source == "" || !crdSourceRE.MatchString(it.Source) {
			t.Errorf("%s: source %q fails the CRD's validation pattern", path, it.Source)
		}
		for _, m := range it.Mirrors {
			if !crdMirrorRE.MatchString(m) {
				t.Errorf("%s: mirror %q fails the CRD's validation pattern", path, m)
			}
		}
		if !slices.Contains(crdPolicies, it.MirrorSourcePolicy) {
			t.Errorf("%s: mirror source policy %q is not in the enum", path, it.MirrorSourcePolicy)
		}
		if _, dup := got[it.Source]; dup {
			t.Errorf("%s: source %q twice", path, it.Source)
		}
		got[it.Source] = it.Mirrors
		order = append(order, it.Source)
	}
	if !slices.IsSorted(order) {
		t.Errorf("%s: sources not sorted: %v", path, order)
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d sources, want %d:\n%s", path, len(got), len(want), b)
	}
	for src, mirrors := range want {
		if !slices.Equal(got[src], mirrors) {
			t.Errorf("%s: %s has mirrors %q, want %q", path, src, got[src], mirrors)
		}
	}
}

func checkBundleComment(t *testing.T, path string, b []byte, bundles []string) {
	t.Helper()
	ids, err := readBundleLine(b)
	if err != nil || !slices.Equal(ids, bundles) {
		t.Errorf("%s names bundles %v (%v), want %v:\n%s", path, ids, err, bundles, b)
	}
}

func entryMap(entries ...[]Entry) map[string][]string {
	out := map[string][]string{}
	for _, es := range entries {
		for _, e := range es {
			if !slices.Contains(out[e.Source], e.Mirror) {
				out[e.Source] = append(out[e.Source], e.Mirror)
				slices.Sort(out[e.Source])
			}
		}
	}
	return out
}

func TestWriteConfigFiles(t *testing.T) {
	odd := []Entry{{Source: "quay.io/a", Mirror: "m.example/x"}}
	tests := []struct {
		name    string
		m       Mapping
		entries []Entry // testEntries(m) when nil
		o       ConfigOptions
		objName string
	}{
		{name: "digest only", m: Mapping{Mirror: "mirror.example:5000", Prefix: "airgap"}, objName: "bundle-9c5692d27063"},
		{name: "insecure tags", m: Mapping{Mirror: "mirror.example:5000", Prefix: "airgap/x", Insecure: true}, o: ConfigOptions{Tags: true}, objName: "bundle-9c5692d27063"},
		{name: "strip named", m: Mapping{Mirror: "mirror.example", StripRegistry: true}, o: ConfigOptions{SetName: "airgap-mirror"}, objName: "airgap-mirror"},
		// Names YAML would read as a boolean or a number unless quoted.
		{name: "name true", m: Mapping{Mirror: "m.example"}, o: ConfigOptions{SetName: "true", Tags: true}, objName: "true"},
		{name: "name number", m: Mapping{Mirror: "m.example"}, o: ConfigOptions{SetName: "123"}, objName: "123"},
		{name: "longest name", m: Mapping{Mirror: "m.example"}, o: ConfigOptions{SetName: strings.Repeat("a", maxSetNameLength)}, objName: strings.Repeat("a", maxSetNameLength)},
		{name: "one", m: Mapping{Mirror: "m.example"}, entries: odd, objName: "bundle-9c5692d27063"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "not", "yet")
			entries := tt.entries
			if entries == nil {
				entries = testEntries(tt.m)
				tt.o.Images = testImages(tt.m)
			}
			tt.o.BundleID = bundleA
			paths, err := tt.m.WriteConfig(dir, entries, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			suffixes := []string{".conf", "-idms.yaml", "-itms.yaml", "-icsp.yaml", "-install-config.yaml", "-install-config-legacy.yaml", "-mapping.txt"}
			if !tt.o.Tags {
				suffixes = slices.DeleteFunc(suffixes, func(s string) bool { return s == "-itms.yaml" })
			}
			var want []string
			for _, s := range suffixes {
				want = append(want, filepath.Join(dir, tt.objName+s))
			}
			if !slices.Equal(paths, want) {
				t.Fatalf("paths %v, want %v", paths, want)
			}
			for i, s := range suffixes {
				fi, err := os.Stat(paths[i])
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != 0o644 {
					t.Errorf("%s has mode %v, want 0644", paths[i], fi.Mode())
				}
				if _, ok := clusterFiles[s]; ok {
					checkClusterFile(t, paths[i], s, tt.objName, []string{bundleA}, entryMap(entries))
				}
			}
			checkRegistriesConf(t, paths[0], entries, tt.m.Insecure, tt.o.Tags)
			checkMapping(t, paths[len(paths)-1], tt.o.Images)
			// Nothing but these files: no temporary file is left behind.
			des, _ := os.ReadDir(dir)
			if len(des) != len(suffixes) {
				t.Errorf("directory holds %d files, want %d", len(des), len(suffixes))
			}
		})
	}
}

func checkRegistriesConf(t *testing.T, path string, entries []Entry, insecure, tags bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkBundleComment(t, path, b, []string{bundleA})
	c := decodeRegistriesConf(t, b)
	if len(c.Registry) != len(entries) {
		t.Fatalf("%d [[registry]] tables, want %d:\n%s", len(c.Registry), len(entries), b)
	}
	wantPull := map[bool]string{true: "all"}[tags]
	for i, r := range c.Registry {
		e := entries[i]
		if r.Prefix != e.Source || r.Location != e.Source {
			t.Errorf("registry %d: prefix %q location %q, want both %q", i, r.Prefix, r.Location, e.Source)
		}
		if r.MirrorByDigestOnly == tags || r.Insecure || r.Blocked {
			t.Errorf("registry %d: mirror-by-digest-only %v insecure %v blocked %v, want %v false false", i, r.MirrorByDigestOnly, r.Insecure, r.Blocked, !tags)
		}
		if len(r.Mirror) != 1 {
			t.Fatalf("registry %d: %d mirrors, want 1", i, len(r.Mirror))
		}
		if mr := r.Mirror[0]; mr.Location != e.Mirror || mr.Insecure != insecure || mr.PullFromMirror != wantPull {
			t.Errorf("registry %d mirror: %+v, want location %q insecure %v pull-from-mirror %q", i, mr, e.Mirror, insecure, wantPull)
		}
	}
}

func checkMapping(t *testing.T, path string, images []Image) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkBundleComment(t, path, b, []string{bundleA})
	var lines []string
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "#") {
			lines = append(lines, strings.TrimSuffix(line, "\n"))
		}
	}
	var want []string
	for _, im := range images {
		n, _ := ParseName(im.Source)
		if n.Registry == "" {
			continue // no line: oc would read it as a Docker Hub name
		}
		tn, _ := ParseName(im.Target)
		line := n.RepositoryName() + "@" + im.Digest.String() + "=" + tn.RepositoryName()
		if n.Tag != "" {
			line += ":" + n.Tag
		}
		want = append(want, line)
	}
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("%s lines:\n%q\nwant:\n%q", path, lines, want)
	}
	if len(images) > 0 && len(want) != len(images)-1 {
		t.Errorf("%d mapping lines for %d images, one without a registry", len(want), len(images))
	}
}

func TestWriteConfigMerge(t *testing.T) {
	dir := t.TempDir()
	m1 := Mapping{Mirror: "mirror.example:5000", Prefix: "airgap"}
	first := testEntries(m1)[:2]
	// A month later the mirror moved, and one more source came along.
	m2 := Mapping{Mirror: "mirror2.example", Prefix: "airgap", Insecure: true}
	second := append(testEntries(m2)[1:3], Entry{Source: "quay.io/zz/new", Mirror: "mirror2.example/airgap/quay.io/zz/new"})
	o := ConfigOptions{BundleID: bundleB, SetName: "airgap-mirror", Images: testImages(m1)[:1]}
	if _, err := m1.WriteConfig(dir, first, o); err != nil {
		t.Fatal(err)
	}
	o = ConfigOptions{BundleID: bundleA, SetName: "airgap-mirror", Tags: true, Images: testImages(m2)[1:2]}
	paths, err := m2.WriteConfig(dir, second, o)
	if err != nil {
		t.Fatal(err)
	}
	bundles := []string{bundleB, bundleA}
	slices.Sort(bundles)
	want := entryMap(first, second)
	if len(want["localhost/dev/app"]) != 2 {
		t.Fatalf("test setup: want one source with two mirrors: %v", want)
	}
	for _, p := range paths {
		for s := range clusterFiles {
			if !strings.HasSuffix(p, s) || (s == "-install-config.yaml") != strings.HasSuffix(p, "-install-config.yaml") {
				continue
			}
			w := want
			if s == "-itms.yaml" {
				// Written for the second bundle only.
				w = entryMap(second)
			}
			b := bundles
			if s == "-itms.yaml" {
				b = []string{bundleA}
			}
			checkClusterFile(t, p, s, "airgap-mirror", b, w)
		}
	}
	// registries.conf keeps the first mirror digest-only and secure, the
	// second serves tags too and is insecure.
	confData, _ := os.ReadFile(filepath.Join(dir, "airgap-mirror.conf"))
	checkBundleComment(t, "airgap-mirror.conf", confData, bundles)
	c := decodeRegistriesConf(t, confData)
	var ab []string
	for _, r := range c.Registry {
		if r.Prefix != "localhost/dev/app" {
			continue
		}
		if r.MirrorByDigestOnly {
			t.Errorf("a source with a tag mirror is digest-only")
		}
		for _, mr := range r.Mirror {
			ab = append(ab, mr.Location+" "+mr.PullFromMirror+" "+map[bool]string{true: "insecure"}[mr.Insecure])
		}
	}
	if !slices.Equal(ab, []string{"mirror.example:5000/airgap/localhost/dev/app digest-only ", "mirror2.example/airgap/localhost/dev/app all insecure"}) {
		t.Errorf("localhost/dev/app mirrors: %q\n%s", ab, confData)
	}
	if len(c.Registry) != len(want) {
		t.Errorf("%d [[registry]] tables, want %d", len(c.Registry), len(want))
	}
	mapping, _ := os.ReadFile(filepath.Join(dir, "airgap-mirror-mapping.txt"))
	if n := strings.Count(string(mapping), "@sha256:"); n != 2 {
		t.Errorf("merged mapping has %d lines, want 2:\n%s", n, mapping)
	}

	// Applying the same bundle again changes nothing: a changed object
	// would roll out to every node.
	before := readAll(t, dir)
	if _, err := m2.WriteConfig(dir, second, o); err != nil {
		t.Fatal(err)
	}
	if after := readAll(t, dir); !maps2Equal(before, after) {
		t.Errorf("writing the same bundle again changed the files")
	}

	// Without a set name, files are per bundle and replaced, not merged.
	if _, err := m1.WriteConfig(dir, first, ConfigOptions{BundleID: bundleA}); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.WriteConfig(dir, first[:1], ConfigOptions{BundleID: bundleA}); err != nil {
		t.Fatal(err)
	}
	checkClusterFile(t, filepath.Join(dir, "bundle-9c5692d27063-idms.yaml"), "-idms.yaml", "bundle-9c5692d27063", []string{bundleA}, entryMap(first[:1]))
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, _ := os.ReadFile(filepath.Join(dir, de.Name()))
		out[de.Name()] = string(b)
	}
	return out
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestWriteConfigMergeRefusesForeignFile(t *testing.T) {
	m := Mapping{Mirror: "mirror.example"}
	for _, content := range []string{
		"apiVersion: v1\nkind: ConfigMap\n",                       // no bundle comment
		"# " + BundlesAnnotation + ": " + bundleB + "\nspec: [\n", // not YAML
		"# " + BundlesAnnotation + ": " + bundleB + "\nspec:\n  imageDigestMirrors:\n  - source: \"x\"\n    mirrors: [\"y\"]\n", // bad source
	} {
		dir := t.TempDir()
		idms := filepath.Join(dir, "site-idms.yaml")
		os.WriteFile(idms, []byte(content), 0o644)
		paths, err := m.WriteConfig(dir, testEntries(m), ConfigOptions{BundleID: bundleA, SetName: "site"})
		if err == nil || !strings.Contains(err.Error(), idms) || paths != nil {
			t.Errorf("merging into %q: %v, %v; want an error naming %s and nothing written", content, paths, err, idms)
		}
		if des, _ := os.ReadDir(dir); len(des) != 1 {
			t.Errorf("files were written despite the error")
		}
	}
}

func TestWriteConfigErrors(t *testing.T) {
	m := Mapping{Mirror: "mirror.example"}
	good := Entry{Source: "quay.io/ns/app", Mirror: "m.example/quay.io/ns/app"}
	tests := []struct {
		name    string
		entries []Entry
		o       ConfigOptions
		wantErr string
	}{
		{name: "no bundle id", wantErr: "bundle id"},
		{name: "short bundle id", o: ConfigOptions{BundleID: "9c5692d27063"}, wantErr: "bundle id"},
		{name: "escaping name", o: ConfigOptions{BundleID: bundleA, SetName: "../escape"}, wantErr: "not a valid Kubernetes object name"},
		{name: "uppercase name", o: ConfigOptions{BundleID: bundleA, SetName: "Mirror"}, wantErr: "not a valid Kubernetes object name"},
		{name: "underscore name", o: ConfigOptions{BundleID: bundleA, SetName: "air_gap"}, wantErr: "not a valid Kubernetes object name"},
		{name: "leading dash", o: ConfigOptions{BundleID: bundleA, SetName: "-a"}, wantErr: "not a valid Kubernetes object name"},
		{name: "too long", o: ConfigOptions{BundleID: bundleA, SetName: strings.Repeat("a", maxSetNameLength+1)}, wantErr: "is longer than"},
		{name: "source without registry", entries: []Entry{good, {Source: "ns/app", Mirror: "m.example/ns/app"}}, wantErr: `source "ns/app" is not host[:port]/repository`},
		{name: "source with tag", entries: []Entry{{Source: "quay.io/a:v1", Mirror: "m.example/a"}}, wantErr: `source "quay.io/a:v1"`},
		{name: "mirror with digest", entries: []Entry{{Source: "quay.io/a", Mirror: "m.example/a@" + dig.String()}}, wantErr: "mirror"},
		{name: "bad mirror", entries: []Entry{{Source: "quay.io/a", Mirror: "m.example/A"}}, wantErr: "must be lowercase"},
		{name: "empty mirror", entries: []Entry{{Source: "quay.io/a"}}, wantErr: "mirror"},
		{name: "image without digest", o: ConfigOptions{BundleID: bundleA, Images: []Image{{Source: "quay.io/a:v1", Target: "m.example/quay.io/a:v1"}}}, wantErr: `"quay.io/a:v1"`},
		{name: "image target without registry", o: ConfigOptions{BundleID: bundleA, Images: []Image{{Source: "quay.io/a:v1", Target: "a:v1", Digest: dig}}}, wantErr: `target "a:v1"`},
		{name: "nothing to redirect", o: ConfigOptions{BundleID: bundleA, Images: []Image{{Source: "app:v1", Target: "m.example/app:v1", Digest: dig}}}, wantErr: ErrNothingToRedirect.Error()},
		{name: "nothing to redirect, merging", o: ConfigOptions{BundleID: bundleA, SetName: "mirror"}, wantErr: ErrNothingToRedirect.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.o.BundleID == "" && !strings.Contains(tt.name, "bundle id") {
				tt.o.BundleID = bundleA
			}
			dir := filepath.Join(t.TempDir(), "cfg")
			paths, err := m.WriteConfig(dir, tt.entries, tt.o)
			if err == nil || paths != nil {
				t.Fatalf("WriteConfig = %v, %v; want an error", paths, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			// Refused before anything is created.
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("WriteConfig created %s despite the error (%v)", dir, err)
			}
		})
	}

	// dir exists as a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteConfig(file, testEntries(m), ConfigOptions{BundleID: bundleA}); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("WriteConfig into a file: %v; want an error naming %s", err, file)
	}
}

func TestTOMLString(t *testing.T) {
	tests := []struct {
		in, quoted string // quoted "" means: only check that it decodes back
		want       string // what a TOML parser reads; in when ""
	}{
		{in: "quay.io/ns/app", quoted: `"quay.io/ns/app"`},
		{in: `a"b`, quoted: `"a\"b"`},
		{in: `a\b`, quoted: `"a\\b"`},
		{in: `\"`, quoted: `"\\\""`},
		{in: "", quoted: `""`},
		{in: "tab\tnl\ncr\rbs\bff\f", quoted: `"tab\tnl\ncr\rbs\bff\f"`},
		{in: "nul\x00us\x1fdel\x7f", quoted: `"nul\u0000us\u001Fdel\u007F"`},
		{in: "é😀'"},
		{in: "bad\xffutf8", want: "bad\uFFFDutf8"},
	}
	for _, tt := range tests {
		q := tomlString(tt.in)
		if tt.quoted != "" && q != tt.quoted {
			t.Errorf("tomlString(%q) = %s, want %s", tt.in, q, tt.quoted)
		}
		var v struct{ V string }
		if _, err := toml.Decode("V = "+q, &v); err != nil {
			t.Errorf("tomlString(%q) = %s does not parse: %v", tt.in, q, err)
			continue
		}
		want := tt.want
		if want == "" {
			want = tt.in
		}
		if v.V != want {
			t.Errorf("tomlString(%q) = %s reads back as %q, want %q", tt.in, q, v.V, want)
		}
	}
}

func TestYAMLString(t *testing.T) {
	for _, s := range []string{"true", "no", "123", "1e3", "null", "~", "", "a: b", "#c", "- x", `"`, `\`, "tab\tnl\n", "é😀", "'q'"} {
		var v any
		if err := yaml.Unmarshal([]byte("v: "+yamlString(s)), &v); err != nil {
			t.Errorf("yamlString(%q) = %s does not parse: %v", s, yamlString(s), err)
			continue
		}
		if got := v.(map[string]any)["v"]; got != s {
			t.Errorf("yamlString(%q) = %s reads back as %#v", s, yamlString(s), got)
		}
	}
}
