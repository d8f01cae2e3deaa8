package bundle

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestParseTagPattern(t *testing.T) {
	t.Parallel()
	d := digest.FromString("a manifest")
	hex := d.Encoded()
	for _, c := range []struct {
		pattern, tag, err string
	}{
		{"", "", "want one {hex}"},
		{DefaultTagPattern, ManifestTag(d), ""},
		{"mirror-{hex:16}", "mirror-" + hex[:16], ""},
		{"{hex:16}", hex[:16], ""},
		{"m_{algorithm}.{hex}", "m_sha256." + hex, ""},
		{"_{hex:64}-x", "_" + hex + "-x", ""},
		{"{hex:15}", "", "N is a number of hex digits from 16"},
		{"{hex:65}", "", "to 64"},
		{"{hex:x}", "", "N is a number"},
		{"x-{hex}-{hex:20}", "", "want one {hex} or {hex:N} placeholder, found 2"},
		{"plain", "", "found 0"},
		{"{algorithm}{algorithm}-{hex:16}", "", "{algorithm} more than once"},
		{"{digest}-{hex:16}", "", "unknown placeholder {digest}"},
		{"{hex:16", "", "unbalanced brace"},
		{"a}{hex:16}", "", "unbalanced brace"},
		{"{{hex:16}}", "", "unbalanced brace"},
		{"-{hex:16}", "", "not a valid tag"},
		{".{hex:16}", "", "not a valid tag"},
		{"a/{hex:16}", "", "not a valid tag"},
		{"a:{hex:16}", "", "not a valid tag"},
		{strings.Repeat("x", 65) + "{hex}", "", "at most 128 characters"},
		{"{algorithm}-{hex}", "", "referrers tag schema"},
		{"sha256-{hex:64}", "", "referrers tag schema"},
		{"{algorithm}-{hex}.sig", "", "cosign"},
	} {
		p, err := ParseTagPattern(c.pattern)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrTagPattern) || !strings.Contains(err.Error(), "\""+c.pattern+"\"") {
				t.Errorf("%q: %v, want an ErrTagPattern naming the pattern and %q", c.pattern, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.pattern, err)
		case p.Tag(d) != c.tag || p.String() != c.pattern:
			t.Errorf("%q: tag %q (String %q), want %q", c.pattern, p.Tag(d), p.String(), c.tag)
		}
	}
	var zero TagPattern
	if zero.Tag(d) != ManifestTag(d) || zero.String() != DefaultTagPattern {
		t.Errorf("zero TagPattern: %q, %q", zero.Tag(d), zero.String())
	}
}

var validTag = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// FuzzParseTagPattern: a pattern accepted makes valid tags, never of the
// referrers tag schema, carrying at least 16 hex digits of the digest, so
// that two digests that differ there get two tags.
func FuzzParseTagPattern(f *testing.F) {
	for _, s := range []string{DefaultTagPattern, "{hex}", "m-{hex:16}", "{algorithm}-{hex}", "{hex:16}{", "x{algorithm}_{hex:40}.y"} {
		f.Add(s)
	}
	a := digest.FromString("a")
	b := digest.Digest("sha256:" + a.Encoded()[:15] + strings.Map(func(r rune) rune {
		if r == '0' {
			return '1'
		}
		return '0'
	}, a.Encoded()[15:16]) + a.Encoded()[16:])
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseTagPattern(s)
		if err != nil {
			if !errors.Is(err, ErrTagPattern) {
				t.Fatalf("%q: %v is not an ErrTagPattern", s, err)
			}
			return
		}
		for _, d := range []digest.Digest{a, b, digest.FromString(s)} {
			tag := p.Tag(d)
			if !validTag.MatchString(tag) || schemaTag(tag) {
				t.Fatalf("%q makes %q for %s", s, tag, d)
			}
		}
		if p.Tag(a) == p.Tag(b) {
			t.Fatalf("%q makes %q for two digests that differ in the 16th hex digit", s, p.Tag(a))
		}
	})
}

// TestSchemaTag holds schemaTag to the regular expression of the
// referrers tag schema and the tags cosign makes from it.
func TestSchemaTag(t *testing.T) {
	grammar := regexp.MustCompile(`^sha256-[0-9a-f]{64}`)
	hex := digest.FromString("x").Encoded()
	for _, tag := range []string{"", "sha256-", "sha256-" + hex, "sha256-" + hex + ".sig", "sha256-" + hex[:63],
		"sha256-" + strings.ToUpper(hex), "sha512-" + hex, "v1-sha256-" + hex, "sha256-" + hex[:63] + "g" + ".att"} {
		if got, want := schemaTag(tag), grammar.MatchString(tag); got != want {
			t.Errorf("schemaTag(%q) = %v, the grammar says %v", tag, got, want)
		}
	}
}
