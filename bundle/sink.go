package bundle

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/oci"
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

// DirSink writes volumes as files named VolumeFileName into a directory,
// replacing the volume files of any earlier bundle there, so that the
// directory holds exactly the old bundle or exactly the new one:
//
//   - Begin, or Lock before it, locks the directory (without waiting: a
//     second pack into it fails with ErrDirBusy; the lock goes with the
//     process, so a killed pack holds nothing); Begin completes a commit
//     that a killed pack left half done, and removes the temporary files
//     of killed packs;
//   - volumes are written under hidden temporary names
//     (.vol-NNNN-of-NNNN.tar.partial-TAG);
//   - Commit syncs them, then writes and syncs a journal (.bundle-commit)
//     naming the new volumes to rename into place and the volume files of
//     the earlier bundle to remove, renames and removes, and removes the
//     journal. The journal made durable is the commit point: before it,
//     the old bundle is untouched; after it, any later Begin, or reader of
//     the directory (CompleteCommit), completes the commit if it was cut.
//
// Nothing but the new volumes remains afterwards, and a failed pack
// leaves the directory as it was (Abort removes it if Begin created it).
type DirSink struct {
	Dir string

	tag       string
	unlock    func() // releases the directory's lock; nil when not held
	created   bool   // Begin made Dir
	journaled bool   // the commit point is passed: Abort must keep the files
	written   []string
	final     []string
	replaced  int // volume files of an earlier bundle the commit replaced
}

// Replaced is how many volume files of an earlier bundle the last Commit
// replaced or removed: a directory used again for the next bundle says
// so, since the earlier one is gone.
func (s *DirSink) Replaced() int { return s.replaced }

// ErrNoSpace is wrapped when a destination lacks the room needed.
var ErrNoSpace = errors.New("not enough free space")

// ErrDirBusy is wrapped when another pack is writing into the directory.
var ErrDirBusy = errors.New("another pack is writing into the directory")

// commitJournal is the name of the journal of a commit in progress.
const commitJournal = ".bundle-commit"

// journal is the content of commitJournal: base names in the directory.
type journal struct {
	Version int      `json:"version"`
	Rename  []rename `json:"rename"` // new volumes, from their temporary names
	Remove  []string `json:"remove"` // volume files of the earlier bundle
}

type rename struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// isPartial reports whether name is a temporary volume file of a pack.
func isPartial(name string) bool {
	return strings.HasPrefix(name, ".vol-") && strings.Contains(name, ".tar.partial-")
}

// isJournalTemp reports whether name is a journal not yet in place.
func isJournalTemp(name string) bool { return strings.HasPrefix(name, commitJournal+".tmp-") }

// Lock takes the directory's lock now, if the directory exists, instead
// of in Begin: a caller that has sources to read first (registries, for
// minutes) learns at once that another pack is writing there (ErrDirBusy).
// Nothing is written. Commit or Abort releases the lock, as does the end of
// the process: a caller that does not go on to Pack, or whose Pack fails
// before Begin, calls Abort (which does nothing after Commit).
func (s *DirSink) Lock() error {
	if s.unlock != nil {
		return nil
	}
	if _, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil // Begin makes it, and locks it
	}
	return s.lock()
}

func (s *DirSink) lock() error {
	unlock, err := oci.TryLockDir(s.Dir)
	if errors.Is(err, oci.ErrLocked) {
		return fmt.Errorf("%s: %w (it holds the directory's lock); wait for it to finish or write elsewhere", s.Dir, ErrDirBusy)
	}
	if err != nil {
		return err
	}
	s.unlock = unlock
	return nil
}

// Begin locks the directory (unless Lock did), completes or clears what
// killed packs left, and checks that the directory has room for every
// volume.
func (s *DirSink) Begin(ctx context.Context, x *format.Index) error {
	if s.unlock == nil {
		if _, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) {
			s.created = true
		}
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			return fmt.Errorf("create output directory: %w", err)
		}
		if err := s.lock(); err != nil {
			return err
		}
	}
	if err := rollForward(s.Dir); err != nil {
		return err
	}
	// Locked, and any journal applied: every temporary file is a killed
	// pack's. Removed before the free space is measured, which they
	// would take.
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", s.Dir, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && (isPartial(e.Name()) || isJournalTemp(e.Name())) {
			if err := os.Remove(filepath.Join(s.Dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove a killed pack's temporary file: %w", err)
			}
		}
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

// syncDir makes the renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	err = d.Sync()
	d.Close()
	// Windows cannot sync a directory: there a rename is as durable as
	// the system makes it.
	if err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
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

// Commit makes the new volumes durable, then records, in a journal made
// durable too, which files to rename and remove, does it, and removes the
// journal (see DirSink).
func (s *DirSink) Commit() error {
	j, err := s.commitPoint()
	if err != nil {
		return err
	}
	if err := applyJournal(s.Dir, j); err != nil {
		return fmt.Errorf("%w (the commit is recorded in %s: the next pack into the directory, or the next read of it, completes it)", err, filepath.Join(s.Dir, commitJournal))
	}
	s.written = nil
	s.release()
	return nil
}

// commitPoint syncs the new volumes and writes the journal of the commit.
func (s *DirSink) commitPoint() (*journal, error) {
	for _, tmp := range s.written {
		if err := syncFile(tmp); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.Dir, err)
	}
	j := journal{Version: 1}
	keep := map[string]bool{}
	for i, f := range s.final {
		keep[filepath.Base(f)] = true
		j.Rename = append(j.Rename, rename{From: filepath.Base(s.written[i]), To: filepath.Base(f)})
	}
	s.replaced = 0
	for _, e := range entries {
		// Volumes of an earlier bundle: one that has a new volume's name
		// is replaced by the rename.
		if e.Type().IsRegular() && format.IsVolumeFileName(e.Name()) {
			s.replaced++
			if !keep[e.Name()] {
				j.Remove = append(j.Remove, e.Name())
			}
		}
	}
	if err := s.writeJournal(&j); err != nil {
		return nil, err
	}
	// The commit point: from here the new bundle is what the directory
	// holds, if not by this process then by the next that opens it.
	s.journaled = true
	return &j, nil
}

// writeJournal writes j durably as the journal: to a temporary file,
// synced, renamed into place, and the directory synced.
func (s *DirSink) writeJournal(j *journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, commitJournal+".tmp-"+s.tag)
	path := filepath.Join(s.Dir, commitJournal)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(s.Dir); err != nil {
		// Not known to be durable: the commit may or may not have a
		// journal after a crash, and either is safe, but this process
		// must not go on to remove the old volumes.
		os.Remove(path)
		return err
	}
	return nil
}

// applyJournal renames the new volumes into place, removes the old ones,
// syncs the directory and removes the journal. Each step may have been
// done already by a killed process: a temporary file that is gone while
// its volume is there was renamed, a volume to remove that is gone was
// removed.
func applyJournal(dir string, j *journal) error {
	for _, r := range j.Rename {
		err := os.Rename(filepath.Join(dir, r.From), filepath.Join(dir, r.To))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, r.To)); serr == nil {
				continue // renamed before
			}
			return fmt.Errorf("complete the commit in %s: %s is gone and %s is not there: %w", dir, r.From, r.To, err)
		}
		if err != nil {
			return fmt.Errorf("move volume into place: %w", err)
		}
	}
	for _, name := range j.Remove {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove a volume of the earlier bundle: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	// Removed only once the renames are durable: the journal is what
	// completes them after a crash.
	if err := os.Remove(filepath.Join(dir, commitJournal)); err != nil {
		return fmt.Errorf("remove the commit journal: %w", err)
	}
	return syncDir(dir)
}

// readJournal reads dir's journal; nil, nil when there is none.
func readJournal(dir string) (*journal, error) {
	path := filepath.Join(dir, commitJournal)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var j journal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	bad := dec.Decode(&j) != nil || j.Version != 1 || len(j.Rename) == 0
	// Only names of volumes and of pack's temporary volume files, in the
	// directory itself: a journal is never a way to reach other files.
	for _, r := range j.Rename {
		bad = bad || !isPartial(r.From) || filepath.Base(r.From) != r.From || !format.IsVolumeFileName(r.To)
	}
	for _, n := range j.Remove {
		bad = bad || !format.IsVolumeFileName(n)
	}
	if bad {
		return nil, fmt.Errorf("%s is not a commit journal that pack writes: remove it once the volumes in %s are as they should be", path, dir)
	}
	return &j, nil
}

// rollForward completes the commit whose journal is in dir, if any. The
// caller holds the directory's lock.
func rollForward(dir string) error {
	j, err := readJournal(dir)
	if err != nil || j == nil {
		return err
	}
	return applyJournal(dir, j)
}

// CompleteCommit completes the commit of a pack into dir that was cut
// short (a killed process, a failed rename), so that dir holds the new
// bundle; it does nothing, and writes nothing, when no commit is pending.
// Readers of a directory of volumes call it first: without it, they would
// see the volumes of two bundles, or some of neither. If a pack holds the
// directory, it waits for that pack to finish its commit, up to a minute.
func CompleteCommit(dir string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		// No journal, or none to be seen: the reading that follows
		// reports a directory it cannot read.
		if _, err := os.Lstat(filepath.Join(dir, commitJournal)); err != nil {
			return nil
		}
		unlock, err := oci.TryLockDir(dir)
		if err == nil {
			defer unlock()
			return rollForward(dir)
		}
		if !errors.Is(err, oci.ErrLocked) {
			return fmt.Errorf("complete an interrupted pack into %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w, and has not completed its commit within a minute", dir, ErrDirBusy)
		}
		// A live pack is in its commit, which takes a few renames.
		time.Sleep(50 * time.Millisecond)
	}
}

// VolumeFile opens the file of volume n, made by Create, for writing: Pack
// writes the volume's header into it last (see FileSink).
func (s *DirSink) VolumeFile(n int) (*os.File, error) {
	if n < 1 || n > len(s.written) {
		return nil, fmt.Errorf("volume %d of %s: not created (%d are)", n, s.Dir, len(s.written))
	}
	return os.OpenFile(s.written[n-1], os.O_WRONLY, 0)
}

// Abort removes the temporary files, and the directory if Begin made it:
// the directory is left as it was. Past the commit point it keeps them
// for the journal, which the next pack or reader completes.
func (s *DirSink) Abort() {
	if !s.journaled {
		for _, tmp := range s.written {
			os.Remove(tmp)
		}
		// Only with the lock held: a directory another pack made and
		// holds may be empty yet.
		if s.created && s.unlock != nil {
			os.Remove(s.Dir) // only if empty: nothing else is removed
		}
	}
	s.written = nil
	s.release()
}

// release lets the directory's lock go.
func (s *DirSink) release() {
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}
