package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

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

// SelectedSource is an optional interface of a Source that knows why its
// roots travel: Pack records Selections on each root's manifests entry
// (format.AnnotationSelectedBy, SPEC 6.7), merged with the reasons of
// other sources that deliver the same ref name and digest. LayoutSource
// and RegistrySource implement it with their Selected field.
type SelectedSource interface {
	Source
	Selections() []format.Selection
}

// isRemote reports whether src says it is a RemoteSource.
func isRemote(src Source) bool {
	r, ok := src.(RemoteSource)
	return ok && r.Remote()
}

// graph is what the sources hold, deduplicated.
type graph struct {
	manifests []ocispec.Descriptor
	images    []format.Image
	blobs     []*packBlob
}

// collect walks the sources into a graph: their roots, then, until nothing
// new turns up, what is attached to or refers to anything packed.
func collect(ctx context.Context, sources []Source, platforms []ocispec.Platform, notice func(string), bases *baseLookup) (*graph, error) {
	c := newCollector(ctx, platforms, notice, bases)
	for _, src := range sources {
		if err := c.addRoots(src); err != nil {
			return nil, err
		}
	}
	if err := c.checkEmptied(); err != nil {
		return nil, err
	}
	// Referrers of anything packed travel along, and their referrers too;
	// so do signatures tagged after a manifest's digest (cosign). A
	// registry source is asked only about what it delivered: asking every
	// repository about every manifest would cost a round trip each.
	for done := 0; done < len(c.meta); done++ {
		if err := c.addRelated(sources, c.meta[done]); err != nil {
			return nil, err
		}
	}
	c.g.blobs = append(c.meta, c.data...)
	c.markBaseBlobs()
	c.summarize()
	for _, b := range c.meta {
		b.info = nil
	}
	return c.g, nil
}

// refOwner is the digest a ref name stands for, and the source that said so.
type refOwner struct {
	digest digest.Digest
	source Source
}

// listKey is an index.json entry: its ref name and digest.
type listKey struct {
	ref    string
	digest digest.Digest
}

// manifestInfo is what collect keeps of a manifest or index it walked:
// what summarize needs, not its bytes.
type manifestInfo struct {
	// kids are the kept children (every child of a manifest; an index's
	// children of the platforms selected), once walked (resolve).
	kids    []*packBlob
	subject digest.Digest // of its subject, if any
	// config is its config member when the content decodes as an
	// ocispec.Manifest (empty otherwise, or when it has none).
	config configRef
	// platforms are the members of its manifests (an index's) that have
	// a platform.
	platforms []childPlatform
}

// configRef is what platformsOf reads of a config descriptor.
type configRef struct {
	mediaType string
	digest    digest.Digest
	size      int64
}

// unresolved is a manifest or index and the digests of its kept children,
// until they are walked.
type unresolved struct {
	b    *packBlob
	kids []digest.Digest
}

// childPlatform is a manifest of an index and its platform, formatted.
type childPlatform struct {
	digest   digest.Digest
	platform string
}

// collector is collect's state: every blob once, manifests and indexes
// (meta) apart from the rest (data), in the order found.
type collector struct {
	ctx       context.Context
	platforms []ocispec.Platform
	notice    func(string)
	bases     *baseLookup
	walkOpts  oci.WalkOptions

	refs       map[string]refOwner
	byDigest   map[digest.Digest]*packBlob // also what the walk has visited
	meta       []*packBlob
	data       []*packBlob
	unresolved []unresolved      // meta whose kids are not walked yet
	listed     map[listKey]int   // index.json entry → its place in manifests
	mediaTypes map[string]string // each media type once
	g          *graph
	image      string // the root being walked, named as Progress.Image names it

	emptiedIndexes []emptiedIndex // for checkEmptied
}

func newCollector(ctx context.Context, platforms []ocispec.Platform, notice func(string), bases *baseLookup) *collector {
	return &collector{
		ctx: ctx, platforms: platforms, notice: notice, bases: bases,
		walkOpts: oci.WalkOptions{Platforms: platforms, Dropped: func(parent, child ocispec.Descriptor) {
			notice(fmt.Sprintf("dropped %s (%s) of index %s: platform not selected", child.Digest, orUnknown(oci.FormatPlatform(child.Platform)), parent.Digest))
		}},
		refs:       map[string]refOwner{},
		byDigest:   map[digest.Digest]*packBlob{},
		listed:     map[listKey]int{},
		mediaTypes: map[string]string{},
		g:          &graph{},
	}
}

// add walks root and everything it references at src.
func (c *collector) add(src Source, root ocispec.Descriptor) error {
	c.image = imageName(root)
	// A layout given whole (oci:PATH) brings every tagged entry, as a
	// rule brings many: one image of it that the filter empties is no
	// reason to refuse all the others.
	ls, isLayout := src.(*LayoutSource)
	whole := isLayout && ls.Tag == "" && ls.Digest == ""
	c.walkOpts.Emptied = func(e *oci.NoPlatformError) error {
		c.emptiedIndexes = append(c.emptiedIndexes, emptiedIndex{root: root.Digest, image: c.image, err: e, wholeLayout: whole})
		return nil
	}
	err := oci.WalkParsed(c.ctx, src, root, c.walkOpts, func(d digest.Digest) bool { return c.byDigest[d] != nil },
		func(d ocispec.Descriptor, m *oci.Parsed) error { return c.visit(src, d, m) })
	if err != nil {
		return err
	}
	c.resolve()
	return nil
}

// emptiedIndex is an index that the platform filter left none of its
// manifests, in the graph of root (named image).
type emptiedIndex struct {
	root        digest.Digest
	image       string
	err         *oci.NoPlatformError
	wholeLayout bool // found in a layout given whole (oci:PATH)
}

// checkEmptied decides, once every source is walked and the reasons each
// entry travels are merged, about the indexes the platform filter left
// none of their manifests. An image named on purpose (an argument naming
// one image, a line of a list, an additional image) is refused: its user
// asked for it and for platforms it lacks. One that only rules brought (a
// release component, an operator's related image, a registry rule, or a
// layout given whole) is carried as it is, with a notice: an operator
// built for fewer architectures than the cluster's should not stop a
// month's pack.
func (c *collector) checkEmptied() error {
	if len(c.emptiedIndexes) == 0 {
		return nil
	}
	// The entries of each emptied root, found in one pass over the
	// entries: a catalog filtered for one platform may empty many images
	// among hundreds of thousands of entries.
	entries := map[digest.Digest][]int{}
	for _, e := range c.emptiedIndexes {
		entries[e.root] = nil
	}
	for i, m := range c.g.manifests {
		if list, ok := entries[m.Digest]; ok {
			entries[m.Digest] = append(list, i)
		}
	}
	for _, e := range c.emptiedIndexes {
		named := len(entries[e.root]) == 0
		for _, i := range entries[e.root] {
			named = named || namedOnItsOwn(c.g.manifests[i], e.wholeLayout)
		}
		if named {
			return fmt.Errorf("image %s: %w", e.image, e.err)
		}
		c.notice(fmt.Sprintf("image %s: %s; it was not named on its own (a rule, or a layout given whole, brought it), so it is carried as it is, and no platform can pull it from the mirror", e.image, e.err.Lacks()))
	}
	return nil
}

// namedOnItsOwn reports whether the entry m travels because its user named
// it: an argument naming one image, a line of a list, an additional image,
// or no record of why (a layout's entry, unless the layout was given
// whole). A rule (release, operator, catalog, registry) does not name it.
func namedOnItsOwn(m ocispec.Descriptor, wholeLayout bool) bool {
	sels, _ := format.ParseSelections(m.Annotations[format.AnnotationSelectedBy])
	if len(sels) == 0 {
		return !wholeLayout
	}
	return slices.ContainsFunc(sels, func(s format.Selection) bool {
		switch s.By {
		case format.SelectedByRelease, format.SelectedByOperator, format.SelectedByCatalog, format.SelectedByRegistry:
			return false
		case format.SelectedByArgument:
			return !wholeLayout
		}
		return true
	})
}

// visit records a blob the walk reached; m is a manifest or index as read,
// nil for any other blob.
func (c *collector) visit(src Source, d ocispec.Descriptor, m *oci.Parsed) error {
	if err := format.CheckDigest(d.Digest); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	b := &packBlob{Blob: &format.Blob{Digest: d.Digest, Size: d.Size, MediaType: c.mediaType(d.MediaType), Encoding: format.CompressionNone,
		StoredSize: d.Size, StoredDigest: d.Digest}, src: src, image: c.image}
	c.byDigest[d.Digest] = b
	if m == nil {
		c.data = append(c.data, b)
		return nil
	}
	c.meta = append(c.meta, b)
	info := &manifestInfo{}
	b.info = info
	u := unresolved{b: b, kids: make([]digest.Digest, 0, len(m.Children))}
	for _, k := range m.Children {
		if !oci.IsIndex(d.MediaType) || len(c.platforms) == 0 || oci.MatchPlatform(k.Platform, c.platforms) {
			u.kids = append(u.kids, k.Digest)
		}
	}
	c.unresolved = append(c.unresolved, u)
	if m.Subject != nil {
		info.subject = m.Subject.Digest
	}
	if m.ManifestTyped && m.Config != nil {
		info.config = configRef{c.mediaType(m.Config.MediaType), m.Config.Digest, m.Config.Size}
	}
	for _, k := range m.Manifests {
		if k.Platform != nil {
			info.platforms = append(info.platforms, childPlatform{k.Digest, oci.FormatPlatform(k.Platform)})
		}
	}
	return nil
}

// mediaType is t, shared with every other blob of that type.
func (c *collector) mediaType(t string) string {
	if s, ok := c.mediaTypes[t]; ok {
		return s
	}
	c.mediaTypes[t] = t
	return t
}

// resolve points the manifests and indexes walked at their kept children,
// all walked now, and shares the digests they keep with the blobs': the
// strings decoded from each manifest are dropped.
func (c *collector) resolve() {
	for _, u := range c.unresolved {
		info := u.b.info
		info.kids = make([]*packBlob, 0, len(u.kids))
		for _, k := range u.kids {
			if kb := c.byDigest[k]; kb != nil {
				info.kids = append(info.kids, kb)
			}
		}
		if s := c.byDigest[info.subject]; s != nil {
			info.subject = s.Digest
		}
		if cb := c.byDigest[info.config.digest]; cb != nil {
			info.config.digest = cb.Digest
		}
		for i, p := range info.platforms {
			if kb := c.byDigest[p.digest]; kb != nil {
				info.platforms[i].digest = kb.Digest
			}
		}
	}
	clear(c.unresolved)
	c.unresolved = c.unresolved[:0]
}

// imageName is how Progress.Image names the entry d: its ref name, or its
// digest when it has none.
func imageName(d ocispec.Descriptor) string {
	if ref := d.Annotations[ocispec.AnnotationRefName]; ref != "" {
		return ref
	}
	return d.Digest.String()
}

// listEntry adds d to the layout's index.json entries, once per ref name
// and digest; the reasons it was selected for are merged.
func (c *collector) listEntry(d ocispec.Descriptor) error {
	key := listKey{d.Annotations[ocispec.AnnotationRefName], d.Digest}
	i, ok := c.listed[key]
	if !ok {
		c.listed[key] = len(c.g.manifests)
		c.g.manifests = append(c.g.manifests, d)
		return nil
	}
	prev := c.g.manifests[i].Annotations[format.AnnotationSelectedBy]
	sel := d.Annotations[format.AnnotationSelectedBy]
	if sel == "" || sel == prev {
		return nil
	}
	merged, err := format.MergeSelections(prev, sel)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Digest, err)
	}
	m := &c.g.manifests[i]
	m.Annotations = maps.Clone(m.Annotations)
	m.Annotations[format.AnnotationSelectedBy] = merged
	return nil
}

// withSelections records on root why src delivers it.
func withSelections(src Source, root ocispec.Descriptor) ocispec.Descriptor {
	s, ok := src.(SelectedSource)
	if !ok || len(s.Selections()) == 0 {
		return root
	}
	root.Annotations = maps.Clone(root.Annotations)
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[format.AnnotationSelectedBy] = format.FormatSelections(s.Selections())
	return root
}

// addRoots packs the entries src names; a ref name may stand for one
// digest only.
func (c *collector) addRoots(src Source) error {
	roots, err := src.Roots(c.ctx)
	if err != nil {
		if s, ok := src.(SelectedSource); ok {
			if where := format.SelectedWhere(s.Selections()); where != "" {
				// Which line of which file asked for it (an image list,
				// an image set file).
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		return err
	}
	c.g.manifests = slices.Grow(c.g.manifests, len(roots))
	for _, r := range roots {
		ref := r.Annotations[ocispec.AnnotationRefName]
		if prev, ok := c.refs[ref]; ok && ref != "" && prev.digest != r.Digest {
			return fmt.Errorf("ref name %q is %s in %s but %s in %s: pack them into separate bundles or retag one", ref, prev.digest, prev.source, r.Digest, src)
		}
		c.refs[ref] = refOwner{r.Digest, src}
		if err := c.add(src, r); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if err := c.listEntry(withSelections(src, r)); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	return nil
}

// addRelated packs what is tagged after the manifest or index m at its
// own source, and its referrers at every source that is asked.
func (c *collector) addRelated(sources []Source, m *packBlob) error {
	if a, ok := m.src.(AttachedSource); ok {
		if err := c.addAttached(m.src, a, m.Digest); err != nil {
			return err
		}
	}
	for _, src := range sources {
		if isRemote(src) && src != m.src {
			continue
		}
		if err := c.addReferrers(src, m.Digest); err != nil {
			return err
		}
	}
	return nil
}

// addAttached packs the manifests owner keeps tagged after d, under their
// ref names.
func (c *collector) addAttached(owner Source, a AttachedSource, d digest.Digest) error {
	tagged, err := a.Attached(c.ctx, d)
	if err != nil {
		return err
	}
	for _, r := range tagged {
		ref := r.Annotations[ocispec.AnnotationRefName]
		if prev, ok := c.refs[ref]; ok && prev.digest != r.Digest {
			return fmt.Errorf("ref name %q is %s in %s but %s in %s: pack them into separate bundles", ref, prev.digest, prev.source, r.Digest, owner)
		}
		c.refs[ref] = refOwner{r.Digest, owner}
		if c.byDigest[r.Digest] == nil {
			c.notice(fmt.Sprintf("added %s (%s), tagged after %s", ref, r.Digest, d))
		}
		if err := c.add(owner, r); err != nil {
			return fmt.Errorf("%s: %w", owner, err)
		}
		if err := c.listEntry(r); err != nil {
			return fmt.Errorf("%s: %w", owner, err)
		}
	}
	return nil
}

// addReferrers packs the manifests src lists as referrers of d, without
// ref names.
func (c *collector) addReferrers(src Source, d digest.Digest) error {
	if l, ok := src.(*LayoutSource); ok {
		// The layout's manifests walked need not be read again for
		// their subjects; an error is Referrers' too.
		l.PrimeReferrers(c.ctx, c.knownSubject(src))
	}
	rs, err := src.Referrers(c.ctx, d)
	if err != nil {
		return err
	}
	for _, r := range rs {
		r.Annotations = withoutRefName(r.Annotations)
		if c.byDigest[r.Digest] == nil {
			c.notice(fmt.Sprintf("added referrer %s (%s) of %s from %s", r.Digest, orUnknown(r.ArtifactType), d, src))
		}
		if err := c.add(src, r); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if err := c.listEntry(r); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	return nil
}

// knownSubject says the subjects of the manifests walked from src.
func (c *collector) knownSubject(src Source) oci.KnownSubject {
	return func(d ocispec.Descriptor) (digest.Digest, bool) {
		b := c.byDigest[d.Digest]
		if b == nil || b.info == nil || b.src != src || b.Size != d.Size {
			return "", false
		}
		return b.info.subject, true
	}
}

// markBaseBlobs marks the blobs a base put at the destination: they are
// not carried, and not fetched.
func (c *collector) markBaseBlobs() {
	for _, b := range c.g.blobs {
		if id := c.bases.of(b.Digest, b.Size, b.MediaType); id != "" {
			b.Base = id
			b.Encoding, b.StoredSize, b.StoredDigest = format.CompressionNone, b.Size, b.Digest
		}
	}
}

// summarize describes each index.json entry for inspect.
func (c *collector) summarize() {
	c.g.images = make([]format.Image, 0, len(c.g.manifests))
	for _, m := range c.g.manifests {
		b := c.byDigest[m.Digest]
		img := format.Image{Ref: m.Annotations[ocispec.AnnotationRefName], Digest: m.Digest, MediaType: m.MediaType}
		if b.info != nil && b.info.subject != "" {
			img.Subject = b.info.subject
		}
		img.Size = treeSize(b, map[*packBlob]bool{})
		img.Platforms = platformsOf(c.ctx, c.byDigest, m, c.bases)
		c.g.images = append(c.g.images, img)
	}
}

// treeSize is the bytes of b and of everything it references that is
// packed, each blob counted once.
func treeSize(b *packBlob, counted map[*packBlob]bool) int64 {
	if counted[b] {
		return 0
	}
	counted[b] = true
	n := b.Size
	if b.info != nil {
		for _, k := range b.info.kids {
			n += treeSize(k, counted)
		}
	}
	return n
}

// orUnknown names a missing platform or artifact type in notices.
func orUnknown(s string) string {
	if s == "" {
		return "no platform"
	}
	return s
}

// withoutRefName drops the ref name of a referrer: referrers are packed
// for their subject, not as tags of their own.
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
func platformsOf(ctx context.Context, blobs map[digest.Digest]*packBlob, d ocispec.Descriptor, bases *baseLookup) []string {
	info := blobs[d.Digest].info
	if oci.IsIndex(d.MediaType) {
		if info == nil {
			return nil // walked as a blob that is no manifest or index
		}
		var out []string
		for _, m := range info.platforms {
			if blobs[m.digest] != nil {
				out = append(out, m.platform)
			}
		}
		return out
	}
	if d.Platform != nil {
		return []string{oci.FormatPlatform(d.Platform)}
	}
	if info == nil {
		return nil
	}
	config := ocispec.Descriptor{MediaType: info.config.mediaType, Digest: info.config.digest, Size: info.config.size}
	if config.Size > oci.MaxManifestSize || blobs[config.Digest] == nil {
		return nil
	}
	if config.MediaType != ocispec.MediaTypeImageConfig && config.MediaType != "application/vnd.docker.container.image.v1+json" {
		return nil
	}
	if blobs[config.Digest].Base != "" {
		// Not fetched: the bases' summaries say what they knew.
		return bases.platforms[d.Digest]
	}
	c, err := oci.ReadManifest(ctx, blobs[config.Digest].src, config)
	if err != nil {
		return nil
	}
	var p ocispec.Platform
	if json.Unmarshal(c, &p) != nil || p.OS == "" {
		return nil
	}
	return []string{oci.FormatPlatform(&p)}
}
