package bundle

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a caller can tell apart with errors.Is.
var (
	// ErrUnsigned: the bundle carries no signature and unsigned bundles
	// were not allowed.
	ErrUnsigned = errors.New("the bundle is not signed")
	// ErrWrongKey: the bundle was signed by a key other than the one given.
	ErrWrongKey = errors.New("the bundle is signed by another key than the one given")
	// ErrBadSignature: the signature does not match the bundle index: the
	// index was altered after signing.
	ErrBadSignature = errors.New("the bundle index signature does not verify: the index was altered or the signature damaged")
	// ErrNoVolumes: no volume was found in the paths given.
	ErrNoVolumes = errors.New("no bundle volume found")
	// ErrNotTrusted: a set was read before Set.Trust passed.
	ErrNotTrusted = errors.New("the bundle's signature was not checked against a trust policy (Set.Trust) before reading it")
)

// MissingVolumesError lists the volumes of a bundle that were not given.
type MissingVolumesError struct {
	BundleID string
	Total    int
	Missing  []int
}

func (e *MissingVolumesError) Error() string {
	return fmt.Sprintf("bundle %s: %d of %d volumes not found: %s; give the paths of all media",
		e.BundleID, len(e.Missing), e.Total, formatRanges(e.Missing))
}

// ForeignVolumeError is a volume of another bundle among those given.
// Stale is set when that bundle is older than the one being read: most
// likely a leftover of an earlier run.
type ForeignVolumeError struct {
	Path     string
	BundleID string // the bundle the volume belongs to
	Created  string
	Want     string // the bundle being read
	Stale    bool
	Number   int
	Total    int
}

func (e *ForeignVolumeError) Error() string {
	kind := "a volume of another bundle"
	if e.Stale {
		kind = "a stale volume of an older bundle"
	}
	return fmt.Sprintf("%s is %s (volume %d of %d of bundle %s created %s, not of bundle %s); remove it or keep it apart",
		e.Path, kind, e.Number, e.Total, e.BundleID, e.Created, e.Want)
}

// DuplicateVolumeError is one volume number given more than once.
type DuplicateVolumeError struct {
	BundleID string
	Number   int
	Paths    []string
}

func (e *DuplicateVolumeError) Error() string {
	return fmt.Sprintf("volume %d of bundle %s was given %d times (%s); give each volume once",
		e.Number, e.BundleID, len(e.Paths), strings.Join(e.Paths, ", "))
}

// formatRanges prints 1,2,3,5 as "1-3, 5".
func formatRanges(ns []int) string {
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		} else {
			parts = append(parts, fmt.Sprint(ns[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
