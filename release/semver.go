package release

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a semantic version (semver.org 2.0.0): MAJOR.MINOR.PATCH with
// an optional pre-release (-…) and build metadata (+…). OKD versions such
// as 4.18.0-okd-scos.8 are pre-releases of 4.18.0 in this grammar.
type version struct {
	major, minor, patch uint64
	pre                 []string
	build               string
}

// parseVersion parses s strictly: no leading "v", no leading zeros in
// numeric parts, no empty identifiers.
func parseVersion(s string) (version, error) {
	var v version
	if s == "" {
		return v, fmt.Errorf("empty version")
	}
	rest := s
	if before, after, ok := strings.Cut(rest, "+"); ok {
		if err := checkIdentifiers(after, false); err != nil {
			return v, fmt.Errorf("version %q: build metadata: %w", s, err)
		}
		v.build, rest = after, before
	}
	if before, after, ok := strings.Cut(rest, "-"); ok {
		if err := checkIdentifiers(after, true); err != nil {
			return v, fmt.Errorf("version %q: pre-release: %w", s, err)
		}
		v.pre, rest = strings.Split(after, "."), before
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", s)
	}
	nums := make([]uint64, 3)
	for i, p := range parts {
		if !isNumeric(p) || (len(p) > 1 && p[0] == '0') {
			return v, fmt.Errorf("version %q: %q is not a number without leading zeros", s, p)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, fmt.Errorf("version %q: %w", s, err)
		}
		nums[i] = n
	}
	v.major, v.minor, v.patch = nums[0], nums[1], nums[2]
	return v, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkIdentifiers checks dot-separated identifiers of [0-9A-Za-z-];
// numeric pre-release identifiers must not have leading zeros.
func checkIdentifiers(s string, pre bool) error {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return fmt.Errorf("empty identifier in %q", s)
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return fmt.Errorf("character %q in %q", c, s)
			}
		}
		if pre && isNumeric(id) && len(id) > 1 && id[0] == '0' {
			return fmt.Errorf("leading zero in %q", id)
		}
	}
	return nil
}

// compare orders versions by semver precedence (build metadata ignored).
func (a version) compare(b version) int {
	for _, d := range [][2]uint64{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := compareIdentifier(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}

func compareIdentifier(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}
