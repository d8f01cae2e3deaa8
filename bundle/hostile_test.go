package bundle

// Hostile inputs: damaged, truncated, mixed-up, tampered and crafted
// volumes. Each must be refused with a typed error, and a failed Unpack must
// leave the destination layout as it was.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// hostileVolumeSize splits the example layout into 4 volumes, one blob
// spanning volumes 2 and 3.
const hostileVolumeSize = 40000

// flatten lists err and every error it wraps (errors.Join trees included).
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, flatten(e)...)
		}
	case interface{ Unwrap() error }:
		out = append(out, flatten(u.Unwrap())...)
	}
	return out
}

// findAll returns every error of type T in err's tree.
func findAll[T error](err error) []T {
	var out []T
	for _, e := range flatten(err) {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// describe lists the types in err's tree, for failure messages.
func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	var types []string
	for _, e := range flatten(err) {
		types = append(types, fmt.Sprintf("%T", e))
	}
	return fmt.Sprintf("%v [%s]", err, strings.Join(types, " "))
}

// blame says how err names the volume at path (number n), or "" when it
// does not. A CorruptError or foreign/duplicate error for that file counts;
// so does MissingVolumesError listing n when allowMissing (a damaged first
// block makes the file unrecognisable: in a directory it is then skipped),
// and ErrBadSignature when allowSig (bundle.json or its signature damaged).
func blame(err error, path string, n int, allowMissing, allowSig bool) string {
	for _, e := range findAll[*format.CorruptError](err) {
		if e.Path == path {
			return "CorruptError"
		}
	}
	for _, e := range findAll[*DuplicateVolumeError](err) {
		if slices.Contains(e.Paths, path) {
			return "DuplicateVolumeError"
		}
	}
	for _, e := range findAll[*ForeignVolumeError](err) {
		if e.Path == path {
			return "ForeignVolumeError"
		}
	}
	if allowMissing {
		for _, e := range findAll[*MissingVolumesError](err) {
			if slices.Contains(e.Missing, n) {
				return "MissingVolumesError"
			}
		}
	}
	if allowSig && errors.Is(err, ErrBadSignature) {
		return "ErrBadSignature"
	}
	return ""
}

// destFixture is an existing destination layout and where to copy it from.
// Copies that a test left as they were (most tests here check that Unpack
// did) go back to a pool for the next test: making hundreds of copies of a
// layout's files was most of what the damage tests cost.
type destFixture struct {
	template string
	hash     map[string]string // treeHash(template)
	root     string            // where pooled copies live, the owner's TempDir

	mu    sync.Mutex
	n     int
	clean []string // copies whose treeHash is hash
}

func newDestFixture(t *testing.T) *destFixture {
	d := &destFixture{template: newDest(t, ""), root: t.TempDir()}
	d.hash = treeHash(t, d.template)
	return d
}

// fresh returns a copy of the template layout, and its treeHash: a copy
// left as it was by an earlier test, else a new one. At path (when not
// ""), the copy is moved there (renamed, not copied file by file), and
// moved back into the pool after the test if still the template's tree.
func (d *destFixture) fresh(t *testing.T, path string) (string, map[string]string) {
	t.Helper()
	if path != "" {
		pooled, _ := d.fresh(t, "") // its cleanup runs after the one below
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(pooled, path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if _, err := os.Lstat(pooled); errors.Is(err, fs.ErrNotExist) {
				os.Rename(path, pooled) // back, for the pool's check
			}
		})
		return path, maps.Clone(d.hash)
	}
	d.mu.Lock()
	if n := len(d.clean); n > 0 {
		path = d.clean[n-1]
		d.clean = d.clean[:n-1]
	} else {
		d.n++
		path = filepath.Join(d.root, fmt.Sprintf("dest%d", d.n))
	}
	d.mu.Unlock()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		copyDir(t, d.template, path)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Back to the pool only if still the template's tree (a copy
		// Unpack wrote into stays where it is, removed with root).
		if h, err := treeHashErr(path); err != nil || !maps.Equal(h, d.hash) {
			return
		}
		d.mu.Lock()
		d.clean = append(d.clean, path)
		d.mu.Unlock()
	})
	return path, maps.Clone(d.hash)
}

// unpackMustFail runs Unpack, which must fail, and checks the destination.
func unpackMustFail(t *testing.T, paths []string, dest string, before map[string]string, o unpackOpts) error {
	t.Helper()
	x, err := unpackFiles(context.Background(), paths, dest, o)
	if err == nil {
		t.Fatalf("Unpack succeeded (index %v), want an error", x != nil)
	}
	assertUntouched(t, dest, before)
	return err
}

// flipSpot is a byte position to damage.
type flipSpot struct {
	what         string
	off          int64
	firstBlock   bool // may make the file unrecognisable as a volume
	signedMember bool // inside bundle.json or bundle.json.sig
}

// flipSpots lists positions across every part of a volume.
func flipSpots(t *testing.T, data []byte) []flipSpot {
	members, trailer := scanVolume(t, data)
	var spots []flipSpot
	add := func(what string, off int64, signed bool) {
		spots = append(spots, flipSpot{what: what, off: off, firstBlock: off < format.BlockSize, signedMember: signed})
	}
	var blobMembers []tarMember
	for _, m := range members {
		switch m.Name {
		case format.MemberLayout, format.MemberOCIIndex, format.MemberIndex, format.MemberSignature, format.MemberVolume:
		default:
			blobMembers = append(blobMembers, m)
			continue
		}
		signed := m.Name == format.MemberIndex || m.Name == format.MemberSignature
		add(m.Name+" header: name", m.HdrOff+1, false)
		add(m.Name+" header: size", m.HdrOff+124+10, false)
		add(m.Name+" header: checksum", m.HdrOff+148+5, false)
		add(m.Name+" header: typeflag", m.HdrOff+156, false)
		if m.Name == format.MemberIndex || m.Name == format.MemberLayout {
			// Fields no parser looks at: only the canonical
			// comparison catches them.
			add(m.Name+" header: mode", m.HdrOff+100+4, false)
			add(m.Name+" header: mtime", m.HdrOff+136+10, false)
			add(m.Name+" header: ustar magic", m.HdrOff+257, false)
			add(m.Name+" header: unused tail", m.HdrOff+format.BlockSize-1, false)
		}
		add(m.Name+" data: first byte", m.DataOff, signed)
		add(m.Name+" data: middle", m.DataOff+m.Size/2, signed)
		add(m.Name+" data: last byte", m.DataOff+m.Size-1, signed)
		if m.Size%format.BlockSize != 0 {
			add(m.Name+" padding", m.DataOff+m.Size, false)
			add(m.Name+" padding: last byte", m.End()-1, false)
		}
	}
	// volume.json names the volume number: flip that digit too.
	vm := findMember(t, members, format.MemberVolume)
	if i := bytes.Index(data[vm.DataOff:vm.DataOff+vm.Size], []byte(`"volume":`)); i >= 0 {
		add("volume.json data: volume number", vm.DataOff+int64(i)+int64(len(`"volume":`)), false)
	}
	// The first and the last blob member, and every split segment.
	for i, m := range blobMembers {
		if i != 0 && i != len(blobMembers)-1 && !strings.Contains(m.Name, ".part") {
			continue
		}
		w := fmt.Sprintf("blob member %d (%s)", i+1, m.Name[len("blobs/sha256/"):len("blobs/sha256/")+12])
		add(w+" header: name", m.HdrOff+20, false)
		add(w+" header: size", m.HdrOff+124+10, false)
		add(w+" header: checksum", m.HdrOff+148+2, false)
		add(w+" data: first byte", m.DataOff, false)
		add(w+" data: middle", m.DataOff+m.Size/2, false)
		add(w+" data: last byte", m.DataOff+m.Size-1, false)
		if m.Size%format.BlockSize != 0 {
			add(w+" padding", m.DataOff+m.Size, false)
		}
	}
	add("trailer: first byte", trailer, false)
	add("trailer: middle", trailer+format.BlockSize, false)
	add("trailer: last byte", int64(len(data))-1, false)
	return spots
}

// TestHostileFlippedByte damages one byte at a time, at positions in every
// part of every volume of a signed multi-volume bundle: Verify and Unpack
// must both refuse, naming the volume, and leave the destination untouched.
func TestHostileFlippedByte(t *testing.T) { bothUnpackPaths(t, hostileFlippedByte) }

// bothUnpackPaths runs f once with small blobs read and written by the
// process, and once with every blob copied by the kernel and read back.
func bothUnpackPaths(t *testing.T, f func(t *testing.T)) {
	if testing.Short() {
		// -short skips the copied run, which sets copyMin for every test
		// of the package: the rest can run beside the other tests.
		t.Parallel()
	}
	t.Run("read", f)
	t.Run("copied", func(t *testing.T) {
		if testing.Short() {
			t.Skip("the same damage again through the kernel-copy path, skipped by -short (TestUnpackCopiedBlobs keeps that path)")
		}
		copyEveryBlob(t) // restored after the parallel subtests
		f(t)
	})
}

func hostileFlippedByte(t *testing.T) {
	signer := testSigner(t)
	key := signer.Verifier()
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	if len(x.Volumes) < 3 {
		t.Fatalf("want at least 3 volumes, got %d", len(x.Volumes))
	}
	ctx := context.Background()
	if _, err := verifyFiles(ctx, []string{orig}, verifyOpts{Key: key}); err != nil {
		t.Fatalf("intact bundle does not verify: %v", err)
	}
	dests := newDestFixture(t)
	for n := 1; n <= len(x.Volumes); n++ {
		// One group per volume, in parallel, each on its own copy.
		t.Run(fmt.Sprintf("vol%d", n), func(t *testing.T) {
			if testing.Short() && n != 1 && n != len(x.Volumes) {
				t.Skip("middle volumes hold the same kinds of member as the first and last, skipped by -short")
			}
			t.Parallel()
			dir := copyBundle(t, orig)
			path := volumeFiles(t, dir)[n-1]
			data := mustRead(t, path)
			for _, spot := range flipSpots(t, data) {
				// Both a low and a high bit in data (the high one makes
				// JSON text invalid UTF-8); one elsewhere.
				masks := []byte{0x01}
				if strings.Contains(spot.what, "data") {
					masks = append(masks, 0x80)
				}
				for _, mask := range masks {
					t.Run(fmt.Sprintf("%s/xor%02x", spot.what, mask), func(t *testing.T) {
						xorByte(t, path, spot.off, mask)
						defer mustWrite(t, path, data)

						_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
						if err == nil {
							t.Fatalf("Verify accepted a bundle with byte %d of volume %d flipped", spot.off, n)
						}
						how := blame(err, path, n, spot.firstBlock, spot.signedMember)
						if how == "" {
							t.Errorf("Verify error does not name volume %d (%s): %s", n, path, describe(err))
						}
						if mask != 0x01 {
							return // Unpack once per position keeps the test fast
						}
						dest, before := dests.fresh(t, "")
						err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
						how = blame(err, path, n, spot.firstBlock, spot.signedMember)
						if how == "" {
							t.Errorf("Unpack error does not name volume %d (%s): %s", n, path, describe(err))
						}
					})
				}
			}
		})
	}
}

// TestHostileTruncatedVolume cuts each volume at several points.
func TestHostileTruncatedVolume(t *testing.T) { bothUnpackPaths(t, hostileTruncatedVolume) }

func hostileTruncatedVolume(t *testing.T) {
	signer := testSigner(t)
	key := signer.Verifier()
	orig, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	dir := copyBundle(t, orig)
	ctx := context.Background()
	dests := newDestFixture(t)
	vols := volumeFiles(t, dir)
	for n, path := range vols {
		n++
		if testing.Short() && n != 1 && n != len(vols) {
			continue // middle volumes are cut at the same places as the first and last; skipped by -short
		}
		data := mustRead(t, path)
		members, trailer := scanVolume(t, data)
		first := members[len(members)-1] // a blob member, or volume.json
		for _, m := range members {
			if strings.HasPrefix(m.Name, "blobs/") {
				first = m
				break
			}
		}
		vm := findMember(t, members, format.MemberVolume)
		cuts := []struct {
			what string
			at   int64
		}{
			{"empty file", 0},
			{"inside the first header", 100},
			{"one byte short of the first header", format.BlockSize - 1},
			{"after the first header", format.BlockSize},
			{"inside index.json", findMember(t, members, format.MemberOCIIndex).DataOff + 10},
			{"inside bundle.json", findMember(t, members, format.MemberIndex).DataOff + 100},
			{"before volume.json", vm.HdrOff},
			{"inside volume.json padding", vm.End() - 1},
			{"after the prefix", vm.End()},
			{"inside the first blob header", first.HdrOff + 300},
			{"inside the first blob data", first.DataOff + first.Size/2},
			{"before the trailer", trailer},
			{"inside the trailer", trailer + format.BlockSize},
			{"one byte short", int64(len(data)) - 1},
		}
		for _, c := range cuts {
			t.Run(fmt.Sprintf("vol%d/%s", n, c.what), func(t *testing.T) {
				mustWrite(t, path, data[:c.at])
				defer mustWrite(t, path, data)
				_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
				if err == nil {
					t.Fatalf("Verify accepted volume %d cut to %d bytes", n, c.at)
				}
				if blame(err, path, n, c.at < format.BlockSize, false) == "" {
					t.Errorf("Verify error does not name volume %d: %s", n, describe(err))
				}
				dest, before := dests.fresh(t, "")
				err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
				if blame(err, path, n, c.at < format.BlockSize, false) == "" {
					t.Errorf("Unpack error does not name volume %d: %s", n, describe(err))
				}
			})
		}
	}
}

// TestHostileAppendedBytes adds bytes after the trailer.
func TestHostileAppendedBytes(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	dir := copyBundle(t, orig)
	ctx := context.Background()
	dests := newDestFixture(t)
	vols := volumeFiles(t, dir)
	for _, n := range []int{1, len(vols)} {
		path := vols[n-1]
		data := mustRead(t, path)
		for _, c := range []struct {
			what  string
			extra []byte
		}{
			{"one zero byte", []byte{0}},
			{"one byte", []byte("x")},
			{"a zero block", make([]byte, format.BlockSize)},
			{"a second trailer", make([]byte, 2*format.BlockSize)},
			{"a tar record's worth of zeros", make([]byte, 10240)},
			{"a copy of the volume", data},
		} {
			t.Run(fmt.Sprintf("vol%d/%s", n, c.what), func(t *testing.T) {
				mustWrite(t, path, append(slices.Clip(data), c.extra...))
				defer mustWrite(t, path, data)
				_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
				if len(findAll[*format.CorruptError](err)) == 0 || blame(err, path, n, false, false) == "" {
					t.Fatalf("Verify: want a CorruptError naming %s, got %s", path, describe(err))
				}
				dest, before := dests.fresh(t, "")
				err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
				if blame(err, path, n, false, false) != "CorruptError" {
					t.Errorf("Unpack: want a CorruptError naming %s, got %s", path, describe(err))
				}
			})
		}
	}
}

// TestHostileMissingVolume removes one volume: the set is incomplete, but a
// partial verify checks the rest.
func TestHostileMissingVolume(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	ctx := context.Background()
	dests := newDestFixture(t)
	for _, missing := range []int{1, 2, len(x.Volumes)} {
		t.Run(fmt.Sprintf("vol%d", missing), func(t *testing.T) {
			dir := copyBundle(t, orig)
			if err := os.Remove(volumeFiles(t, dir)[missing-1]); err != nil {
				t.Fatal(err)
			}
			_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
			var mv *MissingVolumesError
			if !errors.As(err, &mv) {
				t.Fatalf("Verify: want a MissingVolumesError, got %s", describe(err))
			}
			if !slices.Equal(mv.Missing, []int{missing}) || mv.Total != len(x.Volumes) || mv.BundleID != x.BundleID {
				t.Errorf("MissingVolumesError = %+v, want volume %d of %d of %s", mv, missing, len(x.Volumes), x.BundleID)
			}
			r, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key, Partial: true})
			if err != nil {
				t.Fatalf("partial Verify: %v", err)
			}
			var want []int
			for n := 1; n <= len(x.Volumes); n++ {
				if n != missing {
					want = append(want, n)
				}
			}
			if !slices.Equal(r.Verified, want) || !slices.Equal(r.Missing, []int{missing}) || len(r.Failed) != 0 {
				t.Errorf("partial Verify report: verified %v failed %v missing %v, want verified %v missing [%d]", r.Verified, r.Failed, r.Missing, want, missing)
			}
			dest, before := dests.fresh(t, "")
			err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
			if !errors.As(err, &mv) || !slices.Equal(mv.Missing, []int{missing}) {
				t.Errorf("Unpack: want a MissingVolumesError for volume %d, got %s", missing, describe(err))
			}
			// Refused before anything is written: a new destination is not
			// even created.
			newDest := filepath.Join(t.TempDir(), "new")
			if _, err := unpackFiles(ctx, []string{dir}, newDest, unpackOpts{Key: key}); err == nil {
				t.Fatal("Unpack into a new directory succeeded")
			}
			if _, err := os.Lstat(newDest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused Unpack created %s", newDest)
			}
		})
	}
}

// TestHostileDuplicateVolume gives one volume twice, under another name.
func TestHostileDuplicateVolume(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	ctx := context.Background()
	dests := newDestFixture(t)
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("vol%d", n), func(t *testing.T) {
			dir := copyBundle(t, orig)
			src := volumeFiles(t, dir)[n-1]
			// A copy in another directory: only files named like volumes
			// are read from a directory (SPEC 11.3).
			dupDir := t.TempDir()
			dup := filepath.Join(dupDir, filepath.Base(src))
			mustWrite(t, dup, mustRead(t, src))
			_, err := verifyFiles(ctx, []string{dir, dupDir}, verifyOpts{Key: key})
			var de *DuplicateVolumeError
			if !errors.As(err, &de) {
				t.Fatalf("Verify: want a DuplicateVolumeError, got %s", describe(err))
			}
			if de.Number != n || de.BundleID != x.BundleID || len(de.Paths) != 2 || !slices.Contains(de.Paths, src) || !slices.Contains(de.Paths, dup) {
				t.Errorf("DuplicateVolumeError = %+v, want volume %d at %s and %s", de, n, src, dup)
			}
			dest, before := dests.fresh(t, "")
			err = unpackMustFail(t, []string{dir, dupDir}, dest, before, unpackOpts{Key: key})
			if !errors.As(err, &de) {
				t.Errorf("Unpack: want a DuplicateVolumeError, got %s", describe(err))
			}
		})
	}
	t.Run("same file twice is one volume", func(t *testing.T) {
		dir := copyBundle(t, orig)
		vols := volumeFiles(t, dir)
		if _, err := verifyFiles(ctx, append(vols, vols[0], dir), verifyOpts{Key: key}); err != nil {
			t.Errorf("Verify with a path given twice: %v", err)
		}
	})
}

// TestHostileForeignVolume mixes in a volume of another bundle.
func TestHostileForeignVolume(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, x := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	ctx := context.Background()
	dests := newDestFixture(t)
	cases := []struct {
		name    string
		created time.Time
		tag     string
		// ours: the bundle in the directory stays the one chosen.
		ours  bool
		stale bool
	}{
		{"older bundle", testCreated.Add(-time.Hour), "", true, true},
		{"same time, other content", testCreated, "base:1", true, false},
		{"newer bundle", testCreated.Add(time.Hour), "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			otherDir, other := packSources(t, []Source{layoutSource(t, exampleLayout, c.tag)},
				PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer, Created: c.created})
			if other.BundleID == x.BundleID {
				t.Fatal("the other bundle has the same id")
			}
			dir := copyBundle(t, orig)
			// In a directory of its own: only files named like volumes are
			// read from a directory (SPEC 11.3), and the name is taken.
			foreignDir := t.TempDir()
			foreign := filepath.Join(foreignDir, filepath.Base(volumeFiles(t, otherDir)[0]))
			mustWrite(t, foreign, mustRead(t, volumeFiles(t, otherDir)[0]))

			r, err := verifyFiles(ctx, []string{dir, foreignDir}, verifyOpts{Key: key})
			if err == nil {
				t.Fatal("Verify accepted a directory holding a foreign volume")
			}
			fes := findAll[*ForeignVolumeError](err)
			if len(fes) == 0 {
				t.Fatalf("Verify: want a ForeignVolumeError, got %s", describe(err))
			}
			if c.ours {
				if len(fes) != 1 || fes[0].Path != foreign || fes[0].Stale != c.stale || fes[0].BundleID != other.BundleID || fes[0].Want != x.BundleID {
					t.Errorf("ForeignVolumeError = %+v, want %s of bundle %s, stale %v", fes[0], foreign, other.BundleID, c.stale)
				}
				if r == nil || len(r.Verified) != len(x.Volumes) {
					t.Errorf("the bundle's own volumes should all verify: %+v", r)
				}
			} else {
				// The newer bundle wins: every volume of ours is a stale
				// leftover, and that bundle's other volumes are missing.
				if len(fes) != len(x.Volumes) {
					t.Errorf("want %d ForeignVolumeErrors, got %d", len(x.Volumes), len(fes))
				}
				for _, fe := range fes {
					if !fe.Stale || fe.BundleID != x.BundleID {
						t.Errorf("ForeignVolumeError = %+v, want a stale volume of %s", fe, x.BundleID)
					}
				}
				if len(findAll[*MissingVolumesError](err)) != 1 {
					t.Errorf("want a MissingVolumesError for the newer bundle: %s", describe(err))
				}
			}
			dest, before := dests.fresh(t, "")
			err = unpackMustFail(t, []string{dir, foreignDir}, dest, before, unpackOpts{Key: key})
			if len(findAll[*ForeignVolumeError](err)) == 0 {
				t.Errorf("Unpack: want a ForeignVolumeError, got %s", describe(err))
			}
		})
	}
}

// rewritePrefix rewrites the members before the first blob of the volume at
// path, replacing the data of the members in repl; the body is kept. The
// prefix must keep its size.
func rewritePrefix(t *testing.T, path string, repl map[string][]byte) {
	t.Helper()
	data := mustRead(t, path)
	members, _ := scanVolume(t, data)
	h, err := format.ReadVolumeHeader(bytes.NewReader(data), path)
	if err != nil {
		t.Fatal(err)
	}
	mtime := h.Index.Mtime()
	var out bytes.Buffer
	var end int64
	for _, m := range members {
		if strings.HasPrefix(m.Name, "blobs/") {
			break
		}
		content := data[m.DataOff : m.DataOff+m.Size]
		if r, ok := repl[m.Name]; ok {
			content = r
		}
		if err := format.WriteMember(&out, m.Name, content, mtime); err != nil {
			t.Fatal(err)
		}
		end = m.End()
	}
	if int64(out.Len()) != end {
		t.Fatalf("rewritePrefix: prefix changed size from %d to %d", end, out.Len())
	}
	out.Write(data[end:])
	mustWrite(t, path, out.Bytes())
}

// TestHostileTamperedIndex edits bundle.json in every volume.
func TestHostileTamperedIndex(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	other := newSigner(t, "")
	orig, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	ctx := context.Background()
	dests := newDestFixture(t)
	indexBytes, layoutIndex := readBundleIndexBytes(t, orig)
	// Retag: app:v1 becomes app:v9 in index.json and bundle.json, and
	// bundle.json names the new index.json: same lengths, so every offset
	// holds and only the signature can tell.
	v1, v9 := []byte(`"app:v1"`), []byte(`"app:v9"`)
	newLayoutIndex := bytes.ReplaceAll(layoutIndex, v1, v9)
	retagged := bytes.ReplaceAll(indexBytes, v1, v9)
	retagged = bytes.ReplaceAll(retagged, []byte(digest.FromBytes(layoutIndex)), []byte(digest.FromBytes(newLayoutIndex)))
	if bytes.Equal(retagged, indexBytes) || bytes.Equal(newLayoutIndex, layoutIndex) {
		t.Fatal("no app:v1 tag in bundle.json")
	}
	if _, err := format.ParseIndex(retagged); err != nil {
		t.Fatalf("the edit breaks the index: %v", err)
	}
	otherKeyID := bytes.ReplaceAll(retagged, []byte(signer.KeyID()), []byte(other.KeyID()))
	sigBy := func(s *sign.KeySigner, b []byte) []byte {
		sig, err := s.Sign(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	cases := []struct {
		name  string
		index []byte
		sig   []byte // nil: keep
		want  error
		// acceptedBy: a key that accepts the result (control).
		acceptedBy *sign.Verifier
	}{
		{"edited, not re-signed", retagged, nil, ErrBadSignature, nil},
		{"edited, signed by another key named as signer", otherKeyID, sigBy(other, otherKeyID), ErrWrongKey, other.Verifier()},
		{"edited, signed by another key, signer unchanged", retagged, sigBy(other, retagged), ErrBadSignature, nil},
		{"signature of another index by the right key", indexBytes, sigBy(signer, retagged), ErrBadSignature, nil},
		{"edited and re-signed by the right key (control)", retagged, sigBy(signer, retagged), nil, key},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyBundle(t, orig)
			repl := map[string][]byte{format.MemberIndex: c.index}
			if !bytes.Equal(c.index, indexBytes) {
				repl[format.MemberOCIIndex] = newLayoutIndex
			}
			if c.sig != nil {
				repl[format.MemberSignature] = c.sig
			}
			for _, p := range volumeFiles(t, dir) {
				rewritePrefix(t, p, repl)
			}
			if c.acceptedBy != nil {
				if _, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: c.acceptedBy}); err != nil {
					t.Fatalf("control: the rewritten bundle does not verify with the key that signed it: %v", err)
				}
			}
			if c.want == nil {
				return
			}
			_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
			if !errors.Is(err, c.want) {
				t.Errorf("Verify: want %v, got %s", c.want, describe(err))
			}
			dest, before := dests.fresh(t, "")
			err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
			if !errors.Is(err, c.want) {
				t.Errorf("Unpack: want %v, got %s", c.want, describe(err))
			}
		})
	}
}

// readBundleIndexBytes returns bundle.json and index.json of the first
// volume in dir.
func readBundleIndexBytes(t testing.TB, dir string) (indexBytes, layoutIndex []byte) {
	t.Helper()
	p := volumeFiles(t, dir)[0]
	h, err := format.ReadVolumeHeader(bytes.NewReader(mustRead(t, p)), p)
	if err != nil {
		t.Fatal(err)
	}
	return h.IndexBytes, h.LayoutIndex
}

// TestHostileUnsigned checks that an unsigned bundle passes only with
// AllowUnsigned, and that a signed one needs its key.
func TestHostileUnsigned(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	ctx := context.Background()
	dests := newDestFixture(t)
	unsigned, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	signed, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	refuse := []struct {
		name string
		dir  string
		o    verifyOpts
		want error // nil: any error
	}{
		{"unsigned, key given", unsigned, verifyOpts{Key: key}, ErrUnsigned},
		{"unsigned, no key", unsigned, verifyOpts{}, ErrUnsigned},
		{"signed, no key", signed, verifyOpts{}, nil},
	}
	for _, c := range refuse {
		t.Run(c.name, func(t *testing.T) {
			_, err := verifyFiles(ctx, []string{c.dir}, c.o)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("Verify: want %v, got %s", c.want, describe(err))
			}
			dest, before := dests.fresh(t, "")
			err = unpackMustFail(t, []string{c.dir}, dest, before, unpackOpts{Key: c.o.Key, AllowUnsigned: c.o.AllowUnsigned})
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Unpack: want %v, got %s", c.want, describe(err))
			}
			newDest := filepath.Join(t.TempDir(), "new")
			if _, err := unpackFiles(ctx, []string{c.dir}, newDest, unpackOpts{Key: c.o.Key}); err == nil {
				t.Fatal("Unpack into a new directory succeeded")
			}
			if _, err := os.Lstat(newDest); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused Unpack created %s", newDest)
			}
		})
	}
	t.Run("unsigned, allowed", func(t *testing.T) {
		if _, err := verifyFiles(ctx, []string{unsigned}, verifyOpts{AllowUnsigned: true}); err != nil {
			t.Errorf("Verify: %v", err)
		}
		dest, _ := dests.fresh(t, "")
		if _, err := unpackFiles(ctx, []string{unsigned}, dest, unpackOpts{AllowUnsigned: true}); err != nil {
			t.Errorf("Unpack: %v", err)
		}
	})
}

// hostileHeader is a change to one tar header, as an attacker would make it
// (the checksum is fixed afterwards).
type hostileHeader struct {
	name string
	edit func(h []byte)
}

func setField(h []byte, off, n int, s string) {
	clear(h[off : off+n])
	copy(h[off:off+n], s)
}

var hostileHeaders = []hostileHeader{
	{"name ../evil", func(h []byte) { setField(h, 0, 100, "../evil") }},
	{"name /etc/evil", func(h []byte) { setField(h, 0, 100, "/etc/evil") }},
	{"name blobs/sha256/../../x", func(h []byte) { setField(h, 0, 100, "blobs/sha256/../../x") }},
	{"name ../../../../../../evil", func(h []byte) { setField(h, 0, 100, "../../../../../../evil") }},
	{"ustar prefix ../..", func(h []byte) { setField(h, 345, 155, "../..") }},
	{"symlink to /etc/evil", func(h []byte) { h[156] = tar.TypeSymlink; setField(h, 157, 100, "/etc/evil") }},
	{"symlink to ../evil", func(h []byte) { h[156] = tar.TypeSymlink; setField(h, 157, 100, "../evil") }},
	{"hardlink to ../evil", func(h []byte) { h[156] = tar.TypeLink; setField(h, 157, 100, "../evil") }},
	{"char device", func(h []byte) {
		h[156] = tar.TypeChar
		setField(h, 329, 8, "0000001\x00")
		setField(h, 337, 8, "0000003\x00")
	}},
	{"block device", func(h []byte) { h[156] = tar.TypeBlock }},
	{"directory", func(h []byte) { h[156] = tar.TypeDir }},
	{"fifo", func(h []byte) { h[156] = tar.TypeFifo }},
	{"old-style regular file (NUL type)", func(h []byte) { h[156] = 0 }},
	{"pax header", func(h []byte) { h[156] = tar.TypeXHeader }},
	{"gnu long name", func(h []byte) { h[156] = tar.TypeGNULongName }},
	{"setuid mode", func(h []byte) { setField(h, 100, 8, "0004755\x00") }},
	{"owner root:wheel names", func(h []byte) { setField(h, 265, 32, "root"); setField(h, 297, 32, "wheel") }},
}

// evilNames are the base names the hostile entries would create.
var evilNames = []string{"evil", "x"}

// assertNoEvil fails if a file named like a hostile entry exists under root
// or at /etc/evil.
func assertNoEvil(t *testing.T, root string, etcEvilBefore bool) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && slices.Contains(evilNames, d.Name()) {
			t.Errorf("hostile entry written: %s", p)
		}
		return nil
	})
	if _, err := os.Lstat("/etc/evil"); err == nil && !etcEvilBefore {
		t.Errorf("hostile entry written: /etc/evil")
	}
}

func etcEvilExists() bool {
	_, err := os.Lstat("/etc/evil")
	return err == nil
}

// TestHostileTarHeaders rewrites one member header of a real volume (with
// a correct tar checksum) into a hostile one.
func TestHostileTarHeaders(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	ctx := context.Background()
	dests := newDestFixture(t)
	etcEvil := etcEvilExists()
	// Targets: a prefix member, the first blob of volume 2 (the first member
	// Unpack writes from that volume), and a split segment.
	vols := volumeFiles(t, orig)
	type target struct {
		what string
		vol  int
		pick func(ms []tarMember) tarMember
	}
	targets := []target{
		{"bundle.json of volume 1", 1, func(ms []tarMember) tarMember { return findMember(t, ms, format.MemberIndex) }},
		{"first blob of volume 1", 1, func(ms []tarMember) tarMember { return firstBlob(t, ms) }},
		{"first blob of volume 2", 2, func(ms []tarMember) tarMember { return firstBlob(t, ms) }},
		{"split segment", 0, nil},
	}
	// Find a .part member.
	for n, p := range vols {
		ms, _ := scanVolume(t, mustRead(t, p))
		for _, m := range ms {
			if strings.Contains(m.Name, ".part") && targets[3].vol == 0 {
				name := m.Name
				targets[3].vol = n + 1
				targets[3].pick = func(ms []tarMember) tarMember { return findMember(t, ms, name) }
			}
		}
	}
	if targets[3].vol == 0 {
		t.Fatal("no split blob in the bundle")
	}
	for _, tg := range targets {
		if testing.Short() && tg.what == "first blob of volume 2" {
			continue // a blob's header, as the first blob of volume 1's; skipped by -short
		}
		for _, hh := range hostileHeaders {
			t.Run(tg.what+"/"+hh.name, func(t *testing.T) {
				root := t.TempDir()
				dir := filepath.Join(root, "in", "bundle")
				copyDir(t, orig, dir)
				path := volumeFiles(t, dir)[tg.vol-1]
				data := mustRead(t, path)
				ms, _ := scanVolume(t, data)
				m := tg.pick(ms)
				h := data[m.HdrOff : m.HdrOff+format.BlockSize]
				hh.edit(h)
				setTarChecksum(h)
				mustWrite(t, path, data)

				_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
				if blame(err, path, tg.vol, false, false) != "CorruptError" {
					t.Errorf("Verify: want a CorruptError naming %s, got %s", path, describe(err))
				}
				dest, before := dests.fresh(t, filepath.Join(root, "out", "a", "b", "dest"))
				err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
				if blame(err, path, tg.vol, false, false) != "CorruptError" {
					t.Errorf("Unpack: want a CorruptError naming %s, got %s", path, describe(err))
				}
				assertNoEvil(t, root, etcEvil)
			})
		}
	}
}

func firstBlob(t *testing.T, ms []tarMember) tarMember {
	t.Helper()
	for _, m := range ms {
		if strings.HasPrefix(m.Name, "blobs/") {
			return m
		}
	}
	t.Fatal("no blob member")
	return tarMember{}
}

// TestHostileStdlibTar writes, with archive/tar, volumes whose prefix is
// that of a real signed volume and whose members are hostile entries an
// ordinary tar would extract: each is refused where the first blob belongs.
func TestHostileStdlibTar(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, x := packLayout(t, PackOptions{Signer: signer})
	if len(x.Volumes) != 1 {
		t.Fatalf("want one volume, got %d", len(x.Volumes))
	}
	ctx := context.Background()
	dests := newDestFixture(t)
	etcEvil := etcEvilExists()
	volData := mustRead(t, volumeFiles(t, orig)[0])
	ms, _ := scanVolume(t, volData)
	first := firstBlob(t, ms)
	prefix := volData[:first.HdrOff]
	firstName := first.Name
	mtime := time.Unix(x.Mtime(), 0)
	reg := func(name string, body string) (*tar.Header, []byte) {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: mtime}, []byte(body)
	}
	type entry struct {
		hdr  *tar.Header
		body []byte
	}
	mk := func(h *tar.Header, b []byte) entry { return entry{h, b} }
	entries := map[string]entry{
		"regular ../evil":                                 mk(reg("../evil", "evil\n")),
		"regular /etc/evil":                               mk(reg("/etc/evil", "evil\n")),
		"regular blobs/sha256/../../x":                    mk(reg("blobs/sha256/../../x", "x\n")),
		"symlink at the first blob's name":                {&tar.Header{Typeflag: tar.TypeSymlink, Name: firstName, Linkname: "/etc/evil", Mode: 0o777, ModTime: mtime}, nil},
		"symlink evil -> ../../evil":                      {&tar.Header{Typeflag: tar.TypeSymlink, Name: "evil", Linkname: "../../evil", Mode: 0o777, ModTime: mtime}, nil},
		"hardlink at the first blob's name":               {&tar.Header{Typeflag: tar.TypeLink, Name: firstName, Linkname: "../../../evil", ModTime: mtime}, nil},
		"char device":                                     {&tar.Header{Typeflag: tar.TypeChar, Name: "blobs/evil", Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mtime}, nil},
		"directory at the first blob's name":              {&tar.Header{Typeflag: tar.TypeDir, Name: firstName + "/", Mode: 0o755, ModTime: mtime}, nil},
		"fifo":                                            {&tar.Header{Typeflag: tar.TypeFifo, Name: "blobs/evil", Mode: 0o644, ModTime: mtime}, nil},
		"long name (pax)":                                 mk(reg("blobs/sha256/"+strings.Repeat("a/", 90)+"../../evil", "evil\n")),
		"regular at the first blob's name, wrong content": mk(reg(firstName, strings.Repeat("e", int(first.Size)))),
	}
	write := func(t *testing.T, es []entry) []byte {
		var buf bytes.Buffer
		buf.Write(prefix)
		tw := tar.NewWriter(&buf)
		for _, e := range es {
			if err := tw.WriteHeader(e.hdr); err != nil {
				t.Fatalf("archive/tar: %v", err)
			}
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		// It is an ordinary tar: archive/tar lists every entry.
		tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("archive/tar cannot read the crafted volume back: %v", err)
			}
			names = append(names, h.Name)
		}
		for _, e := range es {
			if !slices.Contains(names, e.hdr.Name) {
				t.Fatalf("entry %q not in the crafted tar (%v)", e.hdr.Name, names)
			}
		}
		return buf.Bytes()
	}
	var all []entry
	var names []string
	for k := range entries {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		all = append(all, entries[k])
	}
	run := func(t *testing.T, es []entry) {
		root := t.TempDir()
		dir := filepath.Join(root, "in", "bundle")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, format.VolumeFileName(1, 1))
		mustWrite(t, path, write(t, es))
		_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
		ces := findAll[*format.CorruptError](err)
		if len(ces) == 0 || ces[0].Path != path {
			t.Fatalf("Verify: want a CorruptError naming %s, got %s", path, describe(err))
		}
		// Refused at the first blob member: its header, or (for a regular
		// file archive/tar wrote with the expected name, size and mtime:
		// the very header pack writes) its content.
		if ces[0].Offset < first.HdrOff || ces[0].Offset > first.End() {
			t.Errorf("CorruptError at offset %d, want the first blob member at %d-%d", ces[0].Offset, first.HdrOff, first.End())
		}
		dest, before := dests.fresh(t, filepath.Join(root, "out", "a", "b", "dest"))
		err = unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
		if blame(err, path, 1, false, false) != "CorruptError" {
			t.Errorf("Unpack: want a CorruptError naming %s, got %s", path, describe(err))
		}
		assertNoEvil(t, root, etcEvil)
	}
	for _, k := range names {
		t.Run(k, func(t *testing.T) { run(t, []entry{entries[k]}) })
	}
	t.Run("all entries in one volume", func(t *testing.T) { run(t, all) })
}

// TestHostileDestinationSymlinks: symlinks in the destination layout must
// not lead Unpack to write outside it.
func TestHostileDestinationSymlinks(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	dir, _ := packLayout(t, PackOptions{Signer: signer})
	ctx := context.Background()
	dests := newDestFixture(t)

	t.Run("blobs/sha256 links outside", func(t *testing.T) {
		root := t.TempDir()
		dest, _ := dests.fresh(t, filepath.Join(root, "dest"))
		outside := filepath.Join(root, "outside")
		if err := os.Rename(filepath.Join(dest, "blobs", "sha256"), outside); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dest, "blobs", "sha256")); err != nil {
			t.Fatal(err)
		}
		before := treeHash(t, outside)
		_, err := unpackFiles(ctx, []string{dir}, dest, unpackOpts{Key: key})
		if err == nil {
			t.Error("Unpack succeeded through a symlink leading out of the destination")
		}
		after := treeHash(t, outside)
		if len(after) != len(before) {
			t.Errorf("Unpack wrote outside the destination: %d entries before, %d after", len(before), len(after))
		}
		for k, v := range before {
			if after[k] != v {
				t.Errorf("outside file %s changed", k)
			}
		}
	})
	t.Run("index.json links outside", func(t *testing.T) {
		root := t.TempDir()
		dest, _ := dests.fresh(t, filepath.Join(root, "dest"))
		outside := filepath.Join(root, "outside-index.json")
		orig := mustRead(t, filepath.Join(dest, "index.json"))
		mustWrite(t, outside, orig)
		os.Remove(filepath.Join(dest, "index.json"))
		if err := os.Symlink(outside, filepath.Join(dest, "index.json")); err != nil {
			t.Fatal(err)
		}
		_, err := unpackFiles(ctx, []string{dir}, dest, unpackOpts{Key: key})
		t.Logf("Unpack: %v", err)
		if !bytes.Equal(mustRead(t, outside), orig) {
			t.Error("Unpack wrote through the index.json symlink to a file outside the destination")
		}
	})
}

// zstdRLEFrame builds a zstd frame of blocks RLE blocks of 128 KiB of zeros
// each: 4 bytes per 128 KiB of output. header is the frame header after the
// magic number.
func zstdRLEFrame(header []byte, blocks int) []byte {
	const blockLen = 128 << 10
	out := []byte{0x28, 0xb5, 0x2f, 0xfd}
	out = append(out, header...)
	for i := 0; i < blocks; i++ {
		last := uint32(0)
		if i == blocks-1 {
			last = 1
		}
		bh := last | 1<<1 | blockLen<<3 // RLE block
		out = append(out, byte(bh), byte(bh>>8), byte(bh>>16), 0)
	}
	return out
}

// frameNoSize has no content size and a 128 KiB window.
var frameNoSize = []byte{0x00, 0x38}

// frameWithSize declares a single-segment frame of size bytes (so a window
// as large).
func frameWithSize(size uint64) []byte {
	h := []byte{0xe0}
	return binary.LittleEndian.AppendUint64(h, size)
}

// frameHugeWindow asks for a 2 GiB window.
var frameHugeWindow = []byte{0x00, 0xa8}

// bombCase is a crafted, signed bundle whose zstd-encoded layer has the
// stored bytes given.
type bombCase struct {
	name string
	dir  string
	ok   bool // the control: the real stored bytes
}

// zstdBombs crafts the bundles of the zstd bomb tests, and returns the
// digest of the layer blob they all lie about.
func zstdBombs(t *testing.T, signer *sign.KeySigner) ([]bombCase, digest.Digest) {
	t.Helper()
	// The RLE frame builder is right: a small one decodes to zeros.
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	small, err := dec.DecodeAll(zstdRLEFrame(frameNoSize, 3), nil)
	dec.Close()
	if err != nil || len(small) != 3*128<<10 || !bytes.Equal(small, make([]byte, 3*128<<10)) {
		t.Fatalf("crafted RLE frame decodes to %d bytes, %v", len(small), err)
	}

	const layerSize = 64 << 10
	src := newMemSource("bomb")
	text := bytes.Repeat([]byte("all work and no play makes jack a dull boy\n"), layerSize/43+1)[:layerSize]
	layer := src.add(ocispec.MediaTypeImageLayer, text)
	src.addImage(t, "bomb:1", layer)
	packed, _ := packSources(t, []Source{src}, PackOptions{Compression: format.CompressionZstd})
	pb := readBundle(t, packed)
	var lb *format.Blob
	for i := range pb.Index.Blobs {
		if pb.Index.Blobs[i].Digest == layer.Digest {
			lb = &pb.Index.Blobs[i]
		}
	}
	if lb == nil || lb.Encoding != format.CompressionZstd || lb.Size != layerSize {
		t.Fatalf("layer blob not stored zstd-encoded: %+v", lb)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	shortFrame := enc.EncodeAll(text[:1024], nil)
	enc.Close()

	oneGiB := (1 << 30) / (128 << 10)
	var manyFrames []byte
	for i := 0; i < 1024; i++ {
		manyFrames = append(manyFrames, zstdRLEFrame(frameNoSize, 8)...) // 1 MiB each
	}
	stored := []struct {
		name   string
		stored []byte
	}{
		{"control: the real stored bytes", pb.Stored[layer.Digest]},
		{"1 GiB of zeros, no content size", zstdRLEFrame(frameNoSize, oneGiB)},
		{"1 GiB declared content size", zstdRLEFrame(frameWithSize(1<<30), oneGiB)},
		{"2 GiB window", zstdRLEFrame(frameHugeWindow, oneGiB)},
		{"1024 frames of 1 MiB", manyFrames},
		{"decompresses to less than claimed", shortFrame},
		{"not zstd", bytes.Repeat([]byte("not zstd "), 100)},
	}
	var out []bombCase
	for i, c := range stored {
		x := *pb.Index
		x.Blobs = slices.Clone(pb.Index.Blobs)
		m := maps.Clone(pb.Stored)
		m[layer.Digest] = c.stored
		dir, _, _ := writeBundle(t, &x, pb.LayoutIndex, m, signer)
		out = append(out, bombCase{name: c.name, dir: dir, ok: i == 0})
	}
	return out, layer.Digest
}

// TestHostileZstdBomb crafts a signed bundle whose index gives a blob a
// small size while its stored zstd bytes decompress to 1 GiB or ask for a
// huge window: Unpack must refuse fast, with bounded memory, and leave the
// destination untouched.
func TestHostileZstdBomb(t *testing.T) {
	signer := testSigner(t)
	key := signer.Verifier()
	ctx := context.Background()
	cases, layer := zstdBombs(t, signer)
	dests := newDestFixture(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Verify decodes every encoded blob too, bounded as unpack is:
			// it refuses the bomb fast, naming the blob, and passes the
			// control.
			vstart := time.Now()
			_, verr := verifyFiles(ctx, []string{c.dir}, verifyOpts{Key: key})
			var vce *format.CorruptError
			switch {
			case c.ok && verr != nil:
				t.Fatalf("control bundle does not verify: %v", verr)
			case !c.ok && (!errors.As(verr, &vce) || vce.Digest != layer):
				t.Fatalf("verify of the bomb: %s, want a CorruptError naming blob %s", describe(verr), layer)
			case time.Since(vstart) > 10*time.Second:
				t.Errorf("verify took %v", time.Since(vstart))
			}
			dest, before := dests.fresh(t, "")
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			start := time.Now()
			_, err := unpackFiles(ctx, []string{c.dir}, dest, unpackOpts{Key: key})
			elapsed := time.Since(start)
			runtime.ReadMemStats(&m1)
			alloc := m1.TotalAlloc - m0.TotalAlloc
			t.Logf("Unpack: %v in %v, %d MiB allocated", err, elapsed, alloc>>20)
			if c.ok {
				if err != nil {
					t.Fatalf("control Unpack: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Unpack accepted the bomb")
			}
			assertUntouched(t, dest, before)
			// A clear error: it names the blob and the volume.
			var ce *format.CorruptError
			vol := volumeFiles(t, c.dir)[0]
			if !strings.Contains(err.Error(), layer.String()) || !(errors.As(err, &ce) && ce.Path == vol || strings.Contains(err.Error(), vol)) {
				t.Errorf("error does not name blob %s and volume %s: %s", layer, vol, describe(err))
			}
			if alloc > 256<<20 {
				t.Errorf("Unpack allocated %d MiB", alloc>>20)
			}
			if elapsed > 10*time.Second {
				t.Errorf("Unpack took %v", elapsed)
			}
		})
	}
}

// TestHostileNegativeTarSize: a header whose size field holds a sign
// ("-0000000001") must not parse as a negative size (before a999cdf,
// ReadVolumeHeader panicked in make([]byte, -1)).
func TestHostileNegativeTarSize(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	orig, _ := packLayout(t, PackOptions{Signer: signer})
	data := mustRead(t, volumeFiles(t, orig)[0])
	ms, _ := scanVolume(t, data)
	for _, name := range []string{format.MemberLayout, format.MemberOCIIndex, format.MemberIndex, format.MemberSignature, format.MemberVolume} {
		for _, size := range []string{"-0000000001", "-7777777777", "+0000000036"} {
			t.Run(name+"/"+size, func(t *testing.T) {
				b := slices.Clone(data)
				m := findMember(t, ms, name)
				h := b[m.HdrOff : m.HdrOff+format.BlockSize]
				copy(h[124:135], size)
				setTarChecksum(h)
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("ReadVolumeHeader panics: %v", r)
						}
					}()
					_, err = format.ReadVolumeHeader(bytes.NewReader(b), "hostile.tar")
				}()
				var ce *format.CorruptError
				if !errors.As(err, &ce) && !errors.Is(err, format.ErrNotVolume) {
					t.Errorf("want a CorruptError or ErrNotVolume, got %s", describe(err))
				}
			})
		}
	}
}

// TestHostileHugeClaimedMember: a tiny file whose header claims the largest
// bundle.json allowed is refused quickly.
func TestHostileHugeClaimedMember(t *testing.T) {
	var b bytes.Buffer
	format.WriteMember(&b, format.MemberLayout, []byte(format.OCILayoutFile), 0)
	format.WriteMember(&b, format.MemberOCIIndex, []byte(`{}`), 0)
	b.Write(format.TarHeader(format.MemberIndex, format.MaxIndexSize, 0))
	b.WriteString(`{"mediaType":`)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	_, err := format.ReadVolumeHeader(bytes.NewReader(b.Bytes()), "tiny.tar")
	runtime.ReadMemStats(&m1)
	var ce *format.CorruptError
	if !errors.As(err, &ce) || ce.Member != format.MemberIndex {
		t.Errorf("want a CorruptError for bundle.json, got %s", describe(err))
	}
	alloc := m1.TotalAlloc - m0.TotalAlloc
	t.Logf("a %d-byte input made ReadVolumeHeader allocate %d MiB", b.Len(), alloc>>20)
	if alloc > format.MaxIndexSize+format.MaxOCIIndexSize+1<<20 {
		t.Errorf("allocated %d bytes, more than the limits", alloc)
	}
}

// TestHostileDigestWithoutAlgorithm: digests in bundle.json that lack the
// "algorithm:" separator, or are missing, must be refused, by ParseIndex and
// by Verify on a volume carrying such an index.
func TestHostileDigestWithoutAlgorithm(t *testing.T) {
	t.Parallel()
	orig, _ := packLayout(t, PackOptions{})
	b, _ := readBundleIndexBytes(t, orig)
	sep := func(prefix string) []byte {
		// The same bytes with the first digest after prefix missing its
		// colon: same length, so the volume layout holds.
		out := bytes.Replace(b, []byte(prefix+`"sha256:`), []byte(prefix+`"sha256-`), 1)
		if bytes.Equal(out, b) {
			t.Fatalf("no %s in bundle.json", prefix)
		}
		return out
	}
	cases := []struct {
		name     string
		index    []byte
		sameSize bool
	}{
		{"layoutIndex digest", sep(`"layoutIndex":{"digest":`), true},
		{"blob digest", sep(`"blobs":[{"digest":`), true},
		{"storedDigest", sep(`"storedDigest":`), true},
		{"placement digest", sep(`"length":` + string(regexpFirst(t, b, `"length":([0-9]+),"digest":`)) + `,"digest":`), true},
		{"no layoutIndex", []byte(`{"mediaType":"` + format.MediaTypeIndex + `","formatVersion":1,"bundleId":"00000000000000000000000000000000","created":"2000-01-01T00:00:00Z","compression":"none"}`), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("ParseIndex panics: %v", r)
					}
				}()
				if _, err := format.ParseIndex(c.index); err == nil {
					t.Error("ParseIndex accepted the index")
				}
			}()
			if !c.sameSize {
				return
			}
			dir := copyBundle(t, orig)
			path := volumeFiles(t, dir)[0]
			rewritePrefix(t, path, map[string][]byte{format.MemberIndex: c.index})
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("Verify panics: %v", r)
				}
			}()
			_, err := verifyFiles(context.Background(), []string{path}, verifyOpts{AllowUnsigned: true})
			if blame(err, path, 1, false, false) != "CorruptError" {
				t.Errorf("Verify: want a CorruptError naming %s, got %s", path, describe(err))
			}
		})
	}
}

// regexpFirst returns the first submatch of expr in b.
func regexpFirst(t *testing.T, b []byte, expr string) []byte {
	t.Helper()
	m := regexp.MustCompile(expr).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in bundle.json", expr)
	}
	return m[1]
}

// TestHostileZstdFlip: a byte flipped inside a zstd member, wherever it
// falls (the frame header, the middle of the stream, its end), is a
// corrupt volume for unpack (exit 3, naming the volume and the member):
// not the decoder's own message as a failure of the destination.
func TestHostileZstdFlip(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	orig, x := packLayout(t, PackOptions{Signer: signer, Compression: format.CompressionZstd})
	var zb *format.Blob
	for i := range x.Blobs {
		if b := &x.Blobs[i]; b.Encoding == format.CompressionZstd && len(b.Placements) == 1 && b.StoredSize > 64 {
			zb = b
			break
		}
	}
	if zb == nil {
		t.Fatal("no zstd-encoded blob in the bundle")
	}
	p := zb.Placements[0]
	dests := newDestFixture(t)
	for _, at := range []int64{0, 2, 5, p.Length / 3, p.Length / 2, p.Length - 5, p.Length - 1} {
		for _, mask := range []byte{0x01, 0x80} {
			t.Run(fmt.Sprintf("byte %d of %d, mask %#x", at, p.Length, mask), func(t *testing.T) {
				dir := copyBundle(t, orig)
				vol := volumeFiles(t, dir)[p.Volume-1]
				xorByte(t, vol, p.Offset+at, mask)
				dest, before := dests.fresh(t, "")
				err := unpackMustFail(t, []string{dir}, dest, before, unpackOpts{Key: key})
				var ce *format.CorruptError
				if !errors.As(err, &ce) || ce.Path != vol || ce.Member != format.MemberName(zb, 0) {
					t.Fatalf("want a CorruptError naming %s, member %s; got %s", vol, format.MemberName(zb, 0), describe(err))
				}
			})
		}
	}
}
