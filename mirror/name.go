// Package mirror maps images named at their source to repositories of a
// mirror registry, and writes the files that make clients pull them from
// there: a containers-registries.conf(5) drop-in for CRI-O and podman, and
// an OpenShift ImageDigestMirrorSet.
//
// Both files mirror by digest only. A tag in the mirror was copied at some
// moment and the source's tag may have moved since, so only a pull by digest
// is guaranteed to get from the mirror the bytes the source would serve.
package mirror

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// maxNameLength is docker's limit on registry/repository, the same limit
// registries enforce; longer names could be packed but never pushed.
const maxNameLength = 255

// The docker reference grammar (github.com/distribution/reference), written
// out here so that we accept exactly what registries accept without
// importing the normalizing parser: recorded names must be kept as given.
var (
	// A registry is a host name of dot-separated labels with an optional
	// port. IPv6 literals are not accepted.
	registryRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$`)
	// A repository path component: lowercase words joined by separators.
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
)

// CutDigestTag reports whether tag starts with "sha256-" and the 64
// lowercase hex digits of a digest, and returns what follows. Other tools
// give such tags a meaning: exactly that (rest "") is the OCI referrers tag
// schema's list of a manifest's referrers; with ".sig", ".att" or ".sbom"
// after it, cosign's signature, attestation or SBOM.
func CutDigestTag(tag string) (rest string, ok bool) {
	hex, ok := strings.CutPrefix(tag, "sha256-")
	if !ok || len(hex) < 64 {
		return "", false
	}
	for i := range 64 {
		if c := hex[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return hex[64:], true
}

// ValidTag reports whether s is a tag (the distribution spec's grammar,
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). A loop, not that regular
// expression: compiled, its {0,127} is 128 copies of the class, and every
// start of the command paid for compiling it in each package that had it.
func ValidTag(s string) bool {
	if len(s) == 0 || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Name is an image name as the bundle records it (the OCI ref name
// annotation of an index entry).
type Name struct {
	// Registry is "quay.io", "registry.example:5000", "localhost"; "" when
	// the name has no registry (images from oci: layouts).
	Registry string
	// Repository is "library/nginx", "ns/app"; "" for a bare tag such as
	// "v1" (skopeo-style OCI layouts).
	Repository string
	// Tag is "" when none.
	Tag string
	// Digest is "" when none.
	Digest digest.Digest
}

// String returns the canonical text [registry/]repository[:tag][@digest];
// a bare tag prints as the tag. ParseName of the result gives n back.
func (n Name) String() string {
	if n.Repository == "" {
		return n.Tag
	}
	s := n.RepositoryName()
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + string(n.Digest)
	}
	return s
}

// RepositoryName returns "registry/repository", or "repository" when the
// name has no registry ("" for a bare tag).
func (n Name) RepositoryName() string {
	if n.Registry == "" {
		return n.Repository
	}
	return n.Registry + "/" + n.Repository
}

// ParseName parses a name recorded in a bundle, without normalizing it:
// "nginx" stays "nginx", it does not become docker.io/library/nginx:latest.
//
// The grammar is docker's reference grammar:
//   - "@" starts a digest, which must be "sha256:" and 64 lowercase hex digits;
//   - after the last "/", a ":" starts the tag, [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
//   - the first "/"-separated component is the registry when it contains "."
//     or ":" or is "localhost", and must then be host[:port];
//   - every other component is lowercase [a-z0-9]+ words separated by ".",
//     "_", "__" or one or more "-";
//   - registry/repository is at most 255 characters.
//
// One exception: a name with no "/", ":" or "@" that matches the tag grammar
// is a bare tag (Repository "", Tag the name), as skopeo records images it
// copies into an OCI layout ("oci:dir:v1").
//
// Anything else (uppercase in the repository, empty components such as in
// "a//b" or "a/", "..", spaces, a malformed digest) is an error naming s.
func ParseName(s string) (Name, error) {
	if !strings.ContainsAny(s, "/:@") && ValidTag(s) {
		return Name{Tag: s}, nil
	}
	return parse(s)
}

// ParseReference parses an image reference typed by a user (what follows
// "docker://") and normalizes it as docker does: no registry means
// "docker.io" ("index.docker.io" is the same registry and becomes
// "docker.io"); a docker.io repository of one component is in "library/";
// with neither tag nor digest the tag is "latest"; the registry host is
// lowercased. A reference may carry
// both a tag and a digest: both are kept, and the digest is what is fetched.
func ParseReference(s string) (Name, error) {
	if strings.Contains(s, "://") {
		return Name{}, fmt.Errorf("image reference %q: give it without a transport prefix, as [registry/]repository[:tag][@digest]", s)
	}
	n, err := parse(s)
	if err != nil {
		return Name{}, err
	}
	// Host names are case-insensitive: record one spelling.
	n.Registry = strings.ToLower(n.Registry)
	if n.Registry == "" || n.Registry == "index.docker.io" {
		n.Registry = "docker.io"
	}
	if n.Registry == "docker.io" && !strings.Contains(n.Repository, "/") {
		n.Repository = "library/" + n.Repository
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = "latest"
	}
	// Normalizing lengthens the name; check again so that the result is
	// always a name ParseName accepts.
	if err := checkLength(s, n); err != nil {
		return Name{}, err
	}
	return n, nil
}

// parse applies the docker reference grammar to s, without the bare tag
// exception and without normalizing.
func parse(s string) (Name, error) {
	if s == "" {
		return Name{}, fmt.Errorf("empty image name: expected [registry/]repository[:tag][@digest]")
	}
	var n Name
	rest := s
	if before, after, ok := strings.Cut(rest, "@"); ok {
		d, err := parseDigest(after)
		if err != nil {
			return Name{}, fmt.Errorf("image name %q: %w", s, err)
		}
		n.Digest, rest = d, before
	}
	// After the last "/", a ":" starts the tag; a ":" before it is the
	// registry's port.
	last := strings.LastIndexByte(rest, '/') + 1
	if repo, tag, ok := strings.Cut(rest[last:], ":"); ok {
		n.Tag, rest = tag, rest[:last]+repo
		if !ValidTag(n.Tag) {
			return Name{}, fmt.Errorf("image name %q: tag %q is not valid: a tag is 1 to 128 of A-Z a-z 0-9 _ . - and does not start with . or -", s, n.Tag)
		}
	}
	if rest == "" {
		return Name{}, fmt.Errorf("image name %q has no repository before its tag or digest: expected [registry/]repository[:tag][@digest]", s)
	}
	if first, after, ok := strings.Cut(rest, "/"); ok && isRegistry(first) {
		if !registryRE.MatchString(first) {
			return Name{}, fmt.Errorf("image name %q: registry %q is not a valid host[:port]", s, first)
		}
		n.Registry, rest = first, after
	}
	if err := checkPath(rest); err != nil {
		return Name{}, fmt.Errorf("image name %q: %w", s, err)
	}
	n.Repository = rest
	if err := checkLength(s, n); err != nil {
		return Name{}, err
	}
	return n, nil
}

// CheckRegistry checks that host is a registry host[:port] in docker's
// grammar: dot-separated labels of letters, digits and inner "-", and an
// optional numeric port.
func CheckRegistry(host string) error {
	if !registryRE.MatchString(host) {
		return fmt.Errorf("%q is not a valid registry host[:port]", host)
	}
	return nil
}

// CheckRepository checks a "/"-separated repository path, or a prefix of
// one, in docker's grammar (lowercase components, no empty ones).
func CheckRepository(path string) error { return checkPath(path) }

// ParseDigest parses a digest as image names carry it: sha256 only, the
// one algorithm bundles carry.
func ParseDigest(s string) (digest.Digest, error) { return parseDigest(s) }

// isRegistry is docker's rule for telling a registry host from the first
// component of a repository path.
func isRegistry(component string) bool {
	return strings.ContainsAny(component, ".:") || component == "localhost"
}

// checkPath checks a "/"-separated repository path (or mirror prefix).
func checkPath(p string) error {
	for c := range strings.SplitSeq(p, "/") {
		if c == "" {
			return fmt.Errorf("repository %q has an empty path component (a leading, trailing or doubled /)", p)
		}
		if !componentRE.MatchString(c) {
			hint := ""
			if strings.ToLower(c) != c {
				hint = "; repositories must be lowercase"
			}
			return fmt.Errorf("repository path component %q is not valid: use lowercase letters and digits separated by ., _, __ or -%s", c, hint)
		}
	}
	return nil
}

func checkLength(s string, n Name) error {
	if l := len(n.RepositoryName()); l > maxNameLength {
		return fmt.Errorf("image name %q: repository name is %d characters long; registries allow at most %d", s, l, maxNameLength)
	}
	return nil
}

// parseDigest accepts only sha256, the one algorithm bundles carry.
func parseDigest(s string) (digest.Digest, error) {
	if !strings.HasPrefix(s, string(digest.SHA256)+":") {
		return "", fmt.Errorf("digest %q is not valid: expected sha256: and 64 lowercase hex digits", s)
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q is not valid (expected sha256: and 64 lowercase hex digits): %w", s, err)
	}
	return d, nil
}
