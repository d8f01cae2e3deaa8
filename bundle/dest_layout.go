package bundle

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LayoutDestination is an OCI image layout as a Destination: created if
// missing, merged into if it exists. Blobs are written to temporary files
// and moved into place only once their digest checks out, and made
// durable in batches, always before index.json names them; index.json is
// replaced, atomically and under a lock, only after every blob is in
// place. If anything fails, every file that was in the layout stays as it
// was; verified blobs may remain, unreferenced, so that a re-run skips
// them.
type LayoutDestination struct {
	path string
	o    LayoutOptions
	l    *oci.Layout
	// retagged is the bundle's entries with the one image under the
	// Tag, when one is given (Prepare).
	retagged []ocispec.Descriptor
	// mended counts the blob files found damaged (VerifyBase), which the
	// walk then writes again.
	mended int
}

// The layout's blob writer is filled by the kernel when volumes are files.
var _ BlobCopier = (*oci.BlobWriter)(nil)

// LayoutOptions control a LayoutDestination.
type LayoutOptions struct {
	// Tag, when set, is the ref name the bundle's one image is recorded
	// under instead of its own (oci:PATH:TAG, as skopeo means it). A bundle
	// of several images is refused (ErrTagNeedsOneEntry) before anything
	// is written: their entries carry their own names.
	Tag string
	// VerifyBase re-hashes the blobs already in the layout that the
	// bundle needs, instead of trusting a file of the right size: one it
	// expects from its bases whose content does not match its digest
	// counts as missing (damaged), and one it carries is written again
	// from the volumes, so that unpacking a bundle again with it mends a
	// layout whose files were damaged since.
	VerifyBase bool
}

// ErrTagNeedsOneEntry: a layout destination with a tag (oci:PATH:TAG)
// names one image, and the bundle has several. Each image entry carries its
// own ref name (or none), which is what it is recorded under at the
// destination; only the one image of a bundle can take a name from the
// destination instead. Entries attached to it (referrers: signatures,
// SBOMs) are not images of their own and do not count.
var ErrTagNeedsOneEntry = errors.New("a tag in the destination names the one image of a bundle")

// NewLayoutDestination is the OCI layout at path. Nothing is created
// before Set.Unpack prepares it.
func NewLayoutDestination(path string, o LayoutOptions) *LayoutDestination {
	return &LayoutDestination{path: path, o: o}
}

// ParseLayoutDestination reads a layout destination: a directory path
// (which may contain ':'), oci:PATH or oci:PATH:TAG. A registry location
// is refused.
func ParseLayoutDestination(dest string, o LayoutOptions) (*LayoutDestination, error) {
	loc, err := unpackDestination(dest)
	if err != nil {
		return nil, err
	}
	if loc.Ref != "" {
		o.Tag = loc.Ref
	}
	return NewLayoutDestination(loc.Path, o), nil
}

func (d *LayoutDestination) String() string { return d.path }

// checkPath refuses a layout path that is there but is not a directory,
// before anything under it is read or written: what fails first
// otherwise (the rollback record beside index.json) would be named
// instead of the path given.
func (d *LayoutDestination) checkPath() error {
	if fi, err := os.Stat(d.path); err == nil && !fi.IsDir() {
		return fmt.Errorf("%s is a file, not a directory: an OCI layout is a directory (give the layout's directory, or a new path to make one)", d.path)
	}
	return nil
}

// Location is where the layout is, as oci:PATH[:TAG].
func (d *LayoutDestination) Location() location.Location {
	return location.Location{Transport: location.Layout, Path: d.path, Ref: d.o.Tag}
}

// Close releases the layout.
func (d *LayoutDestination) Close() error {
	if d.l == nil {
		return nil
	}
	err := d.l.Close()
	d.l = nil
	return err
}

// Repository is the layout's one repository, "".
func (d *LayoutDestination) Repository(ref string) (repo, target string, err error) {
	name := ref
	if d.o.Tag != "" {
		name = d.o.Tag
	}
	if name == "" {
		return "", location.Location{Transport: location.Layout, Path: d.path}.String(), nil
	}
	return "", location.Location{Transport: location.Layout, Path: d.path, Ref: name}.String(), nil
}

// Prepare refuses, before anything is written (even the directory), a
// bundle that builds on others unless the layout holds all they carried;
// then creates or opens the layout and checks there is room for what it
// lacks.
func (d *LayoutDestination) Prepare(ctx context.Context, p *Plan) error {
	x := p.Index
	if err := d.checkPath(); err != nil {
		return err
	}
	if d.o.Tag != "" {
		var err error
		if d.retagged, err = retag(x, d.path, d.o.Tag); err != nil {
			return err
		}
	}
	if _, err := os.Stat(d.path); errors.Is(err, os.ErrNotExist) {
		if err := checkBaseBlobs(ctx, x, d.path, nil, false); err != nil {
			return err
		}
	}
	l, err := oci.Create(d.path)
	if err != nil {
		return err
	}
	d.l = l
	if err := checkBaseBlobs(ctx, x, d.path, l, d.o.VerifyBase); err != nil {
		return err
	}
	var need int64
	empty := !l.HasBlobs(digest.SHA256)
	for i := range x.Blobs {
		if b := &x.Blobs[i]; b.Base == "" && (empty || !l.HasBlob(b.Digest, b.Size)) {
			need += b.Size
		}
	}
	if free, err := freeSpace(d.path); err == nil && free < need {
		return fmt.Errorf("%s has %s free and the bundle needs %s there: %w", d.path, bytesize.Format(free), bytesize.Format(need), ErrNoSpace)
	}
	// Blobs are made durable in batches, with one sync each, and always
	// before index.json names them.
	l.BatchCommits()
	return nil
}

func (d *LayoutDestination) layout() (*oci.Layout, error) {
	if d.l == nil {
		return nil, errors.New("internal error: layout destination not prepared")
	}
	return d.l, nil
}

// Exists reports whether the layout has a blob file of desc's size, and
// with VerifyBase whether its content hashes to desc's digest: a damaged
// one is not there, and is written again (the new file replaces it).
func (d *LayoutDestination) Exists(ctx context.Context, _ string, desc ocispec.Descriptor) (bool, error) {
	if d.l == nil {
		// Not prepared: nothing can be there that Prepare did not see.
		return false, nil
	}
	if ok := d.l.HasBlob(desc.Digest, desc.Size); !ok || !d.o.VerifyBase {
		return ok, nil
	}
	ok, err := blobMatches(ctx, d.l, desc)
	if err == nil && !ok {
		d.mended++
	}
	return ok, err
}

// blobsMended is how many damaged blob files Exists sent to be written
// again (UnpackResult.BlobsMended).
func (d *LayoutDestination) blobsMended() int { return d.mended }

// Mount is never needed: a layout has one repository.
func (d *LayoutDestination) Mount(context.Context, string, string, ocispec.Descriptor) error {
	return errors.New("internal error: a layout has one repository, nothing to mount")
}

// Put writes the blob into a temporary file, moved into place on Commit
// once its digest checks out. The writer is an *oci.BlobWriter, which
// Set.Unpack fills by the kernel when the volume is a file.
func (d *LayoutDestination) Put(_ context.Context, _ string, desc ocispec.Descriptor) (BlobWriter, error) {
	l, err := d.layout()
	if err != nil {
		return nil, err
	}
	return l.NewBlobWriter(desc)
}

// PutManifest writes the manifest as a blob.
func (d *LayoutDestination) PutManifest(ctx context.Context, repo string, desc ocispec.Descriptor, content []byte) error {
	w, err := d.Put(ctx, repo, desc)
	if err != nil {
		return err
	}
	if _, err := w.Write(content); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// Name makes every blob durable, then lists the entries in index.json.
func (d *LayoutDestination) Name(_ context.Context, entries []ocispec.Descriptor, _ func(digest.Digest) ([]byte, error)) ([]NameChange, error) {
	l, err := d.layout()
	if err != nil {
		return nil, err
	}
	if d.retagged != nil {
		entries = d.retagged
	}
	if err := l.FlushCommits(); err != nil {
		return nil, err
	}
	changes, err := l.AddManifests(entries)
	if err != nil {
		return nil, err
	}
	out := make([]NameChange, len(changes))
	for i, c := range changes {
		out[i] = NameChange{Name: c.Ref, Old: c.Old, New: c.New}
	}
	return out, nil
}

// retag returns x's index.json entries with the one image, the entry not
// attached to another (a signature or SBOM referrer keeps pointing at its
// subject by digest), recorded under the ref name tag.
func retag(x *format.Index, path, tag string) ([]ocispec.Descriptor, error) {
	attached := map[digest.Digest]bool{}
	for _, im := range x.Images {
		if im.Subject != "" {
			attached[im.Digest] = true
		}
	}
	out := slices.Clone(x.Manifests)
	image := -1
	var n int
	for i, m := range out {
		if !attached[m.Digest] {
			image, n = i, n+1
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("unpack into %s: bundle %s has %d images, each recorded under its own ref name; unpack it into %s: %w",
			location.Location{Transport: location.Layout, Path: path, Ref: tag}, x.BundleID, n, location.Location{Transport: location.Layout, Path: path}, ErrTagNeedsOneEntry)
	}
	m := &out[image]
	m.Annotations = maps.Clone(m.Annotations)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[ocispec.AnnotationRefName] = tag
	return out, nil
}

// unpackDestination reads Unpack's dest: a location when it starts with a
// transport, otherwise a directory path (which may contain ':').
func unpackDestination(dest string) (location.Location, error) {
	if !location.HasTransport(dest) {
		if dest == "" {
			return location.Location{}, errors.New("unpack: no destination directory")
		}
		return location.Location{Transport: location.Layout, Path: dest}, nil
	}
	loc, err := location.ParseDestination(dest)
	if err != nil {
		return location.Location{}, fmt.Errorf("unpack: %w", err)
	}
	if loc.Transport != location.Layout {
		return location.Location{}, fmt.Errorf("unpack: %w", &location.Error{Input: dest, Expected: "a directory, oci:PATH or oci:PATH:TAG",
			Err: errors.New("a registry is a RegistryDestination; this is an OCI layout")})
	}
	return loc, nil
}

// checkBaseBlobs checks that every blob x expects from a base bundle is in
// the layout l (nil: nothing is there), a regular file of the right size,
// and with verify its content hashes to its digest. It lists every blob
// that fails in one *MissingBaseBlobsError.
func checkBaseBlobs(ctx context.Context, x *format.Index, dest string, l *oci.Layout, verify bool) error {
	e := &MissingBaseBlobsError{BundleID: x.BundleID, Dest: dest, Missing: map[string][]digest.Digest{}, Damaged: map[string][]digest.Digest{}}
	bad := false
	for i := range x.Blobs {
		b := &x.Blobs[i]
		if b.Base == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if l == nil || !l.HasBlob(b.Digest, b.Size) {
			e.Missing[b.Base] = append(e.Missing[b.Base], b.Digest)
			bad = true
			continue
		}
		if verify {
			ok, err := blobMatches(ctx, l, ocispec.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
			if err != nil {
				return err
			}
			if !ok {
				e.Damaged[b.Base] = append(e.Damaged[b.Base], b.Digest)
				bad = true
			}
		}
	}
	if bad {
		return e
	}
	return nil
}

// blobMatches re-hashes the blob file of b in l.
func blobMatches(ctx context.Context, l *oci.Layout, b ocispec.Descriptor) (bool, error) {
	rc, err := l.Fetch(ctx, b)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return false, fmt.Errorf("read blob %s in %s: %w", b.Digest, l.Path, err)
	}
	return n == b.Size && digest.NewDigest(digest.SHA256, h) == b.Digest, nil
}
