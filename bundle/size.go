package bundle

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Media presets: the capacity of the smallest common disc of each kind in
// 2048-byte sectors, less room for the file system (ISO 9660/UDF): 2048
// sectors (4 MiB) on a CD, 8192 sectors (16 MiB) on the others. fat32 is
// the largest file FAT32 can hold.
var Media = map[string]int64{
	"cd":     (360_000 - 2048) * 2048,    // 80-minute CD-R: 733,085,696
	"dvd":    (2_295_104 - 8192) * 2048,  // DVD+R: 4,683,595,776
	"dvd-dl": (4_171_712 - 8192) * 2048,  // DVD-R DL: 8,526,888,960
	"bd":     (12_219_392 - 8192) * 2048, // BD-R 25 GB: 25,008,537,600
	"bd-dl":  (24_438_784 - 8192) * 2048, // BD-R DL 50 GB: 50,033,852,416
	"fat32":  4*1024*1024*1024 - 1,       // 4 GiB - 1 byte
}

// MediaNames lists the presets in a stable order.
func MediaNames() []string {
	var out []string
	for k := range Media {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return Media[out[i]] < Media[out[j]] })
	return out
}

var units = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// ParseSize reads a size such as 700M, 4.7GB, 4GiB, 25GB or 1048576.
// K, M, G, T (with or without B) are powers of 1000; KiB, MiB, GiB, TiB
// powers of 1024. Fractions round down to a whole byte.
func ParseSize(s string) (int64, error) {
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

// FormatSize prints a byte count for people.
func FormatSize(n int64) string {
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
