package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func temps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && isTemp(e.Name()) {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return out
}

// Temporary files of dead writers are removed when a writer opens the
// layout; those of a live writer are not.
func TestSweepTemporaries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	content := []byte("hello")
	desc := ocispec.Descriptor{Digest: digest.FromBytes(content), Size: int64(len(content))}

	live, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := live.NewBlobWriter(desc)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content[:2]) // a live writer mid-blob

	// What a killed writer leaves: a blob being written, an index.json
	// not yet renamed.
	os.WriteFile(filepath.Join(dir, BlobsDir, "sha256", ".tmp-0123456789abcdef-00"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(dir, ".index.json.tmp-00"), []byte("{"), 0o644)
	if n := len(temps(t, dir)); n != 3 {
		t.Fatalf("%d temporary files, want 3", n)
	}

	// A second writer while the first is alive removes nothing.
	second, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	second.Close()
	if n := len(temps(t, dir)); n != 3 {
		t.Fatalf("a writer removed temporary files while another was alive: %d left, want 3", n)
	}
	if _, err := w.Write(content[2:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := live.AddManifests(nil); err != nil {
		t.Fatal(err)
	}
	live.Close()

	// The first writer gone, the next removes what dead writers left.
	third, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Fatalf("temporary files left after a writer opened the layout: %v", left)
	}
	if !third.HasBlob(desc.Digest, desc.Size) {
		t.Fatal("the committed blob is gone")
	}

	// A reader removes nothing.
	os.WriteFile(filepath.Join(dir, BlobsDir, "sha256", ".tmp-0123456789abcdef-01"), []byte("partial"), 0o644)
	third.Close()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if n := len(temps(t, dir)); n != 1 {
		t.Fatalf("Open (a reader) changed the layout: %d temporary files, want 1", n)
	}
}
