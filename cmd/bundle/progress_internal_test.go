package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
)

// TestProgressLines: off a terminal, a line every interval with the
// volume, bytes, rate and time left.
func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	start := time.Now().Add(-10 * time.Second)
	p := &progress{op: "verify", out: &out, every: 0, start: start, last: start, volumes: 4}
	p.update(bundle.Progress{Op: "verify", Volume: 2, Done: 10 << 20, Total: 40 << 20})
	line := out.String()
	for _, want := range []string{"verify 25%", "10.0 MiB of 40.0 MiB", "volume 2 of 4", "/s", "left"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	// About 1 MiB/s for 10 s: 30 s left.
	if !strings.Contains(line, "30s left") && !strings.Contains(line, "29s left") && !strings.Contains(line, "31s left") {
		t.Errorf("progress line %q: want about 30s left", line)
	}
	p.stop()
	p.update(bundle.Progress{Done: 40 << 20, Total: 40 << 20})
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("updates after stop printed:\n%s", out.String())
	}
}
