package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// TestSweepReadsNamesInBatches: a writer's sweep of a blobs directory of
// many files removes the temporary files among them, wherever they stand
// in the listing, leaves a directory that looks like one, and allocates
// little more than the names: it neither lists the directory whole nor
// looks at each file (a Root's ReadDir lstats every entry; at a million
// blobs that held 300 MB).
func TestSweepReadsNamesInBatches(t *testing.T) {
	dir := t.TempDir()
	l, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("hello")
	bw, err := l.NewBlobWriter(ocispec.Descriptor{Digest: digest.FromBytes(content), Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	bw.Write(content)
	if err := bw.Commit(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	blobs := filepath.Join(dir, BlobsDir, "sha256")
	const files = 3000
	for i := range files {
		name := digest.FromString(fmt.Sprint(i)).Encoded()
		if i%1000 == 7 {
			name = fmt.Sprintf(".tmp-%016x-%02d", i, i%100)
		}
		if err := os.WriteFile(filepath.Join(blobs, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(blobs, ".tmp-dir-00"), 0o755); err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	w, err := Create(dir)
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if left := temps(t, dir); len(left) != 1 || !strings.HasSuffix(left[0], ".tmp-dir-00") {
		t.Errorf("left %v, want only the directory", left)
	}
	if per := (m1.TotalAlloc - m0.TotalAlloc) / files; per > 160 {
		t.Errorf("the sweep allocated %d bytes per file of the blobs directory", per)
	}
}
