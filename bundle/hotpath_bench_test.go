package bundle

// Benchmarks of the hot paths: hashing and copying, the bundle index
// (encode, parse, plan), writing volumes and reading them back. They only
// run with -bench (make bench); their setup happens inside the benchmarks,
// so `go test` without -bench pays nothing for them.
//
//	go test -run '^$' -bench . -benchmem ./bundle/
//
// Throughputs (MB/s) are over the bytes named by b.SetBytes: the data
// hashed, the index bytes, or the volume bytes.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// benchRandom returns n pseudo-random (incompressible) bytes.
func benchRandom(n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// BenchmarkSHA256 is the reference: crypto/sha256 over a buffer, in writes
// of the given size. The paths below should come close to the large-write
// figure.
func BenchmarkSHA256(b *testing.B) {
	data := benchRandom(16<<20, 1)
	for _, w := range []int{8 << 10, 32 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("write=%dKiB", w>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				h := sha256.New()
				for off := 0; off < len(data); off += w {
					h.Write(data[off:min(off+w, len(data))])
				}
				h.Sum(nil)
			}
		})
	}
}

// benchBundle is a bundle packed in memory from a memSource.
type benchBundle struct {
	src   *memSource
	x     *format.Index
	vols  [][]byte // volume files, by number - 1
	total int64    // bytes of all volumes
	data  int64    // bytes of all blobs
}

// memSink keeps the volumes Pack writes in memory.
type memSink struct {
	vols []*bytes.Buffer
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func (s *memSink) Begin(context.Context, *format.Index) error { return nil }
func (s *memSink) Create(_ context.Context, v format.Volume, _ int) (io.WriteCloser, error) {
	buf := bytes.NewBuffer(make([]byte, 0, v.Size))
	s.vols = append(s.vols, buf)
	return nopWriteCloser{buf}, nil
}
func (s *memSink) Commit() error { return nil }
func (s *memSink) Abort()        {}

// discardVolumes is a Sink that drops what it is given.
type discardVolumes struct{}

func (discardVolumes) Begin(context.Context, *format.Index) error { return nil }
func (discardVolumes) Create(context.Context, format.Volume, int) (io.WriteCloser, error) {
	return nopWriteCloser{io.Discard}, nil
}
func (discardVolumes) Commit() error { return nil }
func (discardVolumes) Abort()        {}

var (
	benchMu      sync.Mutex
	benchSrc     *memSource
	benchSrcSize int64
	benchBundles = map[int64]*benchBundle{}
)

// benchLayers is 128 MiB: one large layer, a few medium ones, many small.
func benchLayers() []int {
	l := []int{48 << 20}
	for i := 0; i < 4; i++ {
		l = append(l, 16<<20+i*4096+100)
	}
	for i := 0; i < 64; i++ {
		l = append(l, 256<<10+i*511)
	}
	return l
}

// benchPacked packs one image of benchLayers (random bytes) into volumes
// of at most maxSize, in memory; made once per size.
func benchPacked(tb testing.TB, maxSize int64) *benchBundle {
	tb.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if bb := benchBundles[maxSize]; bb != nil {
		return bb
	}
	if benchSrc == nil {
		src := newMemSource("bench")
		var descs []ocispec.Descriptor
		for i, n := range benchLayers() {
			descs = append(descs, src.add(ocispec.MediaTypeImageLayer, benchRandom(n, uint64(i+1))))
			benchSrcSize += int64(n)
		}
		src.addImage(tb, "bench:1", descs...)
		benchSrc = src
	}
	sink := &memSink{}
	x, err := Pack(context.Background(), []Source{benchSrc}, sink, PackOptions{MaxVolumeSize: maxSize, Created: testCreated, Packer: "bench"})
	if err != nil {
		tb.Fatalf("pack: %v", err)
	}
	bb := &benchBundle{src: benchSrc, x: x, data: benchSrcSize}
	for _, v := range sink.vols {
		bb.vols = append(bb.vols, v.Bytes())
		bb.total += int64(v.Len())
	}
	benchBundles[maxSize] = bb
	return bb
}

// writeBenchFiles writes the volumes of bb into a new directory.
func writeBenchFiles(tb testing.TB, bb *benchBundle) string {
	tb.Helper()
	dir := tb.TempDir()
	for i, v := range bb.vols {
		if err := os.WriteFile(filepath.Join(dir, format.VolumeFileName(i+1, len(bb.vols))), v, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// BenchmarkHashPaths runs the hashing reader and writers pack uses over
// the stored bytes of one 16 MiB blob: checkedReader (every blob read from
// a source) copied the way writeAll copies, and the segment hashing of
// segmentDigests (two hashes per byte).
func BenchmarkHashPaths(b *testing.B) {
	src := newMemSource("bench")
	data := benchRandom(16<<20, 2)
	d := src.add(ocispec.MediaTypeImageLayer, data)
	blob := &format.Blob{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Encoding: format.CompressionNone, StoredSize: d.Size, StoredDigest: d.Digest}
	ctx := context.Background()
	b.Run("checkedReader", func(b *testing.B) {
		buf := make([]byte, 1<<20)
		b.SetBytes(d.Size)
		for b.Loop() {
			rc, err := openStored(ctx, src, blob)
			if err != nil {
				b.Fatal(err)
			}
			// As writeAll: LimitReader into a plain writer, 1 MiB buffer.
			if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, io.LimitReader(rc, d.Size), buf); err != nil {
				b.Fatal(err)
			}
			if err := expectEOF(rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	})
	b.Run("segmentDigests", func(b *testing.B) {
		seg := *blob
		half := d.Size / 2
		seg.Placements = []format.Placement{{Volume: 1, Length: half}, {Volume: 2, Length: d.Size - half}}
		b.SetBytes(d.Size)
		for b.Loop() {
			if err := segmentDigests(ctx, src, &seg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// synthIndex builds a valid index of n blobs (sizes spread from 1 byte to
// 200 KB, about 100 KB on average) planned into volumes of at most maxSize,
// without any blob content: enough for the index code paths.
func synthIndex(tb testing.TB, n int, maxSize int64) (*format.Index, []byte) {
	tb.Helper()
	manifest := []byte(`{"schemaVersion":2}`)
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	li, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{md}})
	if err != nil {
		tb.Fatal(err)
	}
	x := &format.Index{
		MediaType: format.MediaTypeIndex, FormatVersion: format.Version, BundleID: fmt.Sprintf("%032x", n),
		Created: testCreated.Format("2006-01-02T15:04:05Z"), Packer: "bench", Bases: []format.Base{}, Compression: format.CompressionNone,
		MaxVolumeSize: maxSize, LayoutIndex: format.Content{Digest: digest.FromBytes(li), Size: int64(len(li))},
		Manifests: []ocispec.Descriptor{md},
		Images:    []format.Image{{Ref: "bench:1", Digest: md.Digest, MediaType: md.MediaType}},
	}
	x.Blobs = append(x.Blobs, format.Blob{Digest: md.Digest, Size: md.Size, MediaType: md.MediaType, Encoding: format.CompressionNone, StoredSize: md.Size, StoredDigest: md.Digest})
	for i := 0; i < n; i++ {
		d := digest.FromString(fmt.Sprintf("blob %d", i))
		size := 1 + int64(i)*7919%200000
		x.Blobs = append(x.Blobs, format.Blob{Digest: d, Size: size, MediaType: ocispec.MediaTypeImageLayerGzip, Encoding: format.CompressionNone, StoredSize: size, StoredDigest: d})
		x.Images[0].Size += size
	}
	if err := format.Plan(x, maxSize); err != nil {
		tb.Fatal(err)
	}
	for i := range x.Blobs {
		bl := &x.Blobs[i]
		for j := range bl.Placements {
			bl.Placements[j].Digest = bl.StoredDigest
			if len(bl.Placements) > 1 {
				bl.Placements[j].Digest = digest.FromString(fmt.Sprintf("%s %d", bl.Digest, j))
			}
		}
	}
	ib, err := json.Marshal(x)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := format.ParseIndex(ib); err != nil {
		tb.Fatalf("synthetic index: %v", err)
	}
	return x, ib
}

// benchIndexSizes are the blob counts of the index benchmarks; volumes of
// 1 GiB (about 10 for 100,000 blobs).
var benchIndexSizes = []int{1000, 100000}

const benchIndexVolume = 1 << 30

func BenchmarkIndexEncode(b *testing.B) {
	for _, n := range benchIndexSizes {
		b.Run(fmt.Sprintf("blobs=%d", n), func(b *testing.B) {
			x, ib := synthIndex(b, n, benchIndexVolume)
			b.SetBytes(int64(len(ib)))
			for b.Loop() {
				if _, err := json.Marshal(x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseIndex(b *testing.B) {
	for _, n := range benchIndexSizes {
		b.Run(fmt.Sprintf("blobs=%d", n), func(b *testing.B) {
			_, ib := synthIndex(b, n, benchIndexVolume)
			b.SetBytes(int64(len(ib)))
			for b.Loop() {
				if _, err := format.ParseIndex(ib); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlan lays out 100,000 blobs into volumes (format.Plan, with its
// fixed point over the index size).
func BenchmarkPlan(b *testing.B) {
	x, ib := synthIndex(b, 100000, benchIndexVolume)
	b.ReportMetric(float64(len(x.Volumes)), "volumes")
	b.SetBytes(int64(len(ib)))
	for b.Loop() {
		if err := format.Plan(x, benchIndexVolume); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPrefix is the header members of volume n of x, as pack writes them.
func benchPrefix(tb testing.TB, x *format.Index, ib []byte, n int) []byte {
	tb.Helper()
	manifests, _ := json.Marshal(x.Manifests)
	li := []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":` + string(manifests) + `}`)
	if digest.FromBytes(li) != x.LayoutIndex.Digest {
		tb.Fatal("synthetic index.json does not match")
	}
	var buf bytes.Buffer
	mtime := x.Mtime()
	format.WriteMember(&buf, format.MemberLayout, []byte(format.OCILayoutFile), mtime)
	format.WriteMember(&buf, format.MemberOCIIndex, li, mtime)
	format.WriteMember(&buf, format.MemberIndex, ib, mtime)
	format.WriteMember(&buf, format.MemberVolume, format.VolumeMarker(x.BundleID, n, len(x.Volumes)), mtime)
	return buf.Bytes()
}

// BenchmarkReadVolumeHeader reads the header members of a volume whose
// index lists 1,000 or 100,000 blobs (done for every volume by OpenFiles,
// and again by Verify and Unpack).
func BenchmarkReadVolumeHeader(b *testing.B) {
	for _, n := range benchIndexSizes {
		b.Run(fmt.Sprintf("blobs=%d", n), func(b *testing.B) {
			x, ib := synthIndex(b, n, benchIndexVolume)
			prefix := benchPrefix(b, x, ib, 1)
			b.SetBytes(int64(len(prefix)))
			for b.Loop() {
				if _, err := format.ReadVolumeHeader(bytes.NewReader(prefix), "bench.tar"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenFiles groups the volumes of a 100,000-blob bundle: only their
// header members are read, so the files hold nothing else.
func BenchmarkOpenFiles(b *testing.B) {
	x, ib := synthIndex(b, 100000, benchIndexVolume)
	dir := b.TempDir()
	var total int64
	for n := 1; n <= len(x.Volumes); n++ {
		p := benchPrefix(b, x, ib, n)
		total += int64(len(p))
		if err := os.WriteFile(filepath.Join(dir, format.VolumeFileName(n, len(x.Volumes))), p, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(x.Volumes)), "volumes")
	b.SetBytes(total)
	for b.Loop() {
		s, err := OpenFiles(context.Background(), []string{dir})
		if err != nil || len(s.Problems) > 0 || len(s.Volumes) != len(x.Volumes) {
			b.Fatalf("OpenFiles: %v %v", err, s)
		}
	}
}

// BenchmarkVolumeWrite writes the volumes of a 128 MiB bundle (2 volumes)
// from memory to a sink that drops them: tar headers, copying and the
// digest checks of the writer.
func BenchmarkVolumeWrite(b *testing.B) {
	bb := benchPacked(b, 70<<20)
	ib, err := json.Marshal(bb.x)
	if err != nil {
		b.Fatal(err)
	}
	li, err := newLayoutIndex(bb.x.Manifests)
	if err != nil {
		b.Fatal(err)
	}
	var carried []*packBlob
	for i := range bb.x.Blobs {
		carried = append(carried, &packBlob{Blob: &bb.x.Blobs[i], src: bb.src})
	}
	b.SetBytes(bb.total)
	for b.Loop() {
		w := &volumeWriter{ctx: context.Background(), x: bb.x, full: bb.x, indexLen: len(ib), sink: discardVolumes{}, layoutIndex: li, indexBytes: ib}
		if err := w.writeAll(carried); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPackMemory is Pack end to end, from memory to memory.
func BenchmarkPackMemory(b *testing.B) {
	bb := benchPacked(b, 70<<20)
	b.SetBytes(bb.total)
	for b.Loop() {
		if _, err := Pack(context.Background(), []Source{bb.src}, discardVolumes{}, PackOptions{MaxVolumeSize: 70 << 20, Created: testCreated, Packer: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBodyReader reads a 128 MiB volume from memory through the
// sequential reader unpack uses (bufio, as openVolume sets it up),
// copying member data out as unpack does.
func BenchmarkBodyReader(b *testing.B) {
	bb := benchPacked(b, 0)
	vol := bb.vols[0]
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(vol)))
	for b.Loop() {
		br := bufio.NewReaderSize(bytes.NewReader(vol), 1<<20)
		h, err := format.ReadVolumeHeader(br, "bench.tar")
		if err != nil {
			b.Fatal(err)
		}
		body := format.NewBodyReader(br, h.Body(), func(int64) {})
		for {
			_, ok, err := body.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			if _, err := io.CopyBuffer(discardSink{}, body, buf); err != nil {
				b.Fatal(err)
			}
			if err := body.End(); err != nil {
				b.Fatal(err)
			}
		}
		if err := body.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyFiles runs Verify on a 128 MiB bundle in files (in the
// page cache after the first run): one volume, and four.
func BenchmarkVerifyFiles(b *testing.B) {
	for _, c := range []struct {
		name string
		max  int64
	}{{"volumes=1", 0}, {"volumes=4", 36 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			bb := benchPacked(b, c.max)
			dir := writeBenchFiles(b, bb)
			b.SetBytes(bb.total)
			for b.Loop() {
				if _, err := verifyFiles(context.Background(), []string{dir}, verifyOpts{AllowUnsigned: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckVolumes is Verify's range checks alone, on a 128 MiB
// volume in memory: hashing and comparing, without files, on 1 and 2
// workers (the ranges Verify would choose for 2).
func BenchmarkCheckVolumes(b *testing.B) {
	bb := benchPacked(b, 0)
	vol := bb.vols[0]
	h, err := format.ReadVolumeHeader(bytes.NewReader(vol), "bench.tar")
	if err != nil {
		b.Fatal(err)
	}
	s, err := setOfHeader(h)
	if err != nil {
		b.Fatal(err)
	}
	open := func(int) (volumeSource, error) { return memVolume(vol), nil }
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(vol)))
			for b.Loop() {
				if errs := s.checkVolumes(context.Background(), []int{1}, open, workers, verifyChunk(int64(len(vol)), 2), nil); errs[0] != nil {
					b.Fatal(errs[0])
				}
			}
		})
	}
}
