package mirror

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMappingRepository(t *testing.T) {
	scoped := Mapping{Mirror: "mirror.example:5000", Prefix: "airgap"}
	strip := Mapping{Mirror: "mirror.example:5000", Prefix: "airgap", StripRegistry: true}
	deep := Mapping{Mirror: "mirror.example", Prefix: "org/team/airgap"}
	bare := Mapping{Mirror: "mirror.example"}
	app := Name{Registry: "quay.io", Repository: "ns/app", Tag: "v1"}
	tests := []struct {
		name    string
		m       Mapping
		n       Name
		want    string
		wantErr string
	}{
		{name: "scoped", m: scoped, n: app, want: "airgap/quay.io/ns/app"},
		{name: "strip", m: strip, n: app, want: "airgap/ns/app"},
		{name: "no prefix", m: bare, n: app, want: "quay.io/ns/app"},
		{name: "no prefix strip", m: Mapping{Mirror: "m", StripRegistry: true}, n: app, want: "ns/app"},
		{name: "prefix of several components", m: deep, n: app, want: "org/team/airgap/quay.io/ns/app"},
		{name: "no registry", m: scoped, n: Name{Repository: "ns/app", Tag: "v1"}, want: "airgap/ns/app"},
		{name: "no registry strip", m: strip, n: Name{Repository: "app"}, want: "airgap/app"},
		{name: "registry port", m: scoped, n: Name{Registry: "registry.example:5000", Repository: "a/b"}, want: "airgap/registry.example_5000/a/b"},
		{name: "registry uppercase", m: scoped, n: Name{Registry: "Quay.IO", Repository: "a"}, want: "airgap/quay.io/a"},
		{name: "localhost", m: bare, n: Name{Registry: "localhost", Repository: "app"}, want: "localhost/app"},

		{name: "bare tag", m: scoped, n: Name{Tag: "v1"}, wantErr: "re-pack it with a name like repo:tag"},
		{name: "too long", m: scoped, n: Name{Registry: "quay.io", Repository: strings.Repeat("a", 230)}, wantErr: "at most 255"},
		{name: "bad literal prefix", m: Mapping{Mirror: "m", Prefix: "/airgap"}, n: app, wantErr: "empty path component"},
		{name: "uppercase literal prefix", m: Mapping{Mirror: "m", Prefix: "AirGap"}, n: app, wantErr: "must be lowercase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Repository(tt.n)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Repository(%v) = %q, want error containing %q", tt.n, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.n.String()) {
					t.Fatalf("Repository(%v) error %q should contain %q and the image name", tt.n, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Repository(%v): %v", tt.n, err)
			}
			if got != tt.want {
				t.Fatalf("Repository(%v) = %q, want %q", tt.n, got, tt.want)
			}
			// The mirror repository must itself be a valid name to push to.
			if n, err := ParseName(tt.m.Mirror + "/" + got); err != nil || n.RepositoryName() != tt.m.Mirror+"/"+got {
				t.Fatalf("mirror name %s/%s does not parse back: %+v, %v", tt.m.Mirror, got, n, err)
			}
		})
	}
}

func TestMappingEntries(t *testing.T) {
	names := []Name{
		{Registry: "quay.io", Repository: "ns/app", Tag: "v2"},
		{Registry: "docker.io", Repository: "library/nginx", Tag: "1"},
		{Registry: "quay.io", Repository: "ns/app", Tag: "v1"},                        // same repository: one entry
		{Registry: "quay.io", Repository: "ns/app", Digest: dig},                      // same again, by digest
		{Repository: "local/app", Tag: "v1"},                                          // no registry: skipped
		{Tag: "v1"},                                                                   // bare tag: skipped
		{Registry: "registry.example:5000", Repository: "a/b", Tag: "x"},              // port
		{Registry: "quay.io", Repository: "ns/app-extra", Tag: "v1"},                  // shares a prefix, distinct
		{Registry: "docker.io", Repository: "library/nginx", Tag: "1", Digest: dig},   // duplicate
		{Registry: "ghcr.io", Repository: "org/tool", Tag: "latest", Digest: dig},     // tag and digest
		{Registry: "quay.io", Repository: "ns/app", Tag: "v3"},                        // duplicate, last
		{Registry: "localhost:5000", Repository: "dev/app", Tag: "1"},                 // localhost with port
		{Registry: "registry.example:5000", Repository: "a/b", Tag: "y", Digest: dig}, // duplicate with port
	}
	tests := []struct {
		name string
		m    Mapping
		want []Entry
	}{
		{name: "scoped", m: Mapping{Mirror: "mirror.example:5000", Prefix: "airgap"}, want: []Entry{
			{"docker.io/library/nginx", "mirror.example:5000/airgap/docker.io/library/nginx"},
			{"ghcr.io/org/tool", "mirror.example:5000/airgap/ghcr.io/org/tool"},
			{"localhost:5000/dev/app", "mirror.example:5000/airgap/localhost_5000/dev/app"},
			{"quay.io/ns/app", "mirror.example:5000/airgap/quay.io/ns/app"},
			{"quay.io/ns/app-extra", "mirror.example:5000/airgap/quay.io/ns/app-extra"},
			{"registry.example:5000/a/b", "mirror.example:5000/airgap/registry.example_5000/a/b"},
		}},
		{name: "strip", m: Mapping{Mirror: "mirror.example", StripRegistry: true}, want: []Entry{
			{"docker.io/library/nginx", "mirror.example/library/nginx"},
			{"ghcr.io/org/tool", "mirror.example/org/tool"},
			{"localhost:5000/dev/app", "mirror.example/dev/app"},
			{"quay.io/ns/app", "mirror.example/ns/app"},
			{"quay.io/ns/app-extra", "mirror.example/ns/app-extra"},
			{"registry.example:5000/a/b", "mirror.example/a/b"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.Entries(names)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Entries:\n got  %v\n want %v", got, tt.want)
			}
			// Entries and Repository agree on where each image goes.
			for _, n := range names {
				if n.Registry == "" {
					continue
				}
				r, err := tt.m.Repository(n)
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(got, func(e Entry) bool { return e.Source == n.RepositoryName() })
				if i < 0 || got[i].Mirror != tt.m.Mirror+"/"+r {
					t.Fatalf("no entry %s -> %s/%s in %v", n.RepositoryName(), tt.m.Mirror, r, got)
				}
			}
		})
	}
	if got := (Mapping{Mirror: "m"}).Entries([]Name{{Repository: "a"}, {Tag: "v1"}}); len(got) != 0 {
		t.Errorf("Entries of names without registries = %v, want none", got)
	}
}

func TestMappingRulesAndNesting(t *testing.T) {
	rh := Name{Registry: "registry.redhat.io", Repository: "ubi9/ubi", Tag: "9.4"}
	app := Name{Registry: "quay.io", Repository: "ns/app", Tag: "v1"}
	rules := []Rule{{Source: "registry.redhat.io", Mirror: "ocp4/openshift4"}, {Source: "quay.io/ns", Mirror: "team/ns"}, {Source: "quay.io", Mirror: "q"}}
	tests := []struct {
		name string
		m    Mapping
		n    Name
		want string
	}{
		{"rule by registry", Mapping{Mirror: "m", Prefix: "p", Rules: rules}, rh, "ocp4/openshift4/ubi9/ubi"},
		{"longest rule wins", Mapping{Mirror: "m", Rules: rules}, app, "team/ns/app"},
		{"rule by whole components only", Mapping{Mirror: "m", Rules: []Rule{{Source: "quay.io/n", Mirror: "x"}}}, app, "quay.io/ns/app"},
		{"rule naming the repository", Mapping{Mirror: "m", Rules: []Rule{{Source: "quay.io/ns/app", Mirror: "x/y"}}}, app, "x/y"},
		{"no rule matches", Mapping{Mirror: "m", Prefix: "p", Rules: rules[:1]}, app, "p/quay.io/ns/app"},
		{"flatten to 2, prefix counted", Mapping{Mirror: "m", Prefix: "p", MaxNestedPaths: 2}, app, "p/quay.io_ns_app"},
		{"flatten to 1", Mapping{Mirror: "m", Prefix: "p", MaxNestedPaths: 1}, app, "p_quay.io_ns_app"},
		{"shallow enough", Mapping{Mirror: "m", Prefix: "p", MaxNestedPaths: 4}, app, "p/quay.io/ns/app"},
		{"flatten after a rule", Mapping{Mirror: "m", Rules: rules, MaxNestedPaths: 2}, rh, "ocp4/openshift4_ubi9_ubi"},
		{"flatten a port", Mapping{Mirror: "m", MaxNestedPaths: 2}, Name{Registry: "localhost:5000", Repository: "a/b/c"}, "localhost_5000/a_b_c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Repository(tt.n)
			if err != nil || got != tt.want {
				t.Fatalf("Repository(%v) = %q, %v; want %q", tt.n, got, err, tt.want)
			}
			es := tt.m.Entries([]Name{tt.n})
			if len(es) != 1 || es[0].Mirror != "m/"+tt.want || es[0].Source != tt.n.RepositoryName() {
				t.Fatalf("Entries = %+v; want the mirror repository m/%s", es, tt.want)
			}
		})
	}
}

func TestMappingCollisions(t *testing.T) {
	a := Name{Registry: "quay.io", Repository: "ns/app"}
	b := Name{Registry: "quay.io", Repository: "ns_app"}
	m := Mapping{Mirror: "m", MaxNestedPaths: 2}
	err := m.CheckCollisions([]Name{a, a, b})
	var ce *CollisionError
	if !errors.As(err, &ce) || ce.Mirror != "quay.io/ns_app" || ce.First != "quay.io/ns/app" || ce.Second != "quay.io/ns_app" {
		t.Fatalf("CheckCollisions = %v; want a CollisionError naming both sources", err)
	}
	if !strings.Contains(err.Error(), "quay.io/ns/app and quay.io/ns_app") {
		t.Errorf("error %q does not name both sources", err)
	}
	if err := (Mapping{Mirror: "m"}).CheckCollisions([]Name{a, b}); err != nil {
		t.Errorf("without flattening: %v", err)
	}
	// StripRegistry shares a repository between registries on purpose.
	s := Mapping{Mirror: "m", StripRegistry: true}
	if err := s.CheckCollisions([]Name{a, {Registry: "docker.io", Repository: "ns/app"}}); err != nil {
		t.Errorf("StripRegistry: %v", err)
	}
	r := Mapping{Mirror: "m", Rules: []Rule{{Source: "quay.io/ns/app", Mirror: "x"}, {Source: "docker.io/other", Mirror: "x"}}}
	if err := r.CheckCollisions([]Name{a, {Registry: "docker.io", Repository: "other"}}); !errors.As(err, &ce) {
		t.Errorf("two rules onto one repository: %v", err)
	}
}

func TestParseRule(t *testing.T) {
	r, err := ParseRule("registry.redhat.io=ocp4/openshift4/")
	if err != nil || r != (Rule{Source: "registry.redhat.io", Mirror: "ocp4/openshift4"}) {
		t.Fatalf("ParseRule = %+v, %v", r, err)
	}
	for _, bad := range []string{"registry.redhat.io", "=x", "a=", "a=Upper"} {
		if _, err := ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
}
