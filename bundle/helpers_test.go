package bundle

// Shared test helpers: packing, hashing trees, and surgery on volumes.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"

	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// exampleLayout is the checked-in OCI layout (testdata/README.md).
const exampleLayout = "../testdata/example-layout"

// testCreated is the creation time the helpers pack with unless told
// otherwise, so that packs are reproducible.
var testCreated = time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)

var (
	sharedSignerOnce sync.Once
	sharedSigner     *sign.KeySigner
	sharedSignerErr  error
)

// testSigner returns a key shared by every test of the package (generated
// once per test binary; by fastKey under -short: these tests sign and
// verify, the encrypted format's scrypt is sign's to test).
func testSigner(t testing.TB) *sign.KeySigner {
	t.Helper()
	sharedSignerOnce.Do(func() {
		if testing.Short() {
			sharedSigner, _ = fastKey(t, false)
			return
		}
		priv, _, err := sign.GenerateKey(sign.ECDSAP256, nil)
		if err != nil {
			sharedSignerErr = err
			return
		}
		sharedSigner, sharedSignerErr = sign.LoadSigner(priv, nil)
	})
	if sharedSignerErr != nil {
		t.Fatalf("test key: %v", sharedSignerErr)
	}
	return sharedSigner
}

// newSigner returns a fresh key of type typ ("" for the default). -short
// makes it with fastKey: the encrypted format's scrypt is sign's to test,
// and these tests want only another key.
func newSigner(t testing.TB, typ sign.KeyType) *sign.KeySigner {
	t.Helper()
	if testing.Short() && (typ == "" || typ == sign.ECDSAP256 || typ == sign.Ed25519) {
		s, _ := fastKey(t, typ == sign.Ed25519)
		return s
	}
	priv, _, err := sign.GenerateKey(typ, nil)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	s, err := sign.LoadSigner(priv, nil)
	if err != nil {
		t.Fatalf("load key: %v", err)
	}
	return s
}

// layoutSource opens the OCI layout at path as a pack source (all tags, or
// only tag).
func layoutSource(t testing.TB, path, tag string) Source {
	t.Helper()
	l, err := oci.Open(path)
	if err != nil {
		t.Fatalf("open layout: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return &LayoutSource{Layout: l, Tag: tag}
}

// packLayout packs testdata/example-layout with opts into a new temporary
// directory and returns it with the index. A zero opts.Created becomes
// testCreated.
func packLayout(t testing.TB, opts PackOptions) (dir string, idx *format.Index) {
	t.Helper()
	return packSources(t, []Source{layoutSource(t, exampleLayout, "")}, opts)
}

// packSources packs sources with opts into a new temporary directory.
func packSources(t testing.TB, sources []Source, opts PackOptions) (dir string, idx *format.Index) {
	t.Helper()
	if opts.Created.IsZero() {
		opts.Created = testCreated
	}
	if opts.Packer == "" {
		opts.Packer = "bundle-test"
	}
	dir = t.TempDir()
	x, err := Pack(context.Background(), sources, &DirSink{Dir: dir}, opts)
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return dir, x
}

// volumeFiles lists the volume files of dir in volume order.
func volumeFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "vol-*-of-*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// copyDir copies the regular files and directories of src into dst.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("copyDir: %s is not a regular file", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// copyBundle copies the bundle in dir to a new temporary directory, so a
// test can damage it without touching the original.
func copyBundle(t testing.TB, dir string) string {
	t.Helper()
	out := t.TempDir()
	copyDir(t, dir, out)
	return out
}

// newDest makes an existing OCI layout (distinct content from the example
// layout, so an unpack has blobs to write) at path, or in a new temporary
// directory when path is "".
func newDest(t testing.TB, path string) string {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "dest")
	}
	if _, err := testlayout.Build(path, testlayout.Options{Seed: 42, LayerSize: 1024}); err != nil {
		t.Fatalf("build destination layout: %v", err)
	}
	return path
}

// treeHash describes every entry under dir by its slash-separated relative
// path: "file:<sha256>" for regular files, "dir", "symlink:<target>" or
// "other:<mode>".
func treeHash(t testing.TB, dir string) map[string]string {
	t.Helper()
	out, err := treeHashErr(dir)
	if err != nil {
		t.Fatalf("hash tree %s: %v", dir, err)
	}
	return out
}

func treeHashErr(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink:" + target
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = "file:" + hex.EncodeToString(sum[:])
		default:
			out[rel] = "other:" + d.Type().String()
		}
		return nil
	})
	return out, err
}

var verifiedBlobPath = regexp.MustCompile(`^blobs/sha256/([0-9a-f]{64})$`)

// assertUntouched checks dest against a treeHash taken before a failed
// operation: every entry is as it was (index.json first of all), and the
// only new entries are blob files whose content hashes to their name. No
// temporary file may be left.
func assertUntouched(t testing.TB, dest string, before map[string]string) {
	t.Helper()
	after := treeHash(t, dest)
	if before[oci.IndexFile] != after[oci.IndexFile] {
		t.Errorf("%s/index.json changed: %q before, %q after", dest, before[oci.IndexFile], after[oci.IndexFile])
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s/%s changed: %q before, %q after", dest, k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; ok {
			continue
		}
		m := verifiedBlobPath.FindStringSubmatch(k)
		switch {
		case strings.Contains(k, ".tmp-"):
			t.Errorf("temporary file %s/%s left behind", dest, k)
		case m == nil:
			t.Errorf("new entry %s/%s (%s) is not a blob", dest, k, v)
		case v != "file:"+m[1]:
			t.Errorf("new blob %s/%s does not hash to its name (%s)", dest, k, v)
		}
	}
}

// memSource is a pack Source over blobs held in memory.
type memSource struct {
	name  string
	blobs map[digest.Digest][]byte
	roots []ocispec.Descriptor
}

func newMemSource(name string) *memSource {
	return &memSource{name: name, blobs: map[digest.Digest][]byte{}}
}

// add stores data and returns its descriptor.
func (s *memSource) add(mediaType string, data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	s.blobs[d] = data
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// addImage stores a single-platform image with the given layers and makes
// it a root tagged ref.
func (s *memSource) addImage(t testing.TB, ref string, layers ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	cfg, err := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    s.add(ocispec.MediaTypeImageConfig, cfg),
		Layers:    layers,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := s.add(ocispec.MediaTypeImageManifest, m)
	d.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	s.roots = append(s.roots, d)
	return d
}

func (s *memSource) String() string { return "mem:" + s.name }

func (s *memSource) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: no blob %s: %w", s, d.Digest, oci.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memSource) Roots(context.Context) ([]ocispec.Descriptor, error) { return s.roots, nil }

func (s *memSource) Referrers(context.Context, digest.Digest) ([]ocispec.Descriptor, error) {
	return nil, nil
}

// tarMember is one member found by scanVolume.
type tarMember struct {
	Name    string
	HdrOff  int64 // offset of the header block
	DataOff int64
	Size    int64
}

// End is the offset after the member's padding.
func (m tarMember) End() int64 {
	return m.DataOff + (m.Size+format.BlockSize-1)/format.BlockSize*format.BlockSize
}

// scanVolume lists the members of a well-formed volume and the offset of
// its trailer.
func scanVolume(t testing.TB, data []byte) (members []tarMember, trailer int64) {
	t.Helper()
	var off int64
	for {
		if off+format.BlockSize > int64(len(data)) {
			t.Fatalf("scan volume: no trailer")
		}
		h := data[off : off+format.BlockSize]
		if bytes.Equal(h, format.Zeros(format.BlockSize)) {
			return members, off
		}
		name, size, err := format.ParseTarHeader(h)
		if err != nil {
			t.Fatalf("scan volume at %d: %v", off, err)
		}
		m := tarMember{Name: name, HdrOff: off, DataOff: off + format.BlockSize, Size: size}
		members = append(members, m)
		off = m.End()
	}
}

// findMember returns the member named name.
func findMember(t testing.TB, members []tarMember, name string) tarMember {
	t.Helper()
	for _, m := range members {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no member %s", name)
	return tarMember{}
}

// setTarChecksum fills the checksum field of a ustar header as tar does.
func setTarChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h[:format.BlockSize] {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// mustRead reads a file.
func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustWrite writes a file.
func mustWrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// xorByte flips the bits of mask in the byte at off of the file at path.
func xorByte(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	b := mustRead(t, path)
	if off < 0 || off >= int64(len(b)) {
		t.Fatalf("xorByte: offset %d outside %s (%d bytes)", off, path, len(b))
	}
	b[off] ^= mask
	mustWrite(t, path, b)
}

// packedBundle is the content of a bundle read back from its volumes.
type packedBundle struct {
	Index       *format.Index
	LayoutIndex []byte
	// Stored holds each blob's stored bytes (its placements joined).
	Stored map[digest.Digest][]byte
}

// readBundle reads the index and every blob's stored bytes back from the
// well-formed volumes in dir.
func readBundle(t testing.TB, dir string) *packedBundle {
	t.Helper()
	vols := map[int][]byte{}
	var pb *packedBundle
	for _, p := range volumeFiles(t, dir) {
		data := mustRead(t, p)
		h, err := format.ReadVolumeHeader(bytes.NewReader(data), p)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		vols[h.Number] = data
		if pb == nil {
			pb = &packedBundle{Index: h.Index, LayoutIndex: h.LayoutIndex, Stored: map[digest.Digest][]byte{}}
		}
	}
	if pb == nil {
		t.Fatalf("no volume in %s", dir)
	}
	for _, b := range pb.Index.Blobs {
		var stored []byte
		for _, p := range b.Placements {
			stored = append(stored, vols[p.Volume][p.Offset:p.Offset+p.Length]...)
		}
		pb.Stored[b.Digest] = stored
	}
	return pb
}

// writeBundle writes the volumes of a crafted bundle into a new temporary
// directory: x is laid out again (plan) for the stored bytes given, its
// segment digests computed, and it is signed by signer (nil: unsigned).
// Sizes, encodings and digests of blobs are taken as they are in x, so a
// test can make them lie; the result must still pass ParseIndex.
func writeBundle(t testing.TB, x *format.Index, layoutIndex []byte, stored map[digest.Digest][]byte, signer *sign.KeySigner) (dir string, idx *format.Index, indexBytes []byte) {
	t.Helper()
	x.Signer = nil
	if signer != nil {
		x.Signer = &format.Signer{KeyID: signer.KeyID(), Algorithm: signer.Algorithm()}
	}
	x.LayoutIndex = format.Content{Digest: digest.FromBytes(layoutIndex), Size: int64(len(layoutIndex))}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base != "" {
			continue
		}
		s, ok := stored[b.Digest]
		if !ok {
			t.Fatalf("writeBundle: no stored bytes for %s", b.Digest)
		}
		b.StoredSize, b.StoredDigest = int64(len(s)), digest.FromBytes(s)
		if b.Encoding == format.CompressionNone {
			// The format wants them equal; a test that changes the bytes
			// makes the blob lie about its content.
			b.StoredDigest = b.Digest
		}
		b.Placements = nil
	}
	if err := format.Plan(x, x.MaxVolumeSize); err != nil {
		t.Fatalf("writeBundle: plan: %v", err)
	}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		var off int64
		for j := range b.Placements {
			p := &b.Placements[j]
			p.Digest = digest.FromBytes(stored[b.Digest][off : off+p.Length])
			off += p.Length
		}
	}
	indexBytes, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	idx, err = format.ParseIndex(indexBytes)
	if err != nil {
		t.Fatalf("writeBundle: crafted index does not parse: %v", err)
	}
	var sig []byte
	if signer != nil {
		if sig, err = signer.Sign(context.Background(), indexBytes); err != nil {
			t.Fatal(err)
		}
	}
	dir = t.TempDir()
	mtime := x.Mtime()
	total := len(x.Volumes)
	for _, v := range x.Volumes {
		var buf bytes.Buffer
		members := []struct {
			name string
			data []byte
		}{{format.MemberLayout, []byte(format.OCILayoutFile)}, {format.MemberOCIIndex, layoutIndex}, {format.MemberIndex, indexBytes}}
		if sig != nil {
			members = append(members, struct {
				name string
				data []byte
			}{format.MemberSignature, sig})
		}
		members = append(members, struct {
			name string
			data []byte
		}{format.MemberVolume, format.VolumeMarker(x.BundleID, v.Number, total)})
		for _, m := range members {
			if err := format.WriteMember(&buf, m.name, m.data, mtime); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range idx.Members(v.Number) {
			p := m.Placement()
			if int64(buf.Len()) != p.Offset-format.BlockSize {
				t.Fatalf("writeBundle: volume %d at %d, member planned at %d", v.Number, buf.Len(), p.Offset-format.BlockSize)
			}
			var start int64
			for k := 0; k < m.Part; k++ {
				start += m.Blob.Placements[k].Length
			}
			if err := format.WriteMember(&buf, format.MemberName(m.Blob, m.Part), stored[m.Blob.Digest][start:start+p.Length], mtime); err != nil {
				t.Fatal(err)
			}
		}
		buf.Write(format.Zeros(2 * format.BlockSize))
		if int64(buf.Len()) != v.Size {
			t.Fatalf("writeBundle: volume %d is %d bytes, planned %d", v.Number, buf.Len(), v.Size)
		}
		mustWrite(t, filepath.Join(dir, format.VolumeFileName(v.Number, total)), buf.Bytes())
	}
	return dir, idx, indexBytes
}

// verifyOpts is what the tests give verifyFiles: a trust policy and the
// options of Set.Verify.
type verifyOpts struct {
	Key           *sign.Verifier
	AllowUnsigned bool
	Partial       bool
	Workers       int
	Progress      func(Progress)
}

// verifyFiles opens the volumes in paths, trusts them as o says and
// verifies them: what bundle verify does.
func verifyFiles(ctx context.Context, paths []string, o verifyOpts) (*Report, error) {
	return verifyFilesChunked(ctx, paths, o, 0)
}

// verifyFilesChunked is verifyFiles with ranges of about chunk bytes.
func verifyFilesChunked(ctx context.Context, paths []string, o verifyOpts, chunk int64) (*Report, error) {
	s, err := OpenFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	if err := s.Trust(TrustPolicy{Key: o.Key, AllowUnsigned: o.AllowUnsigned}); err != nil {
		return &Report{Set: s, Missing: s.Missing()}, err
	}
	return s.verify(ctx, VerifyOptions{Partial: o.Partial, Workers: o.Workers, Progress: o.Progress}, chunk)
}

// unpackOpts is what the tests give unpackFiles: a trust policy and the
// options of Set.Unpack.
type unpackOpts struct {
	Key           *sign.Verifier
	AllowUnsigned bool
	Progress      func(Progress)
	Notice        func(string)
	VerifyBase    bool
}

// unpackFiles opens the volumes in paths, trusts them as o says and
// unpacks them into the layout at dest: what bundle unpack does.
func unpackFiles(ctx context.Context, paths []string, dest string, o unpackOpts) (*format.Index, error) {
	s, err := OpenFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	if err := s.Trust(TrustPolicy{Key: o.Key, AllowUnsigned: o.AllowUnsigned}); err != nil {
		return nil, err
	}
	d, err := ParseLayoutDestination(dest, LayoutOptions{VerifyBase: o.VerifyBase})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	res, err := s.Unpack(ctx, d, UnpackOptions{Progress: o.Progress, Notice: o.Notice})
	if err != nil {
		return nil, err
	}
	return res.Index, nil
}

// inspectFiles summarises the bundle in paths, checking its signature
// with key when given: what bundle inspect does.
func inspectFiles(ctx context.Context, paths []string, key *sign.Verifier) (*Summary, error) {
	s, err := OpenFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	if key != nil && s.Signature != nil {
		if err := s.Trust(TrustPolicy{Key: key}); err != nil {
			return s.Summary(), err
		}
	}
	return s.Summary(), errors.Join(s.Problems...)
}

// inventoryAt takes the inventory of the destination at loc (oci:PATH or
// docker://MIRROR[/PREFIX]), as bundle inventory --to does.
func inventoryAt(loc string, o InventoryOptions) (*Inventory, error) {
	l, err := location.ParseDestination(loc)
	if err != nil {
		return nil, err
	}
	var d Destination = NewRegistryDestination(o.Registries, l.Mapping(), RegistryDestinationOptions{})
	if l.Transport == location.Layout {
		ld := NewLayoutDestination(l.Path, LayoutOptions{Tag: l.Ref})
		defer ld.Close()
		d = ld
	}
	return TakeInventory(context.Background(), d, o)
}
