package mirror

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Mapping says where images go in a mirror registry.
type Mapping struct {
	// Mirror is host[:port] of the mirror registry (location.ParseDestination
	// reads it, with Prefix, from docker://HOST[:PORT][/PREFIX]).
	Mirror string
	// Prefix is the repository path prefix in the mirror, "" for none,
	// without leading or trailing "/".
	Prefix string
	// StripRegistry drops the source registry host from the mirror
	// repository. Images of the same repository path from two registries
	// then share one mirror repository.
	StripRegistry bool
	// Insecure says the mirror speaks plain HTTP or has a self-signed
	// certificate (recorded in registries.conf).
	Insecure bool
	// Rules put the images whose source repository starts with a rule's
	// Source under the rule's mirror repository instead (the longest
	// matching Source wins); images no rule matches are mapped as above.
	Rules []Rule
	// MaxNestedPaths, when above 0, is the most path components a mirror
	// repository may have, counted as the registry counts them: the
	// prefix included. Some registries refuse deeper ones (OpenShift's
	// integrated registry wants namespace/name; Quay without nested
	// repositories, the same). Deeper repositories are flattened: the
	// first MaxNestedPaths-1 components are kept and the rest are joined
	// with "_" into the last one (prefix/quay.io/ns/app with 2 becomes
	// prefix/quay.io_ns_app). Two sources that would then share a
	// repository are refused (CheckCollisions).
	MaxNestedPaths int
}

// FlattenSeparator joins the path components that MaxNestedPaths folds
// into one. "_" rather than "-": it is rarer in repository names, so
// fewer flattened names collide, and it cannot come from a host name.
const FlattenSeparator = "_"

// Rule maps every source repository under Source (a registry host, or a
// registry and the start of a repository path, as quay.io/ns) to a
// repository path of the mirror: the source's remaining path components
// are appended to Mirror. Rule{"registry.redhat.io", "ocp4/openshift4"}
// puts registry.redhat.io/ubi9/ubi at ocp4/openshift4/ubi9/ubi. The
// mapping's Prefix does not apply to it: Mirror is the whole path.
type Rule struct {
	Source string // "registry.redhat.io", "quay.io/ns"
	Mirror string // "ocp4/openshift4"
}

// ParseRule reads SOURCE_PREFIX=MIRROR_REPO.
func ParseRule(s string) (Rule, error) {
	src, dst, ok := strings.Cut(s, "=")
	src, dst = strings.Trim(src, "/"), strings.Trim(dst, "/")
	if !ok || src == "" || dst == "" {
		return Rule{}, fmt.Errorf("mapping rule %q: want SOURCE_PREFIX=MIRROR_REPOSITORY, as registry.redhat.io=ocp4/openshift4", s)
	}
	if err := checkPath(dst); err != nil {
		return Rule{}, fmt.Errorf("mapping rule %q: %w", s, err)
	}
	return Rule{Source: src, Mirror: dst}, nil
}

// rule is the rule whose Source is the longest prefix, by whole path
// components, of the source repository, or nil.
func (m Mapping) rule(n Name) *Rule {
	src := n.RepositoryName()
	var best *Rule
	for i := range m.Rules {
		r := &m.Rules[i]
		if (src == r.Source || strings.HasPrefix(src, r.Source+"/")) && (best == nil || len(r.Source) > len(best.Source)) {
			best = r
		}
	}
	return best
}

// Repository returns the repository path in the mirror (without host) for
// an image name: Prefix/Registry/Repository by default ("scoped", so that
// images of different registries cannot collide), Prefix/Repository with
// StripRegistry or for names without a registry; Rules replace all of that
// for the sources they match, and MaxNestedPaths flattens the result. A
// bare tag has no repository to map and is an error.
//
// In the scoped form the registry becomes one path component: lowercased
// (host names are case-insensitive, repositories must be lowercase) and with
// ":" of a port replaced by "_" (":" cannot appear in a repository; "_"
// cannot appear in a host name, so no two registries map to the same
// component).
func (m Mapping) Repository(n Name) (string, error) {
	if n.Repository == "" {
		return "", fmt.Errorf("image %q has no repository in its name, only a tag, so it has no place in a mirror registry: re-pack it with a name like repo:tag, or registry/repo:tag so that clients can be redirected to the mirror (with skopeo: oci:DIR:quay.io/ns/app:v1)", n.String())
	}
	r := m.repository(n)
	if err := checkPath(r); err != nil {
		return "", fmt.Errorf("image %q: mirror repository %q (prefix %q): %w", n.String(), r, m.Prefix, err)
	}
	if l := len(m.Mirror) + 1 + len(r); l > maxNameLength {
		return "", fmt.Errorf("image %q: mirror repository %s/%s is %d characters long; registries allow at most %d: use a shorter prefix or strip the source registry", n.String(), m.Mirror, r, l, maxNameLength)
	}
	return r, nil
}

// repository joins the parts of the mirror repository without checking
// them: by the longest matching rule, or Prefix/[registry/]repository;
// then flattened to MaxNestedPaths.
func (m Mapping) repository(n Name) string {
	return m.flatten(m.unflattened(n))
}

func (m Mapping) unflattened(n Name) string {
	if r := m.rule(n); r != nil {
		rest := strings.TrimPrefix(strings.TrimPrefix(n.RepositoryName(), r.Source), "/")
		if rest == "" {
			return r.Mirror
		}
		return r.Mirror + "/" + rest
	}
	var parts []string
	if m.Prefix != "" {
		parts = append(parts, m.Prefix)
	}
	if n.Registry != "" && !m.StripRegistry {
		parts = append(parts, strings.ToLower(strings.ReplaceAll(n.Registry, ":", "_")))
	}
	return strings.Join(append(parts, n.Repository), "/")
}

// flatten folds the components of path beyond MaxNestedPaths into the
// last one allowed.
func (m Mapping) flatten(path string) string {
	parts := strings.Split(path, "/")
	if m.MaxNestedPaths <= 0 || len(parts) <= m.MaxNestedPaths {
		return path
	}
	keep := m.MaxNestedPaths - 1
	return strings.Join(append(parts[:keep:keep], strings.Join(parts[keep:], FlattenSeparator)), "/")
}

// CollisionError is two source repositories that the mapping puts into
// one mirror repository, where their tags and manifests would mix.
type CollisionError struct {
	Mirror         string // the mirror repository, without host
	First, Second  string // the source repositories
	MaxNestedPaths int
}

func (e *CollisionError) Error() string {
	why := "the mapping rules"
	if e.MaxNestedPaths > 0 {
		why = fmt.Sprintf("the mapping rules and flattening to %d path components", e.MaxNestedPaths)
	}
	return fmt.Sprintf("%s and %s would both go into mirror repository %s (by %s): map one of them elsewhere", e.First, e.Second, e.Mirror, why)
}

// CheckCollisions refuses names of two source repositories that the
// mapping puts into one mirror repository. Only StripRegistry shares a
// repository on purpose, between the same repository path of two
// registries; rules and flattening never do.
func (m Mapping) CheckCollisions(names []Name) error {
	seen := map[string]string{} // mirror repository: source
	for _, n := range names {
		if n.Repository == "" {
			continue
		}
		src := n.RepositoryName()
		if m.StripRegistry && m.rule(n) == nil {
			src = n.Repository
		}
		r := m.repository(n)
		if first, ok := seen[r]; ok && first != src {
			return &CollisionError{Mirror: r, First: first, Second: src, MaxNestedPaths: m.MaxNestedPaths}
		}
		seen[r] = src
	}
	return nil
}

// Entry is one source repository and where the mirror holds it.
type Entry struct {
	Source string // "quay.io/ns/app"
	Mirror string // "mirror.example:5000/prefix/quay.io/ns/app"
}

// Entries lists one entry per source repository of names, sorted by Source
// and without duplicates. Names without a registry are skipped: a cluster
// never pulls an image by such a name, so there is nothing to redirect.
// Entries does not check the mirror repositories; Repository does, and
// images must be pushed to those before the entries are of any use.
func (m Mapping) Entries(names []Name) []Entry {
	var out []Entry
	for _, n := range names {
		if n.Registry == "" || n.Repository == "" {
			continue
		}
		out = append(out, Entry{Source: n.RepositoryName(), Mirror: m.Mirror + "/" + m.repository(n)})
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.Source, b.Source) })
	return slices.CompactFunc(out, func(a, b Entry) bool { return a.Source == b.Source })
}
