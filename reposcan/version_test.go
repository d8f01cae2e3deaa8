package reposcan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestParseVersionOrder(t *testing.T) {
	t.Parallel(
	// Oldest first; each line newer than the previous one.
	)

	order := []string{
		"0.9",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-rc1",
		"1",
		"1.0.0-1",
		"1.0.0-2",
		"1.0.0-10",
		"1.0.1",
		"v1.2",
		"1.2.3-r1", // an alphanumeric suffix is a pre-release
		"1.2.3",
		"1.2.3-4",
		"1.10",
		"15.4",
		"15.4.27.11.21",
		"15.4.27.11.22",
		"15.5",
	}
	var prev version
	for i, s := range order {
		v, ok := parseVersion(s)
		if !ok {
			t.Fatalf("%q does not read as a version", s)
		}
		if i > 0 && prev.compare(v) >= 0 {
			t.Errorf("%q is not newer than %q", s, order[i-1])
		}
		prev = v
	}
	for _, eq := range [][2]string{{"1", "1.0"}, {"1.0", "v1.0.0"}, {"1.2.3+build.5", "1.2.3"}, {"01.2", "1.2"}} {
		a, _ := parseVersion(eq[0])
		b, ok := parseVersion(eq[1])
		if !ok || a.compare(b) != 0 {
			t.Errorf("%q and %q should be the same version", eq[0], eq[1])
		}
	}
	for _, s := range []string{"latest", "stable", "v", "1.", ".1", "1..2", "V1.2", "1.2-", "1.2-rc..1", "sha256-abc", "1.2_3", "15.4-beta_1"} {
		if _, ok := parseVersion(s); ok {
			t.Errorf("%q reads as a version", s)
		}
	}
}

func TestNewest(t *testing.T) {
	t.Parallel()
	tags := []string{"latest", "1.0", "v1.0", "1.2.3", "1.2.3-4", "1.2.3-rc1", "1.10", "1.9", "stable", "2.0-beta"}
	for _, c := range []struct {
		n    int
		want string
	}{
		// A pre-release of 2.0 is newer than 1.10 (semver precedence).
		{1, "[2.0-beta]"},
		{2, "[1.10 2.0-beta]"},
		{3, "[1.10 1.9 2.0-beta]"},
		{4, "[1.10 1.2.3-4 1.9 2.0-beta]"},
		{5, "[1.10 1.2.3 1.2.3-4 1.9 2.0-beta]"},
		{7, "[1.0 1.10 1.2.3 1.2.3-4 1.2.3-rc1 1.9 2.0-beta]"},
		{8, "[1.0 1.10 1.2.3 1.2.3-4 1.2.3-rc1 1.9 2.0-beta v1.0]"},
		{100, "[1.0 1.10 1.2.3 1.2.3-4 1.2.3-rc1 1.9 2.0-beta v1.0]"}, // never "latest" nor "stable"
	} {
		if got := fmt.Sprint(newest(tags, c.n)); got != c.want {
			t.Errorf("newest(%d) = %s, want %s", c.n, got, c.want)
		}
	}
	// Ties: "1.0" and "v1.0" are equal; "1.0" (smaller bytes) counts as newer,
	// whatever the input order.
	for _, in := range [][]string{{"1.0", "v1.0", "0.1"}, {"v1.0", "0.1", "1.0"}} {
		if got := fmt.Sprint(newest(in, 1)); got != "[1.0]" {
			t.Errorf("newest(%v, 1) = %s, want [1.0]", in, got)
		}
	}
}

// TestSuperseded: the expectations for mirror-registry's own cases were
// worked through its algorithm (cmd/main.go, --minimize: tags sorted by
// pkg/verscmp, a tag kept when it prefixes the next one, runs of tags that
// share the previous tag as prefix collapsed to their last).
func TestSuperseded(t *testing.T) {
	t.Parallel()
	keep := func(tags []string) string {
		drop := superseded(tags)
		var out []string
		for _, tag := range tags {
			if !drop[tag] {
				out = append(out, tag)
			}
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		tags []string
		want string
	}{
		// registry.opensuse.org style: floating version tags and their builds
		// (mirror-registry keeps the same).
		{[]string{"15.4", "15.4.27.11.21", "15.4.27.11.22", "15.5", "15.5.1.2", "15.5.1.3", "latest"},
			"[15.4 15.4.27.11.22 15.5 15.5.1.3 latest]"},
		// Builds compare by number, not bytes: .10 is newer than .9.
		{[]string{"15.4", "15.4.27.9", "15.4.27.10"}, "[15.4 15.4.27.10]"},
		// A dash numbers a build too (mirror-registry reads dashes as dots).
		{[]string{"1.2.3", "1.2.3-1", "1.2.3-2", "1.2.4"}, "[1.2.3 1.2.3-2 1.2.4]"},
		// Builds of no tag stay: nothing names their version (mirror-registry
		// keeps both as well, as its first and last tags).
		{[]string{"1.2.3-1", "1.2.3-2"}, "[1.2.3-1 1.2.3-2]"},
		// Nested versions: every tag others extend stays; 15.5 is the newest
		// build of 15 (mirror-registry keeps all four too).
		{[]string{"15", "15.4", "15.4.1", "15.5"}, "[15 15.4 15.4.1 15.5]"},
		// A build under a deeper version counts against the outer one's:
		// 15.4.2.1 is newer than 15.4.1, both under 15.4 (mirror-registry
		// drops 15.4.1 as well, and also the floating 15.4.2, which stays here).
		{[]string{"15.4", "15.4.1", "15.4.2", "15.4.2.1"}, "[15.4 15.4.2 15.4.2.1]"},
		// Whole numbers: 1.10 is no build of 1.1 (mirror-registry compares
		// bytes and would take it for one).
		{[]string{"1.1", "1.10", "1.1.1", "1.1.2"}, "[1.1 1.1.2 1.10]"},
		// v-prefixed tags extend v-prefixed tags.
		{[]string{"v2", "v2.0.1", "v2.0.2", "2.0.0"}, "[2.0.0 v2 v2.0.2]"},
		// Tags that are no version never go.
		{[]string{"1.0", "1.0-rc1", "1.0-rc2", "1.0.1", "1.0.2", "latest"}, "[1.0 1.0-rc1 1.0-rc2 1.0.2 latest]"},
	} {
		if got := keep(c.tags); got != c.want {
			t.Errorf("minimize %v = %s, want %s", c.tags, got, c.want)
		}
	}
}

func TestExtends(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		b, v string
		want bool
	}{
		{"15.4.27", "15.4", true}, {"1.2.3-2", "1.2.3", true}, {"1.10", "1.1", false},
		{"1.1", "1.1", false}, {"1.1.", "1.1", false}, {"v1.2", "1.2", false},
	} {
		if got := extends(c.b, c.v); got != c.want {
			t.Errorf("extends(%q, %q) = %v", c.b, c.v, got)
		}
	}
}

// TestFilterTagsLeavesReferrersListsOut: a tag of the OCI referrers tag
// schema names a list of referrers, which travel with their subjects, not
// an image of its own; cosign's tags and tags that merely look alike stay.
func TestFilterTagsLeavesReferrersListsOut(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	tags := []string{"1.0", "sha256-" + hex, "sha256-" + hex + ".sig", "sha256-" + strings.ToUpper(hex), "sha256-abc", "sha256-" + hex[:63]}
	got := Rule{}.filterTags(tags, nil)
	want := []string{"1.0", "sha256-" + hex[:63], "sha256-" + hex + ".sig", "sha256-" + strings.ToUpper(hex), "sha256-abc"}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
}
