package format_test

import (
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/mirror"
)

// TestRepositoryNameAgreesWithMirror: format checks repository names with
// a copy of the grammar package mirror parses ref names with (format
// depends on nothing of the project); the two must accept the same names,
// or a base would record a name a push cannot map, or refuse one it can.
func TestRepositoryNameAgreesWithMirror(t *testing.T) {
	names := []string{
		"app", "ns/app", "quay.io/ns/app", "localhost/app", "localhost:5000/app", "Registry.Example:5000/ns/app",
		"registry.example_5000/ns/app", "a__b/c-d", "a---b/c.d", "a_/b", "-a/b", "a//b", "a/", "/a", "A/b", "quay.io/NS/app",
		"quay.io", "x:5000/app", "bad-.host/app", "host:port/app", "a b/c", "quay.io/" + strings.Repeat("a", 248),
		"quay.io/" + strings.Repeat("a", 247),
	}
	for _, n := range names {
		// A ref name with a tag is never a bare tag: mirror parses its
		// repository whatever it is.
		m, merr := mirror.ParseName(n + ":t")
		want := merr == nil && m.RepositoryName() == n
		if got := format.CheckRepositoryName(n, true) == nil; got != want {
			t.Errorf("%q: format accepts it: %v, mirror: %v (%v)", n, got, want, merr)
		}
		wantPath := mirror.CheckRepository(n) == nil && len(n) <= format.MaxRepositoryLength
		if got := format.CheckRepositoryName(n, false) == nil; got != wantPath {
			t.Errorf("%q as a mirror path: format accepts it: %v, mirror: %v", n, got, wantPath)
		}
	}
}
