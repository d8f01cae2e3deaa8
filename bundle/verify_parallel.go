package bundle

// Parallel verification (SPEC 11.4). The volumes are independent, and so
// are the members inside a volume: each placement has its own digest, and
// the index gives every member's offset. Verify cuts each volume into
// tasks, ranges of whole members, and a few workers take the tasks, each
// reading its range with ReadAt through a file handle of its own and
// checking it exactly as a sequential reader would: canonical headers,
// segment digests, zero padding and, for the last range, the trailer and
// the end of the file. A volume's header members are one more task: they
// are compared byte for byte with those the set was built from (the index
// is not parsed again).
//
// A volume fails with the error a sequential reader would have met first:
// of the failed tasks, the one that starts earliest in the file wins, and
// tasks after it in that volume stop early.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

const (
	// verifyBufSize is what each worker reads at once (and so its memory).
	verifyBufSize = 256 << 10
	// Tasks hold about total/(workers*verifyTasksPerWorker) bytes, within
	// these bounds, so that the workers finish together.
	verifyTasksPerWorker = 8
	minVerifyChunk       = 1 << 20
	maxVerifyChunk       = 256 << 20
)

// errSuperseded ends a task whose volume already failed earlier in the
// file: its own findings would not be reported.
var errSuperseded = errors.New("superseded by an earlier failure")

// volumeSource opens a volume for reading at offsets. Each task opens it
// once.
type volumeSource func() (io.ReaderAt, func() error, error)

// fileSource opens path and checks that it is still the file info names.
func fileSource(path string, n int, info os.FileInfo) volumeSource {
	return func() (io.ReaderAt, func() error, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		st, err := f.Stat()
		if err == nil && !os.SameFile(st, info) {
			err = &CorruptError{Path: path, Volume: n, Reason: "the file changed while it was being read"}
		}
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return f, f.Close, nil
	}
}

// volumeFile is the source of volume n of s: its file, which must stay
// the file it is now.
func (s *Set) volumeFile(n int) (volumeSource, error) {
	path := s.Volumes[n].Path
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return fileSource(path, n, st), nil
}

// checkVolumes checks every byte of volumes nums of s (SPEC 11.4), read
// from the sources open gives, in ranges of about chunk bytes on workers
// goroutines. It returns each volume's error (nil: verified). report
// counts the bytes checked; it is called from several goroutines.
func (s *Set) checkVolumes(ctx context.Context, nums []int, open func(n int) (volumeSource, error), workers int, chunk int64, report func(int64)) []error {
	errs := make([]error, len(nums))
	checks := make([]*volumeCheck, len(nums))
	members := membersByVolume(s.Index)
	var tasks []*verifyTask
	for i, n := range nums {
		src, err := open(n)
		if err != nil {
			errs[i] = err
			continue
		}
		checks[i] = newVolumeCheck(s, n, members[n], src)
		tasks = append(tasks, splitVolume(checks[i], chunk)...)
	}
	orderTasks(tasks, chunk)
	runVerifyTasks(ctx, tasks, workers, report)
	for i, v := range checks {
		if v != nil {
			errs[i] = v.result()
		}
	}
	return errs
}

// volumeCheck is the verification of one volume.
type volumeCheck struct {
	set     *Set
	n       int
	path    string
	size    int64
	members []memberRef
	open    volumeSource

	tasks    int
	finished atomic.Int32 // tasks that passed
	failedAt atomic.Int64 // start of the earliest failed task (MaxInt64: none)
	mu       sync.Mutex
	err      error
	errAt    int64
}

// membersByVolume is Index.members of every volume, in one pass over the
// blobs.
func membersByVolume(x *Index) map[int][]memberRef {
	out := map[int][]memberRef{}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		for j, p := range b.Placements {
			out[p.Volume] = append(out[p.Volume], memberRef{blob: b, part: j})
		}
	}
	for _, ms := range out {
		slices.SortFunc(ms, func(a, b memberRef) int { return cmp.Compare(a.placement().Offset, b.placement().Offset) })
	}
	return out
}

func newVolumeCheck(s *Set, n int, members []memberRef, open volumeSource) *volumeCheck {
	v := &volumeCheck{set: s, n: n, path: s.Volumes[n].Path, size: s.Index.Volumes[n-1].Size, members: members, open: open}
	v.failedAt.Store(math.MaxInt64)
	return v
}

// fail records err found by the task starting at start.
func (v *volumeCheck) fail(start int64, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err == nil || start < v.errAt {
		v.err, v.errAt = err, start
		v.failedAt.Store(start)
	}
}

// result is the volume's error, nil when every task passed.
func (v *volumeCheck) result() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err == nil && int(v.finished.Load()) != v.tasks {
		return fmt.Errorf("internal error: volume %d: %d of %d checks done", v.n, v.finished.Load(), v.tasks)
	}
	return v.err
}

// verifyTask is a range of a volume: its header members, or members
// [first, last) and, when trailer is set, the end of the volume.
type verifyTask struct {
	v           *volumeCheck
	header      bool
	first, last int
	trailer     bool
	start, end  int64 // bytes [start, end) of the file
}

// splitVolume cuts v into tasks of about chunk bytes, at member
// boundaries; a member larger than chunk is a task of its own.
func splitVolume(v *volumeCheck, chunk int64) []*verifyTask {
	prefix := v.set.Index.prefixSize(len(v.set.IndexBytes))
	tasks := []*verifyTask{{v: v, header: true, start: 0, end: prefix}}
	t := &verifyTask{v: v, start: prefix, end: prefix}
	for i, m := range v.members {
		size := memberSize(m.placement().Length)
		if t.last > t.first && (t.end-t.start >= chunk || size >= chunk) {
			tasks = append(tasks, t)
			t = &verifyTask{v: v, first: i, last: i, start: t.end, end: t.end}
		}
		t.last, t.end = i+1, t.end+size
	}
	t.trailer, t.end = true, t.end+2*blockSize
	tasks = append(tasks, t)
	v.tasks = len(tasks)
	return tasks
}

// verifyChunk is the task size for bodies of total bytes.
func verifyChunk(total int64, workers int) int64 {
	c := total / int64(workers*verifyTasksPerWorker)
	return min(max(c, minVerifyChunk), maxVerifyChunk)
}

// orderTasks puts the tasks much larger than chunk first, largest first,
// so that no worker is left with a long one at the end; the rest keep
// file order.
func orderTasks(tasks []*verifyTask, chunk int64) {
	big := func(t *verifyTask) bool { return t.end-t.start > 2*chunk }
	slices.SortStableFunc(tasks, func(a, b *verifyTask) int {
		switch ba, bb := big(a), big(b); {
		case ba && bb:
			return cmp.Compare(b.end-b.start, a.end-a.start)
		case ba:
			return -1
		case bb:
			return 1
		}
		return 0
	})
}

// runVerifyTasks runs tasks on workers goroutines; each records its
// failure in its volume.
func runVerifyTasks(ctx context.Context, tasks []*verifyTask, workers int, report func(int64)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &rangeChecker{ctx: ctx, buf: make([]byte, verifyBufSize), h: sha256.New(), report: report}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) {
					return
				}
				t := tasks[i]
				err := ctx.Err()
				if err == nil {
					err = c.run(t)
				}
				switch {
				case err == nil:
					t.v.finished.Add(1)
				case err != errSuperseded:
					t.v.fail(t.start, err)
				}
			}
		}()
	}
	wg.Wait()
}

// rangeChecker reads one task's range and checks it. A worker keeps one
// for all its tasks (its buffer and hash).
type rangeChecker struct {
	ctx    context.Context
	buf    []byte
	h      hash.Hash
	sum    [sha256.Size]byte
	report func(int64)

	t       *verifyTask
	r       io.ReaderAt
	lo, hi  int   // unread bytes of buf
	next    int64 // file offset of the byte after buf[hi-1]
	off     int64 // file offset of buf[lo]: what was checked so far
	counted int64 // bytes checked and not yet reported
}

// run checks t's range.
func (c *rangeChecker) run(t *verifyTask) error {
	if t.v.failedAt.Load() < t.start {
		return errSuperseded
	}
	r, closeFn, err := t.v.open()
	if err != nil {
		return err
	}
	defer closeFn()
	c.t, c.r, c.lo, c.hi, c.next, c.off = t, r, 0, 0, t.start, t.start
	defer c.flush()
	if t.header {
		return c.checkHeader()
	}
	return c.checkBody()
}

func (c *rangeChecker) flush() {
	if c.counted > 0 && c.report != nil {
		c.report(c.counted)
	}
	c.counted = 0
}

func (c *rangeChecker) corrupt(m *memberRef, reason string) error {
	e := &CorruptError{Path: c.t.v.path, Volume: c.t.v.n, Offset: c.off, Reason: reason}
	if m != nil {
		e.Member = MemberName(m.blob, m.part)
		e.Digest = m.placement().Digest
	}
	return e
}

// errEnd is what take returns at the end of the file.
var errEnd = errors.New("end of file")

// fill reads the next part of the range into the buffer.
func (c *rangeChecker) fill() error {
	c.flush()
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if c.t.v.failedAt.Load() < c.t.start {
		return errSuperseded
	}
	n := min(int64(len(c.buf)), c.t.end-c.next)
	if n <= 0 {
		return errors.New("internal error: read past the range")
	}
	k, err := c.r.ReadAt(c.buf[:n], c.next)
	c.lo, c.hi, c.next = 0, k, c.next+int64(k)
	if k > 0 {
		return nil
	}
	if err == nil || err == io.EOF {
		return errEnd
	}
	return err
}

// take returns up to max next bytes of the range, at least one.
func (c *rangeChecker) take(max int64) ([]byte, error) {
	if c.lo == c.hi {
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
	n := int(min(int64(c.hi-c.lo), max))
	b := c.buf[c.lo : c.lo+n]
	c.lo += n
	c.off += int64(n)
	c.counted += int64(n)
	return b, nil
}

// readErr turns a read failure into what the volume reports.
func (c *rangeChecker) readErr(m *memberRef, err error, truncated string) error {
	switch {
	case err == errEnd:
		return c.corrupt(m, truncated)
	case err == errSuperseded || c.ctx.Err() != nil:
		return err
	}
	var ce *CorruptError
	if errors.As(err, &ce) {
		return err
	}
	return c.corrupt(m, fmt.Sprintf("cannot be read: %v", err))
}

// equal reads len(want) bytes and reports whether they are want. A short
// read is an error.
func (c *rangeChecker) equal(want []byte) (bool, error) {
	same := true
	for len(want) > 0 {
		b, err := c.take(int64(len(want)))
		if err != nil {
			return false, err
		}
		same = same && bytes.Equal(b, want[:len(b)])
		want = want[len(b):]
	}
	return same, nil
}

// checkHeader compares the header members with those the set was built
// from. On a difference the members are read again the way OpenSet reads
// them, to report what is wrong where.
func (c *rangeChecker) checkHeader() error {
	v := c.t.v
	var n int64
	ok := true
	for _, p := range v.set.headerPieces(v.n) {
		n += int64(len(p))
		if !ok {
			continue
		}
		same, err := c.equal(p)
		if err != nil && err != errEnd {
			return c.readErr(nil, err, "")
		}
		ok = err == nil && same
	}
	if n != c.t.end {
		return fmt.Errorf("internal error: volume %d: header members of %d bytes, %d expected", v.n, n, c.t.end)
	}
	if ok {
		return nil
	}
	return v.set.reheader(io.NewSectionReader(c.r, 0, math.MaxInt64), v.n)
}

// checkBody checks the task's members and, for the last task, the
// trailer and the end of the file.
func (c *rangeChecker) checkBody() error {
	t := c.t
	v := t.v
	mtime := mtimeOf(v.set.Index)
	for i := t.first; i < t.last; i++ {
		m := &v.members[i]
		p := m.placement()
		if c.off != p.Offset-blockSize {
			return fmt.Errorf("internal error: volume %d: member at %d, expected at %d", v.n, c.off, p.Offset-blockSize)
		}
		want := tarHeader(MemberName(m.blob, m.part), p.Length, mtime)
		var h [blockSize]byte
		if err := c.read(h[:]); err != nil {
			return c.readErr(m, err, "volume ends early (truncated)")
		}
		if !bytes.Equal(h[:], want) {
			c.off -= blockSize // reported where the header starts
			name, _, perr := parseTarHeader(h[:])
			reason := fmt.Sprintf("tar header of %q is not the one the index describes", name)
			if perr != nil {
				reason = perr.Error()
			}
			return c.corrupt(m, reason)
		}
		c.h.Reset()
		for left := p.Length; left > 0; {
			b, err := c.take(left)
			if err != nil {
				return c.readErr(m, err, "volume ends early (truncated)")
			}
			c.h.Write(b)
			left -= int64(len(b))
		}
		sum := c.h.Sum(c.sum[:0])
		if hex.EncodeToString(sum) != p.Digest.Encoded() {
			return c.corrupt(m, fmt.Sprintf("content hashes to sha256:%x", sum))
		}
		if pad := padding(p.Length); pad > 0 {
			zero, err := c.equal(zeroBlock[:pad])
			if err != nil {
				return c.readErr(m, err, "volume ends early (truncated)")
			}
			if !zero {
				return c.corrupt(m, "non-zero padding")
			}
		}
	}
	if !t.trailer {
		return nil
	}
	zero, err := c.equal(zeroBlock[:])
	if err != nil {
		return c.readErr(nil, err, "volume ends early (truncated before the trailer)")
	}
	if !zero {
		return c.corrupt(nil, "trailer is not two zero blocks")
	}
	var one [1]byte
	if k, _ := c.r.ReadAt(one[:], v.size); k != 0 {
		return c.corrupt(nil, fmt.Sprintf("bytes after the end of the volume (it should be %d bytes)", v.size))
	}
	return nil
}

// read fills b from the range.
func (c *rangeChecker) read(b []byte) error {
	for len(b) > 0 {
		x, err := c.take(int64(len(b)))
		if err != nil {
			return err
		}
		b = b[copy(b, x):]
	}
	return nil
}
