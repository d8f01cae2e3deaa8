package bundle

// Verify cuts volumes into ranges checked in parallel (verify_parallel.go).
// These tests check that it still finds every kind of damage, reports the
// same error a sequential reader does (the first damage in the file), and
// keeps its promises on progress, cancellation and memory.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// verifyChunks are the range sizes the tests verify with: every member a
// range of its own, small ranges, and the size Verify chooses.
var verifyChunks = []int64{1, 64 << 10, 0}

// sequentialCheck reads a volume the way Verify did before it read in
// parallel, and Unpack still does: its header members, then one reader
// from the first blob member to the end of the file.
func sequentialCheck(data []byte, path string) error {
	r := bytes.NewReader(data)
	h, err := format.ReadVolumeHeader(r, path)
	if err != nil {
		return err
	}
	body := format.NewBodyReader(r, h.Body(), nil)
	for {
		_, ok, err := body.Next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		if err := body.End(); err != nil {
			return err
		}
	}
	return body.Close()
}

// memVolume is a volume source over bytes in memory.
func memVolume(data []byte) volumeSource {
	return func() (io.ReaderAt, func() error, error) {
		return bytes.NewReader(data), func() error { return nil }, nil
	}
}

// sameVolumeError fails unless got is the error want is: both nil, or
// CorruptErrors that say the same thing at the same place.
func sameVolumeError(t *testing.T, what string, want, got error) {
	t.Helper()
	if (want == nil) != (got == nil) {
		t.Fatalf("%s: sequential reader says %v, parallel one %v", what, want, got)
	}
	if want == nil {
		return
	}
	var w, g *format.CorruptError
	if !errors.As(want, &w) || !errors.As(got, &g) {
		t.Fatalf("%s: want CorruptErrors, got %s and %s", what, describe(want), describe(got))
	}
	if *w != *g {
		t.Fatalf("%s: sequential reader says\n\t%v\nparallel one\n\t%v", what, w, g)
	}
}

// parallelBundle packs one volume holding a 3 MiB blob, and smaller ones
// whose sizes are not whole blocks (so that they have padding).
func parallelBundle(t *testing.T) (dir, path string, data []byte, blobs []tarMember, big tarMember, trailer int64) {
	t.Helper()
	src := newMemSource("parallel")
	bigLayer := src.add(ocispec.MediaTypeImageLayer, benchRandom(3<<20+1000, 7))
	layers := []ocispec.Descriptor{bigLayer}
	for i, n := range []int{1234, 300001, 77} {
		layers = append(layers, src.add(ocispec.MediaTypeImageLayer, benchRandom(n, uint64(10+i))))
	}
	src.addImage(t, "parallel:1", layers...)
	dir, x := packSources(t, []Source{src}, PackOptions{})
	if len(x.Volumes) != 1 {
		t.Fatalf("want one volume, got %d", len(x.Volumes))
	}
	path = volumeFiles(t, dir)[0]
	data = mustRead(t, path)
	members, trailer := scanVolume(t, data)
	for _, m := range members {
		if strings.HasPrefix(m.Name, "blobs/") {
			blobs = append(blobs, m)
		}
	}
	big = findMember(t, members, "blobs/sha256/"+bigLayer.Digest.Encoded())
	return dir, path, data, blobs, big, trailer
}

// TestVerifyParallelDamage damages a single-volume bundle in each part a
// range checks, verifies it in ranges of several sizes, and wants the
// CorruptError a sequential reader gives: the first damage in the file,
// naming the volume, the member and the offset.
func TestVerifyParallelDamage(t *testing.T) {
	t.Parallel()
	dir, path, data, blobs, big, trailer := parallelBundle(t)
	first, last := blobs[0], blobs[len(blobs)-1]
	if first == big || last == big {
		// The two-damages case wants a member before and after the big one.
		t.Logf("big blob is member %s; first %s, last %s", big.Name, first.Name, last.Name)
	}
	flip := func(offs ...int64) func([]byte) []byte {
		return func(b []byte) []byte {
			b = slices.Clone(b)
			for _, o := range offs {
				b[o] ^= 0x01
			}
			return b
		}
	}
	cases := []struct {
		name   string
		damage func([]byte) []byte
		member string // the member the error must name ("" for none)
		offset int64
		reason string
	}{
		{"large blob, second half", flip(big.DataOff + big.Size*3/4), big.Name, big.DataOff + big.Size, "content hashes to"},
		{"large blob, last byte", flip(big.DataOff + big.Size - 1), big.Name, big.DataOff + big.Size, "content hashes to"},
		{"padding after the large blob", flip(big.DataOff + big.Size), big.Name, big.End(), "non-zero padding"},
		{"tar header of the large blob", flip(big.HdrOff + 30), big.Name, big.HdrOff, "tar header"},
		{"tar header of the last member, size", flip(last.HdrOff + 124 + 5), last.Name, last.HdrOff, ""},
		{"tar header of the last member, ustar magic", flip(last.HdrOff + 257), last.Name, last.HdrOff, "tar header"},
		{"tar header of the large blob, unused last byte", flip(big.HdrOff + format.BlockSize - 1), big.Name, big.HdrOff, "tar header"},
		{"padding of the last member", flip(last.End() - 1), last.Name, last.End(), "non-zero padding"},
		{"trailer", flip(trailer + 700), "", trailer + 2*format.BlockSize, "trailer is not two zero blocks"},
		{"first and last member: the first is reported", flip(last.DataOff, first.DataOff+first.Size/2), first.Name, first.DataOff + first.Size, "content hashes to"},
		{"large blob and trailer: the blob is reported", flip(trailer, big.DataOff+big.Size/2+1), big.Name, big.DataOff + big.Size, "content hashes to"},
		{"cut inside the large blob", func(b []byte) []byte { return b[:big.DataOff+big.Size/2] }, big.Name, big.DataOff + big.Size/2, "truncated"},
		{"cut in the trailer", func(b []byte) []byte { return b[:trailer+format.BlockSize] }, "", trailer + format.BlockSize, "truncated"},
		{"a byte appended", func(b []byte) []byte { return append(slices.Clone(b), 0) }, "", int64(len(data)), "bytes after the end"},
	}
	ctx := context.Background()
	for _, chunk := range verifyChunks {
		r, err := verifyFilesChunked(ctx, []string{dir}, verifyOpts{AllowUnsigned: true, Workers: 4}, chunk)
		if err != nil || !slices.Equal(r.Verified, []int{1}) {
			t.Fatalf("chunk %d: intact bundle: verified %v, error %v", chunk, r.Verified, err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			damaged := c.damage(data)
			mustWrite(t, path, damaged)
			defer mustWrite(t, path, data)
			want := sequentialCheck(damaged, path)
			for _, chunk := range verifyChunks {
				r, err := verifyFilesChunked(ctx, []string{dir}, verifyOpts{AllowUnsigned: true, Workers: 4}, chunk)
				ces := findAll[*format.CorruptError](err)
				if len(ces) != 1 || r == nil || !slices.Equal(r.Failed, []int{1}) || len(r.Verified) != 0 {
					t.Fatalf("chunk %d: want one CorruptError and volume 1 failed, got %s (report %+v)", chunk, describe(err), r)
				}
				ce := ces[0]
				if ce.Path != path || ce.Volume != 1 || ce.Member != c.member || ce.Offset != c.offset || !strings.Contains(ce.Reason, c.reason) {
					t.Errorf("chunk %d: got %v; want volume 1 of %s, member %q, offset %d, reason with %q", chunk, ce, path, c.member, c.offset, c.reason)
				}
				sameVolumeError(t, fmt.Sprintf("chunk %d", chunk), want, ce)
			}
		})
	}
}

// TestVerifyParallelFlippedBytes flips bytes all over every volume of the
// multi-volume bundle of TestHostileFlippedByte and checks, volume by
// volume in ranges of every member, that Verify fails as the sequential
// reader does.
func TestVerifyParallelFlippedBytes(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	ctx := context.Background()
	for n := 1; n <= len(x.Volumes); n++ {
		t.Run(fmt.Sprintf("vol%d", n), func(t *testing.T) {
			if testing.Short() && n != 1 && n != len(x.Volumes) {
				t.Skip("middle volumes hold the same kinds of member as the first and last, skipped by -short")
			}
			t.Parallel()
			dir := copyBundle(t, orig)
			path := volumeFiles(t, dir)[n-1]
			data := mustRead(t, path)
			for _, spot := range flipSpots(t, data) {
				damaged := slices.Clone(data)
				damaged[spot.off] ^= 0x01
				mustWrite(t, path, damaged)
				r, err := verifyFilesChunked(ctx, []string{dir}, verifyOpts{Key: signer.Verifier(), Workers: 3}, 1)
				if err == nil {
					t.Fatalf("%s: Verify accepted the damage", spot.what)
				}
				if blame(err, path, n, spot.firstBlock, spot.signedMember) == "" {
					t.Errorf("%s: Verify error does not name volume %d: %s", spot.what, n, describe(err))
				}
				if r != nil && slices.Contains(r.Verified, n) {
					t.Errorf("%s: volume %d reported verified", spot.what, n)
				}
				// Damage found by the range checks (not already when the set
				// was read: then the set holds no header of the volume) is
				// what the sequential reader reports.
				for _, ce := range findAll[*format.CorruptError](err) {
					if ce.Path == path && r != nil && slices.Contains(r.Failed, n) && r.Set.Volumes[n] != nil {
						sameVolumeError(t, spot.what, sequentialCheck(damaged, path), ce)
					}
				}
			}
			mustWrite(t, path, data)
		})
	}
}

// TestVerifyParallelFileChanged changes a volume after the set was read:
// its header members no longer match, or the file is replaced.
func TestVerifyParallelFileChanged(t *testing.T) {
	t.Parallel()
	dir, path, data, _, big, _ := parallelBundle(t)
	members, _ := scanVolume(t, data)
	index := findMember(t, members, format.MemberIndex)
	marker := findMember(t, members, format.MemberVolume)
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(t *testing.T)
		reason string
	}{
		{"bundle.json damaged", func(t *testing.T) { xorByte(t, path, index.DataOff+index.Size/2, 0x80) }, ""},
		{"volume.json damaged", func(t *testing.T) { xorByte(t, path, marker.DataOff+3, 0x01) }, ""},
		{"header members cut", func(t *testing.T) { mustWrite(t, path, data[:marker.HdrOff+100]) }, "truncated"},
		{"replaced by a copy", func(t *testing.T) {
			tmp := filepath.Join(dir, ".copy")
			mustWrite(t, tmp, data)
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "the file changed"},
		{"replaced by a damaged copy", func(t *testing.T) {
			b := slices.Clone(data)
			b[big.DataOff] ^= 1
			tmp := filepath.Join(dir, ".copy")
			mustWrite(t, tmp, b)
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, "the file changed"},
	}
	for _, c := range cases {
		for _, chunk := range verifyChunks {
			t.Run(fmt.Sprintf("%s/chunk=%d", c.name, chunk), func(t *testing.T) {
				defer mustWrite(t, path, data)
				s, err := OpenFiles(ctx, []string{dir})
				if err != nil {
					t.Fatal(err)
				}
				// The change comes after the set was read and the file
				// looked at, before any range is read.
				open := func(n int) (volumeSource, error) {
					src, err := s.volumeSource(ctx)(n)
					c.change(t)
					return src, err
				}
				errs := s.checkVolumes(ctx, []int{1}, open, 3, max(chunk, 1<<20), nil)
				var ce *format.CorruptError
				if !errors.As(errs[0], &ce) || ce.Path != path || !strings.Contains(ce.Reason, c.reason) {
					t.Fatalf("want a CorruptError naming %s (%q), got %s", path, c.reason, describe(errs[0]))
				}
			})
		}
	}
}

// TestVerifyParallelProgress: the callback is never called from two
// goroutines at once, Done only grows, and ends at Total.
func TestVerifyParallelProgress(t *testing.T) {
	t.Parallel()
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	var total int64
	for _, v := range x.Volumes {
		total += v.Size
	}
	for _, chunk := range verifyChunks {
		var inside atomic.Int32
		var calls int
		var last Progress
		o := verifyOpts{AllowUnsigned: true, Workers: 4, Progress: func(p Progress) {
			if inside.Add(1) != 1 {
				t.Error("progress called from two goroutines at once")
			}
			runtime.Gosched()
			if p.Done < last.Done || p.Total != total || p.Op != "verify" {
				t.Errorf("progress %+v after %+v, total %d", p, last, total)
			}
			last = p
			calls++
			inside.Add(-1)
		}}
		if _, err := verifyFilesChunked(context.Background(), []string{orig}, o, chunk); err != nil {
			t.Fatal(err)
		}
		if last.Done != total || calls < len(x.Volumes) {
			t.Errorf("chunk %d: %d calls, last %+v, want Done %d", chunk, calls, last, total)
		}
	}
}

// TestVerifyParallelCancel: a cancelled context stops Verify with the
// context's error, and no volume it did not finish is reported verified.
func TestVerifyParallelCancel(t *testing.T) {
	t.Parallel()
	dir, _, _, _, _, _ := parallelBundle(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := verifyFilesChunked(ctx, []string{dir}, verifyOpts{AllowUnsigned: true}, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: want context.Canceled, got %s", describe(err))
	}
	if r != nil && len(r.Verified) != 0 {
		t.Errorf("cancelled before: volumes %v reported verified", r.Verified)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	r, err = verifyFilesChunked(ctx, []string{dir}, verifyOpts{AllowUnsigned: true, Workers: 2, Progress: func(Progress) { once.Do(cancel) }}, 1)
	if !errors.Is(err, context.Canceled) || r == nil || len(r.Verified) != 0 || !slices.Equal(r.Failed, []int{1}) {
		t.Fatalf("cancelled at the first progress: want context.Canceled and volume 1 failed, got %s (report %+v)", describe(err), r)
	}
}

// TestVerifyParallelMemory: memory does not follow the size of members:
// a few buffers per worker, whatever the blobs.
func TestVerifyParallelMemory(t *testing.T) {
	dir, _, data, _, _, _ := parallelBundle(t)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if _, err := verifyFiles(context.Background(), []string{dir}, verifyOpts{AllowUnsigned: true, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	alloc := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("verifying %d bytes allocated %d KiB", len(data), alloc>>10)
	if limit := uint64(2*verifyBufSize + 1<<20); alloc > limit {
		t.Errorf("verifying %d bytes allocated %d bytes, more than %d", len(data), alloc, limit)
	}
}

// TestSplitVolume: the ranges of a volume follow each other from its first
// byte to its last, each member in exactly one, the trailer in the last.
func TestSplitVolume(t *testing.T) {
	t.Parallel()
	dir, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	ib, _ := readBundleIndexBytes(t, dir)
	s := &Set{Index: x, IndexBytes: ib, Volumes: map[int]*format.VolumeHeader{}}
	for n := 1; n <= len(x.Volumes); n++ {
		s.Volumes[n] = &format.VolumeHeader{Path: fmt.Sprint(n), Number: n, Index: x}
	}
	members := format.MembersByVolume(x)
	for n := 1; n <= len(x.Volumes); n++ {
		if !slices.Equal(members[n], x.Members(n)) {
			t.Fatalf("vol %d: members %v, want %v", n, members[n], x.Members(n))
		}
		for _, chunk := range []int64{1, 512, 4096, 1 << 20} {
			v := newVolumeCheck(s, n, members[n], nil)
			tasks := splitVolume(v, chunk)
			if !tasks[0].header || tasks[0].start != 0 || v.tasks != len(tasks) {
				t.Fatalf("vol %d chunk %d: first task %+v", n, chunk, tasks[0])
			}
			next, member := tasks[0].end, 0
			for i, tk := range tasks[1:] {
				if tk.header || tk.start != next || tk.first != member || tk.last < tk.first || tk.trailer != (i == len(tasks)-2) {
					t.Fatalf("vol %d chunk %d: task %d %+v after offset %d, member %d", n, chunk, i+1, tk, next, member)
				}
				if tk.last > tk.first {
					if p := v.members[tk.first].Placement(); p.Offset-format.BlockSize != tk.start {
						t.Fatalf("vol %d chunk %d: task %d starts at %d, its first member at %d", n, chunk, i+1, tk.start, p.Offset-format.BlockSize)
					}
				}
				if chunk == 1 && tk.last-tk.first > 1 {
					t.Fatalf("vol %d: chunk 1 task %d holds %d members", n, i+1, tk.last-tk.first)
				}
				next, member = tk.end, tk.last
			}
			if next != x.Volumes[n-1].Size || member != len(v.members) {
				t.Fatalf("vol %d chunk %d: tasks end at %d after %d members; volume is %d bytes, %d members", n, chunk, next, member, x.Volumes[n-1].Size, len(v.members))
			}
		}
	}
}

// FuzzVerifyRanges: for any input that reads as a volume, checking it in
// ranges (every member a range, and ranges of 1 MiB) finds what the
// sequential reader finds: nothing, or the same CorruptError.
func FuzzVerifyRanges(f *testing.F) {
	for _, dir := range fuzzBundles(f) {
		for i, p := range volumeFiles(f, dir) {
			data := mustRead(f, p)
			f.Add(data)
			if i > 0 {
				continue
			}
			members, trailer := scanVolume(f, data)
			for _, m := range members {
				f.Add(data[:m.DataOff+m.Size/2])
				f.Add(data[:m.End()])
				b := bytes.Clone(data)
				b[m.DataOff+m.Size/2] ^= 1
				f.Add(b)
				b = bytes.Clone(data)
				b[m.HdrOff+1] ^= 1
				f.Add(b)
			}
			f.Add(data[:trailer+1])
			f.Add(append(bytes.Clone(data), 0))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := format.ReadVolumeHeader(bytes.NewReader(data), "fuzz.tar")
		if err != nil {
			return
		}
		want := sequentialCheck(data, "fuzz.tar")
		s, err := setOfHeader(h)
		if err != nil {
			t.Fatalf("a table ReadVolumeHeader accepted does not merge: %v", err)
		}
		for _, chunk := range []int64{1, 1 << 20} {
			errs := s.checkVolumes(context.Background(), []int{h.Number}, func(int) (volumeSource, error) { return memVolume(data), nil }, 3, chunk, nil)
			sameVolumeError(t, fmt.Sprintf("chunk %d", chunk), want, errs[0])
		}
	})
}

// TestOpenFilesParsesIndexOnce: the volumes of a set share one parsed index
// and one copy of its bytes; index.json, checked, is not kept.
func TestOpenFilesParsesIndexOnce(t *testing.T) {
	t.Parallel()
	dir, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	s, err := OpenFiles(context.Background(), []string{dir})
	if err != nil || len(s.Volumes) != len(x.Volumes) {
		t.Fatalf("OpenFiles: %v", err)
	}
	for n, h := range s.Volumes {
		if h.Index != s.Index || &h.IndexBytes[0] != &s.IndexBytes[0] || h.LayoutIndex != nil {
			t.Errorf("volume %d has an index of its own", n)
		}
	}
}

// TestOpenVolumeHeaderChanged: unpack's openVolume compares the header
// members with those of the set: a change after the set was read is
// refused, an intact volume is positioned at its first blob member.
func TestOpenVolumeHeaderChanged(t *testing.T) {
	t.Parallel()
	dir, path, data, blobs, _, _ := parallelBundle(t)
	members, _ := scanVolume(t, data)
	s, err := OpenFiles(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	ov, err := s.openVolume(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	br, h := ov.br, ov.h
	first := make([]byte, format.BlockSize)
	_, err = io.ReadFull(br, first)
	ov.r.Close()
	if err != nil || !bytes.Equal(first, data[blobs[0].HdrOff:blobs[0].DataOff]) || h.Number != 1 || h.Index != s.Index {
		t.Fatalf("openVolume of an intact volume: %v, header %+v", err, h)
	}
	for _, name := range []string{format.MemberLayout, format.MemberOCIIndex, format.MemberIndex, format.MemberVolume} {
		m := findMember(t, members, name)
		for _, off := range []int64{m.HdrOff + 150, m.DataOff, m.End() - 1} {
			xorByte(t, path, off, 0x02)
			_, err := s.openVolume(context.Background(), 1)
			var ce *format.CorruptError
			if !errors.As(err, &ce) || ce.Path != path {
				t.Errorf("%s changed at %d: want a CorruptError naming %s, got %s", name, off, path, describe(err))
			}
			mustWrite(t, path, data)
		}
	}
}

// TestOrderTasks: tasks much larger than the chunk come first, largest
// first; the others keep their order.
func TestOrderTasks(t *testing.T) {
	t.Parallel()
	mk := func(start, size int64) *verifyTask { return &verifyTask{start: start, end: start + size} }
	tasks := []*verifyTask{mk(0, 10), mk(10, 30), mk(40, 100), mk(140, 5), mk(145, 300), mk(445, 20), mk(465, 21)}
	orderTasks(tasks, 10)
	var got []int64
	for _, tk := range tasks {
		got = append(got, tk.start)
	}
	// More than 2 × 10 bytes is large: 300, 100, 30, 21 bytes, then the
	// rest in file order.
	if want := []int64{145, 40, 10, 465, 0, 140, 445}; !slices.Equal(got, want) {
		t.Errorf("order %v", got)
	}
}

// failingReaderAt serves data and fails with an I/O error from failAt on,
// as a scratched disc or a failing disk does.
type failingReaderAt struct {
	data   []byte
	failAt int64
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:min(int64(len(f.data)), f.failAt)])
	if off+int64(len(p)) > f.failAt {
		return n, syscall.EIO
	}
	return n, nil
}

// A volume that cannot be read is damaged, for verify (parallel ranges)
// and unpack (the sequential reader) alike: a CorruptError naming the
// volume, the file and the member.
func TestUnreadableVolumeIsCorrupt(t *testing.T) {
	t.Parallel()
	dir, x := packLayout(t, PackOptions{Signer: testSigner(t)})
	path := volumeFiles(t, dir)[0]
	data := mustRead(t, path)
	var big *format.Blob
	for i := range x.Blobs {
		if b := &x.Blobs[i]; big == nil || b.Size > big.Size {
			big = b
		}
	}
	p := big.Placements[0]
	bad := failingReaderAt{data: data, failAt: p.Offset + p.Length/2}
	check := func(what string, err error) {
		t.Helper()
		var ce *format.CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v, want a CorruptError", what, err)
		}
		if ce.Volume != 1 || ce.Path != path || ce.Member != format.MemberName(big, 0) || !strings.Contains(ce.Reason, "cannot be read") {
			t.Errorf("%s: %+v, want volume 1 of %s, member %s, cannot be read", what, ce, path, format.MemberName(big, 0))
		}
	}

	r := io.NewSectionReader(bad, 0, int64(len(data)))
	h, err := format.ReadVolumeHeader(r, path)
	if err != nil {
		t.Fatal(err)
	}
	body := format.NewBodyReader(r, h.Body(), nil)
	var seqErr error
	for seqErr == nil {
		_, ok, err := body.Next()
		if err != nil || !ok {
			seqErr = err
			break
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			seqErr = err
			break
		}
		seqErr = body.End()
	}
	check("sequential reader", seqErr)

	s, err := OpenFiles(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	open := func(int) (volumeSource, error) {
		return func() (io.ReaderAt, func() error, error) { return bad, func() error { return nil }, nil }, nil
	}
	errs := s.checkVolumes(context.Background(), []int{1}, open, 2, 64<<10, nil)
	check("parallel ranges", errs[0])
}
