// Command vectorgen writes the conformance test vectors of SPEC.md
// section 17 into testdata/vectors: small volume sets and bundle.json
// files, each with the verdict a conforming reader must give, listed in
// vectors.json.
//
//	go run ./internal/vectorgen [-out testdata/vectors] [-versions 1,2]
//
// The version 2 vectors go into OUT/v2, with a vectors.json of their own.
// -versions 2 writes only those, leaving the version 1 vectors (and their
// signature bytes) as they are.
//
// Bundles are packed with bundle.Pack from content made up here, with fixed
// creation times, then damaged byte by byte. The signing key pair is read
// from OUT/keys (generated there the first time), so the vectors keep
// verifying with the public key checked in beside them. ECDSA signatures
// are randomized: a new run rewrites every signed volume with other
// signature bytes (and nothing else).
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Vector is one entry of vectors.json.
type Vector struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Kind is "volumes" (files are volume files, given to a reader as a
	// set) or "index" (one bundle.json, checked as in SPEC.md 6).
	Kind  string   `json:"kind"`
	Files []string `json:"files"`
	// Key is the public key to verify with; empty: none given.
	Key           string `json:"key,omitempty"`
	AllowUnsigned bool   `json:"allowUnsigned"`
	// Partial: the reader is told to check a partial set (volumes may be
	// missing: those given are verified). Absent (false) in every version
	// 1 vector.
	Partial bool `json:"partial,omitempty"`
	// Verdict is "valid" or "invalid"; Class the error class of an
	// invalid one (README.md).
	Verdict string `json:"verdict"`
	Class   string `json:"class,omitempty"`
}

// Manifest is vectors.json.
type Manifest struct {
	Format  string   `json:"format"`
	Vectors []Vector `json:"vectors"`
}

func main() {
	out := flag.String("out", "testdata/vectors", "directory to write the vectors into")
	versions := flag.String("versions", "1,2", "format versions to write the vectors of: 1, 2 or 1,2 (version 2's into OUT/v2)")
	flag.Parse()
	var v1, v2 bool
	for _, v := range strings.Split(*versions, ",") {
		switch strings.TrimSpace(v) {
		case "1":
			v1 = true
		case "2":
			v2 = true
		default:
			fmt.Fprintf(os.Stderr, "vectorgen: -versions %q: want 1, 2 or 1,2\n", *versions)
			os.Exit(2)
		}
	}
	if err := run(context.Background(), *out, v1, v2); err != nil {
		fmt.Fprintln(os.Stderr, "vectorgen:", err)
		os.Exit(1)
	}
}

const blockSize = 512

var (
	older = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	newer = time.Date(2024, time.March, 1, 12, 0, 0, 0, time.UTC)
)

type gen struct {
	ctx     context.Context
	out     string
	signer  *sign.KeySigner
	vectors []Vector
}

func run(ctx context.Context, out string, v1, v2 bool) error {
	signer, err := loadKeys(filepath.Join(out, "keys"))
	if err != nil {
		return err
	}
	if v1 {
		// Start from an empty tree but the keys, the README and the
		// version 2 vectors.
		if err := clean(out, "keys", "README.md", "v2"); err != nil {
			return err
		}
		g := &gen{ctx: ctx, out: out, signer: signer}
		if err := g.all(); err != nil {
			return err
		}
	}
	if v2 {
		dir := filepath.Join(out, "v2")
		if err := clean(dir, "README.md"); err != nil {
			return err
		}
		g := &gen{ctx: ctx, out: dir, signer: signer}
		if err := g.allV2(); err != nil {
			return err
		}
		return g.manifest("airgap-bundle conformance vectors, format version 2")
	}
	return nil
}

// clean removes everything in dir but the entries named keep.
func clean(dir string, keep ...string) error {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// manifest writes vectors.json.
func (g *gen) manifest(name string) error {
	m, err := json.MarshalIndent(Manifest{Format: name, Vectors: g.vectors}, "", "  ")
	if err != nil {
		return err
	}
	_, err = g.write("vectors.json", append(m, '\n'))
	return err
}

// loadKeys reads dir/signing.key, or makes it (an unencrypted PKCS#8 ECDSA
// P-256 key, so that no password is needed) with signing.pub and
// other.pub, the public half of a key that signs nothing here.
func loadKeys(dir string) (*sign.KeySigner, error) {
	keyPath := filepath.Join(dir, "signing.key")
	if b, err := os.ReadFile(keyPath); err == nil {
		return sign.LoadSigner(b, nil)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var signer *sign.KeySigner
	for i, name := range []string{"signing", "other"} {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})
			if err := os.WriteFile(keyPath, privPEM, 0o644); err != nil {
				return nil, err
			}
			if signer, err = sign.LoadSigner(privPEM, nil); err != nil {
				return nil, err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name+".pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return nil, err
		}
	}
	return signer, nil
}

// memSource serves content made up here.
type memSource struct {
	blobs map[digest.Digest][]byte
	roots []ocispec.Descriptor
}

func (s *memSource) add(mediaType string, data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	s.blobs[d] = data
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (s *memSource) String() string { return "vectorgen" }

func (s *memSource) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("no blob %s: %w", d.Digest, oci.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memSource) Roots(context.Context) ([]ocispec.Descriptor, error) { return s.roots, nil }

func (s *memSource) Referrers(context.Context, digest.Digest) ([]ocispec.Descriptor, error) {
	return nil, nil
}

// image makes a source holding one image tagged ref with the given layers.
func image(ref string, layers map[string][]byte, order ...string) *memSource {
	s := &memSource{blobs: map[digest.Digest][]byte{}}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}})
	var descs []ocispec.Descriptor
	for _, mt := range order {
		descs = append(descs, s.add(mt, layers[mt]))
	}
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    s.add(ocispec.MediaTypeImageConfig, cfg),
		Layers:    descs,
	})
	d := s.add(ocispec.MediaTypeImageManifest, m)
	d.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	s.roots = append(s.roots, d)
	return s
}

// noise is n bytes that do not compress, the same on every run.
func noise(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// pack packs src and returns the index and the volume files' bytes.
func (g *gen) pack(src *memSource, o bundle.PackOptions) (*format.Index, [][]byte, error) {
	o.Packer = "vectorgen"
	dir, err := os.MkdirTemp("", "vectorgen-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	x, err := bundle.Pack(g.ctx, []bundle.Source{src}, &bundle.DirSink{Dir: dir}, o)
	if err != nil {
		return nil, nil, err
	}
	var vols [][]byte
	for _, v := range x.Volumes {
		b, err := os.ReadFile(filepath.Join(dir, format.VolumeFileName(v.Number, len(x.Volumes))))
		if err != nil {
			return nil, nil, err
		}
		vols = append(vols, b)
	}
	return x, vols, nil
}

// write stores data as OUT/name and returns name.
func (g *gen) write(name string, data []byte) (string, error) {
	p := filepath.Join(g.out, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return name, os.WriteFile(p, data, 0o644)
}

func (g *gen) add(v Vector) { g.vectors = append(g.vectors, v) }

// member is one tar member of a volume.
type member struct {
	name          string
	hdr, data, sz int64
}

// members lists the members of a volume up to the trailer.
func members(vol []byte) ([]member, error) {
	var out []member
	for off := int64(0); off+blockSize <= int64(len(vol)); {
		h := vol[off : off+blockSize]
		if bytes.Equal(h, make([]byte, blockSize)) {
			return out, nil
		}
		size, err := strconv.ParseInt(strings.TrimRight(string(h[124:135]), "\x00"), 8, 64)
		if err != nil {
			return nil, err
		}
		name := strings.TrimRight(string(h[:100]), "\x00")
		out = append(out, member{name: name, hdr: off, data: off + blockSize, sz: size})
		off += blockSize + (size+blockSize-1)/blockSize*blockSize
	}
	return nil, errors.New("no trailer")
}

func find(vol []byte, name string) (member, error) {
	ms, err := members(vol)
	if err != nil {
		return member{}, err
	}
	for _, m := range ms {
		if m.name == name || (strings.HasSuffix(name, "*") && strings.HasPrefix(m.name, strings.TrimSuffix(name, "*"))) {
			return m, nil
		}
	}
	return member{}, fmt.Errorf("no member %s", name)
}

// setChecksum recomputes the checksum of a tar header (SPEC.md 4.4).
func setChecksum(h []byte) {
	copy(h[148:156], "        ")
	var s int
	for _, c := range h {
		s += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", s))
}

func clone(b []byte) []byte { return bytes.Clone(b) }

func (g *gen) all() error {
	// 1. One unsigned volume, older than the others (the foreign volume of
	// a later vector).
	small := image("vectors/small:1", map[string][]byte{ocispec.MediaTypeImageLayerGzip: noise(1, 700)}, ocispec.MediaTypeImageLayerGzip)
	ux, uvols, err := g.pack(small, bundle.PackOptions{Created: older})
	if err != nil {
		return err
	}
	unsigned, err := g.write("valid-unsigned-1vol/vol-0001-of-0001.tar", uvols[0])
	if err != nil {
		return err
	}
	g.add(Vector{Name: "valid-unsigned-1vol", Description: "an unsigned bundle of one volume, read with unsigned bundles allowed",
		Kind: "volumes", Files: []string{unsigned}, AllowUnsigned: true, Verdict: "valid"})
	g.add(Vector{Name: "unsigned-not-allowed", Description: "the same unsigned bundle, with a key given and unsigned bundles not allowed",
		Kind: "volumes", Files: []string{unsigned}, Key: "keys/signing.pub", Verdict: "invalid", Class: "unsigned"})

	// 2. Signed, two volumes, the layer split across them.
	split := image("vectors/split:1", map[string][]byte{ocispec.MediaTypeImageLayerGzip: noise(2, 3000)}, ocispec.MediaTypeImageLayerGzip)
	var sx *format.Index
	var svols [][]byte
	for size := int64(8 << 10); size < 64<<10 && sx == nil; size += blockSize {
		x, vols, err := g.pack(split, bundle.PackOptions{Created: newer, Signer: g.signer, MaxVolumeSize: size})
		if err != nil || len(x.Volumes) != 2 {
			continue
		}
		for _, b := range x.Blobs {
			if len(b.Placements) == 2 {
				sx, svols = x, vols
			}
		}
	}
	if sx == nil {
		return errors.New("found no volume size that splits the layer across two volumes")
	}
	s1, err := g.write("valid-signed-2vol/vol-0001-of-0002.tar", svols[0])
	if err != nil {
		return err
	}
	s2, err := g.write("valid-signed-2vol/vol-0002-of-0002.tar", svols[1])
	if err != nil {
		return err
	}
	g.add(Vector{Name: "valid-signed-2vol", Description: "a signed bundle of two volumes; the layer is split across them (.part0001, .part0002)",
		Kind: "volumes", Files: []string{s1, s2}, Key: "keys/signing.pub", Verdict: "valid"})
	g.add(Vector{Name: "wrong-key", Description: "the signed two-volume bundle checked with another key",
		Kind: "volumes", Files: []string{s1, s2}, Key: "keys/other.pub", Verdict: "invalid", Class: "wrong-key"})
	g.add(Vector{Name: "missing-volume", Description: "volume 1 of the two-volume bundle alone",
		Kind: "volumes", Files: []string{s1}, Key: "keys/signing.pub", Verdict: "invalid", Class: "missing-volume"})
	dup, err := g.write("duplicate-volume/copy-of-vol-0001.tar", svols[0])
	if err != nil {
		return err
	}
	g.add(Vector{Name: "duplicate-volume", Description: "the two-volume bundle with volume 1 given twice, as two files",
		Kind: "volumes", Files: []string{s1, dup, s2}, Key: "keys/signing.pub", Verdict: "invalid", Class: "duplicate-volume"})
	g.add(Vector{Name: "foreign-volume", Description: "the two-volume bundle and the volume of an older bundle (stale)",
		Kind: "volumes", Files: []string{s1, s2, unsigned}, Key: "keys/signing.pub", Verdict: "invalid", Class: "foreign-volume"})

	// The same bundle packed again: the same bundle.json, another ECDSA
	// signature. Volumes of both packs make a valid set (SPEC.md 11.3).
	_, again, err := g.pack(split, bundle.PackOptions{Created: newer, Signer: g.signer, MaxVolumeSize: sx.MaxVolumeSize})
	if err != nil {
		return err
	}
	m1, err := find(svols[1], format.MemberSignature)
	if err != nil {
		return err
	}
	m2, err := find(again[1], format.MemberSignature)
	if err != nil {
		return err
	}
	if !bytes.Equal(svols[1][:m1.data], again[1][:m2.data]) || bytes.Equal(svols[1], again[1]) {
		return errors.New("packing again did not give the same volume with another signature")
	}
	mixed, err := g.write("valid-mixed-signatures/vol-0002-of-0002.tar", again[1])
	if err != nil {
		return err
	}
	g.add(Vector{Name: "valid-mixed-signatures", Description: "volume 1 of the two-volume bundle with volume 2 of the same bundle packed again: same bundle.json, another (good) ECDSA signature",
		Kind: "volumes", Files: []string{s1, mixed}, Key: "keys/signing.pub", Verdict: "valid"})
	badSig := clone(again[1])
	badSig[m2.data+m2.sz-1] ^= 0x01
	bad, err := g.write("bad-signature/vol-0002-of-0002.tar", badSig)
	if err != nil {
		return err
	}
	g.add(Vector{Name: "bad-signature", Description: "volume 1 of the two-volume bundle, and volume 2 whose signature has its last byte changed: every distinct signature must verify",
		Kind: "volumes", Files: []string{s1, bad}, Key: "keys/signing.pub", Verdict: "invalid", Class: "bad-signature"})

	// 3. A zstd-encoded blob, signed.
	text := []byte(strings.Repeat("usr/share/doc/vectors/README: air gap conformance vector\n", 60))
	zsrc := image("vectors/zstd:1", map[string][]byte{ocispec.MediaTypeImageLayer: text}, ocispec.MediaTypeImageLayer)
	zx, zvols, err := g.pack(zsrc, bundle.PackOptions{Created: newer, Signer: g.signer, Compression: format.CompressionZstd})
	if err != nil {
		return err
	}
	encoded := false
	for _, b := range zx.Blobs {
		encoded = encoded || b.Encoding == format.CompressionZstd
	}
	if !encoded {
		return errors.New("no blob of the zstd bundle is zstd-encoded")
	}
	z, err := g.write("valid-zstd/vol-0001-of-0001.tar", zvols[0])
	if err != nil {
		return err
	}
	g.add(Vector{Name: "valid-zstd", Description: "a signed bundle of one volume whose layer is stored zstd-encoded (a .zst member)",
		Kind: "volumes", Files: []string{z}, Key: "keys/signing.pub", Verdict: "valid"})

	// 4. Damaged copies of the unsigned volume.
	vol := uvols[0]
	var layer format.Blob
	for _, b := range ux.Blobs {
		if b.MediaType == ocispec.MediaTypeImageLayerGzip {
			layer = b
		}
	}
	p := layer.Placements[0]
	damaged := []struct {
		name, desc string
		data       []byte
	}{
		{"corrupt-flipped-byte", "one bit of the layer's data flipped", func() []byte {
			b := clone(vol)
			b[p.Offset+p.Length/2] ^= 0x01
			return b
		}()},
		{"corrupt-truncated", "the volume cut in the middle of the layer's data", vol[:p.Offset+p.Length/2]},
		{"corrupt-noncanonical-header", "the layer's tar header has mode 0000664 instead of 0000644 (checksum recomputed)", func() []byte {
			b := clone(vol)
			h := b[p.Offset-blockSize : p.Offset]
			copy(h[100:108], "0000664\x00")
			setChecksum(h)
			return b
		}()},
		{"corrupt-extra-bytes", "a third zero block after the trailer (tar's usual record padding)", append(clone(vol), make([]byte, blockSize)...)},
		{"corrupt-nonzero-padding", "a non-zero byte in the padding after the layer's data", func() []byte {
			b := clone(vol)
			b[p.Offset+p.Length] = 'x'
			return b
		}()},
	}
	im, err := find(vol, format.MemberIndex)
	if err != nil {
		return err
	}
	indexBytes := vol[im.data : im.data+im.sz]
	for _, d := range []struct{ name, desc, old, new string }{
		{"corrupt-index-case-variant", `bundle.json with "FormatVersion" for "formatVersion"`, `"formatVersion"`, `"FormatVersion"`},
		{"corrupt-index-invalid-utf8", "bundle.json with the byte 0xFF in the packer string", `"packer":"vectorgen"`, "\"packer\":\"vector\xffen\""},
	} {
		if !bytes.Contains(indexBytes, []byte(d.old)) || len(d.old) != len(d.new) {
			return fmt.Errorf("%s: cannot replace %q", d.name, d.old)
		}
		b := clone(vol)
		copy(b[im.data:], bytes.Replace(indexBytes, []byte(d.old), []byte(d.new), 1))
		damaged = append(damaged, struct {
			name, desc string
			data       []byte
		}{d.name, d.desc + ", in the volume", b})
	}
	for _, d := range damaged {
		f, err := g.write(d.name+"/vol-0001-of-0001.tar", d.data)
		if err != nil {
			return err
		}
		g.add(Vector{Name: d.name, Description: "the unsigned one-volume bundle with " + d.desc,
			Kind: "volumes", Files: []string{f}, AllowUnsigned: true, Verdict: "invalid", Class: "corrupt"})
	}
	nv, err := g.write("not-a-volume/notes.txt", []byte("This file is not a bundle volume.\n"))
	if err != nil {
		return err
	}
	g.add(Vector{Name: "not-a-volume", Description: "a text file, named explicitly",
		Kind: "volumes", Files: []string{nv}, AllowUnsigned: true, Verdict: "invalid", Class: "not-a-volume"})

	// 5. bundle.json alone.
	indexVectors := []struct{ name, desc, old, new string }{
		{"index-valid", "the bundle.json of the unsigned one-volume bundle", "", ""},
		{"index-duplicate-key", `"packer" twice (first "x"); readers that keep the first or the last member would disagree`, `"packer":"vectorgen"`, `"packer":"x","packer":"vectorgen"`},
		{"index-case-variant", `"FormatVersion" for "formatVersion"`, `"formatVersion"`, `"FormatVersion"`},
		{"index-invalid-utf8", "the byte 0xFF in the packer string", `"packer":"vectorgen"`, "\"packer\":\"vector\xffen\""},
		{"index-lone-surrogate", `the escape \ud800 (a lone surrogate) in the packer string`, `"packer":"vectorgen"`, `"packer":"vec\ud800"`},
		{"index-format-version", "formatVersion 2", `"formatVersion":1`, `"formatVersion":2`},
	}
	for _, d := range indexVectors {
		b := indexBytes
		if d.old != "" {
			if !bytes.Contains(b, []byte(d.old)) {
				return fmt.Errorf("%s: %q not in bundle.json", d.name, d.old)
			}
			b = bytes.Replace(b, []byte(d.old), []byte(d.new), 1)
			// Offsets depend on the length of bundle.json in blocks: the
			// damage must be the only thing wrong.
			if (len(b)+blockSize-1)/blockSize != (len(indexBytes)+blockSize-1)/blockSize {
				return fmt.Errorf("%s: changes the block count of bundle.json", d.name)
			}
		}
		f, err := g.write(d.name+"/bundle.json", b)
		if err != nil {
			return err
		}
		v := Vector{Name: d.name, Description: d.desc, Kind: "index", Files: []string{f}, Verdict: "valid"}
		if d.old != "" {
			v.Verdict, v.Class = "invalid", "index-invalid"
		}
		g.add(v)
	}

	// 6. Signed indexes that lie about their blobs (SPEC.md 11.4): the
	// segment digests hold, the blob does not.
	if err := g.lyingBlobs(sx, svols, zx, zvols, text); err != nil {
		return err
	}

	return g.manifest("airgap-bundle conformance vectors, format version 1")
}

// resign returns vol with its bundle.json replaced by index (of the same
// length) and its signature member by a signature of index by g.signer:
// the volume of a writer that signed what it lists.
func (g *gen) resign(vol, index []byte, mtime int64) ([]byte, error) {
	b := clone(vol)
	im, err := find(b, format.MemberIndex)
	if err != nil {
		return nil, err
	}
	// Another length is fine while the member keeps its blocks: offsets
	// hold, and the header says the new size.
	var nm bytes.Buffer
	if err := format.WriteMember(&nm, format.MemberIndex, index, mtime); err != nil {
		return nil, err
	}
	if int64(nm.Len()) != format.MemberSize(im.sz) {
		return nil, fmt.Errorf("resign: bundle.json of %d bytes does not keep the %d of the volume in blocks", len(index), im.sz)
	}
	copy(b[im.hdr:], nm.Bytes())
	sm, err := find(b, format.MemberSignature)
	if err != nil {
		return nil, err
	}
	sig, err := g.signer.Sign(g.ctx, index)
	if err != nil {
		return nil, err
	}
	// Always two blocks (SPEC.md 4.6), whatever the signature's length.
	var m bytes.Buffer
	if err := format.WriteMember(&m, format.MemberSignature, sig, mtime); err != nil {
		return nil, err
	}
	if m.Len() != 2*blockSize {
		return nil, fmt.Errorf("resign: signature member of %d bytes", m.Len())
	}
	copy(b[sm.hdr:], m.Bytes())
	return b, nil
}

// replaceStored returns vols (one bundle, each volume carrying index) with
// the data of the members named by the placements of blob replaced by
// data (of the same lengths, one per placement) and the digests of those
// placements (and the stored digest, for a blob of one placement) made
// theirs, signed again.
func (g *gen) replaceStored(x *format.Index, vols [][]byte, blob format.Blob, data [][]byte) ([][]byte, error) {
	out := make([][]byte, len(vols))
	for i := range vols {
		out[i] = clone(vols[i])
	}
	im, err := find(vols[0], format.MemberIndex)
	if err != nil {
		return nil, err
	}
	index := clone(vols[0][im.data : im.data+im.sz])
	for j, p := range blob.Placements {
		if data[j] == nil {
			continue
		}
		if int64(len(data[j])) != p.Length {
			return nil, fmt.Errorf("replaceStored: %d bytes for a placement of %d", len(data[j]), p.Length)
		}
		copy(out[p.Volume-1][p.Offset:], data[j])
		d := digest.FromBytes(data[j])
		if n := bytes.Count(index, []byte(p.Digest)); n != 1 && !(len(blob.Placements) == 1 && n == 2) {
			return nil, fmt.Errorf("replaceStored: digest %s %d times in bundle.json", p.Digest, n)
		}
		index = bytes.ReplaceAll(index, []byte(p.Digest), []byte(d))
	}
	if _, err := format.ParseIndex(index); err != nil {
		return nil, fmt.Errorf("replaceStored: the edited index does not validate: %w", err)
	}
	for i := range out {
		if out[i], err = g.resign(out[i], index, x.Mtime()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lyingBlobs writes the vectors of signed bundles whose segment (member)
// digests all hold but whose blob does not: a split layer whose segments
// are not those of the blob, a zstd stream that does not decode, and one
// that decodes to other content. Only a faulty or hostile writer makes
// them; a verifier must say so (corrupt).
func (g *gen) lyingBlobs(sx *format.Index, svols [][]byte, zx *format.Index, zvols [][]byte, text []byte) error {
	var split, zst format.Blob
	for _, b := range sx.Blobs {
		if len(b.Placements) == 2 {
			split = b
		}
	}
	for _, b := range zx.Blobs {
		if b.Encoding == format.CompressionZstd && b.MediaType == ocispec.MediaTypeImageLayer {
			zst = b
		}
	}
	if split.Digest == "" || zst.Digest == "" {
		return errors.New("lyingBlobs: no split or zstd layer")
	}
	write := func(name, desc string, vols [][]byte) error {
		var files []string
		for i, v := range vols {
			f, err := g.write(fmt.Sprintf("%s/%s", name, format.VolumeFileName(i+1, len(vols))), v)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		g.add(Vector{Name: name, Description: desc, Kind: "volumes", Files: files, Key: "keys/signing.pub", Verdict: "invalid", Class: "corrupt"})
		return nil
	}

	// The second segment of the split layer replaced by other bytes, and
	// its placement digest by theirs: each member hashes to its placement,
	// the two together are not the layer.
	p2 := split.Placements[1]
	vols, err := g.replaceStored(sx, svols, split, [][]byte{nil, noise(9, int(p2.Length))})
	if err != nil {
		return err
	}
	if err := write("corrupt-split-blob-mismatch", "the signed two-volume bundle whose split layer's second segment is other bytes, its placement digest theirs (signed again): every segment matches its placement, the segments together are not the layer", vols); err != nil {
		return err
	}

	// The zstd member replaced by bytes that are no zstd stream, its
	// stored and placement digests theirs.
	p := zst.Placements[0]
	vols, err = g.replaceStored(zx, zvols, zst, [][]byte{noise(10, int(p.Length))})
	if err != nil {
		return err
	}
	if err := write("corrupt-zstd-undecodable", "the signed zstd bundle whose .zst member is not a zstd stream, its stored and placement digests those of its bytes (signed again)", vols); err != nil {
		return err
	}

	// bundle.json with a member twice, signed by the key given: the
	// signature holds, and the index is still refused (SPEC.md 6.1).
	im, err := find(zvols[0], format.MemberIndex)
	if err != nil {
		return err
	}
	zindex := zvols[0][im.data : im.data+im.sz]
	dupIndex := bytes.Replace(zindex, []byte(`"packer":"vectorgen"`), []byte(`"packer":"x","packer":"vectorgen"`), 1)
	if bytes.Equal(dupIndex, zindex) {
		return errors.New("lyingBlobs: no packer in bundle.json")
	}
	dupVol, err := g.resign(zvols[0], dupIndex, zx.Mtime())
	if err != nil {
		return err
	}
	if err := write("corrupt-index-signed-duplicate-key", `the signed zstd bundle whose bundle.json has "packer" twice (first "x"), signed again by the key given: a good signature over an index that is not strict JSON`, [][]byte{dupVol}); err != nil {
		return err
	}

	// A zstd stream of the same length that decodes, to other content of
	// the layer's size: found by changing one byte of the line the text
	// repeats until the encoder (the packer's settings) gives a stream of
	// the length stored.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		return err
	}
	line, _, _ := bytes.Cut(text, []byte("\n"))
	var other []byte
	for i := 0; i < len(line) && other == nil; i++ {
		for _, c := range []byte("!#%&*+-=@XYZ") {
			l := clone(line)
			l[i] = c
			t := bytes.Repeat(append(l, '\n'), bytes.Count(text, []byte("\n")))
			if len(t) != len(text) {
				return errors.New("lyingBlobs: the text is not one line repeated")
			}
			if e := enc.EncodeAll(t, nil); int64(len(e)) == p.Length {
				other = e
				break
			}
		}
	}
	if other == nil {
		return errors.New("lyingBlobs: no other content encodes to the stored length")
	}
	vols, err = g.replaceStored(zx, zvols, zst, [][]byte{other})
	if err != nil {
		return err
	}
	return write("corrupt-zstd-other-content", "the signed zstd bundle whose .zst member is a zstd stream of the same length that decodes to other content of the layer's size, its stored and placement digests those of the stream (signed again)", vols)
}
