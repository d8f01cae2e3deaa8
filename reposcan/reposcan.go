// Package reposcan selects repositories and tags from a registry by
// rules: the repositories of its catalog under a prefix or matching a
// regular expression, or one repository by name; and of their tags,
// those matching a regular expression or a semantic version constraint,
// only the newest build of every version, the newest few. It reads the
// registry only (catalog and tag lists, and manifests named by
// reference), with the credentials, certificates and insecure hosts of
// oci.Registries; it copies nothing.
//
// The selection follows skopeo sync's source YAML (images: exact tags and
// digests, or every tag; images-by-tag-regex; images-by-semver) and
// openSUSE's mirror-registry (a regular expression over the catalog;
// --minimize). What it adds: Prefix (by whole path components) and
// Newest.
//
// Semantics, per rule:
//
//   - Repositories: every page of the catalog, sorted; then Prefix, then
//     the Repositories pattern. A catalog the registry refuses, or that is
//     empty, is an *oci.CatalogClosedError; a repository named by path
//     needs no catalog.
//   - Tags: every page of the tag list. The filters Tags, Semver and
//     Minimize each keep or drop a tag on its own (Minimize looks at all
//     of the repository's tags); Newest then keeps the newest of what is
//     left.
//   - A repository without tags, or whose tags the filters all drop, is a
//     notice; a rule that selects nothing at all is a
//     *NothingSelectedError naming the rule.
//   - Output is sorted by repository, then tag.
package reposcan

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Masterminds/semver/v3"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
)

// Rule selects images of one registry.
//
// Repositories come from the registry's catalog (every page of
// /v2/_catalog), unless Repository names one: those under Prefix, then
// those Repositories matches. Tags come from each repository's tag list;
// References, when set, names them instead. The tag filters all apply,
// in this order: Tags, Semver, Minimize, then Newest over what is left.
type Rule struct {
	// Registry is the registry, HOST[:PORT] (as users write it:
	// docker.io, not its API host).
	Registry string
	// Prefix keeps the repositories under this path, by whole path
	// components: "openshift" keeps "openshift/x" and "openshift/a/b",
	// not "openshift-foo/x" nor "openshift" itself. "" keeps all.
	// Leading and trailing slashes are ignored.
	Prefix string
	// Repository names one repository by its exact path; the catalog is
	// not read. Prefix and Repositories must then be empty.
	Repository string
	// Repositories keeps the repositories whose path (without the
	// registry) it matches, anywhere unless anchored, as mirror-registry
	// does: (^kubic|^opensuse/([^/]+)$). nil keeps all.
	Repositories *regexp.Regexp
	// Tags keeps the tags it matches, anywhere unless anchored, as
	// skopeo's images-by-tag-regex does. nil keeps all.
	Tags *regexp.Regexp
	// References names exact tags or digests (sha256:…) of Repository,
	// as skopeo's images lists do; every one must exist. Empty: every
	// tag (through the filters). The tag filters cannot be combined with
	// it.
	References []string
	// Semver keeps the tags that satisfy this Masterminds semver v3
	// constraint (">= 3.12", "~1.2", "^2 || 3.x"), as skopeo's
	// images-by-semver does: a tag is read with semver.NewVersion, which
	// accepts a leading "v" (not "V"), missing minor or patch numbers
	// ("v1.2" is 1.2.0) and leading zeros ("01.2"); a tag that does not
	// read so ("latest", "1.2.3.4", "15.4.27.11.21") is left out; pre-releases ("1.2.3-rc1", and "1.2.3-4" too: a dash
	// starts a pre-release in semver) satisfy a constraint only if it
	// names a pre-release itself.
	Semver string
	// Newest, when positive, keeps the Newest newest tags of each
	// repository by version, applied after the other filters. Tags are
	// read as versions leniently: an optional "v", any count of numbers
	// ("1", "1.0", "v1.2.3", "15.4.27.11.21"; missing numbers are
	// zeros), then a suffix: one of numbers ("1.2.3-4") is a revision,
	// newer than 1.2.3; any other ("1.2.3-rc1") a pre-release, older
	// than 1.2.3 and ordered as semver orders them. Tags that are no
	// version ("latest") are left out of Newest. Equal versions ("1.0",
	// "v1.0") are ordered by their bytes, the smaller as the newer.
	Newest int
	// Minimize keeps only the newest build of every version, as
	// openSUSE's mirror-registry --minimize does. It looks at every tag
	// of the repository (so it drops the same tags whatever the other
	// filters keep):
	//
	//   - Only version-like tags take part: an optional "v", then numbers
	//     separated by dots or dashes ("15.4", "15.4.27.11.21", "v1.2",
	//     "1.2.3-4"). Others ("latest", "1.2-rc1") always stay.
	//   - A tag that other tags extend by whole numbers ("15.4" for
	//     "15.4.27.11.21"; "1.2.3" for "1.2.3-2"; not "1.1" for "1.10")
	//     is a version; it stays: it is the floating tag users pull.
	//   - A tag that no tag extends is a build of the longest tag it
	//     extends; it goes when another build extending that tag is
	//     newer (numbers compared one by one, dashes as dots).
	//   - A build that extends no tag ("1.2.3-1" with no "1.2.3") stays.
	//
	// "15.4", "15.4.27.11.21", "15.4.27.11.22", "15.5", "15.5.1.2",
	// "15.5.1.3", "latest" keep "15.4", "15.4.27.11.22", "15.5",
	// "15.5.1.3" and "latest", as mirror-registry does.
	// mirror-registry compares prefixes by bytes ("1.10" would be a
	// build of "1.1") and, in deeper trees, can drop a floating tag; this
	// does neither.
	Minimize bool
}

// String describes the rule for messages, e.g.
// "registry.example/openshift/* (repositories ~ ^a, tags ~ ^v, newest 2)".
func (r Rule) String() string {
	name := r.Registry
	switch {
	case r.Repository != "":
		name += "/" + strings.Trim(r.Repository, "/")
	case strings.Trim(r.Prefix, "/") != "":
		name += "/" + strings.Trim(r.Prefix, "/") + "/*"
	default:
		name += "/*"
	}
	var parts []string
	if r.Repositories != nil {
		parts = append(parts, "repositories ~ "+r.Repositories.String())
	}
	if len(r.References) > 0 {
		parts = append(parts, "references "+strings.Join(r.References, ", "))
	}
	if r.Tags != nil {
		parts = append(parts, "tags ~ "+r.Tags.String())
	}
	if r.Semver != "" {
		parts = append(parts, "semver "+strconv.Quote(r.Semver))
	}
	if r.Minimize {
		parts = append(parts, "minimize")
	}
	if r.Newest > 0 {
		parts = append(parts, fmt.Sprintf("newest %d", r.Newest))
	}
	if len(parts) == 0 {
		return name
	}
	return name + " (" + strings.Join(parts, ", ") + ")"
}

// Match is one image a rule selects.
type Match struct {
	Repository string // path in the registry, without the host
	Tag        string // "" when Digest names the image
	// Digest is set when Rule.References names the image by digest.
	Digest digest.Digest
}

// Result is what a rule selects.
type Result struct {
	// Matches are sorted by repository, then tag (digests, which have no
	// tag, first, by digest).
	Matches []Match
	// Notices say what selected nothing without being an error: a
	// repository without tags, or whose tags the filters all left out.
	// They are sorted by repository.
	Notices []string
}

// ErrNothingSelected is wrapped when a rule selects no image at all.
var ErrNothingSelected = errors.New("selects no image")

// NothingSelectedError is a rule that selects no image at all. It is
// ErrNothingSelected (errors.Is).
type NothingSelectedError struct {
	Rule    Rule
	Notices []string // why, per repository
}

func (e *NothingSelectedError) Error() string {
	msg := fmt.Sprintf("rule %s: %v", e.Rule, ErrNothingSelected)
	if len(e.Notices) > 0 {
		msg += ": " + strings.Join(e.Notices, "; ")
	}
	return msg
}

func (e *NothingSelectedError) Unwrap() error { return ErrNothingSelected }

// check validates the rule and compiles its constraint.
func (r Rule) check() (*semver.Constraints, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("rule %s: %s", r, fmt.Sprintf(format, a...))
	}
	if r.Registry == "" || strings.ContainsAny(r.Registry, "/ ") {
		return nil, bad("the registry must be HOST[:PORT], not %q", r.Registry)
	}
	if r.Repository != "" && (strings.Trim(r.Prefix, "/") != "" || r.Repositories != nil) {
		return nil, bad("a repository named by path takes no prefix or repository pattern")
	}
	if len(r.References) > 0 {
		if r.Repository == "" {
			return nil, bad("references need the repository they are in")
		}
		if r.Tags != nil || r.Semver != "" || r.Newest != 0 || r.Minimize {
			return nil, bad("references name the images; they take no tag filters")
		}
		for _, ref := range r.References {
			if strings.Contains(ref, ":") {
				if _, err := digest.Parse(ref); err != nil {
					return nil, bad("reference %q is no digest: %v", ref, err)
				}
			} else if !mirror.ValidTag(ref) {
				return nil, bad("reference %q is no tag", ref)
			}
		}
	}
	if r.Newest < 0 {
		return nil, bad("newest must not be negative (%d)", r.Newest)
	}
	if r.Semver == "" {
		return nil, nil
	}
	c, err := semver.NewConstraint(r.Semver)
	if err != nil {
		return nil, bad("semver constraint %q: %v", r.Semver, err)
	}
	return c, nil
}

// underPrefix reports whether repo is under prefix by whole components.
func underPrefix(repo, prefix string) bool {
	return prefix == "" || strings.HasPrefix(repo, prefix+"/")
}

// scanWorkers bounds the tag lists read at once.
const scanWorkers = 8

// Scan selects what r names on its registry, reading the catalog and tag
// lists with regs's credentials, certificates and insecure hosts.
//
// A closed catalog is an *oci.CatalogClosedError: status 401, 403, 404 or
// 405, or 200 when the registry lists no repository at all (as Quay does
// to a user who may see none). A repository without tags, or whose tags
// the filters all leave out, is a notice; a rule that selects nothing at
// all is a *NothingSelectedError, with those notices. A reference (tag or
// digest) the repository lacks is an error naming it.
func Scan(ctx context.Context, regs *oci.Registries, r Rule) (*Result, error) {
	constraint, err := r.check()
	if err != nil {
		return nil, err
	}
	repos, err := r.repositories(ctx, regs)
	if err != nil {
		return nil, err
	}

	type outcome struct {
		matches []Match
		notice  string
		err     error
	}
	outs := make([]outcome, len(repos))
	var wg sync.WaitGroup
	sem := make(chan struct{}, scanWorkers)
	// After a failure no further repository is read, but those being read
	// are not cancelled: oci.Repository remembers its tag list, error
	// included, and a cancelled listing would stay failed for later scans
	// with the same Registries.
	var failed atomic.Bool
	for i, path := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if failed.Load() {
				return
			}
			if err := ctx.Err(); err != nil {
				outs[i].err = err
				return
			}
			o := &outs[i]
			o.matches, o.notice, o.err = r.scanRepository(ctx, regs, path, constraint)
			if o.err != nil {
				failed.Store(true)
			}
		}()
	}
	wg.Wait()

	res := &Result{}
	for _, o := range outs {
		if o.err != nil {
			return nil, o.err
		}
		res.Matches = append(res.Matches, o.matches...)
		if o.notice != "" {
			res.Notices = append(res.Notices, o.notice)
		}
	}
	sort.Slice(res.Matches, func(i, j int) bool {
		a, b := res.Matches[i], res.Matches[j]
		if a.Repository != b.Repository {
			return a.Repository < b.Repository
		}
		if a.Tag != b.Tag {
			return a.Tag < b.Tag
		}
		return a.Digest < b.Digest
	})
	if len(res.Matches) == 0 {
		return nil, &NothingSelectedError{Rule: r, Notices: res.Notices}
	}
	return res, nil
}

// repositories lists the repositories the rule covers, sorted.
func (r Rule) repositories(ctx context.Context, regs *oci.Registries) ([]string, error) {
	if r.Repository != "" {
		return []string{strings.Trim(r.Repository, "/")}, nil
	}
	all, err := regs.Catalog(ctx, r.Registry)
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", r, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("rule %s: %w", r, &oci.CatalogClosedError{Registry: r.Registry, Status: 200})
	}
	prefix := strings.Trim(r.Prefix, "/")
	var out []string
	for _, repo := range all {
		if underPrefix(repo, prefix) && (r.Repositories == nil || r.Repositories.MatchString(repo)) {
			out = append(out, repo)
		}
	}
	if len(out) == 0 {
		return nil, &NothingSelectedError{Rule: r, Notices: []string{fmt.Sprintf("none of the %d repositories in the catalog of %s is selected", len(all), r.Registry)}}
	}
	sort.Strings(out)
	return out, nil
}

// scanRepository selects the images of one repository, or says why it
// selects none (notice).
func (r Rule) scanRepository(ctx context.Context, regs *oci.Registries, path string, constraint *semver.Constraints) ([]Match, string, error) {
	repo, err := regs.Repository(ctx, r.Registry, path)
	if err != nil {
		return nil, "", fmt.Errorf("rule %s: %w", r, err)
	}
	if len(r.References) > 0 {
		return r.references(ctx, repo, path)
	}
	tagSet, err := repo.Tags(ctx)
	if errors.Is(err, oci.ErrNotFound) {
		// docker-registry answers 404 NAME_UNKNOWN alike for a
		// repository that holds manifests but no tag and for one that
		// does not exist; one from the catalog exists.
		if r.Repository != "" {
			return nil, fmt.Sprintf("%s has no tags, or does not exist", repo.Name), nil
		}
		return nil, fmt.Sprintf("%s has no tags", repo.Name), nil
	}
	if err != nil {
		// A repository the catalog lists but whose tags are refused
		// fails the rule: a notice would hide a credentials problem.
		return nil, "", fmt.Errorf("rule %s: %w", r, err)
	}
	if len(tagSet) == 0 {
		return nil, fmt.Sprintf("%s has no tags", repo.Name), nil
	}
	tags := make([]string, 0, len(tagSet))
	for t := range tagSet {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	kept := r.filterTags(tags, constraint)
	if len(kept) == 0 {
		return nil, fmt.Sprintf("%s: none of its %d tags is selected", repo.Name, len(tags)), nil
	}
	out := make([]Match, len(kept))
	for i, t := range kept {
		out[i] = Match{Repository: path, Tag: t}
	}
	return out, "", nil
}

// filterTags applies Tags, Semver, Minimize and Newest to every tag of a
// repository (sorted); it returns the tags kept, sorted.
func (r Rule) filterTags(tags []string, constraint *semver.Constraints) []string {
	var drop map[string]bool
	if r.Minimize {
		drop = superseded(tags)
	}
	var kept []string
	for _, t := range tags {
		if rest, ok := mirror.CutDigestTag(t); ok && rest == "" {
			// A referrers list (the OCI referrers tag schema), not an
			// image: the referrers in it travel with their subjects, and
			// a push keeps the mirror's own list under that tag.
			continue
		}
		if r.Tags != nil && !r.Tags.MatchString(t) {
			continue
		}
		if constraint != nil {
			v, err := semver.NewVersion(t)
			if err != nil || !constraint.Check(v) {
				continue
			}
		}
		if drop[t] {
			continue
		}
		kept = append(kept, t)
	}
	if r.Newest > 0 {
		kept = newest(kept, r.Newest)
	}
	sort.Strings(kept)
	return kept
}

// references checks that every named tag or digest exists.
func (r Rule) references(ctx context.Context, repo *oci.Repository, path string) ([]Match, string, error) {
	var out []Match
	seen := map[string]bool{}
	for _, ref := range r.References {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if _, err := repo.Resolve(ctx, ref); err != nil {
			return nil, "", fmt.Errorf("rule %s: %w", r, err)
		}
		if d, err := digest.Parse(ref); err == nil {
			out = append(out, Match{Repository: path, Digest: d})
		} else {
			out = append(out, Match{Repository: path, Tag: ref})
		}
	}
	return out, "", nil
}
