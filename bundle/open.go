package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
)

// OpenLocations opens the sources locs name, in order (OpenLocation).
// registries is called once, at the first registry image, so that packing
// only layouts reads no credentials file and speaks to no registry; it may
// be nil when no source is a registry image. noReferrers is
// RegistrySource.NoReferrers. If a source cannot be opened, those opened
// before it are closed.
func OpenLocations(ctx context.Context, locs []location.Location, registries func() (*oci.Registries, error), noReferrers bool) ([]Source, error) {
	var regs *oci.Registries
	sources := make([]Source, 0, len(locs))
	for _, l := range locs {
		var err error
		if regs == nil && registries != nil && l.Transport == location.Registry {
			regs, err = registries()
		}
		var s Source
		if err == nil {
			s, err = OpenLocation(ctx, regs, l, noReferrers)
		}
		if err != nil {
			return nil, errors.Join(append([]error{err}, closeSources(sources)...)...)
		}
		sources = append(sources, s)
	}
	return sources, nil
}

// closeSources closes the sources that hold something open (layouts).
func closeSources(sources []Source) []error {
	var errs []error
	for _, s := range sources {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s, err))
			}
		}
	}
	return errs
}

// LoadBases reads the base bundles at paths (LoadBase), each checked with
// key when key is not nil.
func LoadBases(ctx context.Context, paths []string, key *sign.Verifier) ([]*BaseBundle, error) {
	var bases []*BaseBundle
	for _, p := range paths {
		b, err := LoadBase(ctx, p, key)
		if err != nil {
			return nil, err
		}
		bases = append(bases, b)
	}
	return bases, nil
}

// LoadInventories reads the inventory files at paths (LoadInventory).
func LoadInventories(paths []string) ([]*InventoryFile, error) {
	var files []*InventoryFile
	for _, p := range paths {
		f, err := LoadInventory(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// DestinationCloser is a Destination that holds something open until
// Close (a layout's lock and files).
type DestinationCloser interface {
	Destination
	io.Closer
}

// DestinationOptions control NewDestination; each applies to one kind of
// destination and is ignored by the other.
type DestinationOptions struct {
	// VerifyBase: layouts, LayoutOptions.VerifyBase.
	VerifyBase bool
	// StripRegistry: mirrors, mirror.Mapping.StripRegistry.
	StripRegistry bool
	// Rules: mirrors, mirror.Mapping.Rules.
	Rules []mirror.Rule
	// MaxNestedPaths: mirrors, mirror.Mapping.MaxNestedPaths.
	MaxNestedPaths int
	// TagManifests: mirrors, RegistryDestinationOptions.TagManifests.
	TagManifests bool
	// TagPattern: mirrors, RegistryDestinationOptions.TagPattern.
	TagPattern TagPattern
	// History: mirrors, RegistryDestinationOptions.History (a layout
	// keeps its record inside, HistoryFileName).
	History string
}

// NewDestination is the destination loc names (location.ParseDestination):
// the OCI layout oci:PATH[:TAG] (NewLayoutDestination), or the mirror
// registry docker://MIRROR[/PREFIX] (NewRegistryDestination), reached
// through what registries returns; registries is called for a mirror
// only, and the mirror is recorded as insecure in mirror configuration
// when the registries speak to it as one (oci.Registries.Insecure).
func NewDestination(loc location.Location, registries func() (*oci.Registries, error), o DestinationOptions) (DestinationCloser, error) {
	switch {
	case loc.Transport == location.Layout:
		return NewLayoutDestination(loc.Path, LayoutOptions{Tag: loc.Ref, VerifyBase: o.VerifyBase}), nil
	case loc.Transport == location.Registry && loc.Host != "":
		regs, err := registries()
		if err != nil {
			return nil, err
		}
		m := loc.Mapping()
		m.StripRegistry = o.StripRegistry
		m.Rules = o.Rules
		m.MaxNestedPaths = o.MaxNestedPaths
		m.Insecure = regs.Insecure(m.Mirror)
		return NewRegistryDestination(regs, m, RegistryDestinationOptions{TagManifests: o.TagManifests, TagPattern: o.TagPattern, History: o.History}), nil
	}
	return nil, fmt.Errorf("destination %q: not an OCI layout or a mirror registry", loc)
}

// OpenOptions control how the headers of volumes are read (OpenFilesWith,
// OpenWith).
type OpenOptions struct {
	// VerifyIndex, when set, is given the raw bytes of each distinct
	// bundle.json and its signature (nil when unsigned) before they are
	// decoded (format.HeaderReader.VerifyIndex); a volume it refuses is
	// a problem of the set, as a corrupt one is. TrustPolicy.IndexVerifier
	// makes one from the policy Trust will be given: then an index nobody
	// signed costs one read of its bytes, however it is made (SPEC 15).
	VerifyIndex func(index, sig []byte) error
}

// OpenFilesWith is OpenFiles with options.
func OpenFilesWith(ctx context.Context, paths []string, o OpenOptions) (*Set, error) {
	// Countersignature files named by path are no volumes: Trust reads
	// them (SPEC 10.6).
	paths, sigPaths := splitSignaturePaths(paths)
	cands, err := findVolumeFiles(paths)
	if err != nil {
		return nil, err
	}
	s, err := openSetWith(ctx, cands, fmt.Sprint(paths), o)
	if s != nil {
		s.sigPaths = sigPaths
	}
	return s, err
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, volumes []VolumeOpener, o OpenOptions) (*Set, error) {
	cands := make([]volumeCandidate, len(volumes))
	names := make([]string, len(volumes))
	for i, v := range volumes {
		cands[i] = volumeCandidate{v, true}
		names[i] = v.Name()
	}
	return openSetWith(ctx, cands, fmt.Sprint(names), o)
}

// IndexVerifier is the check of OpenOptions.VerifyIndex that p makes,
// before an index is decoded: when the signature in the volume claims one
// of p's trusted keys (Key, Keys, the keyring's), it must verify with it
// (ErrBadSignature, or ErrWrongKey when the algorithms differ); the claim
// is read from the signer member alone. An index signed by a key p does
// not trust, or not signed at all, passes here: countersignatures beside
// the volumes may still make it trusted (SPEC 10.6), and it is decoded
// within format.CheckDecodeCost's budget. Without any key it is nil.
// Set.Trust must still be called: it decides for the set as a whole (SPEC
// 11.2).
func (p TrustPolicy) IndexVerifier() func(index, sig []byte) error {
	trusted := map[string]*sign.Verifier{}
	for _, k := range append([]*sign.Verifier{p.Key}, p.Keys...) {
		if k != nil {
			trusted[k.KeyID()] = k
		}
	}
	if p.Keyring != nil {
		for _, k := range p.Keyring.Keys {
			if k.Verifier != nil {
				trusted[k.Verifier.KeyID()] = k.Verifier
			}
		}
	}
	if len(trusted) == 0 {
		return nil
	}
	return func(index, sig []byte) error {
		if sig == nil {
			return nil
		}
		s, err := format.IndexSigner(index)
		if err != nil || s == nil {
			return nil // not a claim this check can judge; decoding will say what is wrong
		}
		key := trusted[s.KeyID]
		if key == nil {
			return nil
		}
		if s.Algorithm != key.Algorithm() {
			return fmt.Errorf("bundle index %s claims key %s with algorithm %q, but that key is %s: %w", digest.FromBytes(index),
				s.KeyID, s.Algorithm, key.Algorithm(), ErrWrongKey)
		}
		if err := key.Verify(index, sig); err != nil {
			return fmt.Errorf("bundle index %s: signature by %s: %w", digest.FromBytes(index), s.KeyID, ErrBadSignature)
		}
		return nil
	}
}

// splitRefused takes out of problems the volumes OpenOptions.VerifyIndex
// refused.
func splitRefused(problems []error) (rest, refused []error) {
	for _, p := range problems {
		if _, ok := errors.AsType[*format.IndexRefusedError](p); ok {
			refused = append(refused, p)
		} else {
			rest = append(rest, p)
		}
	}
	return rest, refused
}

// placeRefused reports the volumes VerifyIndex refused. One that says it
// is of another bundle is foreign, as it would be with the signature
// checked later (SPEC 11.3; what it says is unsigned, as a foreign
// volume's index always is). Any other fails the open with its signature
// error: a set is trusted only if every signature among its volumes
// verifies (11.2), and leaving the volume out would report it missing
// too, a second class for one fault.
func (s *Set) placeRefused(refused []error) error {
	var fail []error
	for _, err := range refused {
		r, _ := errors.AsType[*format.IndexRefusedError](err)
		if r.BundleID == "" || r.BundleID == s.Index.BundleID {
			fail = append(fail, err)
			continue
		}
		s.Problems = append(s.Problems, &ForeignVolumeError{Path: r.Path, BundleID: r.BundleID, Created: r.Created,
			Want: s.Index.BundleID, Stale: r.Created < s.Index.Created, Number: r.Number, Total: r.Total})
	}
	return errors.Join(fail...)
}
