package bundle

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile encodes v (Encode) and writes it to path whole or not at all:
// into a temporary file beside path, synced, then renamed over it, so that
// an inventory cut short (a full disk, a killed process) never passes for
// a complete one, which would make the next bundle leave out blobs the
// destination lacks.
func (v *Inventory) WriteFile(path string) error {
	b, err := v.Encode()
	if err != nil {
		return fmt.Errorf("inventory %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("inventory %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("inventory %s: %w", path, err)
	}
	return nil
}
