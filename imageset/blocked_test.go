package imageset

import "testing"

func TestBlockedMatches(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const e = "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		ref   string
		match bool
	}{
		// A repository: every tag and digest of it, nothing else.
		{"nginx", "nginx", true},
		{"nginx", "docker.io/library/nginx:1.27", true},
		{"nginx", "index.docker.io/library/nginx@" + d, true},
		{"nginx", "docker://nginx:1.27", true},
		{"nginx", "nginx-unprivileged", false},
		{"nginx", "quay.io/nginx", false},
		{"registry.redhat.io/ubi8/ubi", "registry.redhat.io/ubi8/ubi-minimal:8.10", false},
		{"registry.redhat.io/ubi8/ubi", "Registry.Redhat.IO/ubi8/ubi:8.10", true},
		// A tag: that tag only.
		{"nginx:1.27", "nginx:1.27", true},
		{"nginx:1.27", "nginx", false},
		{"nginx:latest", "nginx", true},
		{"nginx:1.27", "nginx:1.27@" + d, true},
		// A digest: that digest only, whatever the tag.
		{"quay.io/a/b@" + d, "quay.io/a/b:v1@" + d, true},
		{"quay.io/a/b@" + d, "quay.io/a/b@" + e, false},
		{"quay.io/a/b@" + d, "quay.io/a/b:v1", false},
		// Regular expressions over the normalized reference.
		{"/-debug(:|@)/", "quay.io/a/b-debug:1", true},
		{"/-debug(:|@)/", "quay.io/a/b:debug", false},
		{"/library/", "nginx", true},
		{`^quay\.io/.*/alpine`, "quay.io/x/alpine:3", true},
		{`^quay\.io/.*/alpine`, "docker.io/x/alpine:3", false},
		{`/:latest$/`, "nginx", true},
		{`/^not a ref$/`, "not a ref", true},
		{"nginx", "not a ref", false},
	}
	for _, tt := range tests {
		b, problem := parseBlocked(tt.name)
		if problem != "" {
			t.Errorf("%q: %s", tt.name, problem)
			continue
		}
		if got := b.Matches(tt.ref); got != tt.match {
			t.Errorf("%q matches %q: %v, want %v", tt.name, tt.ref, got, tt.match)
		}
	}
}

func TestBlockedReference(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                          "docker.io/library/nginx",
		"nginx:1":                        "docker.io/library/nginx:1",
		"docker://quay.io/a/b":           "quay.io/a/b",
		"localhost:5000/a@sha256:" + z64: "localhost:5000/a@sha256:" + z64,
	} {
		b, problem := parseBlocked(in)
		if problem != "" || b.Reference != want || b.Pattern != nil {
			t.Errorf("%q: got %q, %v, %q; want %q", in, b.Reference, b.Pattern, problem, want)
		}
	}
	for _, in := range []string{"//", "/(/", "^(", "Not A Ref", "a b"} {
		if _, problem := parseBlocked(in); problem == "" {
			t.Errorf("%q: no error", in)
		}
	}
}

const z64 = "0000000000000000000000000000000000000000000000000000000000000000"

func TestImageReference(t *testing.T) {
	for in, want := range map[string]string{
		"nginx:1.27":                        "docker.io/library/nginx:1.27",
		"docker://quay.io/a/b":              "quay.io/a/b:latest",
		"Index.Docker.IO/x/y@sha256:" + z64: "docker.io/x/y@sha256:" + z64,
	} {
		n, err := Image{Name: in}.Reference()
		if err != nil || n.String() != want {
			t.Errorf("%q: got %v, %v; want %s", in, n, err, want)
		}
	}
}
