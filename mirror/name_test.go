package mirror

import (
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

var (
	dig = digest.FromString("image")
	hex = dig.Encoded()
)

func TestParseName(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		in      string
		want    Name
		wantErr string // substring of the error; "" for success
	}{
		{in: "quay.io/ns/app:v1", want: Name{Registry: "quay.io", Repository: "ns/app", Tag: "v1"}},
		{in: "registry.example:5000/a/b@" + dig.String(), want: Name{Registry: "registry.example:5000", Repository: "a/b", Digest: dig}},
		{in: "registry.example:5000/a/b:v2@" + dig.String(), want: Name{Registry: "registry.example:5000", Repository: "a/b", Tag: "v2", Digest: dig}},
		{in: "localhost/app:1", want: Name{Registry: "localhost", Repository: "app", Tag: "1"}},
		{in: "localhost:5000/app", want: Name{Registry: "localhost:5000", Repository: "app"}},
		{in: "Quay.IO/ns/app", want: Name{Registry: "Quay.IO", Repository: "ns/app"}},
		{in: "app:v1", want: Name{Repository: "app", Tag: "v1"}},
		{in: "ns/app:V1.0_rc-1", want: Name{Repository: "ns/app", Tag: "V1.0_rc-1"}},
		{in: "reg-1.example/e--f:latest", want: Name{Registry: "reg-1.example", Repository: "e--f", Tag: "latest"}},
		{in: "ns/a.b-c__d_e---f", want: Name{Repository: "ns/a.b-c__d_e---f"}},
		{in: "app@" + dig.String(), want: Name{Repository: "app", Digest: dig}},
		// Not normalized: recorded names stay as they were.
		{in: "docker.io/nginx", want: Name{Registry: "docker.io", Repository: "nginx"}},
		// Bare tags, as skopeo records them in OCI layouts.
		{in: "v1", want: Name{Tag: "v1"}},
		{in: "nginx", want: Name{Tag: "nginx"}},
		{in: "V1.0", want: Name{Tag: "V1.0"}},
		{in: "_x", want: Name{Tag: "_x"}},
		// Too long for a tag, so a repository.
		{in: long, want: Name{Repository: long}},

		{in: "", wantErr: "empty image name"},
		{in: "NS/app", wantErr: "must be lowercase"},
		{in: "quay.io/NS/app:v1", wantErr: "must be lowercase"},
		{in: "a//b", wantErr: "empty path component"},
		{in: "ns/app/", wantErr: "empty path component"},
		{in: "/app", wantErr: "empty path component"},
		{in: "quay.io/", wantErr: "empty path component"},
		{in: "a..b/c", wantErr: "registry"},
		{in: "ns/a..b", wantErr: "not valid"},
		{in: "..", wantErr: "not valid"},
		{in: "ns/-a", wantErr: "not valid"},
		{in: "ns/a___b", wantErr: "not valid"},
		{in: "my app:v1", wantErr: "not valid"},
		{in: "app: v1", wantErr: "tag"},
		{in: "app:", wantErr: "tag"},
		{in: "app:.v1", wantErr: "tag"},
		{in: "app:" + strings.Repeat("t", 129), wantErr: "tag"},
		{in: "app:v1:v2", wantErr: "tag"},
		{in: ":v1", wantErr: "no repository"},
		{in: "@" + dig.String(), wantErr: "no repository"},
		{in: "app@sha256:" + hex[:63], wantErr: "digest"},
		{in: "app@sha256:" + strings.ToUpper(hex), wantErr: "digest"},
		{in: "app@sha512:" + hex + hex, wantErr: "digest"},
		{in: "app@" + hex, wantErr: "digest"},
		{in: "app@", wantErr: "digest"},
		{in: "app@" + dig.String() + "@" + dig.String(), wantErr: "digest"},
		{in: "reg:port/app", wantErr: "registry"},
		{in: "a.b_c/app", wantErr: "registry"},
		{in: "-reg.io/app", wantErr: "registry"},
		{in: "[::1]:5000/app", wantErr: "registry"},
		{in: "quay.io/" + strings.Repeat("a", 250), wantErr: "at most 255"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseName(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseName(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.in) {
					t.Fatalf("ParseName(%q) error %q should contain %q and name the input", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseName(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseName(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseName(%q).String() = %q, want the input back", tt.in, s)
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		in      string
		want    string // String() of the result; "" when an error is expected
		wantErr string
	}{
		{in: "nginx", want: "docker.io/library/nginx:latest"},
		{in: "v1", want: "docker.io/library/v1:latest"},
		{in: "nginx:1.27", want: "docker.io/library/nginx:1.27"},
		{in: "docker.io/nginx", want: "docker.io/library/nginx:latest"},
		{in: "index.docker.io/library/nginx:1", want: "docker.io/library/nginx:1"},
		{in: "index.docker.io/nginx", want: "docker.io/library/nginx:latest"},
		{in: "bitnami/redis", want: "docker.io/bitnami/redis:latest"},
		{in: "docker.io/bitnami/redis:7", want: "docker.io/bitnami/redis:7"},
		{in: "quay.io/ns/app", want: "quay.io/ns/app:latest"},
		{in: "quay.io/app", want: "quay.io/app:latest"},
		{in: "localhost/app", want: "localhost/app:latest"},
		{in: "localhost:5000/app:1", want: "localhost:5000/app:1"},
		{in: "nginx@" + dig.String(), want: "docker.io/library/nginx@" + dig.String()},
		{in: "quay.io/ns/app:v1@" + dig.String(), want: "quay.io/ns/app:v1@" + dig.String()},

		{in: "docker://quay.io/ns/app", wantErr: "transport prefix"},
		{in: "Nginx", wantErr: "must be lowercase"},
		{in: "quay.io/Ns/app", wantErr: "must be lowercase"},
		{in: "a//b", wantErr: "empty path component"},
		{in: "quay.io/ns/app/", wantErr: "empty path component"},
		{in: "nginx@sha256:abc", wantErr: "digest"},
		{in: "", wantErr: "empty image name"},
		// Fits before normalizing, not after.
		{in: strings.Repeat("a", 250), wantErr: "at most 255"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseReference(%q) = %v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || (tt.in != "" && !strings.Contains(err.Error(), tt.in)) {
					t.Fatalf("ParseReference(%q) error %q should contain %q and name the input", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseReference(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Fatalf("ParseReference(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// A normalized reference is also a valid recorded name.
			back, err := ParseName(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseName(%q) = %+v, %v; want %+v", got.String(), back, err, got)
			}
		})
	}
}

func TestNameString(t *testing.T) {
	tests := []struct {
		n        Name
		str, rep string
	}{
		{Name{Registry: "quay.io", Repository: "ns/app", Tag: "v1"}, "quay.io/ns/app:v1", "quay.io/ns/app"},
		{Name{Registry: "r.example:5000", Repository: "a/b", Tag: "t", Digest: dig}, "r.example:5000/a/b:t@" + dig.String(), "r.example:5000/a/b"},
		{Name{Repository: "app", Digest: dig}, "app@" + dig.String(), "app"},
		{Name{Repository: "app"}, "app", "app"},
		{Name{Tag: "v1"}, "v1", ""},
	}
	for _, tt := range tests {
		if got := tt.n.String(); got != tt.str {
			t.Errorf("%+v.String() = %q, want %q", tt.n, got, tt.str)
		}
		if got := tt.n.RepositoryName(); got != tt.rep {
			t.Errorf("%+v.RepositoryName() = %q, want %q", tt.n, got, tt.rep)
		}
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"quay.io/ns/app:v1", "registry.example:5000/a/b@" + dig.String(), "localhost/app:1",
		"app:v1", "v1", "nginx", "docker.io/nginx", "a//b", "A/b", "a/b/", "..", "a b",
		"x@sha256:", "x:y:z", "h:1/a:b@" + dig.String(), strings.Repeat("a", 130),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err == nil {
			back, err := ParseName(n.String())
			if err != nil {
				t.Fatalf("ParseName(%q) = %+v, but its String %q does not parse: %v", s, n, n.String(), err)
			}
			if back != n {
				t.Fatalf("ParseName(%q) = %+v, but ParseName(%q) = %+v", s, n, n.String(), back)
			}
		}
		// Whatever ParseReference accepts is a canonical recorded name.
		if r, err := ParseReference(s); err == nil {
			if back, err := ParseName(r.String()); err != nil || back != r {
				t.Fatalf("ParseReference(%q) = %+v, but ParseName(%q) = %+v, %v", s, r, r.String(), back, err)
			}
		}
	})
}

// FuzzValidTag holds ValidTag to the distribution spec's regular
// expression for a tag.
func FuzzValidTag(f *testing.F) {
	grammar := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	for _, s := range []string{"", "v1", "_", ".v1", "-v1", "v1.0-rc_1", "V", "a/b", "a:b", "a b", "é", "v1\n",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "a" + strings.Repeat(".", 127)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTag(s), grammar.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, the grammar says %v", s, got, want)
		}
	})
}

func TestCutDigestTag(t *testing.T) {
	hex := dig.Encoded()
	for _, c := range []struct {
		tag, rest string
		ok        bool
	}{
		{"sha256-" + hex, "", true},
		{"sha256-" + hex + ".sig", ".sig", true},
		{"sha256-" + hex[:63], "", false},
		{"sha256-" + strings.ToUpper(hex), "", false},
		{"sha512-" + hex, "", false},
		{"v1", "", false},
	} {
		if rest, ok := CutDigestTag(c.tag); rest != c.rest || ok != c.ok {
			t.Errorf("CutDigestTag(%q) = %q, %v; want %q, %v", c.tag, rest, ok, c.rest, c.ok)
		}
	}
}
