package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BaseBundle is an earlier bundle that an incremental bundle builds on: its
// index, exactly as signed, says which blobs unpacking it put at the
// destination.
type BaseBundle struct {
	Index      *format.Index
	IndexBytes []byte
	Signature  []byte // nil when unsigned or not found beside a bare bundle.json
	Path       string
	// Verified is set when the signature was checked with a key.
	Verified bool
}

// Digest is the SHA-256 of the base's bundle.json bytes (Base.Index).
func (b *BaseBundle) Digest() digest.Digest { return digest.FromBytes(b.IndexBytes) }

// LoadBase reads the index of an earlier bundle from path: a directory of
// its volumes, one of its volume files, or a bundle.json file (with its
// signature, when signed, in bundle.json.sig beside it, that is path +
// ".sig"). With key set, the index must be signed by that key and the
// signature must verify (as Set.Trust checks); without, it is used
// unchecked (Verified is false).
func LoadBase(ctx context.Context, path string, key *sign.Verifier) (*BaseBundle, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("base bundle: %w; give the directory, a volume file or the bundle.json of an earlier bundle", err)
	}
	var s *Set
	switch {
	case st.IsDir():
		if s, err = OpenFiles(ctx, []string{path}); err != nil {
			return nil, fmt.Errorf("base bundle %s: %w", path, err)
		}
		for _, p := range s.Problems {
			var fe *ForeignVolumeError
			if errors.As(p, &fe) {
				return nil, fmt.Errorf("base bundle %s holds volumes of several bundles (%s and %s): give one volume file or its bundle.json", path, s.Index.BundleID, fe.BundleID)
			}
		}
	default:
		h, err := readHeader(ctx, FileVolume(path), nil)
		switch {
		case err == nil:
			if s, err = setOfHeader(h); err != nil {
				return nil, fmt.Errorf("base bundle: %w", err)
			}
		case errors.Is(err, format.ErrNotVolume):
			if s, err = readBareIndex(path); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("base bundle: %w", err)
		}
	}
	if s.Index.FormatVersion == format.VersionV2 && (len(s.Volumes) == 0 || len(s.Missing()) > 0) {
		// Its blobs are listed in its volumes' tables, not in bundle.json.
		return nil, fmt.Errorf("base bundle %s is of format version 2, whose blobs only its volumes list: give the directory that holds all of them (or an inventory of the destination)", path)
	}
	// A large bundle.json is not held by an open set (Set.IndexBytes): a
	// base keeps it, its digest is what the new bundle names.
	ib, err := s.ReadIndexBytes(ctx)
	if err != nil {
		return nil, fmt.Errorf("base bundle %s: %w", path, err)
	}
	b := &BaseBundle{Index: s.Index, IndexBytes: ib, Signature: s.Signature, Path: path}
	if key != nil {
		if err := s.checkSignature(key, false); err != nil {
			return nil, fmt.Errorf("base bundle %s: %w", path, err)
		}
		b.Verified = true
	}
	return b, nil
}

// readBareIndex reads a bundle.json file and the signature beside it.
func readBareIndex(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("base bundle: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, format.MaxIndexSize+1))
	if err != nil {
		return nil, fmt.Errorf("base bundle: %w", err)
	}
	x, err := format.ParseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("base bundle %s is neither a volume nor a bundle.json: %w", path, err)
	}
	s := &Set{Index: x, IndexBytes: b, Volumes: map[int]*format.VolumeHeader{}}
	if x.Signer != nil {
		sig, err := os.ReadFile(path + ".sig")
		switch {
		case err == nil && len(sig) > 0 && len(sig) <= format.MaxSignatureSize:
			s.Signature = sig
		case err == nil:
			return nil, fmt.Errorf("base bundle: %s.sig is %d bytes, not a signature", path, len(sig))
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("base bundle: %w", err)
		}
		// Without the .sig file, the index counts as unsigned: a key then
		// refuses it (ErrUnsigned).
	}
	return s, nil
}

// baseLookup answers, for a digest, which base bundle put it at the
// destination: the first base, in the order given, that lists it (carried
// there, or itself expected from one of that bundle's bases).
type baseLookup struct {
	bases []format.Base
	by    map[digest.Digest]baseEntry
	// platforms of the bases' image summaries, by manifest digest.
	platforms map[digest.Digest][]string
}

type baseEntry struct {
	id   string
	size int64
}

func newBaseLookup(invs []*InventoryFile, bases []*BaseBundle) (*baseLookup, error) {
	l := &baseLookup{bases: []format.Base{}, by: map[digest.Digest]baseEntry{}, platforms: map[digest.Digest][]string{}}
	seen := map[string]digest.Digest{}
	// add lists a base once; it reports false for one given before.
	add := func(id string, d digest.Digest) (bool, error) {
		if prev, ok := seen[id]; ok {
			if prev != d {
				return false, fmt.Errorf("two bases have the id %s but different contents (%s, %s)", id, prev, d)
			}
			return false, nil
		}
		seen[id] = d
		l.bases = append(l.bases, format.Base{BundleID: id, Index: d})
		return true, nil
	}
	// where records where the base just added keeps its content in a
	// mirror; recorded finally keeps it only for bases that supply blobs.
	where := func(repos, mirrorRepos []string) {
		b := &l.bases[len(l.bases)-1]
		b.Repositories, b.MirrorRepositories = repos, mirrorRepos
	}
	supply := func(id string, d digest.Digest, size int64) {
		if _, ok := l.by[d]; !ok {
			l.by[d] = baseEntry{id: id, size: size}
		}
	}
	// Inventories come first: they say what the destination holds, where
	// a base says what was sent to it.
	for _, f := range invs {
		if f == nil || f.Inventory == nil {
			return nil, errors.New("inventory not loaded")
		}
		id := f.Inventory.InventoryID
		if ok, err := add(id, f.Digest()); !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		where(nil, f.Inventory.Repositories)
		for _, c := range f.Inventory.Blobs {
			supply(id, c.Digest, c.Size)
		}
	}
	for _, b := range bases {
		if b == nil || b.Index == nil {
			return nil, errors.New("base bundle not loaded")
		}
		id := b.Index.BundleID
		if ok, err := add(id, b.Digest()); !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		where(sourceRepositories(b.Index), nil)
		for _, im := range b.Index.Images {
			if _, ok := l.platforms[im.Digest]; !ok && len(im.Platforms) > 0 {
				l.platforms[im.Digest] = im.Platforms
			}
		}
		for _, blob := range b.Index.Blobs {
			supply(id, blob.Digest, blob.Size)
		}
	}
	return l, nil
}

// sourceRepositories is the repositories a bundle's named entries come
// from ([REGISTRY/]PATH of their ref names), sorted, each once: where a
// push put its content, under the mirror mapping of the push. A chain
// needs no more than its last link's: a push mounts every blob a bundle
// lists into the repositories of that bundle's own entries.
func sourceRepositories(x *format.Index) []string {
	var out []string
	for _, m := range x.Manifests {
		n, err := mirror.ParseName(m.Annotations[ocispec.AnnotationRefName])
		if err != nil || n.Repository == "" {
			continue // a referrer, or a bare tag: no repository of its own
		}
		if r := n.RepositoryName(); format.CheckRepositoryName(r, true) == nil {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// recorded is the bases to list in the index of a bundle whose blobs are
// blobs: every base, in order, with where its content is in a mirror for
// those that supply a blob only (a push never asks a base that supplies
// nothing, and a bundle that has nothing from its bases keeps the bytes it
// had before repositories were recorded). A list longer than the format
// allows keeps its first names, in order, and notice says so.
func (l *baseLookup) recorded(blobs []*packBlob, notice func(string)) []format.Base {
	supplies := map[string]bool{}
	for _, b := range blobs {
		if b.Base != "" {
			supplies[b.Base] = true
		}
	}
	out := make([]format.Base, len(l.bases))
	for i, b := range l.bases {
		out[i] = format.Base{BundleID: b.BundleID, Index: b.Index}
		if !supplies[b.BundleID] {
			continue
		}
		out[i].Repositories = capRepositories(b.BundleID, b.Repositories, notice)
		out[i].MirrorRepositories = capRepositories(b.BundleID, b.MirrorRepositories, notice)
	}
	return out
}

func capRepositories(id string, repos []string, notice func(string)) []string {
	if len(repos) <= format.MaxBaseRepositories {
		return repos
	}
	notice(fmt.Sprintf("base %s names %d repositories: only the first %d are recorded for unpack to mount its blobs from (%s to %s)",
		id, len(repos), format.MaxBaseRepositories, repos[0], repos[format.MaxBaseRepositories-1]))
	return repos[:format.MaxBaseRepositories]
}

// of returns the base bundle id that supplies a blob of digest d and size
// size, or "" when none does. Manifests and indexes are always carried.
func (l *baseLookup) of(d digest.Digest, size int64, mediaType string) string {
	if l == nil || oci.IsIndex(mediaType) || oci.IsManifest(mediaType) {
		return ""
	}
	e, ok := l.by[d]
	if !ok || e.size != size {
		return ""
	}
	return e.id
}

// MissingBaseBlobsError: an incremental bundle expects blobs at the
// destination that earlier bundles carried, and they are not there (or,
// with VerifyBase, their content does not match their digest).
type MissingBaseBlobsError struct {
	BundleID string
	Dest     string
	// Missing lists, by base bundle id, the digests not found.
	Missing map[string][]digest.Digest
	// Damaged lists, by base bundle id, the digests present whose content
	// does not hash to their digest (UnpackOptions.VerifyBase).
	Damaged map[string][]digest.Digest
}

func (e *MissingBaseBlobsError) Error() string {
	ids := map[string]bool{}
	for id := range e.Missing {
		ids[id] = true
	}
	for id := range e.Damaged {
		ids[id] = true
	}
	var sorted []string
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var parts []string
	n := 0
	for _, id := range sorted {
		var ds []string
		for _, d := range e.Missing[id] {
			ds = append(ds, d.String())
		}
		for _, d := range e.Damaged[id] {
			ds = append(ds, d.String()+" (damaged)")
		}
		n += len(ds)
		parts = append(parts, fmt.Sprintf("from base %s: %s", id, strings.Join(ds, ", ")))
	}
	blobs := "blobs"
	if n == 1 {
		blobs = "blob"
	}
	first := "first"
	if len(e.Damaged) > 0 {
		// Unpacked again as it was, it would find the damaged files of
		// the right size there and leave them.
		first = "first (again, re-hashing the blobs there, which writes the damaged ones again)"
	}
	// A base is a bundle or an inventory (SPEC 9.4): the index names both
	// by a bundleId, and only the packer knew which it was.
	return fmt.Sprintf("bundle %s builds on earlier bundles or inventories, and %s lacks %d %s they list (%s); unpack bundle %s into %s %s (an inventory's id names what a destination held when it was taken: if it is one, %s is not that destination), or take an inventory of what %s holds and have the bundle packed again against it",
		e.BundleID, e.Dest, n, blobs, strings.Join(parts, "; "), strings.Join(sorted, ", "), e.Dest, first, e.Dest, e.Dest)
}
