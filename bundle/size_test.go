package bundle

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"700M", 700_000_000},
		{"700MB", 700_000_000},
		{"4.7GB", 4_700_000_000},
		{"4GiB", 4 << 30},
		{"25GB", 25_000_000_000},
		{"1048576", 1 << 20},
		{"40K", 40_000},
		{"1.5KiB", 1536},
		{" 2 mib ", 2 << 20},
		{"0", -1}, {"-1", -1}, {"lots", -1}, {"1e9", -1}, {"GB", -1}, {"", -1}, {"0x10", -1}, {"NaN", -1},
	} {
		got, err := ParseSize(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestMediaPresets(t *testing.T) {
	want := map[string]int64{"cd": 733_085_696, "dvd": 4_683_595_776, "dvd-dl": 8_526_888_960,
		"bd": 25_008_537_600, "bd-dl": 50_033_852_416, "fat32": 4_294_967_295}
	for k, v := range want {
		if Media[k] != v {
			t.Errorf("--media %s = %d, documented %d", k, Media[k], v)
		}
	}
	if len(Media) != len(want) {
		t.Errorf("presets %v", MediaNames())
	}
}
