package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"

	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrIncompleteIndex is wrapped when a registry refuses an index whose
// manifests it lacks: the bundle carries only some platforms of the index
// (PackOptions.Platforms), and this registry wants them all.
var ErrIncompleteIndex = errors.New("this registry refuses incomplete indexes")

// PushOptions control Push.
type PushOptions struct {
	// Registries gives access to the mirror registry (credentials, TLS).
	Registries *oci.Registries
	// Mapping says which repository of the mirror each image goes to.
	Mapping  mirror.Mapping
	Progress func(Progress)
	// Notice, when set, is told of tags added or moved in the mirror.
	Notice func(string)
}

// PushResult says what Push did.
type PushResult struct {
	Index *Index
	// Images lists every named entry of the bundle and where it went.
	Images []PushedImage
	// Entries maps each source repository to its mirror repository, for
	// mirror configuration (mirror.Mapping.WriteConfig).
	Entries []mirror.Entry
	// Blobs counts blobs uploaded, mounted from another repository of the
	// mirror, and found already there; BytesUploaded is their size.
	BlobsUploaded, BlobsMounted, BlobsPresent int
	BytesUploaded                             int64
	ManifestsPushed, ManifestsPresent         int
	TagsPushed, TagsPresent                   int
}

// PushedImage is one named entry of the bundle in the mirror.
type PushedImage struct {
	Source string        // the name the bundle records (ref name)
	Target string        // mirror host/repository:tag, or @digest
	Digest digest.Digest //
}

// pushTag is a tag to set once everything is in place.
type pushTag struct {
	repo string
	tag  string
	blob *Blob
}

// Push verifies the bundle as it uploads it into a mirror
// registry. Blobs go first, streamed from the volumes (those the mirror
// has are skipped, so a re-run after an interruption uploads only what is
// missing); then manifests, children before parents and subjects before
// their referrers; tags last, so nothing is tagged before everything it
// references is in the registry. Every byte is checked against the signed
// index before the registry may complete its upload.
// The set must be complete, and trusted.
func (s *Set) Push(ctx context.Context, o PushOptions) (*PushResult, error) {
	if o.Registries == nil {
		return nil, errors.New("push: no registry access configured")
	}
	if err := s.complete(); err != nil {
		return nil, err
	}
	notice := o.Notice
	if notice == nil {
		notice = func(string) {}
	}
	x := s.Index
	res := &PushResult{Index: x}
	blobs := map[digest.Digest]*Blob{}
	for i := range x.Blobs {
		blobs[x.Blobs[i].Digest] = &x.Blobs[i]
	}

	// The graph: read each manifest the bundle carries straight from its
	// place in the volumes (checked against its segment digests).
	children := map[digest.Digest][]digest.Digest{}
	subjects := map[digest.Digest]digest.Digest{}
	missingChildren := map[digest.Digest]int{}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if !isManifestBlob(b) || b.Base != "" {
			continue
		}
		content, err := s.readSmallBlob(ctx, b)
		if err != nil {
			return nil, err
		}
		desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		kids, err := oci.Children(desc, content)
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			if blobs[k.Digest] == nil {
				missingChildren[b.Digest]++ // dropped by a platform filter
				continue
			}
			children[b.Digest] = append(children[b.Digest], k.Digest)
		}
		if sub := oci.Subject(content); sub != nil {
			subjects[b.Digest] = sub.Digest
		}
	}

	// Which repositories each blob and manifest goes into.
	repoOf := map[digest.Digest][]string{}
	var assign func(d digest.Digest, repo string)
	assign = func(d digest.Digest, repo string) {
		for _, r := range repoOf[d] {
			if r == repo {
				return
			}
		}
		repoOf[d] = append(repoOf[d], repo)
		for _, k := range children[d] {
			assign(k, repo)
		}
	}
	var tags []pushTag
	var names []mirror.Name
	var unnamed []ocispec.Descriptor
	for _, m := range x.Manifests {
		ref := m.Annotations[ocispec.AnnotationRefName]
		if ref == "" {
			unnamed = append(unnamed, m)
			continue
		}
		n, err := mirror.ParseName(ref)
		if err != nil {
			return nil, fmt.Errorf("bundle %s, entry %s: %w", x.BundleID, m.Digest, err)
		}
		repo, err := o.Mapping.Repository(n)
		if err != nil {
			return nil, fmt.Errorf("bundle %s, entry %s: %w", x.BundleID, m.Digest, err)
		}
		names = append(names, n)
		assign(m.Digest, repo)
		target := o.Mapping.Mirror + "/" + repo + "@" + m.Digest.String()
		if n.Tag != "" {
			tags = append(tags, pushTag{repo: repo, tag: n.Tag, blob: blobs[m.Digest]})
			target = o.Mapping.Mirror + "/" + repo + ":" + n.Tag
		}
		res.Images = append(res.Images, PushedImage{Source: ref, Target: target, Digest: m.Digest})
	}
	// Referrers go where their subjects go; a referrer may refer to a
	// referrer, so repeat until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, m := range unnamed {
			before := len(repoOf[m.Digest])
			for _, r := range repoOf[subjects[m.Digest]] {
				assign(m.Digest, r)
			}
			changed = changed || len(repoOf[m.Digest]) != before
		}
	}
	for _, m := range unnamed {
		if len(repoOf[m.Digest]) == 0 {
			return nil, fmt.Errorf("bundle %s: entry %s has no name and no subject in the bundle, so no repository to go to", x.BundleID, m.Digest)
		}
	}
	res.Entries = o.Mapping.Entries(names)

	// Open the repositories; the first one checks access before any work.
	repos := map[string]*oci.Repository{}
	var repoNames []string
	for _, rs := range repoOf {
		for _, r := range rs {
			if repos[r] == nil {
				repos[r] = nil
				repoNames = append(repoNames, r)
			}
		}
	}
	sort.Strings(repoNames)
	for _, r := range repoNames {
		repo, err := o.Registries.Repository(ctx, o.Mapping.Mirror, r)
		if err != nil {
			return nil, err
		}
		repos[r] = repo
	}
	if len(repoNames) > 0 {
		if err := repos[repoNames[0]].Ping(ctx); err != nil {
			return nil, err
		}
	}

	// Blobs that earlier bundles delivered must be there already.
	type baseMount struct {
		desc     ocispec.Descriptor
		to, from *oci.Repository
	}
	var mounts []baseMount
	missingBase := &MissingBaseBlobsError{BundleID: x.BundleID, Dest: o.Mapping.Mirror, Missing: map[string][]digest.Digest{}}
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base == "" {
			continue
		}
		// A repository new to the mirror gets the blob mounted from one
		// that has it.
		desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		have, lack, err := whereIs(ctx, desc, repos, repoOf[b.Digest])
		if err != nil {
			return nil, err
		}
		if len(lack) > 0 && len(have) == 0 {
			missingBase.Missing[b.Base] = append(missingBase.Missing[b.Base], b.Digest)
			continue
		}
		for _, repo := range lack {
			mounts = append(mounts, baseMount{desc, repo, have[0]})
		}
	}
	if len(missingBase.Missing) > 0 {
		return nil, missingBase
	}
	for _, m := range mounts {
		if err := m.to.Mount(ctx, m.desc, m.from, nil); err != nil {
			return nil, err
		}
		res.BlobsMounted++
	}

	var total int64
	for _, v := range x.Volumes {
		total += v.Size
	}
	dest := &pushDest{ctx: ctx, repos: repos, repoOf: repoOf, res: res}
	u := &unpacker{ctx: ctx, dest: dest, set: s, op: "push", progress: o.Progress, total: total}
	if err := u.run(); err != nil {
		return nil, err
	}

	// Manifests, children first, each into every repository that needs it.
	for _, d := range manifestOrder(x, children, subjects) {
		b := blobs[d]
		if b.Base != "" {
			continue
		}
		content, err := s.readSmallBlob(ctx, b)
		if err != nil {
			return nil, err
		}
		desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
		for _, r := range repoOf[d] {
			repo := repos[r]
			ok, err := repo.Exists(ctx, desc)
			if err != nil {
				return nil, err
			}
			if ok {
				res.ManifestsPresent++
				continue
			}
			if err := repo.Push(ctx, desc, bytes.NewReader(content)); err != nil {
				if n := missingChildren[d]; n > 0 {
					return nil, fmt.Errorf("%w: index %s lists %d manifests the bundle does not carry (left out by a platform filter when packing), and %w", err, d, n, ErrIncompleteIndex)
				}
				return nil, err
			}
			res.ManifestsPushed++
		}
	}

	// Tags last.
	for _, t := range tags {
		repo := repos[t.repo]
		cur, resolveErr := repo.Resolve(ctx, t.tag)
		switch {
		case resolveErr == nil && cur.Digest == t.blob.Digest:
			res.TagsPresent++
			continue
		case resolveErr != nil && !errors.Is(resolveErr, oci.ErrNotFound):
			return nil, resolveErr
		}
		content, err := s.readSmallBlob(ctx, t.blob)
		if err != nil {
			return nil, err
		}
		desc := ocispec.Descriptor{MediaType: t.blob.MediaType, Digest: t.blob.Digest, Size: t.blob.Size}
		if err := repo.PushTag(ctx, desc, bytes.NewReader(content), t.tag); err != nil {
			return nil, err
		}
		res.TagsPushed++
		if resolveErr == nil {
			notice(fmt.Sprintf("moved tag %s:%s from %s to %s", repo.Name, t.tag, cur.Digest, t.blob.Digest))
		} else {
			notice(fmt.Sprintf("tagged %s as %s:%s", t.blob.Digest, repo.Name, t.tag))
		}
	}
	return res, nil
}

func isManifestBlob(b *Blob) bool { return oci.IsIndex(b.MediaType) || oci.IsManifest(b.MediaType) }

// manifestOrder lists the manifests the bundle carries so that children
// come before their parents and subjects before their referrers, which is
// the order registries accept them in.
func manifestOrder(x *Index, children map[digest.Digest][]digest.Digest, subjects map[digest.Digest]digest.Digest) []digest.Digest {
	isManifest := map[digest.Digest]bool{}
	for i := range x.Blobs {
		if isManifestBlob(&x.Blobs[i]) {
			isManifest[x.Blobs[i].Digest] = true
		}
	}
	var out []digest.Digest
	seen := map[digest.Digest]bool{}
	var visit func(d digest.Digest)
	visit = func(d digest.Digest) {
		if seen[d] || !isManifest[d] {
			return
		}
		seen[d] = true
		if s, ok := subjects[d]; ok {
			visit(s)
		}
		for _, k := range children[d] {
			visit(k)
		}
		out = append(out, d)
	}
	for i := range x.Blobs {
		visit(x.Blobs[i].Digest)
	}
	return out
}

// readSmallBlob reads a manifest-sized blob straight from its place in the
// volumes, checking each segment and the whole.
func (s *Set) readSmallBlob(ctx context.Context, b *Blob) ([]byte, error) {
	if b.StoredSize > oci.MaxManifestSize || b.Size > oci.MaxManifestSize {
		return nil, fmt.Errorf("manifest %s is %d bytes, more than the %d allowed", b.Digest, b.Size, oci.MaxManifestSize)
	}
	stored := make([]byte, 0, b.StoredSize)
	for i, p := range b.Placements {
		v := s.Volumes[p.Volume]
		seg, err := readAt(ctx, s.openers[p.Volume], p.Offset, p.Length)
		if err != nil {
			return nil, err
		}
		if digest.FromBytes(seg) != p.Digest {
			return nil, &CorruptError{Path: v.Path, Volume: p.Volume, Offset: p.Offset, Member: MemberName(b, i), Digest: p.Digest, Reason: "segment content does not match its digest"}
		}
		stored = append(stored, seg...)
	}
	content := stored
	if b.Encoding == CompressionZstd {
		dec, err := zstd.NewReader(bytes.NewReader(stored), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxDecoderWindow), zstd.WithDecoderMaxMemory(uint64(b.Size)+1))
		if err != nil {
			return nil, err
		}
		content, err = io.ReadAll(io.LimitReader(dec, b.Size+1))
		dec.Close()
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", b.Digest, err)
		}
	}
	if int64(len(content)) != b.Size || digest.FromBytes(content) != b.Digest {
		v := s.Volumes[b.Placements[0].Volume]
		return nil, &CorruptError{Path: v.Path, Volume: v.Number, Offset: b.Placements[0].Offset, Member: MemberName(b, 0), Digest: b.Digest, Reason: "manifest content does not match its digest"}
	}
	return content, nil
}

func readAt(ctx context.Context, v VolumeOpener, off, n int64) ([]byte, error) {
	r, err := v.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, &CorruptError{Path: v.Name(), Offset: off, Reason: fmt.Sprintf("cannot read %d bytes: %v", n, err)}
	}
	return buf, nil
}

// whereIs splits the named repositories into those that hold desc and
// those that lack it.
func whereIs(ctx context.Context, desc ocispec.Descriptor, repos map[string]*oci.Repository, names []string) (have, lack []*oci.Repository, err error) {
	for _, r := range names {
		ok, err := repos[r].Exists(ctx, desc)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			have = append(have, repos[r])
		} else {
			lack = append(lack, repos[r])
		}
	}
	return have, lack, nil
}

// pushDest uploads the blobs of a stream into the repositories that need
// them. Manifests are skipped here: Push sends them once all blobs are in.
type pushDest struct {
	ctx    context.Context
	repos  map[string]*oci.Repository
	repoOf map[digest.Digest][]string
	res    *PushResult
}

func (p *pushDest) openBlob(b *Blob) (blobSink, error) {
	if isManifestBlob(b) {
		return discardSink{}, nil
	}
	desc := ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size}
	have, lack, err := whereIs(p.ctx, desc, p.repos, p.repoOf[b.Digest])
	if err != nil {
		return nil, err
	}
	p.res.BlobsPresent += len(have)
	if len(lack) == 0 {
		return discardSink{}, nil
	}
	if len(have) > 0 {
		// Another repository of the mirror has it: mount, do not upload.
		for _, repo := range lack {
			if err := repo.Mount(p.ctx, desc, have[0], nil); err != nil {
				return nil, err
			}
			p.res.BlobsMounted++
		}
		return discardSink{}, nil
	}
	up := newUploadSink(p.ctx, lack[0], desc, func() error {
		p.res.BlobsUploaded++
		p.res.BytesUploaded += b.Size
		for _, repo := range lack[1:] {
			if err := repo.Mount(p.ctx, desc, lack[0], nil); err != nil {
				return err
			}
			p.res.BlobsMounted++
		}
		return nil
	})
	if b.Encoding == CompressionZstd {
		return newZstdSink(up, b.Size, "blob "+b.Digest.String()), nil
	}
	return up, nil
}

// uploadSink streams a blob into a registry upload. It holds back the
// last byte until Commit has checked the digest of everything before it,
// so a registry never completes an upload of bytes the index does not
// vouch for, whatever checks the registry makes itself.
type uploadSink struct {
	pw    *io.PipeWriter
	done  chan error
	desc  ocispec.Descriptor
	h     hash.Hash
	n     int64
	last  []byte
	after func() error
}

func newUploadSink(ctx context.Context, repo *oci.Repository, desc ocispec.Descriptor, after func() error) *uploadSink {
	pr, pw := io.Pipe()
	u := &uploadSink{pw: pw, done: make(chan error, 1), desc: desc, h: sha256.New(), after: after}
	go func() {
		err := repo.Push(ctx, desc, pr)
		pr.CloseWithError(errors.New("upload ended"))
		u.done <- err
	}()
	return u
}

func (u *uploadSink) Write(p []byte) (int, error) {
	if u.n+int64(len(p)) > u.desc.Size {
		return 0, fmt.Errorf("blob %s is longer than its %d bytes", u.desc.Digest, u.desc.Size)
	}
	u.h.Write(p)
	u.n += int64(len(p))
	out := p
	if u.n == u.desc.Size && len(p) > 0 {
		out, u.last = p[:len(p)-1], []byte{p[len(p)-1]}
	}
	if len(out) > 0 {
		if _, err := u.pw.Write(out); err != nil {
			return 0, &destError{u.failure(err)}
		}
	}
	return len(p), nil
}

// failure prefers the upload's own error over the pipe's. The pipe fails
// only once the upload is over, so wait for its result (left for Abort).
func (u *uploadSink) failure(err error) error {
	u.pw.CloseWithError(err)
	e := <-u.done
	u.done <- e
	if e != nil {
		return e
	}
	return err
}

func (u *uploadSink) Commit() error {
	if u.n != u.desc.Size {
		u.Abort()
		return fmt.Errorf("blob %s: %d bytes, want %d", u.desc.Digest, u.n, u.desc.Size)
	}
	if got := digest.NewDigest(digest.SHA256, u.h); got != u.desc.Digest {
		u.Abort()
		return fmt.Errorf("blob %s: content hashes to %s", u.desc.Digest, got)
	}
	if len(u.last) > 0 {
		if _, err := u.pw.Write(u.last); err != nil {
			return &destError{u.failure(err)}
		}
	}
	u.pw.Close()
	if err := <-u.done; err != nil {
		return &destError{err}
	}
	if err := u.after(); err != nil {
		return &destError{err}
	}
	return nil
}

func (u *uploadSink) Abort() {
	u.pw.CloseWithError(errors.New("upload aborted"))
	<-u.done
}

// destError is a failure of the destination (the registry refused or the
// connection broke), as opposed to bytes that do not match the index.
type destError struct{ err error }

func (e *destError) Error() string { return e.err.Error() }
func (e *destError) Unwrap() error { return e.err }
