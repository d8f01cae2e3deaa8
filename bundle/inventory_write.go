package bundle

import (
	"fmt"

	"github.com/airgap-bundle/bundle/internal/atomicfile"
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
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("inventory: %w", err) // names path
	}
	return nil
}
