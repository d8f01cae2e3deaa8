package bundle

import (
	"testing"
	"time"
)

// TestRoughly: how long ago an expiry was, as people say it, rounded.
func TestRoughly(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{26048*time.Hour + 11*time.Minute, "1085 days"},
		{48 * time.Hour, "2 days"},
		{60*time.Hour - time.Minute, "2 days"},
		{60 * time.Hour, "3 days"},
		{47*time.Hour + 40*time.Minute, "48 hours"},
		{2 * time.Hour, "2 hours"},
		{119 * time.Minute, "119 minutes"},
		{2 * time.Minute, "2 minutes"},
		{90*time.Second + 400*time.Millisecond, "1m30s"},
		{0, "0s"},
	} {
		if got := roughly(c.d); got != c.want {
			t.Errorf("roughly(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
