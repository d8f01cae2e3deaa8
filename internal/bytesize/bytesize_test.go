package bytesize

import "testing"

func TestParse(t *testing.T) {
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
		got, err := Parse(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("Parse(%q) = %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 40_000: "39.1 KiB",
		5 << 20: "5.0 MiB", 1<<30 - 1: "1024.0 MiB", 4_683_595_776: "4.36 GiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
