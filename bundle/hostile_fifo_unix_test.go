//go:build unix

package bundle

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
)

// withTimeout runs f and fails the test if it has not returned in 20 s:
// the defects here block forever.
func withTimeout(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s blocks", what)
		return nil
	}
}

// TestHostileNotRegularFiles: a FIFO, a device or a socket is refused by
// its mode before it is opened for reading: open(2) of a FIFO blocks until
// a writer comes, and a device may never end (issue 13).
func TestHostileNotRegularFiles(t *testing.T) {
	good, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	ctx := context.Background()
	fifo := filepath.Join(t.TempDir(), "vol-0001-of-0001.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, p := range []string{fifo, "/dev/zero", "/dev/null"} {
		t.Run("named explicitly: "+p, func(t *testing.T) {
			err := withTimeout(t, "OpenFiles", func() error { _, err := OpenFiles(ctx, []string{p}); return err })
			if !errors.Is(err, format.ErrNotVolume) {
				t.Errorf("OpenFiles(%s): want ErrNotVolume, got %v", p, err)
			}
			err = withTimeout(t, "FileVolume.Open", func() error {
				r, err := FileVolume(p).Open(ctx)
				if err == nil {
					r.Close()
				}
				return err
			})
			if !errors.Is(err, format.ErrNotVolume) {
				t.Errorf("FileVolume(%s).Open: want ErrNotVolume, got %v", p, err)
			}
		})
	}
	t.Run("in a directory, named like a volume", func(t *testing.T) {
		dir := copyBundle(t, good)
		if err := syscall.Mkfifo(filepath.Join(dir, "vol-0009-of-0009.tar"), 0o644); err != nil {
			t.Fatal(err)
		}
		var s *Set
		err := withTimeout(t, "OpenFiles", func() (err error) { s, err = OpenFiles(ctx, []string{dir}); return err })
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Problems) > 0 || len(s.Missing()) > 0 {
			t.Errorf("the FIFO is not skipped: problems %v, missing %v", s.Problems, s.Missing())
		}
	})
}
