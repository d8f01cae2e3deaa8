package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/internal/iocount"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
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
	//
	// A *sign.PendingSigner (sign.LoadSignerFileAsync) is opened while
	// Pack works: Pack reads the sources and plans meanwhile and, into a
	// FileSink such as DirSink, whose headers are written last, writes
	// the blobs too, when the volumes' layout is the same whatever the
	// key (it is unless the index's length falls within a few bytes of a
	// multiple of 512, the tar block; then Pack waits for the key before
	// it plans). The key is needed only to seal the index, and the bundle
	// is byte for byte the one it would be with the key opened first. If
	// opening the key fails, Pack stops at once and returns that error,
	// and the sink discards what was written (Abort).
	Signer sign.Signer
	// Created is the creation time recorded (SOURCE_DATE_EPOCH in the CLI);
	// zero means now.
	Created time.Time
	// ExpiresAfter, when positive, records an expiry time in the signed
	// index: Created plus this, so that a reproducible pack expires
	// reproducibly too. Readers refuse the bundle after it (TrustPolicy).
	ExpiresAfter time.Duration
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
	// FormatVersion is the format version to write: 1, 2, or 0 for
	// version 1 unless its index would be larger than readers accept
	// (AutoFormatVersion). Version 2 carries in each volume only the
	// entries of its own blobs (SPEC 18); readers older than it refuse it.
	FormatVersion int
}

// v2HeaderShare is the share of a volume the headers every volume of
// format version 1 repeats may take before Pack says that version 2 would
// repeat less: 2 % (1/50), which a full operator catalog mirror on DVDs
// passes (SPEC 18).
const v2HeaderShare = 50

// AutoFormatVersion is the format version Pack writes when PackOptions
// leaves it to choose, for an index planned in version 1 (planErr being
// what planning gave): version 1, which every reader reads, unless its
// index is larger than readers accept; then version 2, which holds it.
// Version 2 is not chosen for its smaller headers alone: a reader older
// than version 2 refuses it, and the far side of the air gap may run one.
func AutoFormatVersion(planErr error) int {
	if errors.Is(planErr, format.ErrIndexTooLarge) {
		return format.VersionV2
	}
	return format.Version
}

// headerShareNotice says, for x planned in version 1, how much of each
// volume the headers it repeats take when that is more than 2 % of the
// limit, and that version 2 would repeat less; "" otherwise.
func headerShareNotice(x *format.Index) string {
	if x.FormatVersion != format.Version || len(x.Volumes) < 2 || x.MaxVolumeSize <= 0 {
		return ""
	}
	n, err := format.IndexLen(x)
	if err != nil || x.PrefixSize(n)*v2HeaderShare <= x.MaxVolumeSize {
		return ""
	}
	return fmt.Sprintf("each of the %d volumes starts with %s of headers (%.1f %% of the volume size limit), most of it the entries of all %d blobs; format version 2 carries in each volume only the entries of its own blobs (readers of version 1 only refuse it)",
		len(x.Volumes), bytesize.Format(x.PrefixSize(n)), 100*float64(x.PrefixSize(n))/float64(x.MaxVolumeSize), len(x.Blobs))
}

// Progress reports the work done so far.
type Progress struct {
	Op     string // "pack", "verify", "unpack"
	Volume int    // volume being worked on
	Done   int64  // bytes done in all
	Total  int64  // bytes to do in all
	// Image is the image the bytes being worked on belong to, "" when not
	// known (verify): its ref name, or its digest when it has none (a
	// referrer). A blob several images share counts as the first's: pack
	// names the first image that brought it, unpack the first entry of
	// the bundle's index that reaches it (named entries before referrers).
	// It comes from the sources or the bundle: show it escaped
	// (Printable).
	Image string
}

// packBlob is a blob on its way into the bundle.
type packBlob struct {
	*format.Blob
	src   Source
	image string        // the first image that brought it (Progress.Image)
	info  *manifestInfo // while collecting, of a manifest or index
}

// Pack reads the sources, plans the volumes and writes them into sink. It
// returns the index that every volume carries.
func Pack(ctx context.Context, sources []Source, sink Sink, o PackOptions) (*format.Index, error) {
	return withPendingSigner(ctx, o.Signer, func(ctx context.Context) (*format.Index, error) {
		pl, err := plan(ctx, sources, o, true, true)
		if err != nil {
			return nil, err
		}
		p := &packWrite{ctx: ctx, x: pl.x, blobs: pl.g.blobs, layoutIndex: pl.layoutIndex, sink: sink, progress: pl.o.Progress}
		if pl.provisional {
			p.pending = pl.o.Signer.(*sign.PendingSigner)
		} else if p.seal, err = newIndexSeal(pl.o.Signer); err != nil {
			return nil, err
		}
		if err := p.run(); err != nil {
			return nil, err
		}
		return pl.x, nil
	})
}

// PlanPack does what Pack does up to writing: it reads the sources'
// manifests and indexes (and the configs of images, for their platforms)
// but no layer, leaves out what the bases and inventories hold, and plans
// the volumes. The index it returns has no segment digests and no bundle
// id worth keeping; with zstd compression allowed, blobs are planned as
// stored unencoded (their compressed size is known only by compressing
// them), so the volume count is an upper bound. It writes nothing.
func PlanPack(ctx context.Context, sources []Source, o PackOptions) (*format.Index, error) {
	return withPendingSigner(ctx, o.Signer, func(ctx context.Context) (*format.Index, error) {
		pl, err := plan(ctx, sources, o, false, false)
		if err != nil {
			return nil, err
		}
		return pl.x, nil
	})
}

// withPendingSigner runs pack, and when signer is a *sign.PendingSigner,
// watches it meanwhile: if opening it fails, or it opens as a signer Pack
// cannot use, pack's context is cancelled at once and that error is what
// it returns, as if the signer had been opened before Pack was called.
func withPendingSigner(ctx context.Context, signer sign.Signer, pack func(context.Context) (*format.Index, error)) (*format.Index, error) {
	ps, ok := signer.(*sign.PendingSigner)
	if !ok {
		return pack(ctx)
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		s, err := ps.Wait(ctx)
		if err == nil {
			_, err = signerVerifier(s)
		}
		if err != nil && ctx.Err() == nil {
			cancel(err)
		}
	}()
	x, err := pack(ctx)
	if err != nil && parent.Err() == nil && ctx.Err() != nil {
		// Cancelled by the watcher: the signer's error is the cause.
		return nil, context.Cause(ctx)
	}
	return x, err
}

// packPlan is a planned bundle.
type packPlan struct {
	o           PackOptions
	g           *graph
	layoutIndex *layoutIndex
	x           *format.Index
	// provisional is set when x was planned while o.Signer, a
	// *sign.PendingSigner, was still opening: x.Signer and x.BundleID
	// are placeholders of the right length, and the layout is the one
	// every key would have (signerLayout).
	provisional bool
}

// plan collects the sources and plans the volumes; encode says whether to
// choose blob encodings (which reads every blob that may be compressed),
// and provisional whether planning may go on without waiting for a
// pending signer (Pack, which waits for it before sealing the index).
func plan(ctx context.Context, sources []Source, o PackOptions, encode, provisional bool) (*packPlan, error) {
	o, err := o.withDefaults(len(sources))
	if err != nil {
		return nil, err
	}
	bases, err := openBases(o)
	if err != nil {
		return nil, err
	}
	g, err := collect(ctx, sources, o.Platforms, o.Notice, bases)
	if err != nil {
		return nil, err
	}
	if len(bases.bases) > 0 {
		o.Notice(fromBasesNotice(g.blobs))
	}
	layoutIndex, err := newLayoutIndex(g.manifests)
	if err != nil {
		return nil, err
	}
	if encode && o.Compression == format.CompressionZstd {
		if err := chooseEncodings(ctx, g.blobs); err != nil {
			return nil, err
		}
	}
	recorded := bases.recorded(g.blobs, o.Notice)
	id, provisional, err := signerEntry(ctx, o.Signer, provisional)
	if err != nil {
		return nil, err
	}
	x, v2, err := planIndex(o, id, recorded, g, layoutIndex)
	if provisional && (err != nil || v2 != nil || !signerLayout(x, o.MaxVolumeSize)) {
		// The layout may depend on the key: wait for it, and plan (and
		// fail) exactly as if it had been open from the start.
		if id, _, err = signerEntry(ctx, o.Signer, false); err != nil {
			return nil, err
		}
		provisional = false
		x, v2, err = planIndex(o, id, recorded, g, layoutIndex)
	}
	if v2 != nil {
		o.Notice(fmt.Sprintf("packing in format version 2: %v", v2))
	}
	if err != nil {
		return nil, err
	}
	if o.FormatVersion == 0 {
		if s := headerShareNotice(x); s != "" {
			o.Notice(s)
		}
	}
	return &packPlan{o: o, g: g, layoutIndex: layoutIndex, x: x, provisional: provisional}, nil
}

// planIndex builds the index of g, signed by id (nil: unsigned), and
// plans it; v2 is the error that made it choose format version 2, when it
// did.
func planIndex(o PackOptions, id *format.Signer, bases []format.Base, g *graph, layoutIndex *layoutIndex) (x *format.Index, v2, err error) {
	if x, err = newIndex(o, id, bases, g, layoutIndex); err != nil {
		return nil, nil, err
	}
	err = format.Plan(x, o.MaxVolumeSize)
	if o.FormatVersion == 0 && AutoFormatVersion(err) == format.VersionV2 {
		v2 = err
		if err := toVersion2(x, layoutIndex, g.blobs); err != nil {
			return nil, nil, err
		}
		err = format.Plan(x, o.MaxVolumeSize)
	}
	return x, v2, err
}

// withDefaults checks o and fills in what was left out: no compression,
// notices dropped, created now (in UTC, whole seconds).
func (o PackOptions) withDefaults(sources int) (PackOptions, error) {
	if o.Compression == "" {
		o.Compression = format.CompressionNone
	}
	if o.Compression != format.CompressionNone && o.Compression != format.CompressionZstd {
		return o, fmt.Errorf("compression %q: want none or zstd", o.Compression)
	}
	if o.MaxVolumeSize < 0 {
		return o, fmt.Errorf("negative volume size")
	}
	if o.Notice == nil {
		o.Notice = func(string) {}
	}
	if o.Created.IsZero() {
		o.Created = time.Now()
	}
	o.Created = o.Created.UTC().Truncate(time.Second)
	if o.Created.Unix() < 0 || o.Created.Unix() >= 1<<33 {
		return o, fmt.Errorf("creation time %s is out of range", o.Created)
	}
	if sources == 0 {
		return o, errors.New("nothing to pack: give at least one source")
	}
	if o.FormatVersion != 0 && o.FormatVersion != format.Version && o.FormatVersion != format.VersionV2 {
		return o, fmt.Errorf("format version %d: want %d or %d", o.FormatVersion, format.Version, format.VersionV2)
	}
	return o, nil
}

// openBases indexes the inventories and base bundles, and tells the user
// which bases are used without their signature checked.
func openBases(o PackOptions) (*baseLookup, error) {
	bases, err := newBaseLookup(o.Inventories, o.Bases)
	if err != nil {
		return nil, err
	}
	for _, f := range o.Inventories {
		o.Notice(inventoryNotice(f))
	}
	for _, b := range o.Bases {
		if !b.Verified {
			o.Notice(fmt.Sprintf("base bundle %s (%s) is used without checking its signature (give its public key to check it)", b.Index.BundleID, b.Path))
		}
	}
	return bases, nil
}

// fromBasesNotice says how much the bases spare the bundle.
func fromBasesNotice(blobs []*packBlob) string {
	var n int
	var size int64
	for _, b := range blobs {
		if b.Base != "" {
			n++
			size += b.Size
		}
	}
	return fmt.Sprintf("%d blobs (%s) are expected at the destination from the bases and not carried", n, bytesize.Format(size))
}

// layoutIndex is the index.json of the OCI layout every volume starts
// (version 2: volume 1): the entries packed. Its bytes are made again
// each time they are needed, an entry at a time, and never held: 67 MB at
// 300,000 entries, for the whole of a pack (issue 15).
type layoutIndex struct {
	manifests []ocispec.Descriptor
	content   format.Content // of its bytes
}

func newLayoutIndex(manifests []ocispec.Descriptor) (*layoutIndex, error) {
	l := &layoutIndex{manifests: manifests}
	h := digest.SHA256.Digester()
	c := &iocount.Writer{W: h.Hash()}
	if _, err := l.WriteTo(c); err != nil {
		return nil, err
	}
	l.content = format.Content{Digest: h.Digest(), Size: c.N}
	return l, nil
}

// WriteTo writes index.json's bytes, as json.Marshal makes them.
func (l *layoutIndex) WriteTo(w io.Writer) (int64, error) {
	c := &iocount.Writer{W: w}
	err := oci.WriteIndexJSON(c, &ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: l.manifests,
	})
	return c.N, err
}

// newIndex is the bundle index of g before planning: everything but
// placements, volumes and segment digests.
func newIndex(o PackOptions, id *format.Signer, bases []format.Base, g *graph, layoutIndex *layoutIndex) (*format.Index, error) {
	x := &format.Index{
		MediaType:     format.MediaTypeIndex,
		FormatVersion: format.Version,
		Created:       o.Created.Format(time.RFC3339),
		Expires:       expires(o),
		Packer:        o.Packer,
		Bases:         bases,
		Compression:   o.Compression,
		MaxVolumeSize: o.MaxVolumeSize,
		LayoutIndex:   layoutIndex.content,
		Manifests:     g.manifests,
		Images:        g.images,
		Signer:        id,
	}
	if o.FormatVersion == format.VersionV2 {
		x.FormatVersion, x.MediaType = format.VersionV2, format.MediaTypeIndexV2
	}
	var err error
	if x.BundleID, err = bundleID(x, layoutIndex, g.blobs); err != nil {
		return nil, err
	}
	if len(g.blobs) > 0 {
		x.Blobs = make([]format.Blob, len(g.blobs))
	}
	for i, b := range g.blobs {
		x.Blobs[i] = *b.Blob
		// The index's entry is the blob's from now on: one copy of each
		// instead of two (at a million blobs, 128 MiB).
		b.Blob = &x.Blobs[i]
	}
	return x, nil
}

// toVersion2 makes x, an index of version 1 before planning, one of
// version 2, with its own bundle id (the same content in the other
// version is another bundle).
func toVersion2(x *format.Index, layoutIndex *layoutIndex, blobs []*packBlob) (err error) {
	x.FormatVersion, x.MediaType = format.VersionV2, format.MediaTypeIndexV2
	x.BundleID, err = bundleID(x, layoutIndex, blobs)
	return err
}

// expires is the index's expires member for o: "" when it does not expire.
func expires(o PackOptions) string {
	if o.ExpiresAfter <= 0 {
		return ""
	}
	return o.Created.Add(o.ExpiresAfter).UTC().Truncate(time.Second).Format(time.RFC3339)
}

// packWrite is Pack from the planned index on: segment digests, sealing
// and writing the volumes into the sink.
type packWrite struct {
	ctx         context.Context
	x           *format.Index
	blobs       []*packBlob // blobs[i] is x.Blobs[i] at its source
	layoutIndex *layoutIndex
	seal        *indexSeal // nil until the pending signer is open
	// pending is the signer x was planned without (packPlan.provisional):
	// openSigner waits for it before the index is sealed.
	pending  *sign.PendingSigner
	sink     Sink
	files    FileSink // the sink, when it hands out its volume files
	progress func(Progress)
	split    []int // the blobs of x cut into several segments
}

// run seals the index before the volumes are written or, into volumes
// that are files, after (the headers, which hold the index, are written
// last), and commits the volumes.
//
// Segment digests: a whole unencoded blob's segment is the blob itself. A
// split blob's are found by hashing its stored bytes: into volumes that
// are files, while writing them; otherwise in a pass of their own before,
// blobs in parallel.
func (p *packWrite) run() error {
	p.files, _ = p.sink.(FileSink)
	p.split = presetSegmentDigests(p.x)
	indexLen, err := p.sealFirst()
	if err != nil {
		return err
	}
	w, carried := p.volumeWriter(indexLen)
	if err := p.sink.Begin(p.ctx, p.x); err != nil {
		p.sink.Abort()
		return err
	}
	if err := w.writeAll(carried); err != nil {
		w.abort()
		p.sink.Abort()
		return err
	}
	if p.files != nil {
		if err := p.sealAfterWriting(w); err != nil {
			p.sink.Abort()
			return err
		}
	}
	if err := p.sink.Commit(); err != nil {
		p.sink.Abort()
		return err
	}
	return nil
}

// sealFirst hashes split blobs and seals the index unless the volumes are
// files, and returns the length of the index: into files, the one it will
// have (digests have a fixed length).
func (p *packWrite) sealFirst() (int, error) {
	if p.files != nil {
		return format.IndexLen(p.x)
	}
	if err := forEachParallel(p.ctx, len(p.split), func(k int) error {
		return segmentDigests(p.ctx, p.blobs[p.split[k]].src, &p.x.Blobs[p.split[k]])
	}); err != nil {
		return 0, err
	}
	if err := p.openSigner(nil); err != nil {
		return 0, err
	}
	if err := p.seal.seal(p.ctx, p.x); err != nil {
		return 0, err
	}
	return len(p.seal.indexBytes), nil
}

// volumeWriter is the writer of the volumes and the blobs it goes
// through: the carried blobs only, so that nothing of a blob expected from
// a base is fetched.
func (p *packWrite) volumeWriter(indexLen int) (*volumeWriter, []*packBlob) {
	wx, carried := p.x, p.blobs
	if len(p.x.Bases) > 0 {
		cx := *p.x
		cx.Blobs, carried = nil, nil
		for i := range p.x.Blobs {
			if p.x.Blobs[i].Base == "" {
				cx.Blobs = append(cx.Blobs, p.x.Blobs[i])
				carried = append(carried, p.blobs[i])
			}
		}
		wx = &cx
	}
	w := &volumeWriter{ctx: p.ctx, x: wx, full: p.x, sink: p.sink, layoutIndex: p.layoutIndex,
		progress: p.progress, files: p.files, indexLen: indexLen}
	if p.seal != nil {
		w.indexBytes, w.sig = p.seal.indexBytes, p.seal.sig
	}
	for _, v := range p.x.Volumes {
		w.total += v.Size
	}
	return w, carried
}

// sealAfterWriting seals the index once writing has found every segment
// digest, and writes the volume headers.
func (p *packWrite) sealAfterWriting(w *volumeWriter) error {
	// The carried blobs' placements share their digests with x's.
	for _, k := range p.split {
		for _, pl := range p.x.Blobs[k].Placements {
			if pl.Digest == placeholderDigest {
				return fmt.Errorf("internal error: no digest for a segment of blob %s", p.x.Blobs[k].Digest)
			}
		}
	}
	if err := p.openSigner(w); err != nil {
		return err
	}
	if err := p.seal.seal(p.ctx, p.x); err != nil {
		return err
	}
	if len(p.seal.indexBytes) != w.indexLen {
		return fmt.Errorf("internal error: index of %d bytes, planned %d", len(p.seal.indexBytes), w.indexLen)
	}
	w.indexBytes, w.sig = p.seal.indexBytes, p.seal.sig
	return w.writeHeaders()
}

// openSigner waits for the pending signer, if x was planned without it,
// and puts its key ID and algorithm, and the bundle id they make, into the
// index (and into w's, the volumes' index, which may be a copy). The
// layout stays: it is the same for every key (signerLayout), which is
// checked again here; w's planned index length becomes the new one.
func (p *packWrite) openSigner(w *volumeWriter) error {
	if p.pending == nil {
		return nil
	}
	s, err := p.pending.Wait(p.ctx)
	if err != nil {
		return err
	}
	seal, err := newIndexSeal(s)
	if err != nil {
		return err
	}
	planned, err := format.IndexLen(p.x)
	if err != nil {
		return err
	}
	p.x.Signer = &format.Signer{KeyID: s.KeyID(), Algorithm: s.Algorithm()}
	if p.x.BundleID, err = bundleID(p.x, p.layoutIndex, p.blobs); err != nil {
		return err
	}
	n, err := format.IndexLen(p.x)
	if err != nil {
		return err
	}
	for _, v := range p.x.Volumes {
		if p.x.VolumePrefixSize(v.Number, n) != p.x.VolumePrefixSize(v.Number, planned) {
			return fmt.Errorf("internal error: volume %d's header room was planned for another key", v.Number)
		}
	}
	if w != nil {
		w.x.Signer, w.x.BundleID, w.indexLen = p.x.Signer, p.x.BundleID, n
	}
	p.seal, p.pending = seal, nil
	return nil
}
