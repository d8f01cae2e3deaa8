package format

import (
	"fmt"
	"regexp"
	"strings"
)

// Repository names (SPEC 11.6.1), as a base's repository lists give them
// (Base.Repositories, Base.MirrorRepositories) and an inventory records
// them. The grammar is docker's reference grammar, the one package mirror
// parses ref names with; it is written again here because this package
// depends on nothing of the project (TestRepositoryNameAgreesWithMirror
// keeps the two in step).
var (
	registryRE  = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
)

// CheckRepositoryName checks a repository name of at most
// MaxRepositoryLength bytes, without tag or digest. With registry, it is a
// source repository name as a ref name gives it: [REGISTRY/]PATH, the first
// of several components being the registry when it contains "." or ":" or
// is "localhost" (quay.io/ns/app, app). Without, it is a path in a mirror:
// lowercase components only (airgap/quay.io/ns/app).
func CheckRepositoryName(name string, registry bool) error {
	if name == "" || len(name) > MaxRepositoryLength {
		return fmt.Errorf("repository name of %d bytes: want 1 to %d", len(name), MaxRepositoryLength)
	}
	path := name
	if first, rest, ok := strings.Cut(name, "/"); registry && ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		if !registryRE.MatchString(first) {
			return fmt.Errorf("repository %q: %q is not a registry host[:port]", name, first)
		}
		path = rest
	}
	for c := range strings.SplitSeq(path, "/") {
		if !componentRE.MatchString(c) {
			return fmt.Errorf("repository %q: path component %q is not lowercase letters and digits separated by ., _, __ or -", name, c)
		}
	}
	return nil
}

// CheckRepositoryList checks a list of repository names (CheckRepositoryName):
// at most MaxBaseRepositories, sorted in byte order, each once. Sorted and
// unique so that the same repositories are always the same bytes.
func CheckRepositoryList(names []string, registry bool) error {
	if len(names) > MaxBaseRepositories {
		return fmt.Errorf("%d repositories, more than %d", len(names), MaxBaseRepositories)
	}
	return checkSortedNames(names, registry)
}

// CheckRepositoryNames is CheckRepositoryList without its bound on the
// count, for an inventory, which lists every repository it walked and is
// bounded by its size.
func CheckRepositoryNames(names []string, registry bool) error {
	return checkSortedNames(names, registry)
}

func checkSortedNames(names []string, registry bool) error {
	for i, n := range names {
		if err := CheckRepositoryName(n, registry); err != nil {
			return err
		}
		if i > 0 && n <= names[i-1] {
			return fmt.Errorf("repositories not sorted, or listed twice, at %q", n)
		}
	}
	return nil
}
