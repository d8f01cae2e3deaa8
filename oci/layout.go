package oci

import (
	"bufio"
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
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/airgap-bundle/bundle/internal/intern"
	"github.com/airgap-bundle/bundle/internal/jsonstream"
	"github.com/airgap-bundle/bundle/internal/writeback"
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

	batch *commitBatch // set by BatchCommits

	// blobDirs are blobs/<algorithm>, opened once: a blob is then reached
	// with one system call, not one per path component.
	mu       sync.Mutex
	blobDirs map[digest.Algorithm]*os.Root
	// writing is blobs/, open and holding a shared lock while this
	// Layout writes blobs (from Create or the first NewBlobWriter until
	// Close): a writer that opens the layout removes temporary files only
	// when it can lock blobs/ exclusively, that is when no writer that
	// could own them is alive. See sweep.
	writing *os.File
}

// blobDir opens blobs/<alg>, creating it with create.
func (l *Layout) blobDir(alg digest.Algorithm, create bool) (*os.Root, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.blobDirs[alg]; r != nil {
		return r, nil
	}
	dir := BlobsDir + "/" + alg.String()
	if create {
		if err := l.root.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s in %s: %w", dir, l.Path, err)
		}
	}
	r, err := l.root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if l.blobDirs == nil {
		l.blobDirs = map[digest.Algorithm]*os.Root{}
	}
	l.blobDirs[alg] = r
	return r, nil
}

// commitBatch holds blobs checked and written to temporary files, waiting
// for one sync to make them durable before they move into place.
type commitBatch struct {
	blobs []pendingBlob
	bytes int64
}

type pendingBlob struct {
	dir        *os.Root // blobs/<algorithm>
	tmp, final string
}

func removePending(blobs []pendingBlob) {
	for _, b := range blobs {
		b.dir.Remove(b.tmp)
	}
}

// A batch is flushed when it holds this many blobs or bytes, so that little
// is left to write again after a crash.
const (
	batchBlobs = 4096
	batchBytes = 1 << 30 // a sync every 256 MiB stalled a 2 GiB unpack by a third
)

// BatchCommits makes BlobWriter.Commit leave checked blobs in temporary
// files; FlushCommits (called by Commit itself when a batch is full) makes
// them all durable with one sync of the file system and moves them into
// place. A blob file at its final name still always has its content on
// disk, and ten thousand small blobs cost one sync instead of ten
// thousand. Close discards blobs not flushed. With batching, commits and
// flushes must come from one goroutine at a time.
func (l *Layout) BatchCommits() {
	if l.batch == nil {
		l.batch = &commitBatch{}
	}
}

// FlushCommits makes the blobs committed since the last flush durable and
// moves them into place.
func (l *Layout) FlushCommits() error {
	b := l.batch
	if b == nil || len(b.blobs) == 0 {
		return nil
	}
	l.batch = &commitBatch{}
	if err := syncFiles(l.root, b.blobs); err != nil {
		removePending(b.blobs)
		return fmt.Errorf("write blobs in %s: %w", l.Path, err)
	}
	for i, p := range b.blobs {
		if err := p.dir.Rename(p.tmp, p.final); err != nil {
			removePending(b.blobs[i:])
			return fmt.Errorf("write blob %s in %s: %w", p.final, l.Path, err)
		}
	}
	return nil
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
		return openForWriting(path)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("create OCI layout %s: %w", path, err)
	}
	for _, e := range entries {
		switch n := e.Name(); {
		case n == LayoutFile:
			return openForWriting(path) // another writer made it since the Stat above
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
	l := &Layout{Path: path, root: root}
	if err := l.sweep(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// openForWriting is Open for a writer: it removes the debris of dead
// writers first (sweep).
func openForWriting(path string) (*Layout, error) {
	l, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := l.sweep(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// isTemp reports whether name is one of the temporary files writers make:
// ".tmp-…" blob files in blobs/<algorithm>, ".index.json.tmp-…" and
// ".oci-layout.tmp-…" at the top.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

// sweep removes the temporary files that killed writers left in the layout
// (a blob being written or verified and not yet renamed, an index.json not
// yet renamed), then registers this Layout as a writer. A temporary file
// is removed, never reused: its content was never made durable (it is
// synced just before its rename), so after a crash it may not hold what
// was written, and checking it would cost a read of the same size as
// writing it again from the volumes.
//
// A temporary file is debris only if the writer that made it is dead.
// Every live writer holds a shared lock on blobs/ (register), so an
// exclusive lock, taken without waiting, proves there is none; if another
// writer is alive, nothing is removed (the next writer alone will do it).
// The top-level temporaries are removed under the index lock too, which
// every index.json writer holds while its temporary file exists.
func (l *Layout) sweep() error {
	d, err := l.root.Open(BlobsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing written yet: nothing to sweep
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", filepath.Join(l.Path, BlobsDir), err)
	}
	ok, err := tryLockFile(d)
	if err != nil {
		d.Close()
		return fmt.Errorf("lock %s: %w", filepath.Join(l.Path, BlobsDir), err)
	}
	if ok {
		err = l.removeTemps()
	}
	if err == nil {
		// From exclusive to shared: this Layout is a writer now.
		err = lockFileShared(d)
	}
	if err != nil {
		d.Close()
		return fmt.Errorf("lock %s: %w", filepath.Join(l.Path, BlobsDir), err)
	}
	l.mu.Lock()
	l.writing = d
	l.mu.Unlock()
	return nil
}

// removeTemps removes every temporary file of the layout. The caller holds
// blobs/ exclusively.
func (l *Layout) removeTemps() error {
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := l.removeTempsIn("."); err != nil {
		return err
	}
	algs, err := fs.ReadDir(l.root.FS(), BlobsDir)
	if err != nil {
		return fmt.Errorf("list %s: %w", filepath.Join(l.Path, BlobsDir), err)
	}
	for _, a := range algs {
		if a.IsDir() {
			if err := l.removeTempsIn(BlobsDir + "/" + a.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTempsIn removes the temporary files in dir, a directory of the
// layout, reading its names a batch at a time and looking closer at
// temporary ones only: blobs/sha256 holds a file per blob, a million of
// them in a large mirror, and a Root's ReadDir, which reads them all at
// once and lstats each, held 300 MB there, the peak of an unpack.
func (l *Layout) removeTempsIn(dir string) error {
	d, err := l.root.Open(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", filepath.Join(l.Path, dir), err)
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, name := range names {
			if !isTemp(name) {
				continue
			}
			p := path.Join(dir, name)
			fi, err := l.root.Lstat(p)
			if err == nil && fi.Mode().IsRegular() {
				err = l.root.Remove(p)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove temporary file: %w", err)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", filepath.Join(l.Path, dir), err)
		}
	}
}

// register makes this Layout a writer, if it is not one yet: it holds a
// shared lock on blobs/ until Close, so that no other writer's sweep
// takes its temporary files for debris. It waits only while another
// writer sweeps.
func (l *Layout) register() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writing != nil {
		return nil
	}
	d, err := l.root.Open(BlobsDir)
	if err == nil {
		if err = lockFileShared(d); err != nil {
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", filepath.Join(l.Path, BlobsDir), err)
	}
	l.writing = d
	return nil
}

// Close releases the layout, removing blobs committed in a batch and not
// flushed (BatchCommits).
func (l *Layout) Close() error {
	if l.batch != nil {
		removePending(l.batch.blobs)
		l.batch = nil
	}
	l.mu.Lock()
	for _, r := range l.blobDirs {
		r.Close()
	}
	l.blobDirs = nil
	if l.writing != nil {
		// Closing the last descriptor releases the lock.
		l.writing.Close()
		l.writing = nil
	}
	l.mu.Unlock()
	return l.root.Close()
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
	shareStrings(idx.Manifests)
	return idx, nil
}

// shareStrings makes the strings entries repeat (media types, annotation
// names, platforms) one string each: decoded, each entry has its own copy,
// 28 MB of media types and ref-name keys at 300,000 entries, held for as
// long as a pack holds its entries.
func shareStrings(entries []ocispec.Descriptor) {
	t := intern.New()
	share := t.String
	for i := range entries {
		e := &entries[i]
		e.MediaType, e.ArtifactType = share(e.MediaType), share(e.ArtifactType)
		for k, v := range e.Annotations {
			// Setting a string key that is there already stores the
			// key given (the map does not grow, and the range does not
			// see k again).
			e.Annotations[share(k)] = v
		}
		if p := e.Platform; p != nil {
			p.OS, p.Architecture, p.Variant = share(p.OS), share(p.Architecture), share(p.Variant)
		}
	}
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
	// Read into a buffer of the file's size (and a byte more, to see it
	// grow): io.ReadAll's doubling takes up to twice the size, for an
	// index.json of tens of MiB.
	var size int64
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = min(st.Size(), MaxIndexSize)
	}
	b, err := readAllSized(io.LimitReader(f, MaxIndexSize+1), int(size)+1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(l.Path, IndexFile), err)
	}
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", filepath.Join(l.Path, IndexFile), MaxIndexSize)
	}
	return b, nil
}

// readAllSized is io.ReadAll starting with a buffer of n bytes.
func readAllSized(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, n)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
	}
}

// Fetch opens a blob. The caller checks its digest while reading (see
// VerifyReader); Fetch only checks that the file has the expected size.
func (l *Layout) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	var f *os.File
	dir, err := l.blobDir(desc.Digest.Algorithm(), false)
	if err == nil {
		f, err = dir.Open(desc.Digest.Encoded())
	}
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
	if !isSHA256(d) && d.Validate() != nil {
		return false
	}
	dir, err := l.blobDir(d.Algorithm(), false)
	if err != nil {
		return false
	}
	st, err := dir.Stat(d.Encoded())
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// HasBlobs reports whether the layout has a directory of blobs of
// algorithm alg: a destination that has none holds none of a bundle's
// blobs, which it then need not ask about one by one (a failed open of
// the directory each, a million at a million blobs).
func (l *Layout) HasBlobs(alg digest.Algorithm) bool {
	_, err := l.blobDir(alg, false)
	return err == nil
}

// isSHA256 is the common form of a digest, told without go-digest's
// regular expression (HasBlob is asked about every blob of a bundle).
func isSHA256(d digest.Digest) bool {
	hex, ok := strings.CutPrefix(string(d), "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// BlobWriter writes one blob to a temporary file in the layout; Commit
// checks size and digest and renames it into place, so a blob path only
// ever holds verified content.
type BlobWriter struct {
	l    *Layout
	want ocispec.Descriptor
	dir  *os.Root // blobs/<algorithm>
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
	dir, err := l.blobDir(desc.Digest.Algorithm(), true)
	if err != nil {
		return nil, err
	}
	// Before the temporary file exists: a sweep by another writer must
	// see this one alive.
	if err := l.register(); err != nil {
		return nil, err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := ".tmp-" + desc.Digest.Encoded()[:16] + "-" + hex.EncodeToString(rnd[:])
	// Open for reading too: see CopyFrom.
	f, err := dir.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create blob %s in %s: %w", desc.Digest, l.Path, err)
	}
	return &BlobWriter{l: l, want: desc, dir: dir, tmp: tmp, f: f, h: desc.Digest.Algorithm().Hash()}, nil
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

// CopyFrom appends n bytes of src, from its current position, leaving the
// copying to the kernel where the system can (copy_file_range on Linux),
// and starts writing them to disk. It returns where in the blob they start.
// The writer does not hash them, nor anything after: the caller checks the
// blob, reading it back with ReadAt, before Commit.
func (w *BlobWriter) CopyFrom(src *os.File, n int64) (int64, error) {
	off := w.n
	if off+n > w.want.Size {
		return off, fmt.Errorf("blob %s: more than the %d bytes expected", w.want.Digest, w.want.Size)
	}
	w.h = nil
	k, err := w.f.ReadFrom(&io.LimitedReader{R: src, N: n})
	w.n += k
	if err == nil && k < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return off, fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err)
	}
	writeback.Start(w.f, off, n)
	return off, nil
}

// Written is the number of bytes written so far.
func (w *BlobWriter) Written() int64 { return w.n }

// ReadAt reads back what was written.
func (w *BlobWriter) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }

// Commit checks what was written and moves it into place.
func (w *BlobWriter) Commit() error {
	if w.done {
		return errors.New("blob writer already closed")
	}
	w.done = true
	fail := func(err error) error {
		w.f.Close()
		w.dir.Remove(w.tmp)
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
	if b := w.l.batch; b != nil {
		if err := w.f.Close(); err != nil {
			w.dir.Remove(w.tmp)
			return fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err)
		}
		b.blobs, b.bytes = append(b.blobs, pendingBlob{dir: w.dir, tmp: w.tmp, final: w.want.Digest.Encoded()}), b.bytes+w.n
		if len(b.blobs) >= batchBlobs || b.bytes >= batchBytes {
			return w.l.FlushCommits()
		}
		return nil
	}
	if err := w.f.Sync(); err != nil {
		return fail(fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err))
	}
	if err := w.f.Close(); err != nil {
		w.dir.Remove(w.tmp)
		return fmt.Errorf("write blob %s in %s: %w", w.want.Digest, w.l.Path, err)
	}
	if err := w.dir.Rename(w.tmp, w.want.Digest.Encoded()); err != nil {
		w.dir.Remove(w.tmp)
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
	w.dir.Remove(w.tmp)
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
//
// index.json is read twice, an entry at a time, and never held: once for
// what descs change, once to write it with them. A mirror's layout lists
// hundreds of thousands of images; decoded whole, next to the bundle's own
// index, it was the peak of an unpack into it (issue 15).
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

	// An entry is known by its ref name, or by its digest when it has
	// none; the first entry with a key is the one matched.
	type key struct {
		ref    string
		digest digest.Digest
	}
	keyOf := func(d *ocispec.Descriptor) key {
		if ref := d.Annotations[ocispec.AnnotationRefName]; ref != "" {
			return key{ref: ref}
		}
		return key{digest: d.Digest}
	}
	// What the merge does to each key of descs.
	type slot struct {
		found   bool                // index.json has an entry of this key (the first is the one)
		digest  digest.Digest       // what the key is now
		entry   *ocispec.Descriptor // what replaced or added it; nil: the entry in index.json stays
		written bool
	}
	slots := make(map[key]*slot, len(descs))
	for i := range descs {
		slots[keyOf(&descs[i])] = nil
	}
	n := 0 // index.json's entries
	// manifests given twice: refused, the entries are written as read.
	head, exists, err := l.scanIndex(nil, func(e *ocispec.Descriptor) error {
		n++
		if s, ok := slots[keyOf(e)]; ok && s == nil {
			slots[keyOf(e)] = &slot{found: true, digest: e.Digest}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Sized once: grown by doubling, 300,000 entries and their changes
	// were twice their 50 MB at the end of an unpack (issue 15).
	changes := make([]IndexChange, 0, len(descs))
	var added []*slot
	for i := range descs {
		d := &descs[i]
		ref := d.Annotations[ocispec.AnnotationRefName]
		k := keyOf(d)
		switch s := slots[k]; {
		case s == nil:
			changes = append(changes, IndexChange{Ref: ref, New: d.Digest})
			s = &slot{digest: d.Digest, entry: d}
			slots[k] = s
			added = append(added, s)
		case s.digest != d.Digest:
			changes = append(changes, IndexChange{Ref: ref, Old: s.digest, New: d.Digest})
			s.digest, s.entry = d.Digest, d
		}
	}
	if _, err := l.root.Stat(LayoutFile); errors.Is(err, fs.ErrNotExist) {
		if err := l.writeAtomic(LayoutFile, LayoutFileContent); err != nil {
			return nil, err
		}
	}
	if len(changes) == 0 && exists {
		return nil, nil // leave index.json byte-identical
	}
	if head.MediaType == "" {
		head.MediaType = ocispec.MediaTypeImageIndex
	}
	entries := func(emit func(*ocispec.Descriptor) error) error {
		_, _, err := l.scanIndex(nil, func(e *ocispec.Descriptor) error {
			if s := slots[keyOf(e)]; s != nil && s.found && !s.written {
				s.written = true
				if s.entry != nil {
					e = s.entry
				}
			}
			return emit(e)
		})
		if err != nil {
			return err
		}
		for _, s := range added {
			if err := emit(s.entry); err != nil {
				return err
			}
		}
		return nil
	}
	if err := l.writeAtomicWith(IndexFile, func(w io.Writer) error { return writeIndexJSON(w, head, n+len(added), entries) }); err != nil {
		return nil, err
	}
	return changes, nil
}

// scanIndex reads index.json an entry at a time: head is the index with
// its manifests left out (Manifests is nil where index.json has null or
// no manifests, empty where it has an array), and fn gets each entry, in
// order, to use while it runs. Without index.json, head is an empty index
// and exists is false. It reads what json.Unmarshal reads into an
// ocispec.Index. manifests given again replaces what it gave, as in
// Unmarshal: restart is called first, to forget the entries fn was given;
// a nil restart refuses manifests given twice instead.
func (l *Layout) scanIndex(restart func(), fn func(e *ocispec.Descriptor) error) (head *ocispec.Index, exists bool, err error) {
	head = &ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	path := filepath.Join(l.Path, IndexFile)
	f, err := l.root.Open(IndexFile)
	if errors.Is(err, fs.ErrNotExist) {
		return head, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxIndexSize {
		return nil, false, fmt.Errorf("%s is larger than %d bytes", path, MaxIndexSize)
	}
	// Every member but manifests, decoded into head as one object at the
	// end, as Unmarshal would.
	var rest bytes.Buffer
	rest.WriteByte('{')
	var fnErr error // fn's, given back as it is
	array, err := jsonstream.ReadObject(bufio.NewReaderSize(io.LimitReader(f, MaxIndexSize), 64<<10), "manifests", restart, func(dec *json.Decoder, i int) error {
		var e ocispec.Descriptor
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("manifests[%d]: %w", i, err)
		}
		fnErr = fn(&e)
		return fnErr
	}, func(name string, raw json.RawMessage) error {
		if rest.Len() > 1 {
			rest.WriteByte(',')
		}
		n, _ := json.Marshal(name)
		rest.Write(n)
		rest.WriteByte(':')
		rest.Write(raw)
		return nil
	})
	rest.WriteByte('}')
	if fnErr != nil {
		return nil, false, fnErr
	}
	if err == nil {
		err = json.Unmarshal(rest.Bytes(), head)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if array {
		head.Manifests = []ocispec.Descriptor{}
	}
	return head, true, nil
}

// WriteIndexJSON writes idx as json.Marshal makes it, one entry at a
// time: at 300,000 entries Marshal's buffer grew to twice the 67 MB it
// made, which was then copied once more, the peak of an unpack's memory
// (issue 15).
func WriteIndexJSON(w io.Writer, idx *ocispec.Index) error {
	return writeIndexJSON(w, idx, len(idx.Manifests), func(emit func(*ocispec.Descriptor) error) error {
		for i := range idx.Manifests {
			if err := emit(&idx.Manifests[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// writeIndexJSON is WriteIndexJSON of head with the count entries that
// entries emits. With none, manifests is null when head.Manifests is nil,
// as Marshal writes it, and [] otherwise.
func writeIndexJSON(w io.Writer, head *ocispec.Index, count int, entries func(emit func(*ocispec.Descriptor) error) error) error {
	rest := *head
	rest.Manifests = nil
	b, err := json.Marshal(&rest)
	if err != nil {
		return err
	}
	// The member appears once: a quote inside a JSON string is escaped.
	pre, post, ok := bytes.Cut(b, []byte(`"manifests":null`))
	if !ok {
		return fmt.Errorf("internal error: no manifests member in %s", b)
	}
	// A buffer for what is written, up to 256 KiB: pack writes a small
	// index.json several times, and a buffer larger than it is garbage.
	bw := bufio.NewWriterSize(w, min(256<<10, len(b)+count*512))
	bw.Write(pre)
	n := 0
	err = entries(func(e *ocispec.Descriptor) error {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if n == 0 {
			bw.WriteString(`"manifests":[`)
		} else {
			bw.WriteByte(',')
		}
		n++
		_, err = bw.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case n > 0:
		bw.WriteByte(']')
	case head.Manifests == nil:
		bw.WriteString(`"manifests":null`)
	default:
		bw.WriteString(`"manifests":[]`)
	}
	bw.Write(post)
	return bw.Flush()
}

// ErrLocked is wrapped when another process (or another holder in this
// one) holds the lock TryLockDir asks for.
var ErrLocked = errors.New("locked by another writer")

// TryLockDir takes an exclusive lock (flock; LockFileEx on Windows) on the
// directory at path, without waiting: if another holds it, the error wraps
// ErrLocked. The lock is on the directory itself, so no lock file is left
// behind, and it goes with the process: a killed holder holds nothing.
// unlock releases it.
func TryLockDir(path string) (unlock func(), err error) {
	d, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	ok, err := tryLockFile(d)
	if err == nil && !ok {
		err = ErrLocked
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		unlockFile(d)
		d.Close()
	}, nil
}

// LockDir is TryLockDir that waits, until ctx is done, while another holds
// the lock.
func LockDir(ctx context.Context, path string) (unlock func(), err error) {
	wait := time.Millisecond
	for {
		unlock, err := TryLockDir(path)
		if !errors.Is(err, ErrLocked) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %s: %w", path, context.Cause(ctx))
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// lock takes an exclusive lock (flock; LockFileEx on Windows) on the layout
// directory itself, so no lock file is left behind.
func (l *Layout) lock() (func(), error) {
	d, err := l.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.Path, err)
	}
	if err := lockFile(d); err != nil {
		d.Close()
		return nil, fmt.Errorf("lock %s: %w", l.Path, err)
	}
	return func() {
		unlockFile(d)
		d.Close()
	}, nil
}

func (l *Layout) writeAtomic(name string, b []byte) error {
	return l.writeAtomicWith(name, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// writeAtomicWith is writeAtomic of what write writes.
func (l *Layout) writeAtomicWith(name string, write func(io.Writer) error) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := "." + name + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(l.Path, name), err)
	}
	err = write(f)
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

// UpdateFile replaces the file name at the top of the layout (not a blob,
// not index.json) with what update writes to w, given a reader of its
// content (empty when there is none), atomically and under the layout's
// exclusive lock, the one AddManifests takes; an error from update leaves
// the file as it is. old and w are the files: an update that reads or
// writes small pieces buffers them, and names the file in its read
// errors. OCI layout readers ignore files they do not know.
func (l *Layout) UpdateFile(name string, update func(old io.Reader, w io.Writer) error) error {
	if name == IndexFile || name == LayoutFile || name == BlobsDir || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("internal error: %s is not a file of its own in a layout", name)
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var old io.Reader = strings.NewReader("")
	f, err := l.root.Open(name)
	switch {
	case err == nil:
		defer f.Close()
		old = f
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read %s: %w", filepath.Join(l.Path, name), err)
	}
	return l.writeAtomicWith(name, func(w io.Writer) error { return update(old, w) })
}
