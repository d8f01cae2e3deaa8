package bundle

// Fuzz targets for the two parsers that read untrusted bytes: ParseIndex
// (bundle.json) and the volume reader (ReadVolumeHeader, then the body
// reader). The seeds run with every `go test`; fuzz with e.g.
//
//	go test ./bundle/ -run '^$' -fuzz FuzzReadVolume -fuzztime 1m

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fuzzBundles packs the seed bundles: the example layout signed in several
// volumes, unsigned in one zstd volume, and a small in-memory image.
func fuzzBundles(f *testing.F) []string {
	f.Helper()
	signed, _ := packLayout(f, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: testSigner(f)})
	zstdOne, _ := packLayout(f, PackOptions{Compression: format.CompressionZstd})
	src := newMemSource("fuzz")
	src.addImage(f, "fuzz:1", src.add(ocispec.MediaTypeImageLayer, bytes.Repeat([]byte("fuzz "), 1000)))
	small, _ := packSources(f, []Source{src}, PackOptions{Compression: format.CompressionZstd, MaxVolumeSize: 12 << 10})
	v2, _ := packLayout(f, PackOptions{FormatVersion: format.VersionV2, MaxVolumeSize: 40 << 10, Signer: testSigner(f)})
	return []string{signed, zstdOne, small, v2}
}

// fuzzDelta packs a delta against a base bundle and an inventory that
// both supply blobs, so that its bases record repositories and mirror
// repositories (format.Base), and returns its bundle.json.
func fuzzDelta(f *testing.F) []byte {
	f.Helper()
	src := newMemSource("fuzz-base")
	l1 := src.add(ocispec.MediaTypeImageLayer, bytes.Repeat([]byte("base "), 300))
	src.addImage(f, "quay.io/ns/base:1", l1)
	baseDir, _ := packSources(f, []Source{src}, PackOptions{})
	base, err := LoadBase(context.Background(), baseDir, nil)
	if err != nil {
		f.Fatal(err)
	}
	l2 := src.add(ocispec.MediaTypeImageLayer, bytes.Repeat([]byte("seen "), 300))
	v := &Inventory{Destination: "docker://mirror.example:5000/airgap", Created: "2026-11-21T10:00:00Z",
		Blobs: []format.Content{{Digest: l2.Digest, Size: l2.Size}}, Repositories: []string{"airgap/quay.io/ns/seen"}}
	b, err := v.Encode()
	if err != nil {
		f.Fatal(err)
	}
	src.roots = nil
	src.addImage(f, "quay.io/ns/app:2", l1, l2, src.add(ocispec.MediaTypeImageLayer, []byte("new")))
	dir, x := packSources(f, []Source{src}, PackOptions{Bases: []*BaseBundle{base}, Inventories: []*InventoryFile{{Inventory: v, Bytes: b, Path: "inventory.json"}}})
	if len(x.Bases) != 2 || x.Bases[0].MirrorRepositories == nil || x.Bases[1].Repositories == nil {
		f.Fatalf("the delta's bases record no repositories: %+v", x.Bases)
	}
	ib, _ := readBundleIndexBytes(f, dir)
	return ib
}

// FuzzParseIndex: ParseIndex never panics, an index it accepts is strict
// JSON (SPEC.md 6.1), and it re-marshals into one that passes the same checks and marshals the same.
func FuzzParseIndex(f *testing.F) {
	for _, dir := range fuzzBundles(f) {
		b, _ := readBundleIndexBytes(f, dir)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		f.Add(append([]byte(" \n"), b...))
		f.Add(append(bytes.Clone(b), "\n"...))
		f.Add(append(bytes.Clone(b), "{}"...))
		f.Add(bytes.Replace(b, []byte(`{"mediaType"`), []byte(`{"extra":1,"mediaType"`), 1))
		f.Add(bytes.Replace(b, []byte(`"mediaType"`), []byte(`"MediaType"`), 1))
		f.Add(bytes.Replace(b, []byte(`"formatVersion":1`), []byte(`"formatVersion":1,"formatVersion":2`), 1))
		f.Add(bytes.Replace(b, []byte(`"number":1`), []byte(`"number":2`), 1))
		f.Add(bytes.Replace(b, []byte(`"volume":1`), []byte(`"volume":0`), 1))
		f.Add(bytes.Replace(b, []byte(`"size":`), []byte(`"size":-`), 1))
		f.Add(bytes.Replace(b, []byte(`"length":`), []byte(`"length":1`), 1))
		f.Add(bytes.Replace(b, []byte(`"offset":`), []byte(`"offset":1`), 1))
		f.Add(bytes.Replace(b, []byte(`"sha256:`), []byte(`"sha512:`), 1))
		f.Add(bytes.Replace(b, []byte(`"placements":[`), []byte(`"placements":[],"x":[`), 1))
		f.Add(bytes.ReplaceAll(b, []byte(`"encoding":"none"`), []byte(`"encoding":"zstd"`)))
		f.Add(bytes.Replace(b, []byte(`"packer":"`), []byte(`"packer":"x","packer":"`), 1))
		f.Add(bytes.Replace(b, []byte(`"storedSize"`), []byte(`"storedsize"`), 1))
		f.Add(bytes.Replace(b, []byte(`"packer":"`), []byte("\"packer\":\"\xff"), 1))
		f.Add(bytes.Replace(b, []byte(`"packer":"`), []byte(`"packer":"\ud800`), 1))
	}
	// Bases that say where their content is (format.Base), and the same
	// with those lists broken.
	delta := fuzzDelta(f)
	f.Add(delta)
	f.Add(bytes.Replace(delta, []byte(`"quay.io/ns/base"`), []byte(`"quay.io/ns/base","quay.io/ns/base"`), 1))
	f.Add(bytes.Replace(delta, []byte(`"repositories":[`), []byte(`"Repositories":[`), 1))
	f.Add(bytes.Replace(delta, []byte(`"airgap/quay.io/ns/seen"`), []byte(`"airgap/quay.io/ns/seen:1"`), 1))
	f.Add(bytes.Replace(delta, []byte(`"mirrorRepositories":[`), []byte(`"mirrorRepositories":[],"x":[`), 1))
	for _, s := range []string{"", "{}", "[]", "null", `{"mediaType":null}`, `{"formatVersion":1e400}`, strings.Repeat("[", 10000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := format.ParseIndex(b)
		if err != nil {
			if x != nil {
				t.Fatal("ParseIndex returned an index with an error")
			}
			return
		}
		// What passes means the same to every reader: valid UTF-8, no
		// duplicate member, no case variant (checked another way here).
		if err := strictByTokens(b); err != nil {
			t.Fatalf("accepted an index that is not strict JSON: %v", err)
		}
		// What passes can be laid out: every volume's members are listed
		// and named.
		for _, v := range x.Volumes {
			for _, m := range x.Members(v.Number) {
				if format.MemberName(m.Blob, m.Part) == "" {
					t.Fatal("empty member name")
				}
			}
		}
		// MarshalIndex: json.Marshal's bytes in version 1, the members of
		// version 2 in version 2.
		m, err := format.MarshalIndex(x)
		if err != nil {
			t.Fatalf("accepted index does not marshal: %v", err)
		}
		// Offsets depend on the length of bundle.json: the re-marshalled
		// index is checked for the length of the original.
		var y format.Index
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&y); err != nil {
			t.Fatalf("re-marshalled index does not decode: %v\n%s", err, m)
		}
		if err := y.Validate(len(b)); err != nil {
			t.Fatalf("re-marshalled index does not validate: %v\n%s", err, m)
		}
		m2, err := format.MarshalIndex(&y)
		if err != nil || !bytes.Equal(m, m2) {
			t.Fatalf("marshalling is not stable:\n%s\n%s", m, m2)
		}
		if x.PrefixSize(len(m)) == x.PrefixSize(len(b)) {
			if _, err := format.ParseIndex(m); err != nil {
				t.Fatalf("re-marshalled index does not parse: %v\n%s", err, m)
			}
		}
	})
}

// volumeReadLimit is the most the volume reader may allocate for an input
// of n bytes: the members it reads whole are bounded by the format's limits
// whatever their headers claim; the rest is proportional to the input.
func volumeReadLimit(n int) uint64 {
	return format.MaxIndexSize + format.MaxOCIIndexSize + format.MaxSignatureSize + 64*uint64(n) + 8<<20
}

// typedVolumeError reports whether err is one the volume reader documents.
func typedVolumeError(err error) bool {
	var ce *format.CorruptError
	return errors.Is(err, format.ErrNotVolume) || errors.As(err, &ce)
}

// FuzzReadVolume feeds arbitrary bytes to ReadVolumeHeader and, when the
// header parses, reads the body through: no panic, only typed errors,
// bounded allocation, and a volume that reads clean is exactly the size its
// index gives.
func FuzzReadVolume(f *testing.F) {
	for _, dir := range fuzzBundles(f) {
		for i, p := range volumeFiles(f, dir) {
			data := mustRead(f, p)
			members, trailer := scanVolume(f, data)
			f.Add(data)
			if i > 0 {
				continue
			}
			// Truncations and damage of the first volume of each bundle.
			cuts := []int64{0, 100, format.BlockSize, format.BlockSize + 30, trailer, int64(len(data)) - 1}
			for _, m := range members {
				cuts = append(cuts, m.HdrOff, m.DataOff+m.Size/2, m.End())
			}
			for _, c := range cuts {
				f.Add(data[:c])
			}
			for _, m := range members {
				b := bytes.Clone(data)
				b[m.DataOff+m.Size/2] ^= 1
				f.Add(b)
			}
			f.Add(append(bytes.Clone(data), 0))
		}
	}
	first := mustRead(f, volumeFiles(f, fuzzBundles(f)[0])[0])
	f.Fuzz(func(t *testing.T, data []byte) {
		// The input read after a volume of a bundle by a reader that lets
		// a bundle.json go and knows it again by its digest: whatever
		// comes, it decides as a reader without memory does, below.
		cache := &format.HeaderReader{KeepIndexUpTo: 1}
		if _, err := cache.ReadAt(bytes.NewReader(first), int64(len(first)), "first.tar"); err != nil {
			t.Fatal(err)
		}
		hc, errc := cache.ReadAt(bytes.NewReader(data), int64(len(data)), "fuzz.tar")
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		defer func() {
			runtime.ReadMemStats(&m1)
			if got, limit := m1.TotalAlloc-m0.TotalAlloc, volumeReadLimit(len(data)); got > limit {
				t.Errorf("reading a %d-byte input allocated %d bytes, more than %d", len(data), got, limit)
			}
		}()
		r := bytes.NewReader(data)
		h, err := format.ReadVolumeHeader(r, "fuzz.tar")
		if (err == nil) != (errc == nil) || err == nil && (hc.Number != h.Number || hc.IndexContent() != h.IndexContent()) {
			t.Fatalf("after another volume, read as %v (%v), alone as %v", hc, errc, err)
		}
		if err != nil {
			if h != nil || !typedVolumeError(err) {
				t.Fatalf("ReadVolumeHeader: header %v, untyped error %v (%T)", h != nil, err, err)
			}
			return
		}
		if h.Index == nil || h.Number < 1 || h.Number > h.Total() || (h.Index.Signer != nil) != (h.Signature != nil) {
			t.Fatalf("ReadVolumeHeader returned an inconsistent header: %+v", h)
		}
		body := format.NewBodyReader(r, h.Body(), nil)
		for {
			_, ok, err := body.Next()
			if err != nil {
				if !typedVolumeError(err) {
					t.Fatalf("Next: untyped error %v (%T)", err, err)
				}
				return
			}
			if !ok {
				break
			}
			if _, err := io.Copy(io.Discard, body); err != nil {
				if !typedVolumeError(err) {
					t.Fatalf("member data: untyped error %v (%T)", err, err)
				}
				return
			}
			if err := body.End(); err != nil {
				if !typedVolumeError(err) {
					t.Fatalf("End: untyped error %v (%T)", err, err)
				}
				return
			}
		}
		if err := body.Close(); err != nil {
			if !typedVolumeError(err) {
				t.Fatalf("Close: untyped error %v (%T)", err, err)
			}
			return
		}
		if int64(len(data)) != h.Size() {
			t.Fatalf("a %d-byte input read clean as a volume of %d bytes", len(data), h.Size())
		}
	})
}
