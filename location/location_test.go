package location

import (
	"errors"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/mirror"
	"github.com/opencontainers/go-digest"
)

var (
	hex = strings.Repeat("ab", 32)
	dig = digest.Digest("sha256:" + hex)
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Location
		// str is what String gives back, when not in itself.
		str string
	}{
		{in: "oci:/srv/layout", want: Location{Transport: Layout, Path: "/srv/layout"}},
		{in: "oci:rel/dir", want: Location{Transport: Layout, Path: "rel/dir"}},
		{in: "oci:/srv/layout:v1", want: Location{Transport: Layout, Path: "/srv/layout", Ref: "v1"}},
		// The path ends at the first ':', as in skopeo: the tag may hold more.
		{in: "oci:/srv/layout:app:v1", want: Location{Transport: Layout, Path: "/srv/layout", Ref: "app:v1"}},
		{in: "oci:out/t1:mytag", want: Location{Transport: Layout, Path: "out/t1", Ref: "mytag"}},
		{in: "oci:l:quay.io/ns/app:v1.2_3", want: Location{Transport: Layout, Path: "l", Ref: "quay.io/ns/app:v1.2_3"}},
		{in: "oci:a:b/c:d", want: Location{Transport: Layout, Path: "a", Ref: "b/c:d"}},
		{in: "oci:l:a--b+c@d", want: Location{Transport: Layout, Path: "l", Ref: "a--b+c@d"}},
		{in: "oci:/srv/dir#1/lay out", want: Location{Transport: Layout, Path: "/srv/dir#1/lay out"}},
		{in: "oci:/home/u@host/l", want: Location{Transport: Layout, Path: "/home/u@host/l"}},
		{in: "oci:/home/u@host/l:v1", want: Location{Transport: Layout, Path: "/home/u@host/l", Ref: "v1"}},
		{in: "oci:x@sha256", want: Location{Transport: Layout, Path: "x@sha256"}},
		{in: "oci:/srv/layout@" + string(dig), want: Location{Transport: Layout, Path: "/srv/layout", Digest: dig}},
		{in: "oci:a@b@" + string(dig), want: Location{Transport: Layout, Path: "a@b", Digest: dig}},
		{in: "oci://srv/layout", want: Location{Transport: Layout, Path: "//srv/layout"}},

		{in: "docker://nginx", want: Location{Transport: Registry, Image: mirror.Name{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"}},
			str: "docker://docker.io/library/nginx:latest"},
		{in: "docker://Quay.IO/ns/app:v1", want: Location{Transport: Registry, Image: mirror.Name{Registry: "quay.io", Repository: "ns/app", Tag: "v1"}},
			str: "docker://quay.io/ns/app:v1"},
		{in: "docker://localhost:5000/a/b@" + string(dig), want: Location{Transport: Registry, Image: mirror.Name{Registry: "localhost:5000", Repository: "a/b", Digest: dig}}},
		{in: "docker://r.example/a:v1@" + string(dig), want: Location{Transport: Registry, Image: mirror.Name{Registry: "r.example", Repository: "a", Tag: "v1", Digest: dig}}},
		{in: "docker://nginx:15001", want: Location{Transport: Registry, Image: mirror.Name{Registry: "docker.io", Repository: "library/nginx", Tag: "15001"}},
			str: "docker://docker.io/library/nginx:15001"},

		// Scopes: many images, spelled with an asterisk no reference has.
		{in: "docker://127.0.0.1:15001/*", want: Location{Transport: Registry, Host: "127.0.0.1:15001", Scope: Repositories}},
		{in: "docker://registry.example/openshift/*", want: Location{Transport: Registry, Host: "registry.example", Prefix: "openshift", Scope: Repositories}},
		{in: "docker://localhost:5000/a/b/*", want: Location{Transport: Registry, Host: "localhost:5000", Prefix: "a/b", Scope: Repositories}},
		{in: "docker://quay.io/ns/app:*", want: Location{Transport: Registry, Host: "quay.io", Prefix: "ns/app", Scope: Tags}},
		{in: "docker://nginx:*", want: Location{Transport: Registry, Host: "docker.io", Prefix: "library/nginx", Scope: Tags},
			str: "docker://docker.io/library/nginx:*"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if s := got.String(); s != want {
				t.Fatalf("Parse(%q).String() = %q, want %q", tt.in, s, want)
			}
			if again, err := Parse(got.String()); err != nil || again != got {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"", "empty"},
		{"oci:", "no layout path"},
		{"oci::v1", "no layout path"},
		{"oci:@" + string(dig), "no layout path"},
		{"oci:dir:", "empty tag"},
		{"oci:dir:-v1", "not a valid ref name"},
		{"oci:dir:v1/", "not a valid ref name"},
		{"oci:dir:a//b", "not a valid ref name"},
		{"oci:dir:a b", "not a valid ref name"},
		{"oci:dir:a...b", "not a valid ref name"},
		{"oci:dir@sha256:abc", "digest"},
		{"oci:dir@sha256:" + strings.ToUpper(hex), "digest"},
		{"oci:dir@sha512:" + hex + hex, "sha256"},
		{"oci:dir@" + string(dig) + ":v1", "digest"},
		{"docker://", "empty image name"},
		{"docker://Nginx", "lowercase"},
		{"docker://nginx:-1", "tag"},
		{"docker://nginx@sha256:00", "digest"},
		{"docker://docker://nginx", "transport prefix"},
		{"docker:nginx", "docker://"},
		{"dir:/tmp/x", `transport "dir" is not supported`},
		{"/srv/layout", "no transport"},
		{"nginx:1.27", "no transport"},
		{"docker://127.0.0.1:15001", "names a registry, not an image"},
		{"docker://quay.io", "names a registry"},
		{"docker://localhost:5000", "names a registry"},
		{"docker://openshift/*", `"openshift" is not a registry host`},
		{"docker://quay.io/ns/*/x", "'*' is only read at the end"},
		{"docker://quay.io/ns/a*", "'*' is only read at the end"},
		{"docker://quay.io/ns/app:v1:*", "without a tag or digest"},
		{"docker://quay.io/Ns/*", "lowercase"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			checkError(t, tt.in, got, err, tt.wantErr, sourceShapes)
		})
	}
}

// checkError checks that err is an *Error naming the input, the problem and
// the accepted shapes, and no command line flag.
func checkError(t *testing.T, in string, got Location, err error, wantErr, shapes string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%q parsed as %+v, want an error containing %q", in, got, wantErr)
	}
	var le *Error
	if !errors.As(err, &le) || le.Input != in {
		t.Fatalf("%q: error %v (%T) is not an *Error for the input", in, err, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, wantErr) || !strings.Contains(msg, "location "+quote(in)) || !strings.Contains(msg, shapes) {
		t.Fatalf("%q: error %q should contain %q, the input and %q", in, msg, wantErr, shapes)
	}
	if strings.Contains(msg, "--") && !strings.Contains(in, "--") {
		t.Fatalf("%q: error %q names a flag", in, msg)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func TestParseImage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx", "docker://docker.io/library/nginx:latest"},
		{"nginx:1.27", "docker://docker.io/library/nginx:1.27"},
		// Only docker:// is the transport: docker:24-dind is the docker image.
		{"docker:24-dind", "docker://docker.io/library/docker:24-dind"},
		{"docker://alpine:3.19", "docker://docker.io/library/alpine:3.19"},
		{"registry.example:5000/a/b@" + string(dig), "docker://registry.example:5000/a/b@" + string(dig)},
		{"oci:./rel/layout:v1:extra", "oci:./rel/layout:v1:extra"},
	}
	for _, tt := range tests {
		got, err := ParseImage(tt.in)
		if err != nil {
			t.Fatalf("ParseImage(%q): %v", tt.in, err)
		}
		if got.String() != tt.want {
			t.Errorf("ParseImage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{"", "Nginx", "a b", "oci:", "docker://", "nginx@sha256:1"} {
		got, err := ParseImage(in)
		var le *Error
		if !errors.As(err, &le) || le.Input != in || !strings.Contains(err.Error(), "[REGISTRY/]REPOSITORY") {
			t.Errorf("ParseImage(%q) = %+v, %v; want an *Error naming the input and the shapes", in, got, err)
		}
	}
}

func TestParseDestination(t *testing.T) {
	tests := []struct {
		in   string
		want Location
		str  string
	}{
		{in: "oci:/srv/mirror", want: Location{Transport: Layout, Path: "/srv/mirror"}},
		{in: "oci:out/t1:mytag", want: Location{Transport: Layout, Path: "out/t1", Ref: "mytag"}},
		{in: "docker://mirror.example:5000", want: Location{Transport: Registry, Host: "mirror.example:5000"}},
		{in: "docker://mirror.example:5000/airgap", want: Location{Transport: Registry, Host: "mirror.example:5000", Prefix: "airgap"}},
		{in: "docker://mirror.example/air-gap/team_1/x.y", want: Location{Transport: Registry, Host: "mirror.example", Prefix: "air-gap/team_1/x.y"}},
		{in: "docker://localhost/", want: Location{Transport: Registry, Host: "localhost"}, str: "docker://localhost"},
		{in: "docker://registry/p/", want: Location{Transport: Registry, Host: "registry", Prefix: "p"}, str: "docker://registry/p"},
		// A destination keeps the host as given: it is not an image name.
		{in: "docker://Mirror.Example", want: Location{Transport: Registry, Host: "Mirror.Example"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDestination(tt.in)
			if err != nil {
				t.Fatalf("ParseDestination(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseDestination(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			want := tt.str
			if want == "" {
				want = tt.in
			}
			if got.String() != want {
				t.Fatalf("ParseDestination(%q).String() = %q, want %q", tt.in, got.String(), want)
			}
			if again, err := ParseDestination(got.String()); err != nil || again != got {
				t.Fatalf("ParseDestination(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
			if m := got.Mapping(); got.Transport == Registry && (m.Mirror != got.Host || m.Prefix != got.Prefix) {
				t.Fatalf("Mapping() = %+v", m)
			}
		})
	}
}

func TestParseDestinationErrors(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"", "empty"},
		{"mirror.example:5000", "no transport"},
		{"oci://mirror.example", ""},
		{"oci:", "no layout path"},
		{"oci:d@" + string(dig), "a digest picks content already in a layout"},
		{"oci:d:bad tag", "not a valid ref name"},
		{"docker://", "no registry host"},
		{"docker:///airgap", "no registry host"},
		{"docker://mirror..example", "not a valid registry host"},
		{"docker://mirror:port", "not a valid registry host"},
		{"docker://mirror_1", "not a valid registry host"},
		{"docker://mirror/Airgap", "must be lowercase"},
		{"docker://mirror/a//b", "empty path component"},
		{"docker://mirror/a//", "empty path component"},
		{"docker://mirror/a:v1", "has a tag or digest"},
		{"docker://mirror/a@" + string(dig), "has a tag or digest"},
		{"docker://mirror/a b", "not valid"},
		{"docker:mirror", "docker://"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDestination(tt.in)
			if tt.wantErr == "" {
				// oci://mirror.example is the directory //mirror.example:
				// legal, and not a registry.
				if err != nil || got.Transport != Layout {
					t.Fatalf("ParseDestination(%q) = %+v, %v", tt.in, got, err)
				}
				return
			}
			checkError(t, tt.in, got, err, tt.wantErr, destinationShapes)
		})
	}
}

func TestHasTransport(t *testing.T) {
	for s, want := range map[string]bool{
		"oci:d": true, "oci:": true, "docker://m": true, "docker:m": true,
		"d": false, "./oci:d": false, "/srv/a:b": false, "": false, "OCI:d": false,
	} {
		if got := HasTransport(s); got != want {
			t.Errorf("HasTransport(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestZeroString(t *testing.T) {
	if s := (Location{}).String(); s != "" {
		t.Fatalf("zero Location prints %q", s)
	}
}

func TestInsecureHost(t *testing.T) {
	tests := []struct {
		listed []string
		host   string
		want   bool
	}{
		{[]string{"mirror.example"}, "mirror.example", true},
		{[]string{"mirror.example"}, "mirror.example:5000", true},
		{[]string{"mirror.example:5000"}, "mirror.example:5000", true},
		{[]string{"mirror.example:5000"}, "mirror.example:5001", false},
		{[]string{"mirror.example:5000"}, "mirror.example", false},
		{[]string{"other", "127.0.0.1"}, "127.0.0.1:38211", true},
		{[]string{"mirror.example"}, "mirror.example.evil", false},
		{nil, "localhost:5000", false},
	}
	for _, tt := range tests {
		if got := InsecureHost(tt.listed, tt.host); got != tt.want {
			t.Errorf("InsecureHost(%q, %q) = %v, want %v", tt.listed, tt.host, got, tt.want)
		}
	}
}

// FuzzParse: no text makes a parser panic, and every location that parses
// prints as text that parses back to it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"oci:/srv/layout", "oci:l:app:v1", "oci:l@" + string(dig), "oci:a@b@sha256:x", "oci:", "oci:x:",
		"docker://nginx", "docker://localhost:5000/a/b:v1@" + string(dig), "docker://mirror/p/", "docker://",
		"nginx:1.27", "docker:24-dind", "dir:/x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []struct {
			name  string
			parse func(string) (Location, error)
			// back parses String's output.
			back func(string) (Location, error)
		}{
			{"Parse", Parse, Parse},
			{"ParseImage", ParseImage, Parse},
			{"ParseDestination", ParseDestination, ParseDestination},
		} {
			l, err := p.parse(s)
			if err != nil {
				var le *Error
				if !errors.As(err, &le) || le.Input != s {
					t.Fatalf("%s(%q): error %v is not an *Error naming the input", p.name, s, err)
				}
				continue
			}
			again, err := p.back(l.String())
			if err != nil || again != l {
				t.Fatalf("%s(%q) = %+v, which prints as %q, which parses as %+v, %v", p.name, s, l, l.String(), again, err)
			}
		}
	})
}
