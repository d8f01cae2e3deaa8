package main_test

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	out := mustRun(t, 0, nil, "version")
	if !strings.HasPrefix(out, "bundle ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("bundle version: %q", out)
	}
	if v := mustRun(t, 0, nil, "--version"); !strings.Contains(v, runtime.Version()) {
		t.Errorf("bundle --version: %q", v)
	}
}
