package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PackOptions control Pack.
type PackOptions struct {
	// MaxVolumeSize bounds every volume file, in bytes; 0 means one volume.
	MaxVolumeSize int64
	// Platforms, when not empty, keeps only matching manifests of indexes.
	Platforms []ocispec.Platform
	// Compression is CompressionNone (default) or CompressionZstd.
	Compression string
	// Signer signs the index; nil packs an unsigned bundle. It is a
	// *sign.KeySigner (sign.LoadSignerFile) or a signer of the caller's
	// own, a KMS or hardware key (see package sign). The signature is
	// checked with Signer.Public before the volumes are committed.
	Signer sign.Signer
	// Created is the creation time recorded (SOURCE_DATE_EPOCH in the CLI);
	// zero means now.
	Created time.Time
	// Packer names the program and version that packs.
	Packer string
	// Progress, when set, is called as bytes are written.
	Progress func(Progress)
	// Notice, when set, is told of things the user should know (platforms
	// dropped, referrers added, bases used unchecked).
	Notice func(string)
	// Bases are earlier bundles (LoadBase) whose content the destination
	// has: a blob one of them lists is not carried but expected there
	// (Blob.Base), unless it is a manifest or an index. Each base is
	// listed in the index's bases, in this order, whether it supplied a
	// blob or not.
	Bases []*BaseBundle
	// Inventories are lists of what the destination holds (TakeInventory,
	// LoadInventory): used like bases, and before them, each listed in the
	// index's bases under its inventoryId.
	Inventories []*InventoryFile
}

// Progress reports the work done so far.
type Progress struct {
	Op     string // "pack", "verify", "unpack"
	Volume int    // volume being worked on
	Done   int64  // bytes done in all
	Total  int64  // bytes to do in all
}

// packBlob is a blob on its way into the bundle.
type packBlob struct {
	*Blob
	src Source
}

// Pack reads the sources, plans the volumes and writes them into sink. It
// returns the index that every volume carries.
func Pack(ctx context.Context, sources []Source, sink Sink, o PackOptions) (*Index, error) {
	if o.Compression == "" {
		o.Compression = CompressionNone
	}
	if o.Compression != CompressionNone && o.Compression != CompressionZstd {
		return nil, fmt.Errorf("compression %q: want none or zstd", o.Compression)
	}
	if o.MaxVolumeSize < 0 {
		return nil, fmt.Errorf("negative volume size")
	}
	notice := o.Notice
	if notice == nil {
		notice = func(string) {}
	}
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(time.Second)
	if created.Unix() < 0 || created.Unix() >= 1<<33 {
		return nil, fmt.Errorf("creation time %s is out of range", created)
	}
	if len(sources) == 0 {
		return nil, errors.New("nothing to pack: give at least one source")
	}

	bases, err := newBaseLookup(o.Inventories, o.Bases)
	if err != nil {
		return nil, err
	}
	for _, f := range o.Inventories {
		notice(inventoryNotice(f))
	}
	for _, b := range o.Bases {
		if !b.Verified {
			notice(fmt.Sprintf("base bundle %s (%s) is used without checking its signature (give its public key to check it)", b.Index.BundleID, b.Path))
		}
	}

	g, err := collect(ctx, sources, o.Platforms, notice, bases)
	if err != nil {
		return nil, err
	}
	if len(bases.bases) > 0 {
		var n int
		var size int64
		for _, b := range g.blobs {
			if b.Base != "" {
				n++
				size += b.Size
			}
		}
		notice(fmt.Sprintf("%d blobs (%s) are expected at the destination from the bases and not carried", n, bytesize.Format(size)))
	}
	layoutIndex, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: g.manifests,
	})
	if err != nil {
		return nil, err
	}
	if o.Compression == CompressionZstd {
		for _, b := range g.blobs {
			if b.Base != "" {
				continue
			}
			if err := chooseEncoding(ctx, b); err != nil {
				return nil, err
			}
		}
	}

	x := &Index{
		MediaType:     MediaTypeIndex,
		FormatVersion: FormatVersion,
		Created:       created.Format(time.RFC3339),
		Packer:        o.Packer,
		Bases:         bases.bases,
		Compression:   o.Compression,
		MaxVolumeSize: o.MaxVolumeSize,
		LayoutIndex:   Content{Digest: digest.FromBytes(layoutIndex), Size: int64(len(layoutIndex))},
		Manifests:     g.manifests,
		Images:        g.images,
	}
	var sigCheck *sign.Verifier
	if o.Signer != nil {
		if sigCheck, err = signerVerifier(o.Signer); err != nil {
			return nil, err
		}
		x.Signer = &Signer{KeyID: o.Signer.KeyID(), Algorithm: o.Signer.Algorithm()}
	}
	x.BundleID = bundleID(x, layoutIndex, g.blobs)
	for _, b := range g.blobs {
		x.Blobs = append(x.Blobs, *b.Blob)
	}
	if err := plan(x, o.MaxVolumeSize); err != nil {
		return nil, err
	}
	// Segment digests: a whole unencoded blob's segment is the blob itself.
	// A split blob's are found by hashing its stored bytes: into volumes
	// that are files, while writing them (each volume's header, which holds
	// the index, is written last); otherwise in a pass of their own before,
	// blobs in parallel.
	files, _ := sink.(FileSink)
	var split []int
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base != "" {
			continue
		}
		if len(b.Placements) == 1 {
			b.Placements[0].Digest = b.StoredDigest
			continue
		}
		split = append(split, i)
		for j := range b.Placements {
			b.Placements[j].Digest = placeholderDigest
		}
	}
	var indexBytes, sig []byte
	sealIndex := func() error {
		var err error
		if indexBytes, err = marshalIndex(x); err != nil {
			return err
		}
		// The rules a reader applies, on the index as built (decoding the
		// bytes again would double the memory a large index takes).
		if err := x.Validate(len(indexBytes)); err != nil {
			return fmt.Errorf("internal error: packed index does not validate: %w", err)
		}
		if o.Signer != nil {
			if sig, err = o.Signer.Sign(ctx, indexBytes); err != nil {
				return fmt.Errorf("sign bundle index: %w", err)
			}
			// A signature that does not verify would be found only on
			// the far side of the air gap.
			if err := sigCheck.Verify(indexBytes, sig); err != nil {
				return fmt.Errorf("signer %s made a signature over the bundle index that its own public key does not verify: %w", o.Signer.KeyID(), err)
			}
			if len(sig) > MaxSignatureSize {
				return fmt.Errorf("signature of %d bytes is larger than the %d the format allows; use a smaller key", len(sig), MaxSignatureSize)
			}
		}
		return nil
	}
	var indexLen int
	if files != nil {
		// Digests have a fixed length: the index's is known already.
		sizer, err := newIndexSizer(x)
		if err != nil {
			return nil, err
		}
		indexLen = sizer.size(x)
	} else {
		if err := forEachParallel(ctx, len(split), func(k int) error {
			return segmentDigests(ctx, g.blobs[split[k]].src, &x.Blobs[split[k]])
		}); err != nil {
			return nil, err
		}
		if err := sealIndex(); err != nil {
			return nil, err
		}
		indexLen = len(indexBytes)
	}

	// The writer goes through the carried blobs only: nothing of a blob
	// expected from a base is fetched.
	wx, carried := x, g.blobs
	if len(bases.bases) > 0 {
		cx := *x
		cx.Blobs, carried = nil, nil
		for i := range x.Blobs {
			if x.Blobs[i].Base == "" {
				cx.Blobs = append(cx.Blobs, x.Blobs[i])
				carried = append(carried, g.blobs[i])
			}
		}
		wx = &cx
	}
	w := &volumeWriter{ctx: ctx, x: wx, sink: sink, layoutIndex: layoutIndex, indexBytes: indexBytes, sig: sig, progress: o.Progress,
		files: files, prefixLen: x.PrefixSize(indexLen)}
	for _, v := range x.Volumes {
		w.total += v.Size
	}
	if err := sink.Begin(ctx, x); err != nil {
		sink.Abort()
		return nil, err
	}
	if err := w.writeAll(carried); err != nil {
		w.abort()
		sink.Abort()
		return nil, err
	}
	if files != nil {
		// The carried blobs' placements share their digests with x's.
		for _, k := range split {
			for _, p := range x.Blobs[k].Placements {
				if p.Digest == placeholderDigest {
					sink.Abort()
					return nil, fmt.Errorf("internal error: no digest for a segment of blob %s", x.Blobs[k].Digest)
				}
			}
		}
		err := sealIndex()
		if err == nil && len(indexBytes) != indexLen {
			err = fmt.Errorf("internal error: index of %d bytes, planned %d", len(indexBytes), indexLen)
		}
		if err == nil {
			w.indexBytes, w.sig = indexBytes, sig
			err = w.writeHeaders()
		}
		if err != nil {
			sink.Abort()
			return nil, err
		}
	}
	if err := sink.Commit(); err != nil {
		sink.Abort()
		return nil, err
	}
	return x, nil
}

// signerVerifier returns the verifier for s's public key, after checking
// that s names its key and algorithm as a reader of the bundle will.
func signerVerifier(s sign.Signer) (*sign.Verifier, error) {
	pub := s.Public()
	if pub == nil {
		return nil, fmt.Errorf("signer %s has no public key to check its signatures with", s.KeyID())
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", s.KeyID(), err)
	}
	if s.KeyID() != v.KeyID() || s.Algorithm() != v.Algorithm() {
		return nil, fmt.Errorf("signer says it is key %s (%s), but its public key is %s (%s)", s.KeyID(), s.Algorithm(), v.KeyID(), v.Algorithm())
	}
	return v, nil
}

// placeholderDigest stands for a segment digest not known yet; it has the
// length of every sha256 digest.
var placeholderDigest = digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat("0", 64))

// AttachedSource is an optional interface of a Source that keeps manifests
// under tags derived from the digest of the manifest they concern, as
// cosign stores signatures, attestations and SBOMs (sha256-<hex>.sig,
// .att, .sbom). For every manifest or index it delivered, Pack calls
// Attached and packs what it lists, with their referrers and children,
// under their ref names: each descriptor returned must carry its full
// reference as its ref name annotation (org.opencontainers.image.ref.name),
// so that unpack tags it too. RegistrySource implements it.
type AttachedSource interface {
	Source
	Attached(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error)
}

// RemoteSource is an optional interface of a Source whose every fetch
// costs a round trip, such as a registry. When Remote reports true, Pack
//   - keeps several of the source's blobs in flight ahead of the writer
//     (local sources are read one blob at a time, just ahead of it);
//   - asks the source for referrers only of the manifests it delivered
//     (a local source is asked about every manifest packed, from any
//     source: a layout may hold signatures of images fetched elsewhere);
//   - never tries to copy its blobs as files (see FileSink).
//
// RegistrySource implements it. A wrapper can forward Remote to the
// source it wraps.
type RemoteSource interface {
	Source
	Remote() bool
}

// isRemote reports whether src says it is a RemoteSource.
func isRemote(src Source) bool {
	r, ok := src.(RemoteSource)
	return ok && r.Remote()
}

// graph is what the sources hold, deduplicated.
type graph struct {
	manifests []ocispec.Descriptor
	images    []Image
	blobs     []*packBlob
}

func collect(ctx context.Context, sources []Source, platforms []ocispec.Platform, notice func(string), bases *baseLookup) (*graph, error) {
	type refOwner struct {
		digest digest.Digest
		source string
	}
	refs := map[string]refOwner{}
	byDigest := map[digest.Digest]*packBlob{}
	var meta, data []*packBlob
	children := map[digest.Digest][]digest.Digest{}
	content := map[digest.Digest][]byte{}
	seen := map[digest.Digest]bool{}
	listed := map[string]bool{} // ref + digest already in manifests
	g := &graph{}

	walkOpts := oci.WalkOptions{Platforms: platforms, Dropped: func(parent, child ocispec.Descriptor) {
		notice(fmt.Sprintf("dropped %s (%s) of index %s: platform not selected", child.Digest, orUnknown(oci.FormatPlatform(child.Platform)), parent.Digest))
	}}
	add := func(src Source, root ocispec.Descriptor) error {
		return oci.Walk(ctx, src, root, walkOpts, seen, func(d ocispec.Descriptor, c []byte) error {
			if byDigest[d.Digest] != nil {
				return nil
			}
			if err := format.CheckDigest(d.Digest); err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			b := &packBlob{Blob: &Blob{Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Encoding: CompressionNone,
				StoredSize: d.Size, StoredDigest: d.Digest}, src: src}
			byDigest[d.Digest] = b
			if c != nil {
				meta = append(meta, b)
				content[d.Digest] = c
				kids, err := oci.Children(d, c)
				if err != nil {
					return err
				}
				for _, k := range kids {
					if !oci.IsIndex(d.MediaType) || len(platforms) == 0 || oci.MatchPlatform(k.Platform, platforms) {
						children[d.Digest] = append(children[d.Digest], k.Digest)
					}
				}
			} else {
				data = append(data, b)
			}
			return nil
		})
	}
	listEntry := func(d ocispec.Descriptor) {
		key := d.Annotations[ocispec.AnnotationRefName] + "@" + d.Digest.String()
		if !listed[key] {
			listed[key] = true
			g.manifests = append(g.manifests, d)
		}
	}
	for _, src := range sources {
		roots, err := src.Roots(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range roots {
			ref := r.Annotations[ocispec.AnnotationRefName]
			if prev, ok := refs[ref]; ok && ref != "" && prev.digest != r.Digest {
				return nil, fmt.Errorf("ref name %q is %s in %s but %s in %s: pack them into separate bundles or retag one", ref, prev.digest, prev.source, r.Digest, src)
			}
			refs[ref] = refOwner{r.Digest, src.String()}
			if err := add(src, r); err != nil {
				return nil, fmt.Errorf("%s: %w", src, err)
			}
			listEntry(r)
		}
	}
	// Referrers of anything packed travel along, and their referrers too;
	// so do signatures tagged after a manifest's digest (cosign). A
	// registry source is asked only about what it delivered: asking every
	// repository about every manifest would cost a round trip each.
	for done := 0; done < len(meta); done++ {
		d := meta[done].Digest
		owner := meta[done].src
		if a, ok := owner.(AttachedSource); ok {
			tagged, err := a.Attached(ctx, d)
			if err != nil {
				return nil, err
			}
			for _, r := range tagged {
				ref := r.Annotations[ocispec.AnnotationRefName]
				if prev, ok := refs[ref]; ok && prev.digest != r.Digest {
					return nil, fmt.Errorf("ref name %q is %s in %s but %s in %s: pack them into separate bundles", ref, prev.digest, prev.source, r.Digest, owner)
				}
				refs[ref] = refOwner{r.Digest, owner.String()}
				if byDigest[r.Digest] == nil {
					notice(fmt.Sprintf("added %s (%s), tagged after %s", ref, r.Digest, d))
				}
				if err := add(owner, r); err != nil {
					return nil, fmt.Errorf("%s: %w", owner, err)
				}
				listEntry(r)
			}
		}
		for _, src := range sources {
			if isRemote(src) && src != owner {
				continue
			}
			rs, err := src.Referrers(ctx, d)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				r.Annotations = withoutRefName(r.Annotations)
				if byDigest[r.Digest] == nil {
					notice(fmt.Sprintf("added referrer %s (%s) of %s from %s", r.Digest, orUnknown(r.ArtifactType), d, src))
				}
				if err := add(src, r); err != nil {
					return nil, fmt.Errorf("%s: %w", src, err)
				}
				listEntry(r)
			}
		}
	}
	g.blobs = append(meta, data...)
	// What a base put at the destination is not carried, and not fetched.
	for _, b := range g.blobs {
		if id := bases.of(b.Digest, b.Size, b.MediaType); id != "" {
			b.Base = id
			b.Encoding, b.StoredSize, b.StoredDigest = CompressionNone, b.Size, b.Digest
		}
	}

	// Summaries for inspect.
	for _, m := range g.manifests {
		img := Image{Ref: m.Annotations[ocispec.AnnotationRefName], Digest: m.Digest, MediaType: m.MediaType}
		if s := oci.Subject(content[m.Digest]); s != nil {
			img.Subject = s.Digest
		}
		counted := map[digest.Digest]bool{}
		var sum func(d digest.Digest)
		sum = func(d digest.Digest) {
			if counted[d] || byDigest[d] == nil {
				return
			}
			counted[d] = true
			img.Size += byDigest[d].Size
			for _, k := range children[d] {
				sum(k)
			}
		}
		sum(m.Digest)
		img.Platforms = platformsOf(ctx, byDigest, content, m, bases)
		g.images = append(g.images, img)
	}
	return g, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "no platform"
	}
	return s
}

func withoutRefName(a map[string]string) map[string]string {
	if _, ok := a[ocispec.AnnotationRefName]; !ok {
		return a
	}
	out := map[string]string{}
	for k, v := range a {
		if k != ocispec.AnnotationRefName {
			out[k] = v
		}
	}
	return out
}

// platformsOf lists the platforms of an entry: of each kept child for an
// index, from the descriptor or the config for an image.
func platformsOf(ctx context.Context, blobs map[digest.Digest]*packBlob, content map[digest.Digest][]byte, d ocispec.Descriptor, bases *baseLookup) []string {
	if oci.IsIndex(d.MediaType) {
		var out []string
		var idx ocispec.Index
		json.Unmarshal(content[d.Digest], &idx)
		for _, m := range idx.Manifests {
			if blobs[m.Digest] != nil && m.Platform != nil {
				out = append(out, oci.FormatPlatform(m.Platform))
			}
		}
		return out
	}
	if d.Platform != nil {
		return []string{oci.FormatPlatform(d.Platform)}
	}
	var m ocispec.Manifest
	if json.Unmarshal(content[d.Digest], &m) != nil || m.Config.Size > oci.MaxManifestSize || blobs[m.Config.Digest] == nil {
		return nil
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != "application/vnd.docker.container.image.v1+json" {
		return nil
	}
	if blobs[m.Config.Digest].Base != "" {
		// Not fetched: the bases' summaries say what they knew.
		return bases.platforms[d.Digest]
	}
	c, err := oci.ReadManifest(ctx, blobs[m.Config.Digest].src, m.Config)
	if err != nil {
		return nil
	}
	var p ocispec.Platform
	if json.Unmarshal(c, &p) != nil || p.OS == "" {
		return nil
	}
	return []string{oci.FormatPlatform(&p)}
}

// bundleID derives the id from what identifies the bundle's content and
// options, so that equal inputs give equal ids (reproducible packs).
func bundleID(x *Index, layoutIndex []byte, blobs []*packBlob) string {
	h := sha256.New()
	fmt.Fprintf(h, "airgap-bundle v1\n%s\n%s\n%s\n%d\n", x.Packer, x.Created, x.Compression, x.MaxVolumeSize)
	if x.Signer != nil {
		fmt.Fprintf(h, "%s\n", x.Signer.KeyID)
	}
	// Bases and which blobs they supply are part of the content: a delta
	// and a full bundle of the same images differ. (Nothing is added when
	// there are no bases, so full bundles keep their ids.)
	for _, b := range x.Bases {
		fmt.Fprintf(h, "base %s %s\n", b.BundleID, b.Index)
	}
	h.Write(layoutIndex)
	for _, b := range blobs {
		fmt.Fprintf(h, "\n%s %s %d", b.Digest, b.Encoding, b.StoredSize)
		if b.Base != "" {
			fmt.Fprintf(h, " base %s", b.Base)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// newEncoder is the one zstd configuration pack uses: single-threaded, so
// the same input always gives the same bytes.
func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
}

// compress feeds r to enc always the same way: the encoder's output depends
// on how its input arrives (Write calls and ReadFrom cut blocks
// differently), and the stored bytes must be the same in every pass.
func compress(enc *zstd.Encoder, r io.Reader) error {
	_, err := enc.ReadFrom(struct{ io.Reader }{r})
	return err
}

// chooseEncoding compresses b once to learn its stored size and digest, and
// keeps the compressed form only when it saves at least a tar block.
func chooseEncoding(ctx context.Context, b *packBlob) error {
	if oci.IsManifest(b.MediaType) || oci.IsIndex(b.MediaType) || oci.IsCompressed(b.MediaType) || b.Size < 2*format.BlockSize {
		return nil
	}
	rc, err := openRaw(ctx, b.src, b.Blob)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if magic, _ := br.Peek(4); isCompressedMagic(magic) {
		return nil
	}
	h := sha256.New()
	cw := &countWriter{w: h}
	enc, err := newEncoder(cw)
	if err != nil {
		return err
	}
	if err := compress(enc, br); err != nil {
		enc.Close()
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if cw.n+format.BlockSize <= b.Size {
		b.Encoding = CompressionZstd
		b.StoredSize = cw.n
		b.StoredDigest = digest.NewDigest(digest.SHA256, h)
	}
	return nil
}

func isCompressedMagic(m []byte) bool {
	return bytes.HasPrefix(m, []byte{0x1f, 0x8b}) || bytes.HasPrefix(m, []byte{0x28, 0xb5, 0x2f, 0xfd}) ||
		bytes.HasPrefix(m, []byte{0xfd, '7', 'z', 'X'}) || bytes.HasPrefix(m, []byte("BZh"))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// openRaw opens a blob at its source; the reader fails at EOF if the bytes
// do not match the digest, so nothing unverified is packed silently.
func openRaw(ctx context.Context, src Source, b *Blob) (io.ReadCloser, error) {
	rc, err := src.Fetch(ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		return nil, err
	}
	return &checkedReader{r: rc, c: rc, h: sha256.New(), want: b.Digest, size: b.Size, what: src.String()}, nil
}

// checkedReader hashes what passes and checks size and digest at EOF.
type checkedReader struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	n    int64
	want digest.Digest
	size int64
	what string
}

func (r *checkedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if r.n > r.size {
		return n, fmt.Errorf("blob %s in %s is larger than %d bytes", r.want, r.what, r.size)
	}
	if err == io.EOF {
		if r.n != r.size {
			return n, fmt.Errorf("blob %s in %s: %d bytes, want %d", r.want, r.what, r.n, r.size)
		}
		if got := digest.NewDigest(digest.SHA256, r.h); got != r.want {
			return n, fmt.Errorf("blob %s in %s is corrupt: its content hashes to %s", r.want, r.what, got)
		}
	}
	return n, err
}

func (r *checkedReader) Close() error { return r.c.Close() }

// openStored streams the stored bytes of b: the blob itself, or its zstd
// compression.
func openStored(ctx context.Context, src Source, b *Blob) (io.ReadCloser, error) {
	rc, err := openRaw(ctx, src, b)
	if err != nil || b.Encoding == CompressionNone {
		return rc, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		enc, err := newEncoder(pw)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		if err := compress(enc, rc); err != nil {
			enc.Close()
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(enc.Close())
	}()
	return pr, nil
}

// segmentDigests hashes the stored bytes of b segment by segment.
func segmentDigests(ctx context.Context, src Source, b *Blob) error {
	if b.Encoding == CompressionNone {
		return rawSegmentDigests(ctx, src, b)
	}
	rc, err := openStored(ctx, src, b)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Unencoded, the stored bytes are the blob, which rc checks.
	var whole hash.Hash
	if b.Encoding != CompressionNone {
		whole = sha256.New()
	}
	for i := range b.Placements {
		h := sha256.New()
		var dst io.Writer = h
		if whole != nil {
			dst = io.MultiWriter(h, whole)
		}
		if _, err := io.CopyN(dst, rc, b.Placements[i].Length); err != nil {
			return fmt.Errorf("read blob %s from %s: %w", b.Digest, src, err)
		}
		b.Placements[i].Digest = digest.NewDigest(digest.SHA256, h)
	}
	if err := expectEOF(rc); err != nil {
		return fmt.Errorf("blob %s from %s: %w", b.Digest, src, err)
	}
	if whole == nil {
		return nil
	}
	if got := digest.NewDigest(digest.SHA256, whole); got != b.StoredDigest {
		return fmt.Errorf("blob %s from %s changed while packing (stored bytes hash to %s, not %s)", b.Digest, src, got, b.StoredDigest)
	}
	return nil
}

// rawSegmentDigests hashes an unencoded blob segment by segment and, from
// the same read, as a whole against its digest, the two on two cores: the
// segment digests are then known to describe the blob itself.
func rawSegmentDigests(ctx context.Context, src Source, b *Blob) error {
	rc, err := src.Fetch(ctx, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
	if err != nil {
		return err
	}
	defer rc.Close()
	const pieces, pieceSize = 3, 512 << 10
	free := make(chan []byte, pieces)
	for range pieces {
		free <- make([]byte, pieceSize)
	}
	toWhole := make(chan []byte, pieces)
	whole := sha256.New()
	wholeDone := make(chan struct{})
	go func() {
		defer close(wholeDone)
		for p := range toWhole {
			whole.Write(p)
			free <- p[:cap(p)]
		}
	}()
	read := func() error {
		defer close(toWhole)
		for i := range b.Placements {
			h := sha256.New()
			for left := b.Placements[i].Length; left > 0; {
				if err := ctx.Err(); err != nil {
					return err
				}
				buf := <-free
				n, err := io.ReadFull(rc, buf[:min(int64(len(buf)), left)])
				toWhole <- buf[:n]
				h.Write(buf[:n])
				left -= int64(n)
				if err != nil {
					return fmt.Errorf("read blob %s from %s: %w", b.Digest, src, err)
				}
			}
			b.Placements[i].Digest = digest.NewDigest(digest.SHA256, h)
		}
		if err := expectEOF(rc); err != nil {
			return fmt.Errorf("blob %s from %s: %w", b.Digest, src, err)
		}
		return nil
	}
	err = read()
	<-wholeDone
	if err != nil {
		return err
	}
	if got := digest.NewDigest(digest.SHA256, whole); got != b.Digest {
		return fmt.Errorf("blob %s in %s is corrupt: its content hashes to %s", b.Digest, src, got)
	}
	return nil
}

// expectEOF reads one more byte and fails unless the stream ends there (and
// so surfaces the checks a checkedReader makes at EOF).
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return errors.New("more bytes than expected")
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

// ErrTooSmall is wrapped when the volume size cannot hold the index and
// anything else.
var ErrTooSmall = errors.New("volume size too small")

// VolumeSizeError is a volume size limit (PackOptions.MaxVolumeSize) that
// the bundle cannot be cut to. It is ErrTooSmall (errors.Is).
type VolumeSizeError struct {
	Limit int64 // the limit given, in bytes
	// Need is the bytes each volume needs for the bundle index and
	// headers; 0 when that fits but Blob does not.
	Need int64
	// Blob would need more segments than a blob may have (9999).
	Blob digest.Digest
}

func (e *VolumeSizeError) Error() string {
	if e.Blob != "" {
		return fmt.Sprintf("%v: blob %s would need more than 9999 segments of at most %d bytes", ErrTooSmall, e.Blob, e.Limit)
	}
	return fmt.Sprintf("%v: each volume needs %d bytes for the bundle index and headers, and the limit is %d", ErrTooSmall, e.Need, e.Limit)
}

func (e *VolumeSizeError) Unwrap() error { return ErrTooSmall }

// plan places every blob's stored bytes into volumes no larger than max
// bytes (0: one volume) and sets offsets, lengths and volume sizes. Every
// volume starts with a prefix whose size depends on the index, which holds
// the offsets; plan iterates to a fixed point.
func plan(x *Index, max int64) error {
	sizer, err := newIndexSizer(x)
	if err != nil {
		return err
	}
	sizing := func() (int64, error) {
		return x.PrefixSize(sizer.size(x)), nil
	}
	placeholder := digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat("0", 64))
	var reserve int64
	for round := 0; round < 64; round++ {
		capacity := int64(-1)
		if max > 0 {
			capacity = max - reserve - 2*format.BlockSize
		}
		if max > 0 && capacity < 2*format.BlockSize {
			need := reserve + 4*format.BlockSize
			return &VolumeSizeError{Limit: max, Need: need}
		}
		// Relative placement: offsets are from the end of the prefix.
		vol, used := 1, int64(0)
		var volData []int64
		for i := range x.Blobs {
			b := &x.Blobs[i]
			b.Placements = b.Placements[:0]
			if b.Base != "" {
				b.Placements = []Placement{}
				continue
			}
			remaining, first := b.StoredSize, true
			for first || remaining > 0 {
				room := int64(1 << 62)
				if capacity >= 0 {
					room = capacity - used
				}
				n := remaining
				if n > MaxMemberSize {
					n = MaxMemberSize
				}
				if format.MemberSize(n) > room {
					n = (room - format.BlockSize) / format.BlockSize * format.BlockSize
					if n <= 0 {
						volData = append(volData, used)
						vol, used = vol+1, 0
						continue
					}
				}
				if len(b.Placements) == 9999 {
					return &VolumeSizeError{Limit: max, Blob: b.Digest}
				}
				b.Placements = append(b.Placements, Placement{Volume: vol, Offset: used + format.BlockSize, Length: n, Digest: placeholder})
				used += format.MemberSize(n)
				remaining -= n
				first = false
			}
		}
		volData = append(volData, used)
		x.Volumes = make([]Volume, len(volData))
		rel := make([][]*Placement, len(x.Blobs))
		for i := range x.Blobs {
			for j := range x.Blobs[i].Placements {
				rel[i] = append(rel[i], &x.Blobs[i].Placements[j])
			}
		}
		relOffsets := make([][]int64, len(x.Blobs))
		for i := range rel {
			for _, p := range rel[i] {
				relOffsets[i] = append(relOffsets[i], p.Offset)
			}
		}
		// Fixed point of the prefix size over absolute offsets and sizes.
		prefix, err := sizing()
		if err != nil {
			return err
		}
		for iter := 0; ; iter++ {
			for i := range rel {
				for j, p := range rel[i] {
					p.Offset = prefix + relOffsets[i][j]
				}
			}
			for v := range volData {
				x.Volumes[v] = Volume{Number: v + 1, Size: prefix + volData[v] + 2*format.BlockSize}
			}
			next, err := sizing()
			if err != nil {
				return err
			}
			if next == prefix || iter > 16 {
				break
			}
			prefix = next
		}
		if max == 0 || prefix <= reserve {
			return nil
		}
		reserve = prefix + 8*format.BlockSize
	}
	return errors.New("internal error: volume plan did not settle")
}

// forEachParallel calls fn(0..n-1) on one goroutine per core and returns
// the first error; after an error, calls not yet started are skipped.
func forEachParallel(ctx context.Context, n int, fn func(int) error) error {
	return forEachParallelN(ctx, runtime.GOMAXPROCS(0), n, fn)
}

// forEachParallelN is forEachParallel on at most workers goroutines.
func forEachParallelN(ctx context.Context, workers, n int, fn func(int) error) error {
	workers = min(workers, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n || ctx.Err() != nil {
					return
				}
				if err := fn(k); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// indexSizer says how long json.Marshal(x) is without building it, as
// planning asks again and again while offsets settle: each blob entry
// without its placements is measured once, and placements and volumes,
// which planning changes, are counted digit by digit.
type indexSizer struct {
	rest      int   // everything but blob placements and volumes
	blobFixed []int // blob i's entry with "placements":[]
}

func newIndexSizer(x *Index) (*indexSizer, error) {
	y := *x
	y.Blobs, y.Volumes = []Blob{}, []Volume{}
	b, err := json.Marshal(&y)
	if err != nil {
		return nil, err
	}
	s := &indexSizer{rest: len(b), blobFixed: make([]int, len(x.Blobs))}
	for i := range x.Blobs {
		c := x.Blobs[i]
		c.Placements = []Placement{}
		b, err := json.Marshal(&c)
		if err != nil {
			return nil, err
		}
		s.blobFixed[i] = len(b)
	}
	return s, nil
}

func (s *indexSizer) size(x *Index) int {
	n := s.rest
	for i := range x.Blobs {
		if i > 0 {
			n++ // ","
		}
		n += s.blobFixed[i]
		for j, p := range x.Blobs[i].Placements {
			if j > 0 {
				n++
			}
			// {"volume":V,"offset":O,"length":L,"digest":"D"}
			n += len(`{"volume":,"offset":,"length":,"digest":""}`) + decimalLen(int64(p.Volume)) + decimalLen(p.Offset) + decimalLen(p.Length) + len(p.Digest)
		}
	}
	for i, v := range x.Volumes {
		if i > 0 {
			n++
		}
		// {"number":N,"size":S}
		n += len(`{"number":,"size":}`) + decimalLen(int64(v.Number)) + decimalLen(v.Size)
	}
	return n
}

func decimalLen(v int64) int {
	n := 1
	if v < 0 {
		n, v = 2, -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// marshalIndex gives the bytes json.Marshal(x) gives, built in one buffer
// of the exact size: json.Marshal grows a buffer by doubling and then
// copies it, which for a large index takes three times its size.
func marshalIndex(x *Index) ([]byte, error) {
	sizer, err := newIndexSizer(x)
	if err != nil {
		return nil, err
	}
	y := *x
	y.Blobs, y.Volumes = []Blob{}, []Volume{}
	head, err := json.Marshal(&y)
	if err != nil {
		return nil, err
	}
	// Blobs and volumes are the last members: head ends with them empty.
	const tail = `"blobs":[],"volumes":[]}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, errors.New("internal error: unexpected index encoding")
	}
	out := make([]byte, 0, sizer.size(x))
	out = append(out, head[:len(head)-len(tail)]...)
	out = append(out, `"blobs":[`...)
	for i := range x.Blobs {
		if i > 0 {
			out = append(out, ',')
		}
		b, err := json.Marshal(&x.Blobs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	vols, err := json.Marshal(x.Volumes)
	if err != nil {
		return nil, err
	}
	out = append(out, `],"volumes":`...)
	out = append(out, vols...)
	out = append(out, '}')
	if len(out) != cap(out) {
		return nil, fmt.Errorf("internal error: index is %d bytes, planned %d", len(out), cap(out))
	}
	return out, nil
}
