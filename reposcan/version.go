package reposcan

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// version is a tag read leniently as a version, for Newest: an optional
// "v", one or more dot-separated numbers (any count: "1", "1.0",
// "15.4.27.11.21"), then optionally "-" and a suffix, then optionally
// "+" and build metadata (ignored in comparisons).
//
// A suffix made only of dot-separated numbers ("1.2.3-4", "8.9-1028.1")
// is a revision, a later build of the same version, as container images
// use it (Debian and RPM release numbers, UBI and openSUSE builds): it
// sorts after the version without it. Any other suffix ("-rc1",
// "-alpha.2", "-r1") is a pre-release, as in semantic versioning: it
// sorts before the version without it, and pre-releases compare as
// semver says (numeric identifiers numerically and before alphanumeric
// ones, which compare in byte order; fewer identifiers first).
//
// Missing numbers are zeros: "1", "1.0" and "v1.0.0" are the same version.
type version struct {
	nums     []uint64
	revision []uint64 // numeric suffix, or nil
	pre      []string // other suffix, split at dots, or nil
}

var versionPattern = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$`)

// parseVersion reads tag as a version, or reports that it is none.
func parseVersion(tag string) (version, bool) {
	m := versionPattern.FindStringSubmatch(tag)
	if m == nil {
		return version{}, false
	}
	var v version
	var ok bool
	if v.nums, ok = numbers(m[1]); !ok {
		return version{}, false
	}
	if m[2] != "" {
		if rev, ok := numbers(m[2]); ok {
			v.revision = rev
		} else {
			v.pre = strings.Split(m[2], ".")
			for _, id := range v.pre {
				if id == "" {
					return version{}, false
				}
			}
		}
	}
	return v, true
}

// numbers reads dot-separated decimal numbers.
func numbers(s string) ([]uint64, bool) {
	var out []uint64
	for _, f := range strings.Split(s, ".") {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// compareNums compares number lists, missing numbers being zeros.
func compareNums(a, b []uint64) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// rank orders the kinds of suffix: pre-release < none < revision.
func (v version) rank() int {
	switch {
	case v.pre != nil:
		return -1
	case v.revision != nil:
		return 1
	}
	return 0
}

func (v version) compare(w version) int {
	if c := compareNums(v.nums, w.nums); c != 0 {
		return c
	}
	if a, b := v.rank(), w.rank(); a != b {
		if a < b {
			return -1
		}
		return 1
	}
	if v.revision != nil {
		return compareNums(v.revision, w.revision)
	}
	return comparePre(v.pre, w.pre)
}

// comparePre compares pre-release identifiers as semver does.
func comparePre(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, xerr := strconv.ParseUint(a[i], 10, 64)
		y, yerr := strconv.ParseUint(b[i], 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if x != y {
				if x < y {
					return -1
				}
				return 1
			}
		case xerr == nil:
			return -1
		case yerr == nil:
			return 1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// newest keeps the n newest of tags that read as versions (parseVersion);
// tags that are no version are left out. Equal versions ("1.0", "v1.0")
// are ordered by the tag's bytes, the smaller counting as newer, so that
// the choice does not depend on the registry's order.
func newest(tags []string, n int) []string {
	type vt struct {
		tag string
		v   version
	}
	var vs []vt
	for _, t := range tags {
		if v, ok := parseVersion(t); ok {
			vs = append(vs, vt{t, v})
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if c := vs[i].v.compare(vs[j].v); c != 0 {
			return c > 0
		}
		return vs[i].tag < vs[j].tag
	})
	if len(vs) > n {
		vs = vs[:n]
	}
	out := make([]string, len(vs))
	for i, x := range vs {
		out[i] = x.tag
	}
	sort.Strings(out)
	return out
}

// buildPattern is what mirror-registry (openSUSE) counts as a version
// when minimizing: an optional "v", then numbers separated by dots or
// dashes ("15.4", "15.4.27.11.21", "1.2.3-4").
var buildPattern = regexp.MustCompile(`^v?[0-9]+(?:[.-][0-9]+)*$`)

// buildNumbers reads a tag matching buildPattern, dashes as dots.
func buildNumbers(tag string) []uint64 {
	n, _ := numbers(strings.ReplaceAll(strings.TrimPrefix(tag, "v"), "-", "."))
	return n
}

// extends reports whether build is version with more numbers after it:
// version, then "." or "-", then the rest ("15.4.27.11.21" extends
// "15.4"; "1.2.3-2" extends "1.2.3"; "1.10" does not extend "1.1").
func extends(build, version string) bool {
	return len(build) > len(version)+1 && strings.HasPrefix(build, version) &&
		(build[len(version)] == '.' || build[len(version)] == '-')
}

// superseded finds the tags Minimize drops: for every version, only its
// newest build stays, as openSUSE's mirror-registry --minimize keeps
// them. It works on every tag of a repository:
//
//   - Only version-like tags take part (buildPattern: "15.4",
//     "15.4.27.11.21", "v1.2", "1.2.3-4"); others ("latest", "1.2-rc1")
//     are never dropped.
//   - A tag that other tags extend (by whole numbers: "15.4" for
//     "15.4.27.11.21" and "15.4.28.1.1") is a version, and stays: it is
//     the floating tag users pull.
//   - A tag that no tag extends is a build. A build of version V (the
//     longest tag it extends) is dropped when another build extending V
//     is newer (numbers compared one by one, dashes as dots, missing
//     numbers as zeros).
//   - A build that extends no tag ("1.2.3-1" without a "1.2.3" tag)
//     stays: nothing says which version it builds.
//
// So "15.4", "15.4.27.11.21", "15.4.27.11.22", "15.5", "15.5.1.2",
// "15.5.1.3", "latest" keep "15.4", "15.4.27.11.22", "15.5", "15.5.1.3"
// and "latest", as mirror-registry does; "1.2.3", "1.2.3-1", "1.2.3-2"
// keep "1.2.3" and "1.2.3-2".
func superseded(tags []string) map[string]bool {
	var vers []string
	for _, t := range tags {
		if buildPattern.MatchString(t) {
			vers = append(vers, t)
		}
	}
	isVersion := map[string]bool{}
	for _, b := range vers {
		for _, v := range vers {
			if extends(b, v) {
				isVersion[v] = true
			}
		}
	}
	// nearest is the longest tag a build extends ("" for none).
	nearest := func(b string) string {
		best := ""
		for _, v := range vers {
			if extends(b, v) && len(v) > len(best) {
				best = v
			}
		}
		return best
	}
	out := map[string]bool{}
	for _, b := range vers {
		if isVersion[b] {
			continue
		}
		v := nearest(b)
		if v == "" {
			continue
		}
		for _, o := range vers {
			if o == b || isVersion[o] || !extends(o, v) {
				continue
			}
			c := compareNums(buildNumbers(o), buildNumbers(b))
			if c > 0 || (c == 0 && o < b) {
				out[b] = true
				break
			}
		}
	}
	return out
}
