package bundle

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/airgap-bundle/bundle/mirror"
	"github.com/opencontainers/go-digest"
)

// TagPattern is how a RegistryDestination names a manifest that has no
// tag of its own when the registry wants one (TagManifests, or a registry
// that refuses manifests by digest): a template of literal text and the
// placeholders
//
//	{algorithm}  the digest's algorithm, sha256
//	{hex}        the digest's 64 hex digits
//	{hex:N}      its first N hex digits, 16 ≤ N ≤ 64
//
// The zero TagPattern is DefaultTagPattern, the tag ManifestTag makes.
// ParseTagPattern checks a template once, so that every tag it makes is a
// valid tag and none is made for two manifests.
type TagPattern struct {
	src   string
	parts []tagPart
}

// tagPart is literal text, or a placeholder (hex digits > 0: the first
// that many; algorithm: the algorithm).
type tagPart struct {
	text      string
	hex       int
	algorithm bool
}

// DefaultTagPattern is the template of ManifestTag.
const DefaultTagPattern = "{algorithm}-{hex:32}"

// minTagHex is the fewest hex digits of the digest a made tag carries: 64
// bits, so that two manifests of a mirror never share a made tag.
const minTagHex = 16

// ErrTagPattern is wrapped by every error of ParseTagPattern.
var ErrTagPattern = errors.New("invalid tag pattern")

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// schemaTag reports whether tag is one other tools give a meaning: the
// OCI referrers tag schema (sha256-<64 hex>, the list of a manifest's
// referrers), and cosign's signature, attestation and SBOM tags, which
// start so.
func schemaTag(tag string) bool {
	_, ok := mirror.CutDigestTag(tag)
	return ok
}

// ParseTagPattern checks a template (see TagPattern). It refuses one
// whose tags would not be valid OCI tags ([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}),
// that takes fewer than 16 hex digits of the digest, or more than once,
// or whose tags would be read as a referrers list or a cosign tag
// (sha256-<64 hex>…).
func ParseTagPattern(s string) (TagPattern, error) {
	fail := func(format string, args ...any) (TagPattern, error) {
		return TagPattern{}, fmt.Errorf("%w %q: %s", ErrTagPattern, s, fmt.Sprintf(format, args...))
	}
	p := TagPattern{src: s}
	rest := s
	hexes, algorithms := 0, 0
	for rest != "" {
		loc := placeholder.FindStringIndex(rest)
		lit := rest
		if loc != nil {
			lit = rest[:loc[0]]
		}
		if strings.ContainsAny(lit, "{}") {
			return fail("unbalanced brace in %q", lit)
		}
		if lit != "" {
			p.parts = append(p.parts, tagPart{text: lit})
		}
		if loc == nil {
			break
		}
		name := rest[loc[0]+1 : loc[1]-1]
		rest = rest[loc[1]:]
		switch {
		case name == "algorithm":
			algorithms++
			p.parts = append(p.parts, tagPart{algorithm: true})
		case name == "hex":
			hexes++
			p.parts = append(p.parts, tagPart{hex: 64})
		case strings.HasPrefix(name, "hex:"):
			n, err := strconv.Atoi(name[len("hex:"):])
			if err != nil || n < minTagHex || n > 64 {
				return fail("{%s}: N is a number of hex digits from %d (so that two manifests never share a tag) to 64", name, minTagHex)
			}
			hexes++
			p.parts = append(p.parts, tagPart{hex: n})
		default:
			return fail("unknown placeholder {%s}; there are {algorithm}, {hex} and {hex:N}", name)
		}
	}
	if hexes != 1 {
		return fail("want one {hex} or {hex:N} placeholder, found %d", hexes)
	}
	if algorithms > 1 {
		return fail("{algorithm} more than once")
	}
	// Every tag the pattern makes has the same shape: a sample shows
	// whether any is valid.
	sample := p.Tag(digest.FromString(s))
	if !mirror.ValidTag(sample) {
		return fail("makes tags such as %q, which is not a valid tag (letters, digits, _ . -, not starting with . or -, at most 128 characters)", sample)
	}
	if schemaTag(sample) {
		return fail("makes tags such as %q, which clients read as the referrers list of a manifest (OCI referrers tag schema) or a cosign tag", sample)
	}
	return p, nil
}

// Tag is the tag the pattern makes for d.
func (p TagPattern) Tag(d digest.Digest) string {
	if p.parts == nil {
		return ManifestTag(d)
	}
	var b strings.Builder
	for _, x := range p.parts {
		switch {
		case x.algorithm:
			b.WriteString(d.Algorithm().String())
		case x.hex > 0:
			b.WriteString(d.Encoded()[:x.hex])
		default:
			b.WriteString(x.text)
		}
	}
	return b.String()
}

// String is the template, DefaultTagPattern for the zero TagPattern.
func (p TagPattern) String() string {
	if p.parts == nil {
		return DefaultTagPattern
	}
	return p.src
}
