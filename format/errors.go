package format

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ErrNotVolume: the file does not start like a bundle volume at all.
var ErrNotVolume = errors.New("not a bundle volume")

// CorruptError reports bytes of a volume that differ from what the signed
// index says: a damaged or truncated medium, or tampering.
type CorruptError struct {
	Path   string        // volume file
	Volume int           // volume number (0 if not known)
	Offset int64         // byte offset in the volume where the problem is
	Member string        // tar member concerned, if any
	Digest digest.Digest // expected digest of the segment, if any
	Reason string
	// Packed is set when the bytes are those the signed index names but
	// break a rule of the format (a version 2 blob table that does not
	// tile its volume, tables that disagree): the bundle was written
	// wrong, and copying the volume again cannot help.
	Packed bool
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", e.Path)
	if e.Volume > 0 {
		fmt.Fprintf(&b, " (volume %d)", e.Volume)
	}
	fmt.Fprintf(&b, " is corrupt at offset %d", e.Offset)
	if e.Member != "" {
		fmt.Fprintf(&b, ", member %s", e.Member)
	}
	if e.Digest != "" {
		fmt.Fprintf(&b, " (expected %s)", e.Digest)
	}
	if e.Packed {
		fmt.Fprintf(&b, ": %s; its bytes are those the bundle index names, so the bundle was packed wrong: have it packed again", e.Reason)
		return b.String()
	}
	fmt.Fprintf(&b, ": %s; copy this volume again from the source medium", e.Reason)
	return b.String()
}

// VersionError is an index of a format version this package does not read.
type VersionError struct{ Version int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("formatVersion %d: this reader knows versions %d and %d only; read it with a newer version", e.Version, Version, VersionV2)
}
