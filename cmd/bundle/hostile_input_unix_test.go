//go:build unix

package main_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVerifyFIFO: verify given a FIFO refuses it at once (exit 1, not a
// volume) instead of blocking in open(2) until a writer comes (issue 13).
func TestVerifyFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "vol-0001-of-0001.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, args := range [][]string{
		{"verify", "--allow-unsigned", fifo},
		{"inspect", fifo},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		blocked := ctx.Err() != nil
		cancel()
		if blocked {
			t.Fatalf("bundle %s blocks on a FIFO", strings.Join(args, " "))
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "not a regular file") {
			t.Errorf("bundle %s: %v, want exit 1 saying it is not a regular file:\n%s", strings.Join(args, " "), err, out)
		}
	}
}
