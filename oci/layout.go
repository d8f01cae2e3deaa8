package oci

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Names of the files at the top of a layout.
const (
	LayoutFile = ocispec.ImageLayoutFile // "oci-layout"
	IndexFile  = ocispec.ImageIndexFile  // "index.json"
	BlobsDir   = ocispec.ImageBlobsDir   // "blobs"
)

// MaxIndexSize bounds how much of index.json is read into memory.
const MaxIndexSize = 64 << 20

// LayoutFileContent is the oci-layout file this package writes.
var LayoutFileContent = []byte(`{"imageLayoutVersion":"1.0.0"}`)

// Layout is an OCI image layout on disk. Every file access goes through an
// os.Root, so nothing outside the layout directory can be reached.
type Layout struct {
	Path string
	root *os.Root

	referrersOnce sync.Once
	referrers     map[digest.Digest][]ocispec.Descriptor
	referrersErr  error
}

// Open opens an existing layout for reading (and writing).
func Open(path string) (*Layout, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", path, err)
	}
	l := &Layout{Path: path, root: root}
	b, err := root.ReadFile(LayoutFile)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("%s is not an OCI image layout (no readable %s file): %w", path, LayoutFile, err)
	}
	var lf ocispec.ImageLayout
	if err := json.Unmarshal(b, &lf); err != nil || lf.Version != ocispec.ImageLayoutVersion {
		root.Close()
		return nil, fmt.Errorf("%s: %s says %q, want imageLayoutVersion %q", filepath.Join(path, LayoutFile), LayoutFile, bytes.TrimSpace(b), ocispec.ImageLayoutVersion)
	}
	return l, nil
}

// Create opens the layout at path for writing, making the directory if it
// does not exist. An existing directory must be empty or hold a layout.
// Nothing is written until content arrives: oci-layout and index.json are
// written by UpdateIndex.
func Create(path string) (*Layout, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("create OCI layout %s: %w", path, err)
	}
	if _, err := os.Stat(filepath.Join(path, LayoutFile)); err == nil {
		return Open(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("create OCI layout %s: %w", path, err)
	}
	for _, e := range entries {
		switch n := e.Name(); {
		case n == LayoutFile:
			return Open(path) // another writer made it since the Stat above
		case n == BlobsDir || n == IndexFile:
		case strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-"):
			// another writer's file on its way in
		default:
			return nil, fmt.Errorf("%s holds files but no %s: not an OCI layout; choose an empty or new directory", path, LayoutFile)
		}
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("create OCI layout %s: %w", path, err)
	}
	return &Layout{Path: path, root: root}, nil
}

// Close releases the layout.
func (l *Layout) Close() error { return l.root.Close() }

func blobPath(d digest.Digest) string {
	return BlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// Index reads index.json. A layout being created has none yet: that gives an
// empty index.
func (l *Layout) Index() (*ocispec.Index, error) {
	b, err := l.readIndexBytes()
	if err != nil {
		return nil, err
	}
	idx := &ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if b == nil {
		return idx, nil
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(l.Path, IndexFile), err)
	}
	return idx, nil
}

func (l *Layout) readIndexBytes() ([]byte, error) {
	f, err := l.root.Open(IndexFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(l.Path, IndexFile), err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(l.Path, IndexFile), err)
	}
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Join(l.Path, IndexFile), MaxIndexSize)
	}
	return b, nil
}

// Fetch opens a blob. The caller checks its digest while reading (see
// VerifyReader); Fetch only checks that the file has the expected size.
func (l *Layout) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	f, err := l.root.Open(blobPath(desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s is missing from %s: %w", desc.Digest, l.Path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s in %s: %w", desc.Digest, l.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() != desc.Size {
		f.Close()
		return nil, fmt.Errorf("blob %s in %s: %d bytes, its descriptor says %d", desc.Digest, l.Path, st.Size(), desc.Size)
	}
	return f, nil
}

// HasBlob reports whether the layout holds a regular file for d of size size.
func (l *Layout) HasBlob(d digest.Digest, size int64) bool {
	if d.Validate() != nil {
		return false
	}
	st, err := l.root.Stat(blobPath(d))
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// BlobWriter writes one blob to a temporary file in the layout; Commit
// checks size and digest and renames it into place, so a blob path only
// ever holds verified content.
type BlobWriter struct {
	l    *Layout
	want ocispec.Descriptor
	tmp  string
	f    *os.File
	h    hash.Hash
	n    int64
	done bool
}

// NewBlobWriter starts writing the blob described by desc.
func (l *Layout) NewBlobWriter(desc ocispec.Descriptor) (*BlobWriter, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	dir := BlobsDir + "/" + desc.Digest.Algorithm().String()
	if err := l.root.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s in %s: %w", dir, l.Path, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := dir + "/.tmp-" + desc.Digest.Encoded()[:16] + "-" + hex.EncodeToString(rnd[:])
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create blob %s in %s: %w", desc.Digest, l.Path, err)
	}
	return &BlobWriter{l: l, want: desc, tmp: tmp, f: f, h: desc.Digest.Algorithm().Hash()}, nil
}

// DigestCheckedByCaller turns off hashing in the writer: the caller has
// checked (or will check before Commit) that the bytes hash to the digest,
// so each byte is hashed once.
func (w *BlobWriter) DigestCheckedByCaller() { w.h = nil }

func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.want.Size {
		return 0, fmt.Errorf("blob %s: more than the %d bytes expected", w.want.Digest, w.want.Size)
	}
	n, err := w.f.Write(p)
	if w.h != nil {
		w.h.Write(p[:n])
	}
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err)
	}
	return n, nil
}

// Commit checks what was written and moves it into place.
func (w *BlobWriter) Commit() error {
	if w.done {
		return errors.New("blob writer already closed")
	}
	w.done = true
	fail := func(err error) error {
		w.f.Close()
		w.l.root.Remove(w.tmp)
		return err
	}
	if w.n != w.want.Size {
		return fail(fmt.Errorf("blob %s: got %d bytes, want %d", w.want.Digest, w.n, w.want.Size))
	}
	if w.h == nil {
		// checked by the caller
	} else if got := digest.NewDigest(w.want.Digest.Algorithm(), w.h); got != w.want.Digest {
		return fail(fmt.Errorf("blob %s: content hashes to %s", w.want.Digest, got))
	}
	if err := w.f.Sync(); err != nil {
		return fail(fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err))
	}
	if err := w.f.Close(); err != nil {
		w.l.root.Remove(w.tmp)
		return fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err)
	}
	if err := w.l.root.Rename(w.tmp, blobPath(w.want.Digest)); err != nil {
		w.l.root.Remove(w.tmp)
		return fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err)
	}
	return nil
}

// Abort removes what was written. It is safe after Commit.
func (w *BlobWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	w.l.root.Remove(w.tmp)
}

// IndexChange describes what UpdateIndex did to one ref name.
type IndexChange struct {
	Ref      string // "" for untagged entries
	Old, New digest.Digest
}

// AddManifests merges descs into index.json under an exclusive lock, so
// that concurrent writers do not lose each other's entries, and replaces
// the file atomically (write, fsync, rename). An entry with a ref name
// replaces the entry that had that name (the tag moves); an untagged entry
// is added unless an untagged entry for the same digest exists. Every
// manifest referenced must already be in the layout. oci-layout is written
// too when missing.
func (l *Layout) AddManifests(descs []ocispec.Descriptor) ([]IndexChange, error) {
	for _, d := range descs {
		if !l.HasBlob(d.Digest, d.Size) {
			return nil, fmt.Errorf("refusing to list %s in %s: the blob is not in the layout", d.Digest, filepath.Join(l.Path, IndexFile))
		}
	}
	unlock, err := l.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	idx, err := l.Index()
	if err != nil {
		return nil, err
	}
	var changes []IndexChange
	for _, d := range descs {
		ref := d.Annotations[ocispec.AnnotationRefName]
		found := false
		for i, e := range idx.Manifests {
			if e.Annotations[ocispec.AnnotationRefName] != ref {
				continue
			}
			if ref == "" && e.Digest != d.Digest {
				continue
			}
			found = true
			if e.Digest != d.Digest {
				changes = append(changes, IndexChange{Ref: ref, Old: e.Digest, New: d.Digest})
				idx.Manifests[i] = d
			}
			break
		}
		if !found {
			changes = append(changes, IndexChange{Ref: ref, New: d.Digest})
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	if _, err := l.root.Stat(LayoutFile); errors.Is(err, fs.ErrNotExist) {
		if err := l.writeAtomic(LayoutFile, LayoutFileContent); err != nil {
			return nil, err
		}
	}
	if len(changes) == 0 {
		if b, _ := l.readIndexBytes(); b != nil {
			return nil, nil // leave index.json byte-identical
		}
	}
	if idx.MediaType == "" {
		idx.MediaType = ocispec.MediaTypeImageIndex
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	if err := l.writeAtomic(IndexFile, b); err != nil {
		return nil, err
	}
	return changes, nil
}

// lock takes an exclusive flock on the layout directory itself, so no lock
// file is left behind.
func (l *Layout) lock() (func(), error) {
	d, err := l.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.Path, err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("lock %s: %w", l.Path, err)
	}
	return func() {
		syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}

func (l *Layout) writeAtomic(name string, b []byte) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := "." + name + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(l.Path, name), err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.root.Rename(tmp, name)
	}
	if err != nil {
		l.root.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Join(l.Path, name), err)
	}
	if d, err := l.root.Open("."); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
