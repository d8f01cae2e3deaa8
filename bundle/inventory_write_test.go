package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
)

func TestInventoryWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.json")
	mustWrite(t, path, []byte("an older inventory"))
	v := &Inventory{Created: "2023-11-14T22:13:20Z", Destination: "oci:/srv/mirror",
		Blobs: []format.Content{{Digest: digest.FromString("b"), Size: 1}, {Digest: digest.FromString("a"), Size: 1}}}
	if err := v.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	want, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, path); !bytes.Equal(got, want) {
		t.Errorf("file holds %s, want what Encode gives: %s", got, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v (%v), want 0644", st.Mode(), err)
	}
	f, err := LoadInventory(path)
	if err != nil || f.Inventory.InventoryID != v.InventoryID || len(f.Inventory.Blobs) != 2 {
		t.Errorf("read back: %+v, %v", f, err)
	}

	// A file that cannot take the place of path (a directory holding
	// something): an error naming path, the directory as it was, and no
	// temporary file left behind.
	busy := filepath.Join(dir, "busy")
	if err := os.Mkdir(busy, 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(busy, "keep"), []byte("x"))
	if err := v.WriteFile(busy); err == nil || !bytes.Contains([]byte(err.Error()), []byte(busy)) {
		t.Errorf("WriteFile over a directory: %v, want an error naming %s", err, busy)
	}
	if got := mustRead(t, filepath.Join(busy, "keep")); string(got) != "x" {
		t.Errorf("the directory's file changed: %q", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %v, want inventory.json and busy only", entries)
	}

	// An inventory that does not encode is not written.
	bad := &Inventory{Created: "yesterday", Destination: "oci:/srv/mirror"}
	other := filepath.Join(dir, "bad.json")
	if err := bad.WriteFile(other); err == nil {
		t.Error("WriteFile of an inventory with a bad time succeeded")
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want it not written", other, err)
	}
}
