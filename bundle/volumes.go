package bundle

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/airgap-bundle/bundle/format"
)

// VolumeOpener is one volume of a bundle, wherever its bytes are: a file
// (FileVolume), memory or a web server (ReaderAtVolume, or a type of the
// caller's own).
type VolumeOpener interface {
	// Name names the volume in messages and errors: its path or URL.
	Name() string
	// Open returns a reader of the volume's bytes. Each call returns a
	// reader of its own, which the caller closes: verify reads several
	// parts of a volume at once. Unpack copies from a *os.File by the
	// kernel when the reader has a method File() *os.File that returns
	// the volume's file.
	Open(ctx context.Context) (VolumeReader, error)
}

// VolumeReader reads a volume's bytes at any offset.
type VolumeReader interface {
	io.ReaderAt
	io.Closer
	// Size is the number of bytes of the volume.
	Size() int64
}

// FileVolume is the volume file at path. It must stay the same file while
// it is read: once opened, a file replaced at that path is reported as
// corrupt, not read.
func FileVolume(path string) VolumeOpener { return &fileVolume{path: path} }

type fileVolume struct {
	path string
	mu   sync.Mutex
	info os.FileInfo // of the first open
}

func (v *fileVolume) Name() string { return v.path }

func (v *fileVolume) Open(context.Context) (VolumeReader, error) {
	// A FIFO blocks open(2) until a writer comes, and then reads forever
	// (and a device may be endless): only regular files are volumes. The
	// mode is checked by name first, and the file is opened without
	// blocking in case it was replaced meanwhile, then checked again.
	if st, err := os.Stat(v.path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, notRegular(v.path, st)
	}
	f, err := os.OpenFile(v.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(v.path, st)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.info == nil {
		v.info = st
	} else if !os.SameFile(st, v.info) {
		f.Close()
		return nil, &format.CorruptError{Path: v.path, Reason: "the file changed while it was being read"}
	}
	return &fileReader{f: f, size: st.Size()}, nil
}

// fileReader is an open volume file.
type fileReader struct {
	f    *os.File
	size int64
}

func (r *fileReader) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }
func (r *fileReader) Close() error                            { return r.f.Close() }
func (r *fileReader) Size() int64                             { return r.size }

// File is the volume's file, for copies by the kernel.
func (r *fileReader) File() *os.File { return r.f }

// ReaderAtVolume is a volume whose bytes r holds (size of them), named
// name: in memory, or behind any ReaderAt (an HTTP range reader). r must
// be safe for concurrent use, as an *os.File or a *bytes.Reader is.
func ReaderAtVolume(name string, r io.ReaderAt, size int64) VolumeOpener {
	return &readerAtVolume{name: name, r: r, size: size}
}

type readerAtVolume struct {
	name string
	r    io.ReaderAt
	size int64
}

func (v *readerAtVolume) Name() string { return v.name }

func (v *readerAtVolume) Open(context.Context) (VolumeReader, error) {
	return readerAtReader{v.r, v.size}, nil
}

type readerAtReader struct {
	io.ReaderAt
	size int64
}

func (r readerAtReader) Close() error { return nil }
func (r readerAtReader) Size() int64  { return r.size }

// notRegular is the error for a path that is not a regular file (a FIFO,
// a device, a socket): it cannot be a volume, and reading it could block
// or never end.
func notRegular(path string, st os.FileInfo) error {
	return fmt.Errorf("%s: %w: not a regular file (%s)", path, format.ErrNotVolume, st.Mode().Type())
}

// volumeCandidate is a file that may be a volume. Only the files named
// explicitly must be: other files of a directory are skipped when they
// are not volumes.
type volumeCandidate struct {
	v        VolumeOpener
	explicit bool
}

// findVolumeFiles lists the volume files paths give: files, and the
// regular files of directories, each file once.
func findVolumeFiles(paths []string) ([]volumeCandidate, error) {
	var cands []volumeCandidate
	var infos []os.FileInfo
	add := func(path string, st os.FileInfo, explicit bool) {
		for _, seen := range infos {
			if os.SameFile(seen, st) {
				return
			}
		}
		infos = append(infos, st)
		cands = append(cands, volumeCandidate{&fileVolume{path: path, info: st}, explicit})
	}
	for _, p := range paths {
		// A pack killed in its commit leaves the directory half
		// committed, and a journal that says how to finish: finished
		// first, whether the directory or one of its files is named.
		dir := p
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			dir = filepath.Dir(p)
		}
		if err := CompleteCommit(dir); err != nil {
			return nil, err
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w; give the directory or the volume files of the bundle", err)
		}
		if !st.IsDir() {
			if !st.Mode().IsRegular() {
				return nil, notRegular(p, st)
			}
			add(p, st, true)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			// Only files named as volumes are (SPEC 4.1, 11.3): anything
			// else beside them (notes.tar, an image export) is not read at
			// all, however it starts. Hidden files are temporary files of
			// writers (pack's .vol-*.partial-*), never volumes handed over.
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !format.IsVolumeFileName(e.Name()) {
				continue
			}
			fp := filepath.Join(p, e.Name())
			st, err := os.Stat(fp)
			if err != nil {
				return nil, err
			}
			if !st.Mode().IsRegular() { // replaced since the listing
				continue
			}
			add(fp, st, false)
		}
	}
	return cands, nil
}
