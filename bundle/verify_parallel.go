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
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/airgap-bundle/bundle/format"
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
// file: its own findings would not be reported. It is a cancellation, so
// the body checker passes it on as it is.
var errSuperseded = fmt.Errorf("superseded by an earlier failure: %w", context.Canceled)

// volumeSource opens a volume for reading at offsets. Each task opens it
// once.
type volumeSource func() (io.ReaderAt, func() error, error)

// volumeSource gives the sources of the set's volumes.
func (s *Set) volumeSource(ctx context.Context) func(n int) (volumeSource, error) {
	return func(n int) (volumeSource, error) {
		return func() (io.ReaderAt, func() error, error) {
			r, err := s.reopen(ctx, n)
			if err != nil {
				return nil, nil, err
			}
			return r, r.Close, nil
		}, nil
	}
}

// checkVolumes checks every byte of volumes nums of s (SPEC 11.4), read
// from the sources open gives, in ranges of about chunk bytes on workers
// goroutines. It returns each volume's error (nil: verified). report
// counts the bytes checked; it is called from several goroutines.
func (s *Set) checkVolumes(ctx context.Context, nums []int, open func(n int) (volumeSource, error), workers int, chunk int64, report func(int64)) []error {
	errs := make([]error, len(nums))
	checks := make([]*volumeCheck, len(nums))
	members := format.MembersByVolume(s.Index)
	var tasks []*verifyTask
	byNumber := map[int]*volumeCheck{}
	for i, n := range nums {
		src, err := open(n)
		if err != nil {
			errs[i] = err
			continue
		}
		checks[i] = newVolumeCheck(s, n, members[n], src)
		byNumber[n] = checks[i]
	}
	skip := wholeBlobTasks(s.Index, byNumber, &tasks)
	for _, v := range checks {
		if v != nil {
			v.skipHash = skip
			tasks = append(tasks, splitVolume(v, chunk)...)
		}
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
	members []format.Member
	open    volumeSource
	// skipHash is the blobs whose segments the range checks do not hash:
	// a whole-blob task hashes them (and, only on a mismatch, each segment).
	skipHash map[*format.Blob]bool

	tasks    int
	finished atomic.Int32 // tasks that passed
	failedAt atomic.Int64 // start of the earliest failed task (MaxInt64: none)
	mu       sync.Mutex
	err      error
	errAt    int64
}

func newVolumeCheck(s *Set, n int, members []format.Member, open volumeSource) *volumeCheck {
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
	v *volumeCheck
	// blob, when set, makes this a whole-blob task: its stored bytes, read
	// across the volumes of placements, must decode to the blob.
	blob        *format.Blob
	placements  []*volumeCheck // the volume of each placement of blob
	header      bool
	first, last int
	trailer     bool
	start, end  int64 // bytes [start, end) of the file
}

// splitVolume cuts v into tasks of about chunk bytes, at member
// boundaries; a member larger than chunk is a task of its own.
func splitVolume(v *volumeCheck, chunk int64) []*verifyTask {
	prefix := v.set.Index.VolumePrefixSize(v.n, v.set.indexSize())
	tasks := []*verifyTask{{v: v, header: true, start: 0, end: prefix}}
	t := &verifyTask{v: v, start: prefix, end: prefix}
	for i, m := range v.members {
		size := format.MemberSize(m.Placement().Length)
		if t.last > t.first && (t.end-t.start >= chunk || size >= chunk) {
			tasks = append(tasks, t)
			t = &verifyTask{v: v, first: i, last: i, start: t.end, end: t.end}
		}
		t.last, t.end = i+1, t.end+size
	}
	t.trailer, t.end = true, t.end+2*format.BlockSize
	tasks = append(tasks, t)
	v.tasks += len(tasks)
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
	// Buffers of verifyBufSize, or of the largest task where that is
	// smaller: a set of small volumes would otherwise make mostly garbage.
	var largest int64
	for _, t := range tasks {
		largest = max(largest, t.end-t.start)
		if t.blob != nil {
			largest = max(largest, t.blob.StoredSize)
		}
	}
	bufSize := int(min(verifyBufSize, max(largest, format.BlockSize)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &rangeChecker{ctx: ctx, br: bufio.NewReaderSize(nil, bufSize), bufSize: bufSize, report: report}
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
				case !errors.Is(err, errSuperseded):
					t.v.fail(t.start, err)
				}
			}
		}()
	}
	wg.Wait()
}

// rangeChecker checks one task's range. A worker keeps one for all its
// tasks (its buffer).
type rangeChecker struct {
	ctx     context.Context
	br      *bufio.Reader
	body    format.BodyReader
	report  func(int64)
	counted int64  // bytes checked and not yet reported
	buf     []byte // for whole-blob tasks
	bufSize int    // of br and buf
}

// reportEvery is how many checked bytes a worker gathers before it
// reports them.
const reportEvery = 1 << 20

// run checks t's range.
func (c *rangeChecker) run(t *verifyTask) error {
	if t.blob != nil {
		return c.checkBlob(t)
	}
	if t.v.failedAt.Load() < t.start {
		return errSuperseded
	}
	r, closeFn, err := t.v.open()
	if err != nil {
		return err
	}
	defer closeFn()
	end := t.end
	if t.trailer {
		end++ // one byte more: there must be none
	}
	c.br.Reset(&rangeSource{ctx: c.ctx, t: t, r: r, off: t.start, end: end})
	defer c.flush()
	if t.header {
		return c.checkHeader(t, r)
	}
	v := t.v
	body := &c.body
	body.Reset(c.br, format.Body{Index: v.set.Index, Path: v.path, Volume: v.n,
		Members: v.members[t.first:t.last], Offset: t.start, Last: t.trailer}, c.count)
	for {
		m, ok, err := body.Next()
		if err != nil {
			return err
		}
		if !ok {
			return body.Close()
		}
		if v.skipHash[m.Blob] {
			if err := c.skipData(body); err != nil {
				return err
			}
		}
		if err := body.End(); err != nil {
			return err
		}
	}
}

func (c *rangeChecker) count(n int64) {
	if c.counted += n; c.counted >= reportEvery {
		c.flush()
	}
}

func (c *rangeChecker) flush() {
	if c.counted > 0 && c.report != nil {
		c.report(c.counted)
	}
	c.counted = 0
}

// checkHeader compares the header members with those the set was built
// from. On a difference the members are read again the way OpenFiles reads
// them, to report what is wrong where.
func (c *rangeChecker) checkHeader(t *verifyTask, r io.ReaderAt) error {
	v := t.v
	same, off, err := v.set.matchHeader(c.br, v.n, c.count)
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return &format.CorruptError{Path: v.path, Volume: v.n, Offset: off, Reason: fmt.Sprintf("cannot be read: %v", err)}
	}
	if same {
		if off != t.end {
			return fmt.Errorf("internal error: volume %d: header members of %d bytes, %d expected", v.n, off, t.end)
		}
		return nil
	}
	return v.set.reheader(io.NewSectionReader(r, 0, math.MaxInt64), v.n)
}

// rangeSource reads bytes [off, end) of a volume for one task. It stops
// when the task's volume has failed earlier in the file (errSuperseded) or
// the context is done.
type rangeSource struct {
	ctx      context.Context
	t        *verifyTask
	r        io.ReaderAt
	off, end int64
}

func (s *rangeSource) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.t.v.failedAt.Load() < s.t.start {
		return 0, errSuperseded
	}
	if s.off >= s.end {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.end-s.off)]
	n, err := s.r.ReadAt(p, s.off)
	s.off += int64(n)
	switch {
	case n > 0:
		return n, nil // an error comes again on the next read
	case err == nil:
		return 0, io.EOF
	}
	return 0, err
}
