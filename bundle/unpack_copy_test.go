package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Blobs of copyMin bytes or more go into a layout by kernel copy, checked
// by reading the blob file back: one split across three volumes, one
// whole. Unpack must give the same files, and refuse damage anywhere in
// their data, naming the volume, with the destination left as it was.
func TestUnpackCopiedBlobs(t *testing.T) {
	t.Parallel() // reads copyMin, which only tests that do not run in parallel set
	src := newMemSource("big")
	big := src.add(ocispec.MediaTypeImageLayerGzip, pfData(4<<20+300<<10+123, 41))
	whole := src.add(ocispec.MediaTypeImageLayerGzip, pfData(int(copyMin)+777, 42))
	src.addImage(t, "big:1", big, whole)
	signer := testSigner(t)
	key := signer.Verifier()
	dir, x := packSources(t, []Source{src}, PackOptions{MaxVolumeSize: 2 << 20, Signer: signer})
	blobOf := func(d digest.Digest) *format.Blob {
		for i := range x.Blobs {
			if x.Blobs[i].Digest == d {
				return &x.Blobs[i]
			}
		}
		t.Fatalf("%s not in the index", d)
		return nil
	}
	bb, wb := blobOf(big.Digest), blobOf(whole.Digest)
	if len(bb.Placements) < 3 || len(wb.Placements) != 1 {
		t.Fatalf("placements: big in %d, whole in %d; the test wants 3+ and 1", len(bb.Placements), len(wb.Placements))
	}

	t.Run("intact", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "dest")
		if _, err := unpackFiles(context.Background(), []string{dir}, dest, unpackOpts{Key: key}); err != nil {
			t.Fatal(err)
		}
		for _, d := range []digest.Digest{big.Digest, whole.Digest} {
			got := mustRead(t, filepath.Join(dest, "blobs", "sha256", d.Encoded()))
			if !bytes.Equal(got, src.blobs[d]) {
				t.Errorf("blob %s unpacked differs from what was packed", d)
			}
		}
	})

	vols := volumeFiles(t, dir)
	type damage struct {
		name string
		vol  int
		do   func(path string, data []byte) []byte
	}
	flip := func(p format.Placement, at int64) func(string, []byte) []byte {
		return func(_ string, data []byte) []byte {
			data = bytes.Clone(data)
			data[p.Offset+at] ^= 0x20
			return data
		}
	}
	cut := func(p format.Placement, at int64) func(string, []byte) []byte {
		return func(_ string, data []byte) []byte { return data[:p.Offset+at] }
	}
	var cases []damage
	for j, p := range bb.Placements {
		cases = append(cases,
			damage{fmt.Sprintf("split blob, segment %d, first byte", j+1), p.Volume, flip(p, 0)},
			damage{fmt.Sprintf("split blob, segment %d, last byte", j+1), p.Volume, flip(p, p.Length-1)},
		)
	}
	wp := wb.Placements[0]
	cases = append(cases,
		damage{"whole blob, middle", wp.Volume, flip(wp, wp.Length/2)},
		damage{"whole blob, last byte", wp.Volume, flip(wp, wp.Length-1)},
		damage{"whole blob, cut in the middle", wp.Volume, cut(wp, wp.Length/2)},
		damage{"split blob, cut in segment 2", bb.Placements[1].Volume, cut(bb.Placements[1], 1000)},
	)
	dests := newDestFixture(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := vols[c.vol-1]
			data := mustRead(t, path)
			mustWrite(t, path, c.do(path, data))
			defer mustWrite(t, path, data)
			dest, before := dests.fresh(t, "")
			err := unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
			if blame(err, path, c.vol, false, false) == "" {
				t.Errorf("error does not blame volume %d (%s): %s", c.vol, path, describe(err))
			}
		})
	}

	// Each segment as the index says, the blob not: only hashing the
	// blob whole finds it (a signer's bug, or a forged bundle).
	t.Run("segments match, blob does not", func(t *testing.T) {
		pb := readBundle(t, dir)
		lying := *pb.Index
		lying.Blobs = slices.Clone(pb.Index.Blobs)
		stored := maps.Clone(pb.Stored)
		b := bytes.Clone(stored[big.Digest])
		b[len(b)/2] ^= 1
		stored[big.Digest] = b
		forged, _, _ := writeBundle(t, &lying, pb.LayoutIndex, stored, signer)
		// Verify hashes the blob whole too: it refuses the bundle, naming
		// the blob, not any segment.
		_, verr := verifyFiles(context.Background(), []string{forged}, verifyOpts{Key: key})
		var vce *format.CorruptError
		if !errors.As(verr, &vce) || vce.Digest != big.Digest {
			t.Errorf("verify: want a CorruptError naming blob %s, got %s", big.Digest, describe(verr))
		}
		dest, before := dests.fresh(t, "")
		err := unpackMustFail(t, []string{forged}, dest, before, unpackOpts{Key: key})
		var ce *format.CorruptError
		if !errors.As(err, &ce) || ce.Digest == "" {
			t.Errorf("want a CorruptError naming the blob, got %s", describe(err))
		}
		if _, serr := os.Stat(filepath.Join(dest, "blobs", "sha256", big.Digest.Encoded())); serr == nil {
			t.Errorf("the lying blob was written")
		}
	})
}

// failingCopier is a blob file whose copies fail after some bytes, as a
// full disk would.
type failingCopier struct {
	bytes.Buffer
	limit int64
}

var errNoSpace = errors.New("no space left on device")

func (c *failingCopier) Written() int64 { return int64(c.Len()) }
func (c *failingCopier) CopyFrom(src *os.File, n int64) (int64, error) {
	off := c.Written()
	k := min(n, c.limit-off)
	if k > 0 {
		if _, err := io.CopyN(&c.Buffer, src, k); err != nil {
			return off, err
		}
	}
	if k < n {
		return off, errNoSpace
	}
	return off, nil
}

// When a kernel copy fails, unpack cannot tell from the error which side
// failed: a volume that still reads is fine and the destination is at
// fault (not a CorruptError, which would send the user to replace a good
// medium); a volume that no longer reads is damaged.
func TestCopyDataBlamesTheRightSide(t *testing.T) {
	t.Parallel()
	src := newMemSource("copy")
	big := src.add(ocispec.MediaTypeImageLayerGzip, pfData(3<<20, 43))
	src.addImage(t, "copy:1", big)
	dir, _ := packSources(t, []Source{src}, PackOptions{})
	s, err := OpenFiles(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		closeVolume   bool
		wantCorrupt   bool
		wantDestError bool
	}{
		{name: "destination full", wantDestError: true},
		{name: "volume unreadable", closeVolume: true, wantCorrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ov, err := s.openVolume(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer ov.r.Close()
			f, br, h := ov.file, ov.br, ov.h
			body := format.NewBodyReader(br, h.Body(), nil)
			for {
				m, ok, err := body.Next()
				if err != nil || !ok {
					t.Fatalf("no member for %s (%v)", big.Digest, err)
				}
				if m.Blob.Digest != big.Digest {
					io.Copy(io.Discard, body)
					if err := body.End(); err != nil {
						t.Fatal(err)
					}
					continue
				}
				dst := &failingCopier{limit: 2 << 20}
				var added int64
				if tc.closeVolume {
					// Reads fail from here on, as on a medium gone bad.
					dst.limit = 1 << 62
					f.Close()
				}
				err = copyData(body, f, br, dst, func(_, n int64) { added += n })
				var ce *format.CorruptError
				var de *destError
				switch {
				case err == nil:
					t.Fatal("copyData succeeded")
				case tc.wantCorrupt && (!errors.As(err, &ce) || ce.Path != h.Path || !strings.Contains(ce.Reason, "cannot be read")):
					t.Errorf("got %v, want a CorruptError naming %s: cannot be read", err, h.Path)
				case tc.wantDestError && (!errors.As(err, &de) || !errors.Is(err, errNoSpace) || errors.As(err, &ce)):
					t.Errorf("got %v, want the destination's error, not a corrupt volume", err)
				}
				if added != dst.Written() {
					t.Errorf("%d bytes handed to be hashed, %d written", added, dst.Written())
				}
				return
			}
		})
	}
}

// Stopped halfway (Ctrl-C), pack leaves no file in its output directory
// and unpack leaves the destination as it was, while blobs are being
// copied by the kernel and hashed behind the copy.
func TestCancelWhileCopying(t *testing.T) {
	t.Parallel()
	src := newMemSource("cancel")
	var layers []ocispec.Descriptor
	for i := range 4 {
		layers = append(layers, src.add(ocispec.MediaTypeImageLayerGzip, pfData(3<<20, 50+i)))
	}
	src.addImage(t, "cancel:1", layers...)
	disk := &diskSource{memSource: src, dir: t.TempDir()}
	const half = 6 << 20
	stopAt := func(cancel context.CancelFunc) func(Progress) {
		return func(p Progress) {
			if p.Done >= half {
				cancel()
			}
		}
	}

	t.Run("pack", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := t.TempDir()
		_, err := Pack(ctx, []Source{disk}, &DirSink{Dir: out}, PackOptions{MaxVolumeSize: 5 << 20, Created: testCreated, Progress: stopAt(cancel)})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("pack: %v, want context.Canceled", err)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("a stopped pack left %d files in %s", len(ents), out)
		}
	})

	t.Run("unpack", func(t *testing.T) {
		dir, _ := packSources(t, []Source{disk}, PackOptions{MaxVolumeSize: 5 << 20})
		dest, before := newDestFixture(t).fresh(t, "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := unpackFiles(ctx, []string{dir}, dest, unpackOpts{AllowUnsigned: true, Progress: stopAt(cancel)})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("unpack: %v, want context.Canceled", err)
		}
		assertUntouched(t, dest, before)
	})
}

// Volumes that are not files (here, bytes in memory) go through the same
// copy path into a blob file, read through the volume's buffer instead of
// copied by the kernel: the blob is checked by reading it back, and a
// flipped byte in any segment is refused naming that volume.
func TestUnpackCopiedBlobsFromMemory(t *testing.T) {
	src := newMemSource("big")
	big := src.add(ocispec.MediaTypeImageLayerGzip, pfData(3<<20+100<<10+7, 43))
	src.addImage(t, "big:1", big)
	dir, x := packSources(t, []Source{src}, PackOptions{MaxVolumeSize: 1 << 20})
	var bb *format.Blob
	for i := range x.Blobs {
		if x.Blobs[i].Digest == big.Digest {
			bb = &x.Blobs[i]
		}
	}
	if bb == nil || len(bb.Placements) < 3 {
		t.Fatalf("want the big blob split in 3 or more volumes: %+v", bb)
	}
	vols := volumeFiles(t, dir)
	open := func(flipVol int, at int64) *Set {
		var openers []VolumeOpener
		for i, v := range vols {
			data := mustRead(t, v)
			if i+1 == flipVol {
				data[at] ^= 0x20
			}
			openers = append(openers, ReaderAtVolume(fmt.Sprintf("mem-%d", i+1), bytes.NewReader(data), int64(len(data))))
		}
		s, err := Open(context.Background(), openers)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := copyMin
	copyMin = 0
	defer func() { copyMin = old }()

	dest := filepath.Join(t.TempDir(), "dest")
	d := NewLayoutDestination(dest, LayoutOptions{})
	if _, err := open(0, 0).Unpack(context.Background(), d, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := mustRead(t, filepath.Join(dest, "blobs", "sha256", big.Digest.Encoded())); !bytes.Equal(got, src.blobs[big.Digest]) {
		t.Fatal("blob unpacked from memory differs from what was packed")
	}
	for _, p := range bb.Placements {
		t.Run(fmt.Sprintf("segment in volume %d", p.Volume), func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			d := NewLayoutDestination(dest, LayoutOptions{})
			defer d.Close()
			_, err := open(p.Volume, p.Offset+p.Length/2).Unpack(context.Background(), d, UnpackOptions{})
			var ce *format.CorruptError
			if !errors.As(err, &ce) || ce.Path != fmt.Sprintf("mem-%d", p.Volume) {
				t.Fatalf("a byte flipped in volume %d: %v", p.Volume, err)
			}
			if _, err := os.Stat(filepath.Join(dest, "index.json")); err == nil {
				t.Error("a refused unpack wrote index.json")
			}
		})
	}
}

// flakyVolume is a volume in memory whose later opens, or reads of its
// header on a later open, fail as a damaged medium does (EIO).
type flakyVolume struct {
	name     string
	data     []byte
	opens    int
	failOpen bool // the second open fails; else its reads fail
}

func (v *flakyVolume) Name() string { return v.name }

func (v *flakyVolume) Open(context.Context) (VolumeReader, error) {
	v.opens++
	if v.opens > 1 && v.failOpen {
		return nil, &os.PathError{Op: "open", Path: v.name, Err: syscall.EIO}
	}
	r := readerAtReader{bytes.NewReader(v.data), int64(len(v.data))}
	if v.opens > 1 {
		return readerAtReader{eioReaderAt{}, r.size}, nil
	}
	return r, nil
}

type eioReaderAt struct{}

func (eioReaderAt) ReadAt([]byte, int64) (int, error) {
	return 0, &os.PathError{Op: "read", Path: "volume", Err: syscall.EIO}
}

// A volume that read well when the set was opened and then cannot be
// opened or read (a medium gone bad) is corrupt for unpack, as for verify:
// exit 3, not 1.
func TestUnpackVolumeGoneBad(t *testing.T) {
	t.Parallel()
	dir, _ := packLayout(t, PackOptions{})
	data := mustRead(t, volumeFiles(t, dir)[0])
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprintf("open fails %v", failOpen), func(t *testing.T) {
			v := &flakyVolume{name: "flaky", data: data, failOpen: failOpen}
			s, err := Open(context.Background(), []VolumeOpener{v})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
				t.Fatal(err)
			}
			d := NewLayoutDestination(filepath.Join(t.TempDir(), "dest"), LayoutOptions{})
			defer d.Close()
			_, err = s.Unpack(context.Background(), d, UnpackOptions{})
			var ce *format.CorruptError
			if !errors.As(err, &ce) || ce.Path != "flaky" {
				t.Fatalf("a volume gone bad: %s, want a CorruptError naming it", describe(err))
			}
		})
	}
}
