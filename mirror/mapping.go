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
}

// Repository returns the repository path in the mirror (without host) for
// an image name: Prefix/Registry/Repository by default ("scoped", so that
// images of different registries cannot collide), Prefix/Repository with
// StripRegistry or for names without a registry. A bare tag has no
// repository to map and is an error.
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

// repository joins the parts of the mirror repository without checking them.
func (m Mapping) repository(n Name) string {
	var parts []string
	if m.Prefix != "" {
		parts = append(parts, m.Prefix)
	}
	if n.Registry != "" && !m.StripRegistry {
		parts = append(parts, strings.ToLower(strings.ReplaceAll(n.Registry, ":", "_")))
	}
	return strings.Join(append(parts, n.Repository), "/")
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
