package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
)

// TestProgressLines: off a terminal, a line every interval with the
// volume, image, bytes, rate and time left.
func TestProgressLines(t *testing.T) {
	var out bytes.Buffer
	start := time.Now().Add(-10 * time.Second)
	p := &progress{op: "verify", out: &out, every: 0, start: start, last: start, volumes: 4}
	p.update(bundle.Progress{Op: "verify", Volume: 2, Done: 10 << 20, Total: 40 << 20, Image: "quay.io/app:v1"})
	line := out.String()
	for _, want := range []string{"verify 25%", "10.0 MiB of 40.0 MiB", "volume 2 of 4", "image quay.io/app:v1", "/s", "left"} {
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

// TestProgressImageText: the image name comes from a source or a bundle,
// so its terminal escapes are printed escaped, and a long one is cut in
// the middle to the room given, keeping the tag that tells images apart.
func TestProgressImageText(t *testing.T) {
	var out bytes.Buffer
	start := time.Now().Add(-time.Second)
	p := &progress{op: "unpack", out: &out, every: 0, start: start, last: start}
	p.update(bundle.Progress{Volume: 1, Done: 1, Total: 2, Image: "evil\x1b]0;owned\x07/app:v1"})
	if line := out.String(); strings.ContainsAny(line, "\x1b\x07") || !strings.Contains(line, `image evil\x1b]0;owned\a/app:v1`) {
		t.Errorf("progress line %q: want the image's escapes printed escaped", line)
	}
	long := "registry.example.com/" + strings.Repeat("deep/", 60) + "app:v1"
	out.Reset()
	p.update(bundle.Progress{Volume: 1, Done: 1, Total: 2, Image: long})
	im := out.String()[strings.Index(out.String(), "image ")+len("image "):]
	im = im[:strings.Index(im, ",")]
	if n := len([]rune(im)); n != maxPlainImage || !strings.HasPrefix(im, "registry.example.com/") || !strings.HasSuffix(im, "/app:v1") || !strings.Contains(im, "…") {
		t.Errorf("long image shown as %q (%d runes): want %d runes, its head and tag kept", im, n, maxPlainImage)
	}
	for _, tc := range []struct {
		name  string
		width int
		want  string
	}{
		{"app:v1", 20, "app:v1"},
		{"registry/app:v1", 9, "regi…p:v1"},
		{"registry/app:v1", 2, ""},
	} {
		if got := imageText(tc.name, tc.width); got != tc.want {
			t.Errorf("imageText(%q, %d) = %q, want %q", tc.name, tc.width, got, tc.want)
		}
	}
}
