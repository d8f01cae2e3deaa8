// Package bytesize reads and prints byte counts as people write them:
// the command line's --max-size, and sizes in messages.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// units are tried in order, so that "kib" is not read as "b" after a
// number "ki"; the bare letters are decimal, as disc makers count.
var units = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// Parse reads a size such as 700M, 4.7GB, 4GiB, 25GB or 1048576.
// K, M, G, T (with or without B) are powers of 1000; KiB, MiB, GiB, TiB
// powers of 1024. Fractions round down to a whole byte.
func Parse(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) || t == "" || strings.ContainsAny(t, "eEx") {
		return 0, fmt.Errorf("size %q: want a positive number with an optional unit (700M, 4.7GB, 4GiB, 1048576)", s)
	}
	v := f * mult
	if v >= 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v < 1 {
		return 0, fmt.Errorf("size %q is less than a byte", s)
	}
	return int64(v), nil
}

// Format prints a byte count for people, in binary units.
func Format(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
