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
	"gopkg.in/yaml.v3"
)

// testEntries are entries as Entries makes them, from every kind of name.
func testEntries(m Mapping) []Entry {
	return m.Entries([]Name{
		{Registry: "quay.io", Repository: "ns/app", Tag: "v1"},
		{Registry: "registry.example:5000", Repository: "a/b", Digest: dig},
		{Registry: "localhost", Repository: "dev/app", Tag: "1"},
		{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"},
		{Repository: "local/only", Tag: "v1"},
	})
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

func TestRegistriesConf(t *testing.T) {
	odd := []Entry{{Source: `quay.io/a"b\c`, Mirror: "m/x\ny\tz\x7f"}}
	tests := []struct {
		name    string
		m       Mapping
		entries []Entry
	}{
		{name: "secure", m: Mapping{Mirror: "mirror.example:5000", Prefix: "airgap"}},
		{name: "insecure", m: Mapping{Mirror: "mirror.example:5000", Prefix: "airgap", Insecure: true}},
		{name: "strip", m: Mapping{Mirror: "mirror.example", StripRegistry: true}},
		{name: "needs escaping", m: Mapping{Mirror: "m", Insecure: true}, entries: odd},
		{name: "empty", m: Mapping{Mirror: "m"}, entries: []Entry{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := tt.entries
			if entries == nil {
				entries = testEntries(tt.m)
			}
			out := tt.m.RegistriesConf(entries)
			if !bytes.HasPrefix(out, []byte("# ")) {
				t.Errorf("registries.conf does not start with a comment header:\n%s", out)
			}
			c := decodeRegistriesConf(t, out)
			if len(c.Registry) != len(entries) {
				t.Fatalf("%d [[registry]] tables, want %d:\n%s", len(c.Registry), len(entries), out)
			}
			for i, r := range c.Registry {
				e := entries[i]
				if r.Prefix != e.Source || r.Location != e.Source {
					t.Errorf("registry %d: prefix %q location %q, want both %q", i, r.Prefix, r.Location, e.Source)
				}
				if !r.MirrorByDigestOnly || r.Insecure || r.Blocked {
					t.Errorf("registry %d: mirror-by-digest-only %v insecure %v blocked %v, want true false false", i, r.MirrorByDigestOnly, r.Insecure, r.Blocked)
				}
				if len(r.Mirror) != 1 {
					t.Fatalf("registry %d: %d mirrors, want 1", i, len(r.Mirror))
				}
				if mr := r.Mirror[0]; mr.Location != e.Mirror || mr.Insecure != tt.m.Insecure || mr.PullFromMirror != "" {
					t.Errorf("registry %d mirror: %+v, want location %q insecure %v", i, mr, e.Mirror, tt.m.Insecure)
				}
			}
			// Only mirrors are ever marked insecure, and only when asked.
			wantInsecure := 0
			if tt.m.Insecure {
				wantInsecure = len(entries)
			}
			if n := bytes.Count(out, []byte("insecure")); n != wantInsecure {
				t.Errorf("%d insecure keys, want %d:\n%s", n, wantInsecure, out)
			}
		})
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

// idms holds the fields of an OpenShift ImageDigestMirrorSet. The module
// that defines the type (github.com/openshift/api, config/v1) cannot be
// fetched from the module proxy (it has no release newer than
// v3.9.0+incompatible, from before the type existed), so these fields are
// copied from its types_image_digest_mirror_set.go and the Kubernetes
// TypeMeta/ObjectMeta (only the metadata fields this package could emit).
type idms struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		ImageDigestMirrors []struct {
			Source             string   `yaml:"source"`
			Mirrors            []string `yaml:"mirrors"`
			MirrorSourcePolicy string   `yaml:"mirrorSourcePolicy"`
		} `yaml:"imageDigestMirrors"`
	} `yaml:"spec"`
	Status struct{} `yaml:"status"`
}

// The kubebuilder validation patterns of ImageDigestMirrors.Source and
// ImageMirror in openshift/api config/v1.
var (
	idmsSourceRE = regexp.MustCompile(`^\*(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+$|^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?)(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$`)
	idmsMirrorRE = regexp.MustCompile(`^((?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?)(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?$`)
)

func decodeIDMS(t *testing.T, b []byte) idms {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var v idms
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("ImageDigestMirrorSet does not decode strictly: %v\n%s", err, b)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("ImageDigestMirrorSet has more than one YAML document (%v):\n%s", err, b)
	}
	return v
}

func TestImageDigestMirrorSet(t *testing.T) {
	tests := []struct {
		name    string
		objName string
		entries []Entry
	}{
		{name: "scoped", objName: "airgap-mirror", entries: testEntries(Mapping{Mirror: "mirror.example:5000", Prefix: "airgap/x"})},
		{name: "strip", objName: "airgap.mirror.1", entries: testEntries(Mapping{Mirror: "mirror.example", StripRegistry: true})},
		// Names YAML would read as a boolean or a number unless quoted.
		{name: "name true", objName: "true", entries: testEntries(Mapping{Mirror: "m.example"})},
		{name: "name number", objName: "123", entries: testEntries(Mapping{Mirror: "m.example"})},
		{name: "longest name", objName: strings.Repeat("a", 253), entries: testEntries(Mapping{Mirror: "m.example"})},
		{name: "empty", objName: "none", entries: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ImageDigestMirrorSet(tt.objName, tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			v := decodeIDMS(t, out)
			if v.APIVersion != "config.openshift.io/v1" || v.Kind != "ImageDigestMirrorSet" || v.Metadata.Name != tt.objName {
				t.Fatalf("apiVersion %q kind %q name %q, want config.openshift.io/v1 ImageDigestMirrorSet %q", v.APIVersion, v.Kind, v.Metadata.Name, tt.objName)
			}
			got := v.Spec.ImageDigestMirrors
			if len(got) != len(tt.entries) {
				t.Fatalf("%d imageDigestMirrors, want %d:\n%s", len(got), len(tt.entries), out)
			}
			for i, e := range tt.entries {
				if got[i].Source != e.Source || !slices.Equal(got[i].Mirrors, []string{e.Mirror}) || got[i].MirrorSourcePolicy != "" {
					t.Errorf("imageDigestMirrors[%d] = %+v, want source %q mirrors [%q]", i, got[i], e.Source, e.Mirror)
				}
				if !idmsSourceRE.MatchString(got[i].Source) {
					t.Errorf("source %q fails the CRD's validation pattern", got[i].Source)
				}
				if !idmsMirrorRE.MatchString(got[i].Mirrors[0]) {
					t.Errorf("mirror %q fails the CRD's validation pattern", got[i].Mirrors[0])
				}
			}
		})
	}
}

func TestImageDigestMirrorSetErrors(t *testing.T) {
	good := Entry{Source: "quay.io/ns/app", Mirror: "m.example/quay.io/ns/app"}
	tests := []struct {
		name    string
		objName string
		entries []Entry
		wantErr string
	}{
		{name: "empty name", objName: "", wantErr: "not a valid Kubernetes object name"},
		{name: "uppercase name", objName: "Mirror", wantErr: "not a valid Kubernetes object name"},
		{name: "underscore name", objName: "air_gap", wantErr: "not a valid Kubernetes object name"},
		{name: "slash name", objName: "a/b", wantErr: "not a valid Kubernetes object name"},
		{name: "leading dash", objName: "-a", wantErr: "not a valid Kubernetes object name"},
		{name: "too long", objName: strings.Repeat("a", 254), wantErr: "not a valid Kubernetes object name"},
		{name: "source without registry", objName: "x", entries: []Entry{good, {Source: "ns/app", Mirror: "m.example/ns/app"}}, wantErr: `source "ns/app" is not host[:port]/repository`},
		{name: "source with tag", objName: "x", entries: []Entry{{Source: "quay.io/a:v1", Mirror: "m.example/a"}}, wantErr: `source "quay.io/a:v1"`},
		{name: "mirror with digest", objName: "x", entries: []Entry{{Source: "quay.io/a", Mirror: "m.example/a@" + dig.String()}}, wantErr: "mirror"},
		{name: "bad mirror", objName: "x", entries: []Entry{{Source: "quay.io/a", Mirror: "m.example/A"}}, wantErr: "must be lowercase"},
		{name: "empty mirror", objName: "x", entries: []Entry{{Source: "quay.io/a"}}, wantErr: "mirror"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ImageDigestMirrorSet(tt.objName, tt.entries)
			if err == nil {
				t.Fatalf("no error; got\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
		})
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

func TestWriteConfig(t *testing.T) {
	m := Mapping{Mirror: "mirror.example:5000", Prefix: "airgap", Insecure: true}
	dir := filepath.Join(t.TempDir(), "not", "yet")
	first := testEntries(m)

	paths, err := m.WriteConfig(dir, "airgap", first[:1])
	if err != nil {
		t.Fatal(err)
	}
	// Again, with more entries: the files are replaced, not appended to.
	paths, err = m.WriteConfig(dir, "airgap", first)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "airgap.conf"), filepath.Join(dir, "airgap-idms.yaml")}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	idmsWant, err := ImageDigestMirrorSet("airgap", first)
	if err != nil {
		t.Fatal(err)
	}
	for i, content := range [][]byte{m.RegistriesConf(first), idmsWant} {
		got, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, content) {
			t.Errorf("%s:\n%s\nwant:\n%s", paths[i], got, content)
		}
		fi, err := os.Stat(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", paths[i], fi.Mode())
		}
	}
	// No temporary files are left behind.
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	if !slices.Equal(names, []string{"airgap-idms.yaml", "airgap.conf"}) {
		t.Errorf("directory holds %v, want only the two files", names)
	}
}

func TestWriteConfigErrors(t *testing.T) {
	m := Mapping{Mirror: "mirror.example"}
	entries := testEntries(m)

	// A bad name is refused before anything is created.
	dir := filepath.Join(t.TempDir(), "cfg")
	if paths, err := m.WriteConfig(dir, "../escape", entries); err == nil || paths != nil {
		t.Fatalf("WriteConfig with name ../escape = %v, %v; want an error", paths, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteConfig created %s despite the bad name (%v)", dir, err)
	}

	// dir exists as a file.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WriteConfig(file, "airgap", entries); err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("WriteConfig into a file: %v; want an error naming %s", err, file)
	}
}
