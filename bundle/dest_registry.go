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
	"sync"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// RegistryDestination is a mirror registry as a Destination: each image
// goes into the repository its mirror mapping gives, blobs are uploaded
// once and mounted into the other repositories that need them, and tags
// are set last. Every byte is checked against the signed index before the
// registry may complete an upload.
//
// Some registries refuse manifests pushed by digest only (OpenShift's
// integrated registry) or delete untagged ones (Quay); see
// RegistryDestinationOptions.TagManifests.
type RegistryDestination struct {
	regs    *oci.Registries
	mapping mirror.Mapping
	repos   map[string]*oci.Repository
	names   []mirror.Name // of the entries, for Entries
	// ownTags is, for each repository, the manifests that Name tags
	// there (the first of their tags, in the bundle's order): those need
	// no tag made up for them.
	ownTags map[string]map[digest.Digest]string
	// early is, for each repository, the manifests of ownTags that an
	// index pushed into it lists: pushed by tag, they go under their own
	// tag when they are pushed, before that index (Prepare).
	early map[string]map[digest.Digest]string
	// pattern makes the tags made up.
	pattern TagPattern

	// jobs bounds the blob uploads in flight; pool runs those of the
	// push under way (from its first Put to waitBlobs).
	jobs int
	pool *pushPool
	// history is the file of the rollback record ("": none).
	history string

	mu     sync.Mutex
	byTag  bool     // push manifests by tag: asked, or the registry refused one by digest
	made   []string // the tags made up, as people see them
	madeIn map[string]bool
	// setEarly is what PutManifest did to the tags of early, by the
	// name people see, for Name to report as its own.
	setEarly map[string]NameChange
}

// RegistryDestinationOptions control a RegistryDestination.
type RegistryDestinationOptions struct {
	// TagManifests pushes every manifest under a tag, so that none is
	// ever untagged in the mirror, even for a moment: for registries that
	// delete untagged manifests (Quay) or refuse them (OpenShift's
	// integrated registry). A manifest that the bundle names with a tag
	// is pushed under that tag, still last (Name); any other (an index's
	// child, an image named by digest only, a signature or other
	// referrer) under the tag TagPattern makes from its digest. Without
	// it, manifests are pushed by digest until the registry refuses one
	// as wanting a tag; that one is pushed again by tag, and so is every
	// manifest after it. MadeTags lists the tags made up.
	//
	// A manifest that has a tag of its own and is also listed by an
	// index in the same repository must be in before that index: pushed
	// by tag, it goes under its own tag then, in the manifests step,
	// rather than last, and gets no tag made up. Its tag still points at
	// complete content (its blobs and children are in); what it gives up
	// is only being set with the other tags.
	TagManifests bool
	// TagPattern makes the tags of manifests without one of their own
	// (ParseTagPattern); the zero TagPattern makes ManifestTag's.
	TagPattern TagPattern
	// Jobs is the number of blob uploads in flight at once
	// (DefaultPushJobs when 0; UnpackOptions.Jobs overrides it). The
	// volumes are still read once and in order: blobs of up to 8 MiB are
	// read ahead into memory (32 MiB at most in all) while earlier ones
	// upload, a larger one streams into its upload as it is read.
	Jobs int
	// History is the file the rollback record of this mirror is kept in
	// (SPEC 11.8; DefaultRegistryHistory is the usual place); "" keeps
	// none, and nothing is refused as a rollback. The registry itself
	// holds no record: every host that pushes into the mirror needs the
	// same file.
	History string
}

// ManifestTag is the tag a manifest that has none of its own is pushed
// under when the registry wants a tag: "sha256-" and the first 32 hex
// digits of its digest. Deterministic, so that pushing again finds it;
// 128 bits, so that two manifests never share one; and shorter than the
// full digest, so that it is never the sha256-<64 hex> tag of the OCI
// referrers tag schema, which names the list of a manifest's referrers.
func ManifestTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()[:32]
}

// NewRegistryDestination is the mirror m maps images into, reached
// through regs (credentials, TLS).
func NewRegistryDestination(regs *oci.Registries, m mirror.Mapping, o RegistryDestinationOptions) *RegistryDestination {
	return &RegistryDestination{regs: regs, mapping: m, repos: map[string]*oci.Repository{},
		ownTags: map[string]map[digest.Digest]string{}, early: map[string]map[digest.Digest]string{}, pattern: o.TagPattern,
		byTag: o.TagManifests, madeIn: map[string]bool{}, setEarly: map[string]NameChange{}, jobs: o.Jobs, history: o.History}
}

// MadeTags lists the tags the destination made up for manifests without
// one of their own (RegistryDestinationOptions.TagPattern), as
// MIRROR/REPOSITORY:TAG, in the order they were set.
func (d *RegistryDestination) MadeTags() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.made...)
}

func (d *RegistryDestination) String() string { return d.mapping.Mirror }

// Location is the mirror, as docker://MIRROR[/PREFIX].
func (d *RegistryDestination) Location() location.Location {
	return location.Location{Transport: location.Registry, Host: d.mapping.Mirror, Prefix: d.mapping.Prefix}
}

// Entries maps each source repository of the entries seen to its mirror
// repository, for mirror configuration (mirror.Mapping.WriteConfig).
func (d *RegistryDestination) Entries() []mirror.Entry { return d.mapping.Entries(d.names) }

// Repository is the mirror repository of the image named ref.
func (d *RegistryDestination) Repository(ref string) (repo, target string, err error) {
	if ref == "" {
		return "", "", ErrNoRepository
	}
	n, err := mirror.ParseName(ref)
	if err != nil {
		return "", "", err
	}
	if repo, err = d.mapping.Repository(n); err != nil {
		return "", "", err
	}
	d.names = append(d.names, n)
	target = d.mapping.Mirror + "/" + repo
	switch {
	case n.Tag != "":
		target += ":" + n.Tag
	case n.Digest != "":
		target += "@" + n.Digest.String()
	}
	return repo, target, nil
}

// ErrNoRepository: an entry has no name, and no subject in the bundle to
// go with, so a registry has no repository to put it in.
var ErrNoRepository = errors.New("a registry has no repository for it")

// Prepare opens the repositories; the first one checks access before any
// work.
func (d *RegistryDestination) Prepare(ctx context.Context, p *Plan) error {
	if d.regs == nil {
		return errors.New("registry destination: no registry access configured")
	}
	if err := d.mapping.CheckCollisions(d.names); err != nil {
		return err
	}
	names := append([]string(nil), p.Repositories...)
	sort.Strings(names)
	for _, r := range names {
		repo, err := d.regs.Repository(ctx, d.mapping.Mirror, r)
		if err != nil {
			return err
		}
		d.repos[r] = repo
	}
	// Repositories to mount from are opened, not pinged: nothing is
	// pushed there, and one that refuses to be read is only not asked.
	for _, r := range p.MountFrom {
		repo, err := d.regs.Repository(ctx, d.mapping.Mirror, r)
		if err != nil {
			return err
		}
		d.repos[r] = repo
	}
	var entries []ocispec.Descriptor
	if p.Index != nil {
		entries = p.Index.Manifests
	}
	for _, m := range entries {
		n, err := mirror.ParseName(m.Annotations[ocispec.AnnotationRefName])
		if err != nil || n.Tag == "" || n.Repository == "" {
			continue
		}
		repo, err := d.mapping.Repository(n)
		if err != nil {
			continue // Repository refused it already
		}
		if d.ownTags[repo] == nil {
			d.ownTags[repo] = map[digest.Digest]string{}
		}
		if d.ownTags[repo][m.Digest] == "" {
			d.ownTags[repo][m.Digest] = n.Tag
		}
	}
	// A registry that wants tags accepts an index only once the
	// manifests it lists are in, and so under a tag: one with a tag of
	// its own goes under it then (RegistryDestinationOptions.TagManifests).
	// What an earlier push set early is no news to this one.
	d.early = map[string]map[digest.Digest]string{}
	d.mu.Lock()
	d.setEarly = map[string]NameChange{}
	d.mu.Unlock()
	for i := range p.Index.Blobs {
		parent := p.Index.Blobs[i].Digest
		if !format.IsManifestMediaType(p.Index.Blobs[i].MediaType) {
			continue
		}
		kids := p.Children(parent)
		for _, repo := range p.Where(parent) {
			for _, k := range kids {
				if tag := d.ownTags[repo][k]; tag != "" {
					if d.early[repo] == nil {
						d.early[repo] = map[digest.Digest]string{}
					}
					d.early[repo][k] = tag
				}
			}
		}
	}
	if len(names) > 0 {
		r := d.repos[names[0]]
		return oci.Refusal(r, r.Ping(ctx))
	}
	return nil
}

func (d *RegistryDestination) repo(name string) (*oci.Repository, error) {
	r := d.repos[name]
	if r == nil {
		return nil, fmt.Errorf("internal error: repository %s was not prepared", name)
	}
	return r, nil
}

func (d *RegistryDestination) Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error) {
	r, err := d.repo(repo)
	if err != nil {
		return false, err
	}
	ok, err := r.Exists(ctx, desc)
	return ok, oci.Refusal(r, err)
}

func (d *RegistryDestination) Mount(ctx context.Context, repo, from string, desc ocispec.Descriptor) error {
	r, err := d.repo(repo)
	if err != nil {
		return err
	}
	f, err := d.repo(from)
	if err != nil {
		return err
	}
	return oci.Refusal(r, r.Mount(ctx, desc, f, nil))
}

// Put returns a writer whose upload the registry completes only once
// Commit has checked every byte. In Set.Unpack, Commit leaves the upload
// to run in the background, up to Jobs at a time, replayed when it fails
// transiently, and Set.Unpack waits for them all (waitBlobs) before any
// manifest; a failure in the background fails the next Put.
func (d *RegistryDestination) Put(ctx context.Context, repo string, desc ocispec.Descriptor) (BlobWriter, error) {
	r, err := d.repo(repo)
	if err != nil {
		return nil, err
	}
	if d.pool == nil {
		// Outside Set.Unpack, nobody waits for uploads in the
		// background: Commit completes the upload itself.
		return newUploadSink(ctx, r, desc), nil
	}
	return newPushWriter(d.pool, r, desc)
}

// beginBlobs starts the uploads of a push: up to jobs in flight
// (RegistryDestinationOptions.Jobs when 0). It returns how many.
func (d *RegistryDestination) beginBlobs(ctx context.Context, jobs int) int {
	if jobs <= 0 {
		jobs = d.jobs
	}
	if jobs <= 0 {
		jobs = DefaultPushJobs
	}
	d.pool = newPushPool(ctx, jobs)
	return jobs
}

// waitBlobs waits for the uploads of the push under way; abort cancels
// them first (the push failed: its error is the one to report).
func (d *RegistryDestination) waitBlobs(abort bool) error {
	if d.pool == nil {
		return nil
	}
	p := d.pool
	d.pool = nil
	return p.wait(abort)
}

func (d *RegistryDestination) PutManifest(ctx context.Context, repo string, desc ocispec.Descriptor, content []byte) error {
	r, err := d.repo(repo)
	if err != nil {
		return err
	}
	if !d.pushByTag() {
		err := r.Push(ctx, desc, bytes.NewReader(content))
		if !oci.RefusesDigestPush(err) {
			return oci.Refusal(r, err)
		}
		// The registry wants a tag (OpenShift); the rest of the push
		// is by tag too, rather than refused once each.
		d.mu.Lock()
		d.byTag = true
		d.mu.Unlock()
	}
	if tag := d.early[repo][desc.Digest]; tag != "" {
		return d.pushEarly(ctx, r, repo, desc, content, tag)
	}
	if d.ownTags[repo][desc.Digest] != "" {
		return nil // Name pushes it under its own tag, last
	}
	tag := d.pattern.Tag(desc.Digest)
	if err := r.PushTag(ctx, desc, bytes.NewReader(content), tag); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, oci.Refusal(r, err)) // the error names the tag
	}
	shown := r.Registry() + "/" + repo + ":" + tag
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.madeIn[shown] {
		d.madeIn[shown] = true
		d.made = append(d.made, shown)
	}
	return nil
}

// pushEarly pushes a manifest that an index of the repository lists under
// its own tag, which Name would set last, so that the index finds it in.
// It records what the tag pointed at before, for Name to report.
func (d *RegistryDestination) pushEarly(ctx context.Context, r *oci.Repository, repo string, desc ocispec.Descriptor, content []byte, tag string) error {
	c := NameChange{Name: r.Registry() + "/" + repo + ":" + tag, New: desc.Digest}
	cur, err := r.Resolve(ctx, tag)
	switch {
	case err == nil:
		c.Old = cur.Digest
	case !errors.Is(err, oci.ErrNotFound):
		return fmt.Errorf("manifest %s, its tag %s: %w", desc.Digest, c.Name, oci.Refusal(r, err))
	}
	if err := r.PushTag(ctx, desc, bytes.NewReader(content), tag); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, oci.Refusal(r, err)) // the error names the tag
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.setEarly[c.Name]; !ok {
		d.setEarly[c.Name] = c
	}
	return nil
}

func (d *RegistryDestination) pushByTag() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byTag
}

// Name sets the tag of each tagged entry in its repository.
func (d *RegistryDestination) Name(ctx context.Context, entries []ocispec.Descriptor, content func(digest.Digest) ([]byte, error)) ([]NameChange, error) {
	var out []NameChange
	for _, m := range entries {
		ref := m.Annotations[ocispec.AnnotationRefName]
		if ref == "" {
			continue
		}
		n, err := mirror.ParseName(ref)
		if err != nil || n.Tag == "" {
			continue // checked by Repository; by digest: no tag
		}
		name, err := d.mapping.Repository(n)
		if err != nil {
			return out, err
		}
		r, err := d.repo(name)
		if err != nil {
			return out, err
		}
		shown := r.Registry() + "/" + name + ":" + n.Tag
		d.mu.Lock()
		ec, early := d.setEarly[shown]
		d.mu.Unlock()
		if early && ec.New == m.Digest {
			// Set in the manifests step already (pushEarly).
			out = append(out, ec)
			continue
		}
		desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
		cur, resolveErr := r.Resolve(ctx, n.Tag)
		switch {
		case resolveErr == nil && cur.Digest == m.Digest:
			out = append(out, NameChange{Name: shown, Old: m.Digest, New: m.Digest})
			continue
		case resolveErr != nil && !errors.Is(resolveErr, oci.ErrNotFound):
			return out, oci.Refusal(r, resolveErr)
		}
		b, err := content(m.Digest)
		if err != nil {
			return out, err
		}
		if err := r.PushTag(ctx, desc, bytes.NewReader(b), n.Tag); err != nil {
			return out, oci.Refusal(r, err)
		}
		c := NameChange{Name: shown, New: m.Digest}
		if resolveErr == nil {
			c.Old = cur.Digest
		}
		out = append(out, c)
	}
	return out, nil
}

// uploadSink streams a blob into a registry upload. It holds back the
// last byte until Commit has checked the digest of everything before it,
// so a registry never completes an upload of bytes the index does not
// vouch for, whatever checks the registry makes itself.
type uploadSink struct {
	pw   *io.PipeWriter
	done chan error
	desc ocispec.Descriptor
	h    hash.Hash
	n    int64
	last []byte
	// keepHashing: when the upload fails transiently, Write goes on
	// hashing what it is given (lost is the failure), so that the blob
	// is checked all the same and its upload can be replayed.
	keepHashing bool
	lost        error
}

func newUploadSink(ctx context.Context, repo *oci.Repository, desc ocispec.Descriptor) *uploadSink {
	pr, pw := io.Pipe()
	u := &uploadSink{pw: pw, done: make(chan error, 1), desc: desc, h: sha256.New()}
	go func() {
		err := oci.Refusal(repo, repo.Push(ctx, desc, pr))
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
	if u.lost != nil {
		return len(p), nil
	}
	out := p
	if u.n == u.desc.Size && len(p) > 0 {
		out, u.last = p[:len(p)-1], []byte{p[len(p)-1]}
	}
	if len(out) > 0 {
		if _, err := u.pw.Write(out); err != nil {
			err = u.failure(err)
			if u.keepHashing && oci.Transient(err) {
				u.lost = err
				return len(p), nil
			}
			return 0, &destError{err}
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
	if err := u.check(); err != nil {
		u.Abort()
		return err
	}
	if u.lost != nil {
		return &destError{u.lost}
	}
	if err := u.finish(); err != nil {
		return &destError{err}
	}
	return nil
}

// check checks what was written against the descriptor.
func (u *uploadSink) check() error {
	if u.n != u.desc.Size {
		return fmt.Errorf("blob %s: %d bytes, want %d", u.desc.Digest, u.n, u.desc.Size)
	}
	if got := digest.NewDigest(digest.SHA256, u.h); got != u.desc.Digest {
		return fmt.Errorf("blob %s: content hashes to %s", u.desc.Digest, got)
	}
	return nil
}

// finish sends the last byte, once check passed, and waits for the
// registry to complete the upload.
func (u *uploadSink) finish() error {
	if len(u.last) > 0 {
		if _, err := u.pw.Write(u.last); err != nil {
			return u.failure(err)
		}
	}
	u.pw.Close()
	err := <-u.done
	u.done <- err // for an Abort after
	return err
}

func (u *uploadSink) Abort() {
	u.pw.CloseWithError(errors.New("upload aborted"))
	e := <-u.done
	u.done <- e
}

// Mapping is the mirror mapping the destination puts images by.
func (d *RegistryDestination) Mapping() mirror.Mapping { return d.mapping }

// Close releases nothing: connections are the Registries'.
func (d *RegistryDestination) Close() error { return nil }

// listsReferrer reports whether the referrers of subject in repo (through
// the referrers API, or the sha256-<hex> tag schema where the registry
// lacks it) include referrer.
func (d *RegistryDestination) listsReferrer(ctx context.Context, repo string, subject, referrer digest.Digest) (bool, error) {
	r, err := d.repo(repo)
	if err != nil {
		return false, err
	}
	refs, err := r.Referrers(ctx, ocispec.Descriptor{Digest: subject})
	if err != nil {
		return false, err
	}
	for _, x := range refs {
		if x.Digest == referrer {
			return true, nil
		}
	}
	return false, nil
}
