package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Destination is where Set.Unpack puts a bundle's content: an OCI layout
// (LayoutDestination), a mirror registry (RegistryDestination), or any
// other store that implements it.
//
// Content goes into repositories. A registry has one per image name, as
// its mirror mapping says; a layout is one store whatever the name, and
// has the one repository "". Set.Unpack walks every destination the same
// way:
//
//  1. Repository, for each named entry; an entry without a name (a
//     signature or SBOM referrer) goes where its subject goes.
//  2. Prepare, once, before anything is written.
//  3. Blobs that base bundles delivered: Exists in each repository that
//     needs them, and Mount into those that lack them from one that holds
//     them, of the bundle or one the bases name (Plan.MountFrom).
//  4. Blobs, streamed in volume order (media are sequential): Exists,
//     Mount from another repository, or Put, whose writer is committed
//     only once every byte has been checked against the signed index.
//  5. Manifests, children before parents and subjects before referrers:
//     Exists, or PutManifest.
//  6. Name, last (tags of a registry, index.json of a layout), so that
//     nothing is named before all it references is in.
//
// A destination's errors are passed on as they are; Set.Unpack adds the
// blob, volume or entry concerned.
type Destination interface {
	// Repository is the repository the entry named ref goes into, and the
	// entry's name there, for people (mirror.example/ns/app:v1). ref is
	// "" for an entry without a name whose subject the bundle does not
	// carry.
	Repository(ref string) (repo, target string, err error)
	// Prepare is told the plan once, before anything is written. It may
	// refuse it: no access, too little room, blobs of the bases missing.
	Prepare(ctx context.Context, p *Plan) error
	// Exists reports whether repository repo holds desc (a blob or a
	// manifest).
	Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error)
	// Mount makes desc, which repository from holds, available in repo.
	Mount(ctx context.Context, repo, from string, desc ocispec.Descriptor) error
	// Put returns a writer of desc's content (its bytes, decoded) into
	// repo. The caller checks every byte against the signed index before
	// it calls Commit; nothing is stored on Abort, nor before Commit.
	Put(ctx context.Context, repo string, desc ocispec.Descriptor) (BlobWriter, error)
	// PutManifest stores a manifest or index whose content is checked.
	PutManifest(ctx context.Context, repo string, desc ocispec.Descriptor, content []byte) error
	// Name gives the entries their names once everything is in. Each
	// entry's ref name is its org.opencontainers.image.ref.name
	// annotation (none for referrers); content returns a manifest's
	// checked bytes. It returns what changed, and what was already so.
	Name(ctx context.Context, entries []ocispec.Descriptor, content func(digest.Digest) ([]byte, error)) ([]NameChange, error)
	// Blobs lists the blobs the destination holds, for an inventory
	// (TakeInventory): what the next bundle need not carry.
	Blobs(ctx context.Context, o InventoryOptions) ([]format.Content, error)
}

// BlobWriter takes a blob's bytes and stores them on Commit.
type BlobWriter interface {
	io.Writer
	// Commit stores the blob; the caller has checked what it wrote.
	Commit() error
	// Abort drops what was written.
	Abort()
}

// BlobCopier is a BlobWriter into a file that Set.Unpack can fill by the
// kernel (copy_file_range) when a volume is a file, and check by reading
// it back: oci.BlobWriter is one.
type BlobCopier interface {
	BlobWriter
	io.ReaderAt
	// CopyFrom appends n bytes of src from its position.
	CopyFrom(src *os.File, n int64) (int64, error)
	// Written is the number of bytes written so far.
	Written() int64
	// DigestCheckedByCaller says the caller checks the blob's digest, so
	// Commit need not hash it again.
	DigestCheckedByCaller()
}

// Plan is what a destination is told before anything is written.
type Plan struct {
	Index *format.Index
	// Repositories is every repository content goes into, sorted.
	Repositories []string
	// Children is, for each manifest the bundle carries, the manifests
	// and blobs it references that the bundle carries; Where, the
	// repositories each goes into. Both are functions, not maps by
	// digest: at a million blobs such maps were tens of megabytes each.
	Children func(digest.Digest) []digest.Digest
	Where    func(digest.Digest) []string
	// MountFrom is the other repositories that the walk may ask for a
	// blob and mount it from (those the bases name, SPEC 9.3.3), sorted;
	// nothing goes into them.
	MountFrom []string
}

// NameChange is a name given to an entry, or found already given.
type NameChange struct {
	// Name is the name as people see it at the destination
	// (mirror.example/ns/app:v1, app:v1); "" for an entry added without
	// a name.
	Name string `json:"name,omitempty"`
	// Old is what the name pointed at before ("" if nothing); New what
	// it points at now. Old == New: the name was already so.
	Old digest.Digest `json:"old,omitempty"`
	New digest.Digest `json:"new"`
}

// UnpackOptions control Set.Unpack.
type UnpackOptions struct {
	Progress func(Progress)
	// Notice, when set, is told of names added or moved in the destination.
	Notice func(string)
	// Jobs, when more than 0, is the number of blob uploads in flight
	// into a registry (RegistryDestinationOptions.Jobs); other
	// destinations write one blob at a time, as the volumes are read.
	Jobs int
	// AllowRollback applies a bundle that moves names which a bundle
	// created later set (as the destination's record says, SPEC 11.8);
	// without it Set.Unpack refuses it with a *RollbackError before
	// anything is written. The record notes that it was allowed.
	AllowRollback bool
}

// UnpackResult says what Set.Unpack did.
type UnpackResult struct {
	Index *format.Index
	// Images lists every named entry of the bundle and where it went.
	Images []UnpackedImage
	// Blobs counts blobs put, mounted from another repository of the
	// destination, and found already there; BytesPut is their size.
	BlobsPut, BlobsMounted, BlobsPresent int
	BytesPut                             int64
	// BlobsMended counts, of BlobsPut, the blobs the destination held
	// damaged (a layout re-hashed with LayoutOptions.VerifyBase), now
	// written again.
	BlobsMended                    int
	ManifestsPut, ManifestsPresent int
	// NamesSet and NamesPresent count names (tags), set or found already
	// so; entries without a name (referrers in a layout) are not names.
	NamesSet, NamesPresent int
	// Names are the names set or moved, and entries added without one;
	// NamesMoved counts the moved ones (a tag now on other content).
	Names      []NameChange
	NamesMoved int
	// MadeTags lists the tags the destination made up for manifests that
	// have none of their own, as people see them, when it pushes by tag
	// (RegistryDestinationOptions.TagManifests); nil when none.
	MadeTags []string
	// AlreadyApplied: the destination's record lists this bundle, and
	// every name it sets is still where it set it: nothing was done.
	// AppliedAt is when it was applied (RFC 3339).
	AlreadyApplied bool
	AppliedAt      string
	// RolledBack lists the names moved back to older content, as
	// UnpackOptions.AllowRollback allowed.
	RolledBack []string
}

// UnpackedImage is one named entry of the bundle at the destination.
type UnpackedImage struct {
	Source string        `json:"source"` // the name the bundle records (ref name)
	Target string        `json:"target"` // where it is (Destination.Repository)
	Digest digest.Digest `json:"digest"`
	// SelectedBy is what selected the image, when the bundle records it
	// (SPEC 6.7); a record that does not parse is left out.
	SelectedBy []format.Selection `json:"selectedBy,omitempty"`
}

// Catalog is the catalog reference an image is the filtered operator
// catalog of, "" when it is none (an original catalog kept beside its
// filtered image is none: OperatorHub is to offer what was carried).
func (im UnpackedImage) Catalog() string {
	for _, s := range im.SelectedBy {
		if s.By == format.SelectedByCatalog && s.Filtered {
			return s.Catalog
		}
	}
	return ""
}

// Unpack verifies the bundle as it writes it into dest, as Destination
// says: every byte is checked against the signed index before the
// destination may store it, each volume is read once and in order, and
// nothing is named before all it references is in (a registry's blob
// uploads run several at once, and one that fails transiently is replayed
// from memory or from the blob's place in the volumes, checked again).
// After a failure or an interruption, running it again puts only what is
// missing. The set must be complete, and trusted.
//
// A destination that keeps a record of the bundles applied to it (a
// layout, inside it; a registry, in RegistryDestinationOptions.History)
// is judged first, before anything is written (SPEC 11.8): a bundle that
// would move a name that a bundle created later set is refused with a
// *RollbackError unless UnpackOptions.AllowRollback; a bundle the record
// lists, whose names are still where it set them, is a replay
// (UnpackResult.AlreadyApplied): missing content is put back, no name
// moves, nothing is recorded. Otherwise the bundle and the names it set
// are recorded once they are set.
func (s *Set) Unpack(ctx context.Context, dest Destination, o UnpackOptions) (*UnpackResult, error) {
	if err := s.complete(); err != nil {
		return nil, err
	}
	w := &walk{ctx: ctx, set: s, dest: dest, res: &UnpackResult{Index: s.Index}, notice: o.Notice,
		readers: map[int]VolumeReader{}, places: newBlobPlaces(s.Index.Blobs)}
	if w.notice == nil {
		w.notice = func(string) {}
	}
	defer w.closeReaders()
	x := s.Index
	if err := w.graph(); err != nil {
		return nil, err
	}
	repos, err := w.repositories()
	if err != nil {
		return nil, err
	}
	w.repos = repos
	// The record is judged before anything is written: it needs only
	// the index.
	record, verdict, err := w.checkHistory(o)
	if err != nil {
		return nil, err
	}
	if verdict.replay {
		// Applied already, and its names are where it set them: the walk
		// still puts back what may be missing, and no name moves.
		w.res.AlreadyApplied, w.res.AppliedAt = true, verdict.appliedAt
		w.notice(fmt.Sprintf("bundle %s was applied to %v already (%s): its names are as it set them", x.BundleID, dest, verdict.appliedAt))
	}
	for _, r := range verdict.rollbacks {
		w.res.RolledBack = append(w.res.RolledBack, r.name)
	}
	w.elsewhere = w.baseRepositories()
	if err := dest.Prepare(ctx, &Plan{Index: x, Repositories: repos, Children: w.childDigests, Where: w.where, MountFrom: w.mountFrom()}); err != nil {
		return nil, err
	}
	if err := w.baseBlobs(); err != nil {
		return nil, err
	}
	var total int64
	for _, v := range x.Volumes {
		total += v.Size
	}
	if bw, ok := dest.(blobWaiter); ok {
		jobs := bw.beginBlobs(ctx, o.Jobs)
		w.ahead = startPresence(ctx, dest, x, w.where, jobs)
		defer w.ahead.stop()
	}
	u := &unpacker{ctx: ctx, dest: w, set: s, op: "unpack", progress: o.Progress, total: total, imageOf: imagesOf(x, w.places, w.kidsOf)}
	err = u.run()
	if bw, ok := dest.(blobWaiter); ok {
		// Blobs committed may still be uploading: every one must be in
		// before any manifest. After a failure of the walk, its error is
		// the one to report.
		werr := bw.waitBlobs(err != nil)
		switch {
		case err == nil:
			err = werr
		case werr != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil:
			// The walk stopped because an upload failed (its stream was
			// cancelled with the others): that failure is the cause.
			err = werr
		}
	}
	if err != nil {
		return nil, err
	}
	if err := w.manifests(); err != nil {
		return nil, err
	}
	if err := w.name(); err != nil {
		return nil, err
	}
	if m, ok := dest.(interface{ blobsMended() int }); ok {
		w.res.BlobsMended = m.blobsMended()
	}
	if record != nil {
		record.Applied = time.Now().UTC().Format(time.RFC3339)
		if err := w.dest.(historian).History().AddHistory(ctx, *record); err != nil {
			return nil, fmt.Errorf("bundle %s is applied, but its rollback record could not be kept: %w", x.BundleID, err)
		}
	}
	if t, ok := dest.(interface{ MadeTags() []string }); ok {
		w.res.MadeTags = t.MadeTags()
	}
	return w.res, nil
}

// walk is one Set.Unpack.
type walk struct {
	ctx    context.Context
	set    *Set
	dest   Destination
	res    *UnpackResult
	notice func(string)

	// places finds the place of each blob in the index's Blobs; what
	// the walk keeps of each blob is kept by that place, not in maps by
	// digest of its own (at a million blobs each such map took 55 to 95
	// MB, and the collector scanned them at every collection).
	places *blobPlaces
	// kids are the carried children of each manifest, by place: those
	// of the blob at place i are kids[kidsAt[i]:kidsAt[i+1]] (kidsOf).
	kidsAt, kids []int32
	subjects     map[digest.Digest]digest.Digest
	// Children of an index the bundle does not carry (a platform filter
	// dropped them), by index.
	missingChildren map[digest.Digest]int
	// repoOf is the repositories each blob and manifest goes into, by
	// its place in the index's Blobs (where): a number in repoLists,
	// where 0 is none. Blobs going into the same repositories share one
	// list, and the numbers hold no pointers for the collector to scan (a
	// list by place was 24 MB at a million blobs).
	repoOf    []int32
	repoLists [][]string
	// repos is every repository of the bundle; warm those found to hold
	// content already.
	repos, warm []string
	readers     map[int]VolumeReader // volumes open for reading manifests
	// ahead asks a destination that uploads several blobs at once which
	// repositories hold the next blobs, while the walk reads.
	ahead *presenceAhead
	// elsewhere is, by base id, the repositories of the destination that
	// base's entry names (baseRepositories); refused, those of them the
	// destination would not answer for, asked no more.
	elsewhere map[string][]string
	refused   map[string]bool
}

// graph reads each manifest the bundle carries straight from its place in
// the volumes (checked against its digests): its children and subject.
func (w *walk) graph() error {
	blobs := w.set.Index.Blobs
	w.kidsAt = make([]int32, len(blobs)+1)
	w.subjects = map[digest.Digest]digest.Digest{}
	w.missingChildren = map[digest.Digest]int{}
	for i := range blobs {
		w.kidsAt[i] = int32(len(w.kids))
		b := &blobs[i]
		if !format.IsManifestMediaType(b.MediaType) || b.Base != "" {
			continue
		}
		// A stop is heard between manifests: at 300,000 of them this
		// reading takes tens of seconds.
		if err := w.ctx.Err(); err != nil {
			return err
		}
		content, err := w.content(b.Digest)
		if err != nil {
			return err
		}
		kids, err := oci.Children(ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}, content)
		if err != nil {
			return err
		}
		for _, k := range kids {
			kp, ok := w.places.find(k.Digest)
			if !ok {
				if !oci.IsIndex(b.MediaType) {
					// Only an index may lack children (a platform filter
					// dropped them); an image without its config or a
					// layer would be written as a dangling reference.
					return &DanglingReferenceError{BundleID: w.set.Index.BundleID, Manifest: b.Digest, Blob: k.Digest}
				}
				w.missingChildren[b.Digest]++ // dropped by a platform filter
				continue
			}
			w.kids = append(w.kids, int32(kp))
		}
		if sub := oci.Subject(content); sub != nil {
			if sb := w.blob(sub.Digest); sb != nil {
				sub.Digest = sb.Digest
			}
			w.subjects[b.Digest] = sub.Digest
		}
	}
	w.kidsAt[len(blobs)] = int32(len(w.kids))
	return nil
}

// kidsOf is the places of the carried children of the blob at place i.
func (w *walk) kidsOf(i int) []int32 { return w.kids[w.kidsAt[i]:w.kidsAt[i+1]] }

// childDigests is Plan.Children: the digests of the carried children of
// manifest d.
func (w *walk) childDigests(d digest.Digest) []digest.Digest {
	i, ok := w.places.find(d)
	if !ok {
		return nil
	}
	var out []digest.Digest
	for _, k := range w.kidsOf(i) {
		out = append(out, w.set.Index.Blobs[k].Digest)
	}
	return out
}

// blob is the entry of blob d, nil when the bundle has none.
func (w *walk) blob(d digest.Digest) *format.Blob {
	i, ok := w.places.find(d)
	if !ok {
		return nil
	}
	return &w.set.Index.Blobs[i]
}

// where is the repositories blob or manifest d goes into.
func (w *walk) where(d digest.Digest) []string {
	i, ok := w.places.find(d)
	if !ok || w.repoOf == nil {
		return nil
	}
	return w.repoLists[w.repoOf[i]]
}

// content reads manifest d from the volumes, checked.
func (w *walk) content(d digest.Digest) ([]byte, error) {
	b := w.blob(d)
	if b == nil || b.Base != "" {
		return nil, fmt.Errorf("internal error: manifest %s is not carried", d)
	}
	return w.set.readSmallBlob(w.ctx, b, w.reader)
}

// reader is volume n, open for the whole walk.
func (w *walk) reader(n int) (VolumeReader, error) {
	if r := w.readers[n]; r != nil {
		return r, nil
	}
	r, err := w.set.reopen(w.ctx, n)
	if err != nil {
		return nil, err
	}
	w.readers[n] = r
	return r, nil
}

func (w *walk) closeReaders() {
	for _, r := range w.readers {
		r.Close()
	}
}

// repositories asks the destination where each entry goes and spreads
// that over what the entry reaches. It returns every repository, sorted.
func (w *walk) repositories() ([]string, error) {
	x := w.set.Index
	w.repoOf = make([]int32, len(x.Blobs))
	w.repoLists = [][]string{nil}
	// Most blobs go into one repository, and the blobs of a repository
	// share one list of it (a list of its own for each of a million blobs
	// was 16 MB more, issue 15): a list and one more repository make the
	// same list whichever blob they are added to.
	type listAndRepo struct {
		list int32
		repo string
	}
	grown := map[listAndRepo]int32{}
	var assignAt func(i int, repo string)
	assignAt = func(i int, repo string) {
		l := w.repoOf[i]
		if slices.Contains(w.repoLists[l], repo) {
			return
		}
		k := listAndRepo{l, repo}
		next, ok := grown[k]
		if !ok {
			next = int32(len(w.repoLists))
			w.repoLists = append(w.repoLists, append(slices.Clip(w.repoLists[l]), repo))
			grown[k] = next
		}
		w.repoOf[i] = next
		for _, k := range w.kidsOf(i) {
			assignAt(int(k), repo)
		}
	}
	assign := func(d digest.Digest, repo string) {
		if i, ok := w.places.find(d); ok {
			assignAt(i, repo)
		}
	}
	var unnamed []ocispec.Descriptor
	w.res.Images = make([]UnpackedImage, 0, len(x.Manifests))
	for _, m := range x.Manifests {
		ref := m.Annotations[ocispec.AnnotationRefName]
		if ref == "" {
			unnamed = append(unnamed, m)
			continue
		}
		repo, target, err := w.dest.Repository(ref)
		if err != nil {
			return nil, fmt.Errorf("bundle %s, entry %s: %w", x.BundleID, m.Digest, err)
		}
		assign(m.Digest, repo)
		sels, _ := format.ParseSelections(m.Annotations[format.AnnotationSelectedBy]) // informational: a bad record is no reason to stop
		w.res.Images = append(w.res.Images, UnpackedImage{Source: ref, Target: target, Digest: m.Digest, SelectedBy: sels})
	}
	// Referrers go where their subjects go; a referrer may refer to a
	// referrer, so repeat until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, m := range unnamed {
			before := len(w.where(m.Digest))
			for _, r := range w.where(w.subjects[m.Digest]) {
				assign(m.Digest, r)
			}
			changed = changed || len(w.where(m.Digest)) != before
		}
	}
	for _, m := range unnamed {
		if len(w.where(m.Digest)) == 0 {
			repo, _, err := w.dest.Repository("")
			if err != nil {
				return nil, fmt.Errorf("bundle %s: entry %s has no name and no subject in the bundle: %w", x.BundleID, m.Digest, err)
			}
			assign(m.Digest, repo)
		}
	}
	// The lists are few and shared (assign): each is looked at once.
	var repos []string
	seen := map[string]bool{}
	for _, rs := range w.repoLists {
		for _, r := range rs {
			if !seen[r] {
				seen[r] = true
				repos = append(repos, r)
			}
		}
	}
	slices.Sort(repos)
	return repos, nil
}

// whereIs splits the repositories desc goes into into those that hold it
// and those that lack it.
func (w *walk) whereIs(desc ocispec.Descriptor) (have, lack []string, err error) {
	var ahead []bool
	if w.ahead != nil {
		if ahead, _, err = w.ahead.answer(desc); err != nil {
			return nil, nil, err
		}
	}
	for i, r := range w.where(desc.Digest) {
		var ok bool
		if ahead != nil {
			ok = ahead[i]
		} else if ok, err = w.dest.Exists(w.ctx, r, desc); err != nil {
			return nil, nil, err
		}
		if ok {
			have = append(have, r)
			if !slices.Contains(w.warm, r) {
				w.warm = append(w.warm, r)
			}
		} else {
			lack = append(lack, r)
		}
	}
	return have, lack, nil
}

// holderElsewhere looks for desc, which none of the repositories it goes
// into holds, in other repositories of the destination, to mount it from
// there: a layer that an image in another repository brought into the
// mirror earlier. It returns the repository that holds desc, or "".
//
// What it asks is bounded, and depends on what the signed index says of
// the blob:
//
//   - A blob expected from base (fromBase names it): every repository of
//     the bundle, then every repository that base's entry names
//     (format.Base: at most format.MaxBaseRepositories of each kind),
//     those found to hold content of this push first (the blobs of one
//     image tend to be in one place). The bundle relies on that
//     base having put it there, so the search is worth its requests: not
//     finding it fails the push (MissingBaseBlobsError).
//   - A carried blob (fromBase ""): only the repositories found to hold
//     content of this push already, the bundle's and the bases' alike
//     (warm). The index says no base lists it, so asking every
//     repository the bases name would mostly be requests wasted on a
//     blob that is not there, for every carried blob; where some of it is
//     there, a repository that held something else of this push is where
//     it is likely to be. A push into an empty mirror asks nothing more.
func (w *walk) holderElsewhere(desc ocispec.Descriptor, fromBase string) (string, error) {
	candidates := slices.Clone(w.warm)
	if fromBase != "" {
		candidates = append(append(candidates, w.repos...), w.elsewhere[fromBase]...)
	}
	asked := map[string]bool{}
	for _, r := range candidates {
		if asked[r] || w.refused[r] || slices.Contains(w.where(desc.Digest), r) {
			continue
		}
		asked[r] = true
		ok, err := w.dest.Exists(w.ctx, r, desc)
		if err != nil && !slices.Contains(w.repos, r) && isRefusal(err) {
			// A repository only a base names may be one these credentials
			// may not read, or one this mirror does not have (an
			// inventory of another mirror): not a reason to fail a push
			// that does not need it.
			w.notice(fmt.Sprintf("%v/%s, named by a base as holding its content, refuses to be asked: it is asked no more (%v)", w.dest, r, err))
			if w.refused == nil {
				w.refused = map[string]bool{}
			}
			w.refused[r] = true
			continue
		}
		if err != nil {
			return "", fmt.Errorf("blob %s: looking for it in %s: %w", desc.Digest, r, err)
		}
		if ok {
			w.found(r)
			return r, nil
		}
	}
	return "", nil
}

// found notes that repository r, where holderElsewhere found a blob,
// holds content of this push: it is warm, asked first for the next.
func (w *walk) found(r string) {
	if !slices.Contains(w.warm, r) {
		w.warm = append(w.warm, r)
	}
}

// isRefusal reports whether err is a registry refusing to answer for a
// repository (no right to read it, a path it does not allow), as opposed
// to a failure of the registry or of the connection.
func isRefusal(err error) bool {
	var pe *oci.PathRefusedError
	return errors.Is(err, oci.ErrUnauthorized) || errors.As(err, &pe)
}

// baseRepositories is, by base id, the repositories of the destination
// where each base's entry says its content is (format.Base): its source
// repositories mapped as this bundle's ref names are, and its mirror
// repositories as they are; none for a destination without a mirror
// mapping (a layout is one store: there is nowhere else to look).
func (w *walk) baseRepositories() map[string][]string {
	d, ok := w.dest.(interface{ Mapping() mirror.Mapping })
	if !ok {
		return nil
	}
	m := d.Mapping()
	out := map[string][]string{}
	for _, b := range w.set.Index.Bases {
		var rs []string
		for _, name := range b.Repositories {
			// A repository name with a tag is a ref name mirror parses
			// with its own grammar (registry or not); the tag plays no
			// part in the mapping.
			n, err := mirror.ParseName(name + ":latest")
			if err != nil {
				continue // ParseIndex checked the grammar: cannot happen
			}
			if r, err := m.Repository(n); err == nil && !slices.Contains(rs, r) {
				rs = append(rs, r)
			}
			// A name that this mapping cannot map (too long under this
			// prefix) was never pushed under it: nothing to ask there.
		}
		for _, r := range b.MirrorRepositories {
			if !slices.Contains(rs, r) {
				rs = append(rs, r)
			}
		}
		if len(rs) > 0 {
			out[b.BundleID] = rs
		}
	}
	return out
}

// mountFrom is every repository the bases name that is not one of the
// bundle's own, sorted: the destination prepares them to be asked.
func (w *walk) mountFrom() []string {
	var out []string
	for _, rs := range w.elsewhere {
		for _, r := range rs {
			if !slices.Contains(w.repos, r) && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return out
}

// baseBlobs checks that every blob an earlier bundle delivered is in each
// repository that needs it, mounting it from one that holds it.
func (w *walk) baseBlobs() error {
	x := w.set.Index
	missing := &MissingBaseBlobsError{BundleID: x.BundleID, Dest: fmt.Sprint(w.dest), Missing: map[string][]digest.Digest{}}
	type mount struct {
		desc     ocispec.Descriptor
		to, from string
	}
	var mounts []mount
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base == "" {
			continue
		}
		if err := w.ctx.Err(); err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		have, lack, err := w.whereIs(desc)
		if err != nil {
			return err
		}
		if len(lack) > 0 && len(have) == 0 {
			from, err := w.holderElsewhere(desc, b.Base)
			if err != nil {
				return err
			}
			if from == "" {
				missing.Missing[b.Base] = append(missing.Missing[b.Base], b.Digest)
				continue
			}
			have = []string{from}
		}
		for _, r := range lack {
			mounts = append(mounts, mount{desc, r, have[0]})
		}
	}
	if len(missing.Missing) > 0 {
		return missing
	}
	for _, m := range mounts {
		if err := w.dest.Mount(w.ctx, m.to, m.from, m.desc); err != nil {
			return err
		}
		w.res.BlobsMounted++
	}
	return nil
}

// openBlob is where the unpacker puts b's stored bytes: a writer of the
// destination, decoding zstd on the way; a discardSink when the
// destination needs nothing (the bytes are still read and checked).
// Manifests are put after the blobs, by manifests.
func (w *walk) openBlob(b *format.Blob) (blobSink, error) {
	if format.IsManifestMediaType(b.MediaType) {
		return discardSink{}, nil
	}
	desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
	have, lack, err := w.whereIs(desc)
	if err != nil {
		return nil, err
	}
	w.res.BlobsPresent += len(have)
	if len(lack) == 0 {
		return discardSink{}, nil
	}
	if len(have) == 0 {
		from, err := w.holderElsewhere(desc, "")
		if err != nil {
			return nil, err
		}
		if from != "" {
			have = []string{from}
		}
	}
	if len(have) > 0 {
		// Another repository of the destination has it: mount, not put.
		for _, r := range lack {
			if err := w.dest.Mount(w.ctx, r, have[0], desc); err != nil {
				return nil, &destError{err}
			}
			w.res.BlobsMounted++
		}
		return discardSink{}, nil
	}
	bw, err := w.dest.Put(w.ctx, lack[0], desc)
	if err != nil {
		return nil, err
	}
	if c, ok := bw.(BlobCopier); ok && b.Encoding == format.CompressionNone && len(b.Placements) == 1 {
		// The one segment's digest is the blob digest (ParseIndex checks),
		// and it is checked before Commit: hash once.
		c.DigestCheckedByCaller()
	}
	if r, ok := bw.(replayable); ok {
		r.replayFrom(w.set.origin(b))
	}
	var sink blobSink = &countedWriter{BlobWriter: bw, w: w, size: b.Size, mountInto: lack[1:], from: lack[0], desc: desc}
	if a, ok := bw.(afterStorer); ok && len(lack) > 1 {
		// The upload completes after Commit, in the background: the
		// mounts into the other repositories wait for it there.
		dest, from, into := w.dest, lack[0], lack[1:]
		a.afterStored(func(ctx context.Context) error {
			for _, r := range into {
				if err := dest.Mount(ctx, r, from, desc); err != nil {
					return err
				}
			}
			return nil
		})
		w.res.BlobsPut++
		w.res.BytesPut += b.Size
		w.res.BlobsMounted += len(into)
		sink = bw
	} else if len(lack) == 1 {
		// The writer itself, so that the unpacker can copy into it by the
		// kernel; counted when the unpacker commits it.
		sink = bw
		w.res.BlobsPut++
		w.res.BytesPut += b.Size
	}
	if b.Encoding == format.CompressionZstd {
		return newZstdSink(sink, b.Size, "blob "+b.Digest.String()), nil
	}
	return sink, nil
}

// countedWriter is a blob put into one repository and then mounted into
// the others that need it.
type countedWriter struct {
	BlobWriter
	w         *walk
	size      int64
	from      string
	mountInto []string
	desc      ocispec.Descriptor
}

func (c *countedWriter) Commit() error {
	if err := c.BlobWriter.Commit(); err != nil {
		return err
	}
	c.w.res.BlobsPut++
	c.w.res.BytesPut += c.size
	for _, r := range c.mountInto {
		if err := c.w.dest.Mount(c.w.ctx, r, c.from, c.desc); err != nil {
			return &destError{err}
		}
		c.w.res.BlobsMounted++
	}
	return nil
}

// manifests puts the manifests the bundle carries, children first, each
// into every repository that needs it.
func (w *walk) manifests() error {
	for _, i := range manifestOrder(w.set.Index, w.places, w.kidsOf, w.subjects) {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		b := &w.set.Index.Blobs[i]
		d := b.Digest
		if b.Base != "" {
			continue
		}
		desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		have, lack, err := w.whereIs(desc)
		if err != nil {
			return err
		}
		if subject := w.subjects[d]; subject != "" && len(have) > 0 {
			// On a registry without the referrers API, putting a referrer
			// is also what adds it to its subject's sha256-<hex> referrers
			// index, which an interrupted push may not have reached: a
			// referrer there but not listed is put again.
			if rl, ok := w.dest.(referrerLister); ok {
				var listed []string
				for _, r := range have {
					ok, err := rl.listsReferrer(w.ctx, r, subject, d)
					if err != nil {
						return err
					}
					if ok {
						listed = append(listed, r)
					} else {
						lack = append(lack, r)
					}
				}
				have = listed
			}
		}
		w.res.ManifestsPresent += len(have)
		if len(lack) == 0 {
			continue
		}
		content, err := w.content(d)
		if err != nil {
			return err
		}
		for _, r := range lack {
			if err := w.dest.PutManifest(w.ctx, r, desc, content); err != nil {
				if n := w.missingChildren[d]; n > 0 {
					return fmt.Errorf("%w: index %s lists %d manifests the bundle does not carry (left out by a platform filter when packing), and %w", err, d, n, ErrIncompleteIndex)
				}
				return err
			}
			w.res.ManifestsPut++
		}
	}
	return nil
}

// referrerLister is a destination that can tell whether a referrer is
// listed among its subject's referrers (RegistryDestination).
type referrerLister interface {
	listsReferrer(ctx context.Context, repo string, subject, referrer digest.Digest) (bool, error)
}

// name names the entries, last, and tells of each name set or moved.
func (w *walk) name() error {
	changes, err := w.dest.Name(w.ctx, w.set.Index.Manifests, w.content)
	if err != nil {
		return err
	}
	// New names are counted and listed in the result, not told one by
	// one (a bundle may set hundreds); a tag moved to other content is.
	w.res.Names = slices.Grow(w.res.Names, len(changes))
	for _, c := range changes {
		switch {
		case c.Name == "":
			// An entry without a name (a referrer in a layout's
			// index.json): listed when added, and no name to count.
			if c.Old != c.New {
				w.res.Names = append(w.res.Names, c)
			}
			continue
		case c.Old == c.New:
			w.res.NamesPresent++
			continue
		case c.Old != "" && c.Name != "":
			w.res.NamesMoved++
			w.notice(fmt.Sprintf("moved tag %s from %s to %s", c.Name, c.Old, c.New))
		}
		w.res.NamesSet++
		w.res.Names = append(w.res.Names, c)
	}
	return nil
}

// manifestOrder lists the manifests the bundle carries so that children
// come before their parents and subjects before their referrers, which is
// the order registries accept them in.
func manifestOrder(x *format.Index, places *blobPlaces, kidsOf func(int) []int32, subjects map[digest.Digest]digest.Digest) []int {
	// By place: maps by digest of the manifests and of those seen were
	// 40 MB more at the end of an unpack of a million blobs (issue 15).
	var out []int
	seen := make([]bool, len(x.Blobs))
	var visit func(i int)
	visit = func(i int) {
		if seen[i] || !format.IsManifestMediaType(x.Blobs[i].MediaType) {
			return
		}
		seen[i] = true
		if s, ok := subjects[x.Blobs[i].Digest]; ok {
			if si, ok := places.find(s); ok {
				visit(si)
			}
		}
		for _, k := range kidsOf(i) {
			visit(int(k))
		}
		out = append(out, i)
	}
	for i := range x.Blobs {
		visit(i)
	}
	return out
}

// ErrIncompleteIndex is wrapped when a destination refuses an index whose
// manifests it lacks: the bundle carries only some platforms of the index
// (PackOptions.Platforms), and this destination (a registry that checks
// index children) wants them all.
// ErrDanglingReference is wrapped by *DanglingReferenceError.
var ErrDanglingReference = errors.New("a manifest references a blob the bundle neither carries nor expects from a base")

// DanglingReferenceError is a signed bundle whose manifest references a
// blob (its config or a layer) that the bundle neither carries nor
// expects at the destination from a base: a faulty packer's bundle, found
// before anything is written.
type DanglingReferenceError struct {
	BundleID string
	Manifest digest.Digest
	Blob     digest.Digest
}

func (e *DanglingReferenceError) Error() string {
	return fmt.Sprintf("bundle %s: manifest %s references %s, which the bundle neither carries nor expects from a base: the bundle is incomplete; pack it again",
		e.BundleID, e.Manifest, e.Blob)
}

func (e *DanglingReferenceError) Unwrap() error { return ErrDanglingReference }

var ErrIncompleteIndex = errors.New("this destination refuses incomplete indexes")

// destError is a failure of the destination (a full disk, a registry that
// refused or a connection that broke), as opposed to bytes that do not
// match the index.
type destError struct{ err error }

func (e *destError) Error() string { return e.err.Error() }
func (e *destError) Unwrap() error { return e.err }
