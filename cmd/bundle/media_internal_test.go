package main

import (
	"slices"
	"testing"
)

func TestMediaPresets(t *testing.T) {
	t.Parallel()
	want := map[string]int64{"cd": 733_085_696, "dvd": 4_683_595_776, "dvd-dl": 8_526_888_960,
		"bd": 25_008_537_600, "bd-dl": 50_033_852_416, "fat32": 4_294_967_295}
	for k, v := range want {
		if mediaPresets[k] != v {
			t.Errorf("--media %s = %d, documented %d", k, mediaPresets[k], v)
		}
	}
	if len(mediaPresets) != len(want) {
		t.Errorf("presets %v", mediaNames())
	}
	if got, order := mediaNames(), []string{"cd", "fat32", "dvd", "dvd-dl", "bd", "bd-dl"}; !slices.Equal(got, order) {
		t.Errorf("mediaNames() = %v, want %v (smallest first)", got, order)
	}
}
