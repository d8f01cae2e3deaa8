package bundle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
)

// Sink receives the volumes that Pack writes. Pack calls Begin once with the
// complete index, then Create for each volume in order (closing each before
// the next), then Commit; or Abort at any point after a failure. A volume's
// writer is also closed when packing fails part-way through it, so a sink
// must not treat Close as success: only Commit means every volume is
// complete.
type Sink interface {
	Begin(ctx context.Context, x *format.Index) error
	Create(ctx context.Context, v format.Volume, total int) (io.WriteCloser, error)
	Commit() error
	Abort()
}

// DirSink writes volumes as files named VolumeFileName into a directory.
// Volumes are written under temporary names and only renamed into place by
// Commit, which also removes volume files of any earlier bundle left in the
// directory, so a re-run never leaves stale volumes beside new ones.
type DirSink struct {
	Dir string

	tag     string
	written []string // temporary files
	final   []string
}

// Begin checks that the directory has room for every volume.
func (s *DirSink) Begin(ctx context.Context, x *format.Index) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	var need int64
	for _, v := range x.Volumes {
		need += v.Size
	}
	if free, err := freeSpace(s.Dir); err == nil && free < need {
		return fmt.Errorf("%s has %s free but the bundle needs %s (%d volumes): free some space or write the volumes elsewhere: %w",
			s.Dir, bytesize.Format(free), bytesize.Format(need), len(x.Volumes), ErrNoSpace)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	s.tag = hex.EncodeToString(rnd[:])
	return nil
}

// ErrNoSpace is wrapped when a destination lacks the room needed.
var ErrNoSpace = errors.New("not enough free space")

// syncFile makes a written file durable.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// Create opens a temporary file for volume v.
func (s *DirSink) Create(ctx context.Context, v format.Volume, total int) (io.WriteCloser, error) {
	name := format.VolumeFileName(v.Number, total)
	tmp := filepath.Join(s.Dir, "."+name+".partial-"+s.tag)
	// Open for reading too: pack reads back what it copied to check it.
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create volume %d: %w", v.Number, err)
	}
	s.written = append(s.written, tmp)
	s.final = append(s.final, filepath.Join(s.Dir, name))
	// Made durable at Commit, all volumes together: a sync at the end of
	// each volume would stop the writing while the disk catches up.
	return f, nil
}

// Commit makes the new volumes durable, removes the volume files of earlier
// bundles and moves the new ones into place.
func (s *DirSink) Commit() error {
	for _, tmp := range s.written {
		if err := syncFile(tmp); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", s.Dir, err)
	}
	keep := map[string]bool{}
	for _, f := range s.final {
		keep[filepath.Base(f)] = true
	}
	for _, e := range entries {
		// Volumes of an earlier bundle, and temporary files an interrupted
		// pack left behind.
		stale := format.IsVolumeFileName(e.Name()) && !keep[e.Name()] ||
			strings.HasPrefix(e.Name(), ".vol-") && strings.Contains(e.Name(), ".tar.partial-") && !strings.HasSuffix(e.Name(), s.tag)
		if e.Type().IsRegular() && stale {
			if err := os.Remove(filepath.Join(s.Dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale volume: %w", err)
			}
		}
	}
	for i, tmp := range s.written {
		if err := os.Rename(tmp, s.final[i]); err != nil {
			return fmt.Errorf("move volume into place: %w", err)
		}
	}
	s.written = nil
	if d, err := os.Open(s.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// VolumeFile opens the file of volume n, made by Create, for writing: Pack
// writes the volume's header into it last (see FileSink).
func (s *DirSink) VolumeFile(n int) (*os.File, error) {
	if n < 1 || n > len(s.written) {
		return nil, fmt.Errorf("volume %d of %s: not created (%d are)", n, s.Dir, len(s.written))
	}
	return os.OpenFile(s.written[n-1], os.O_WRONLY, 0)
}

// Abort removes the temporary files; the directory is left as it was.
func (s *DirSink) Abort() {
	for _, tmp := range s.written {
		os.Remove(tmp)
	}
	s.written = nil
}
