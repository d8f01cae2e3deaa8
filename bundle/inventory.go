package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MediaTypeInventory is the mediaType of an inventory file.
const MediaTypeInventory = "application/vnd.airgap-bundle.inventory.v1+json"

// MaxInventorySize bounds an inventory file (about a million blobs).
const MaxInventorySize = 128 << 20

// Inventory lists the blobs a destination holds (SPEC.md 9.4). Packed
// against with PackOptions.Inventories, it works like a base bundle: a blob
// it lists, with the same size, is expected at the destination instead of
// carried.
type Inventory struct {
	MediaType   string `json:"mediaType"`
	InventoryID string `json:"inventoryId"`
	Created     string `json:"created"`
	// Destination is where the list was taken: oci:PATH or
	// docker://MIRROR[/PREFIX].
	Destination string `json:"destination"`
	// Verified: every blob listed was re-hashed when the list was taken.
	Verified bool `json:"verified"`
	// Repositories, for a registry, are the repositories of the mirror
	// the blobs were found in (paths, prefix included), sorted, each
	// once: a bundle packed against the inventory records them in its
	// base entry (format.Base.MirrorRepositories), so that a push can
	// mount from them into repositories new to the mirror.
	Repositories []string `json:"repositories,omitempty"`
	// Blobs, sorted by digest, each once.
	Blobs []format.Content `json:"blobs"`
}

// InventoryFile is an inventory with the exact bytes it was read from,
// whose digest names it in a bundle's bases.
type InventoryFile struct {
	Inventory *Inventory
	Bytes     []byte
	Path      string
}

// Digest is the SHA-256 of the file's bytes (Base.Index).
func (f *InventoryFile) Digest() digest.Digest { return digest.FromBytes(f.Bytes) }

// inventoryID derives the id from the content (SPEC.md 9.4.1).
func (v *Inventory) inventoryID() string {
	h := sha256.New()
	fmt.Fprintf(h, "airgap-bundle inventory v1\n%s\n%s\n", v.Destination, v.Created)
	for _, b := range v.Blobs {
		fmt.Fprintf(h, "%s %d\n", b.Digest, b.Size)
	}
	// Nothing is added without repositories: inventories written before
	// they were recorded keep their ids.
	for _, r := range v.Repositories {
		fmt.Fprintf(h, "repository %s\n", r)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Encode sorts the blobs, sets the id and returns the file's bytes.
func (v *Inventory) Encode() ([]byte, error) {
	v.MediaType = MediaTypeInventory
	slices.SortFunc(v.Blobs, func(a, b format.Content) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	v.Blobs = slices.CompactFunc(v.Blobs, func(a, b format.Content) bool { return a.Digest == b.Digest })
	if v.Blobs == nil {
		v.Blobs = []format.Content{}
	}
	v.Repositories = slices.Compact(slices.Sorted(slices.Values(v.Repositories)))
	if len(v.Repositories) == 0 {
		v.Repositories = nil
	}
	v.InventoryID = v.inventoryID()
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if _, err := ParseInventory(b); err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseInventory decodes and validates an inventory file.
func ParseInventory(b []byte) (*Inventory, error) {
	if len(b) > MaxInventorySize {
		return nil, fmt.Errorf("inventory is %d bytes, more than %d", len(b), MaxInventorySize)
	}
	if err := format.CheckStrictJSON(b, reflect.TypeFor[Inventory]()); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v Inventory
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("inventory: data after the JSON object")
	}
	if v.MediaType != MediaTypeInventory {
		return nil, fmt.Errorf("inventory: mediaType %q, want %q", v.MediaType, MediaTypeInventory)
	}
	if format.CheckBundleID(v.InventoryID) != nil {
		return nil, fmt.Errorf("inventory: inventoryId %q is not 32 lowercase hex digits", v.InventoryID)
	}
	if t, err := time.Parse(time.RFC3339, v.Created); err != nil || t.Format(time.RFC3339) != v.Created || t.Location() != time.UTC {
		return nil, fmt.Errorf("inventory: created %q is not an RFC 3339 UTC time in seconds", v.Created)
	}
	if _, err := location.ParseDestination(v.Destination); err != nil {
		return nil, fmt.Errorf("inventory: destination: %w", err)
	}
	if v.Blobs == nil {
		return nil, errors.New("inventory: blobs missing")
	}
	// Present only when written: an empty list is written as none, so
	// that one inventory has one encoding.
	if v.Repositories != nil && len(v.Repositories) == 0 {
		return nil, errors.New("inventory: repositories is empty (leave it out)")
	}
	if err := format.CheckRepositoryNames(v.Repositories, false); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	for i, c := range v.Blobs {
		if err := format.CheckDigest(c.Digest); err != nil {
			return nil, fmt.Errorf("inventory: blob %d: %w", i, err)
		}
		if c.Size < 0 {
			return nil, fmt.Errorf("inventory: blob %s: negative size", c.Digest)
		}
		if i > 0 && c.Digest <= v.Blobs[i-1].Digest {
			return nil, fmt.Errorf("inventory: blobs not sorted by digest, or listed twice, at %s", c.Digest)
		}
	}
	return &v, nil
}

// LoadInventory reads an inventory file.
func LoadInventory(path string) (*InventoryFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w; give a file written by bundle inventory", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxInventorySize+1))
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	v, err := ParseInventory(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; give a file written by bundle inventory", path, err)
	}
	return &InventoryFile{Inventory: v, Bytes: b, Path: path}, nil
}

// InventoryOptions control TakeInventory.
type InventoryOptions struct {
	// Verify re-hashes every blob of a layout and lists only those whose
	// content matches their digest (a registry checks digests itself).
	Verify bool
	// Created is the time recorded; zero means now.
	Created time.Time
	// Registries is set by RegistryDestination.Blobs.
	Registries *oci.Registries
	// Repositories, for a docker:// destination, names the repositories
	// to look at (paths in the mirror, prefix included) instead of
	// listing them with the registry's catalog API.
	Repositories []string
	// Progress, when set, is called as blobs are listed (Done counts
	// blobs; Total is 0 when unknown).
	Progress func(Progress)
	// Notice, when set, is told of blobs left out (damaged, missing).
	Notice func(string)
}

// TakeInventory lists the blobs that dest holds (Destination.Blobs). It
// only reads the destination.
func TakeInventory(ctx context.Context, dest Destination, o InventoryOptions) (*Inventory, error) {
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	v := &Inventory{Destination: fmt.Sprint(dest), Created: created.UTC().Truncate(time.Second).Format(time.RFC3339), Verified: o.Verify}
	if l, ok := dest.(interface{ Location() location.Location }); ok {
		// Recorded as printed, so that a registry destination is spelled one way.
		v.Destination = l.Location().String()
	}
	if o.Notice == nil {
		o.Notice = func(string) {}
	}
	if d, ok := dest.(*RegistryDestination); ok {
		// A mirror's inventory also says which repositories hold what it
		// lists, for mounts (Repositories).
		if o.Verify {
			return nil, errRegistryVerify
		}
		o.Registries = d.regs
		blobs, repos, err := registryInventory(ctx, d.mapping, o)
		if err != nil {
			return nil, err
		}
		v.Blobs, v.Repositories = blobs, repos
		return v, nil
	}
	blobs, err := dest.Blobs(ctx, o)
	if err != nil {
		return nil, err
	}
	v.Blobs = blobs
	return v, nil
}

var errRegistryVerify = errors.New("inventory: re-hashing applies to OCI layouts only (a registry checks digests itself)")

// Blobs lists blobs/sha256 of the layout: every regular file named by 64
// hex digits, with its size; with o.Verify, only those whose content
// hashes to their name.
func (d *LayoutDestination) Blobs(ctx context.Context, o InventoryOptions) ([]format.Content, error) {
	if d.o.Tag != "" {
		return nil, fmt.Errorf("inventory of %s: an inventory lists every blob of the layout, not those of one tag; give %s", d.Location(), location.Location{Transport: location.Layout, Path: d.path})
	}
	return layoutInventory(ctx, d.path, o)
}

// Blobs lists the blobs of the tagged images of every repository under the
// mirror's prefix (found through the registry's catalog, or named in
// o.Repositories). o.Verify is refused: a registry checks digests itself.
func (d *RegistryDestination) Blobs(ctx context.Context, o InventoryOptions) ([]format.Content, error) {
	if o.Verify {
		return nil, errRegistryVerify
	}
	o.Registries = d.regs
	blobs, _, err := registryInventory(ctx, d.mapping, o)
	return blobs, err
}

// layoutInventory lists blobs/sha256 of the layout at path: every regular
// file named by 64 hex digits, with its size; with Verify, only those whose
// content hashes to their name.
func layoutInventory(ctx context.Context, path string, o InventoryOptions) ([]format.Content, error) {
	l, err := oci.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w; give the layout that bundles were unpacked into", err)
	}
	defer l.Close()
	dir := filepath.Join(path, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []format.Content{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	out := []format.Content{}
	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if format.CheckDigest(digest.Digest("sha256:"+e.Name())) != nil || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("inventory: %w", err)
		}
		c := format.Content{Digest: digest.NewDigestFromEncoded(digest.SHA256, e.Name()), Size: info.Size()}
		if o.Verify {
			ok, err := blobMatches(ctx, l, ocispec.Descriptor{Digest: c.Digest, Size: c.Size})
			if err != nil {
				return nil, fmt.Errorf("inventory: %w", err)
			}
			if !ok {
				o.Notice(fmt.Sprintf("%s does not hash to its name: left out of the inventory", filepath.Join(dir, e.Name())))
				continue
			}
		}
		out = append(out, c)
		if o.Progress != nil {
			o.Progress(Progress{Op: "inventory", Done: int64(i + 1), Total: int64(len(entries))})
		}
	}
	return out, nil
}

// inventoryRequests bounds the registry requests in flight at once.
const inventoryRequests = 8

// registryInventory lists what the tagged manifests of the mirror's
// repositories under the prefix reference, each blob checked to be there,
// and the repositories it found content in (sorted). Untagged manifests
// cannot be listed through the registry API: their blobs count only when
// a tagged one references them too.
func registryInventory(ctx context.Context, m mirror.Mapping, o InventoryOptions) ([]format.Content, []string, error) {
	if o.Registries == nil {
		return nil, nil, errors.New("inventory of a registry: no registry access given")
	}
	repos, err := mirrorRepositories(ctx, m, o)
	if err != nil {
		return nil, nil, err
	}
	inv := &mirrorInventory{m: m, o: o, found: map[digest.Digest]format.Content{}, present: map[digest.Digest]bool{}}
	var holding []string
	for _, path := range repos {
		before := inv.n
		if err := inv.repository(ctx, path); err != nil {
			return nil, nil, err
		}
		if inv.n > before {
			holding = append(holding, path)
		}
	}
	out := make([]format.Content, 0, len(inv.found))
	for _, c := range inv.found {
		out = append(out, c)
	}
	slices.Sort(holding)
	return out, slices.Compact(holding), nil
}

// mirrorRepositories is the repositories to list: those named, or those
// under the prefix in the registry's catalog.
func mirrorRepositories(ctx context.Context, m mirror.Mapping, o InventoryOptions) ([]string, error) {
	if len(o.Repositories) > 0 {
		return o.Repositories, nil
	}
	all, err := o.Registries.Catalog(ctx, m.Mirror)
	if errors.Is(err, oci.ErrUnreachable) {
		return nil, err
	}
	if err != nil {
		// Many registries keep the catalog to administrators.
		return nil, fmt.Errorf("%w (%w); name the repositories to list instead", err, ErrNoCatalog)
	}
	var repos []string
	for _, r := range all {
		if m.Prefix == "" || strings.HasPrefix(r, m.Prefix+"/") {
			repos = append(repos, r)
		}
	}
	return repos, nil
}

// mirrorInventory is the inventory of a mirror being taken.
type mirrorInventory struct {
	m     mirror.Mapping
	o     InventoryOptions
	found map[digest.Digest]format.Content
	// present: blobs (not manifests) seen present in some repository.
	present map[digest.Digest]bool
	n       int64
}

func (inv *mirrorInventory) add(d ocispec.Descriptor) {
	inv.found[d.Digest] = format.Content{Digest: d.Digest, Size: d.Size}
	inv.n++
	if inv.o.Progress != nil {
		inv.o.Progress(Progress{Op: "inventory", Done: inv.n})
	}
}

// repository lists the tagged images of one repository: their manifests,
// and the blobs they reference that the repository holds (asked in
// parallel once its tags are walked: one round trip each).
func (inv *mirrorInventory) repository(ctx context.Context, path string) error {
	repo, err := inv.o.Registries.Repository(ctx, inv.m.Mirror, path)
	if err != nil {
		return err
	}
	tags, err := repo.Tags(ctx)
	if errors.Is(err, oci.ErrNotFound) {
		// A repository of untagged images only (release components,
		// operator bundles pushed by digest) lists no tags at all: nothing
		// here can be walked from a tag.
		inv.o.Notice(fmt.Sprintf("%s/%s has no tags: its images are left out of the inventory", inv.m.Mirror, path))
		return nil
	}
	if err != nil {
		return err
	}
	seen := map[digest.Digest]bool{}
	var check []ocispec.Descriptor
	for _, tag := range slices.Sorted(maps.Keys(tags)) {
		blobs, err := inv.tag(ctx, repo, path, tag, seen)
		if err != nil {
			return err
		}
		check = append(check, blobs...)
	}
	held := make([]bool, len(check))
	if err := forEachParallelN(ctx, inventoryRequests, len(check), func(i int) error {
		ok, err := repo.Exists(ctx, check[i])
		held[i] = ok
		return err
	}); err != nil {
		return err
	}
	for i, d := range check {
		if !held[i] {
			inv.o.Notice(fmt.Sprintf("%s/%s references %s, which the repository lacks: left out of the inventory", inv.m.Mirror, path, d.Digest))
			continue
		}
		inv.present[d.Digest] = true
		inv.add(d)
	}
	return nil
}

// tag walks the image tagged tag: its manifests are listed, and the blobs
// not yet seen present are returned to be checked.
func (inv *mirrorInventory) tag(ctx context.Context, repo *oci.Repository, path, tag string, seen map[digest.Digest]bool) ([]ocispec.Descriptor, error) {
	where := fmt.Sprintf("%s/%s:%s", inv.m.Mirror, path, tag)
	root, err := repo.Resolve(ctx, tag)
	if errors.Is(err, oci.ErrNotFound) {
		// Listed but gone (deleted since, or broken): nothing to count.
		inv.o.Notice(where + " is listed but cannot be read: left out of the inventory")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var check []ocispec.Descriptor
	err = oci.Walk(ctx, repo, root, oci.WalkOptions{}, seen, func(d ocispec.Descriptor, content []byte) error {
		switch {
		case content != nil:
			inv.add(d) // a manifest
		case !inv.present[d.Digest]:
			// A blob: listed when some repository has it, checked once
			// per digest.
			check = append(check, d)
		}
		return nil
	})
	if errors.Is(err, oci.ErrNotFound) {
		inv.o.Notice(fmt.Sprintf("%s is incomplete in the mirror (%v): what it lacks is left out of the inventory", where, err))
		return check, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", where, err)
	}
	return check, nil
}

// inventoryNotice describes an inventory packed against.
func inventoryNotice(f *InventoryFile) string {
	v := f.Inventory
	how := "names and sizes"
	if v.Verified {
		how = "re-hashed"
	}
	return fmt.Sprintf("inventory %s (%s): %s blobs at %s on %s (%s)", v.InventoryID, f.Path, strconv.Itoa(len(v.Blobs)), v.Destination, v.Created, how)
}
