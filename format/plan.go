package format

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ErrTooSmall is wrapped when the volume size cannot hold the index and
// anything else.
var ErrTooSmall = errors.New("volume size too small")

// VolumeSizeError is a volume size limit that the bundle cannot be cut
// to. It is ErrTooSmall (errors.Is).
type VolumeSizeError struct {
	Limit int64 // the limit given, in bytes
	// Need is the smallest limit at which the bundle index and headers
	// leave room for data (Plan checks that it works); 0 when that fits
	// but Blob does not.
	Need int64
	// Blob would need more segments than a blob may have (9999).
	Blob digest.Digest
}

func (e *VolumeSizeError) Error() string {
	if e.Blob != "" {
		return fmt.Sprintf("%v: blob %s would need more than 9999 segments of at most %d bytes", ErrTooSmall, e.Blob, e.Limit)
	}
	return fmt.Sprintf("%v: the bundle index and headers every volume starts with need volumes of at least %d bytes, and the limit is %d", ErrTooSmall, e.Need, e.Limit)
}

func (e *VolumeSizeError) Unwrap() error { return ErrTooSmall }

// maxSegments is the most placements a blob may have (SPEC 4.5: .part0001
// to .part9999).
const maxSegments = 9999

// placeholderDigest stands in for segment digests while planning: the
// writer learns them later, and every sha256 digest has its length, so
// the index planned has the length of the index written.
var placeholderDigest = digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat("0", 64))

// Plan places every blob's stored bytes into volumes of at most
// maxVolumeSize bytes (0: one volume) and sets offsets, lengths and volume
// sizes; segment digests are left as placeholders of the right length for
// the writer to fill in. Every volume starts with a prefix whose size
// depends on the index, which holds the offsets: Plan iterates to a fixed
// point, reserving more room for the prefix each round it outgrows.
//
// When the limit is too small for the headers, the *VolumeSizeError's
// Need is the smallest limit that works for this index (found by planning
// again), not just the room the headers took at the limit given: more
// volumes make a larger index, so that first figure would fail again.
func Plan(x *Index, maxVolumeSize int64) error {
	sizer, err := plan(x, maxVolumeSize)
	if err == nil {
		// The sizer planning used measures the planned index too: only
		// placements and volumes changed, which it counts afresh.
		return checkIndexLen(sizer.size(x))
	}
	var se *VolumeSizeError
	if errors.As(err, &se) && se.Need > 0 {
		se.Need = smallestLimit(x, maxVolumeSize, se.Need)
	}
	return err
}

// smallestLimit is the smallest volume size limit, in whole blocks, above
// failed (a limit x does not plan at) that x plans at, searched from from
// up; from itself when none up to 2^50 does. It leaves x planned at some
// limit: the caller is failing anyway.
func smallestLimit(x *Index, failed, from int64) int64 {
	from = (from + BlockSize - 1) / BlockSize * BlockSize
	lo, hi := failed/BlockSize*BlockSize, from
	if lo >= hi {
		lo = hi - BlockSize
	}
	for !plans(x, hi) {
		if hi > 1<<50 {
			return from
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > BlockSize {
		mid := (lo + hi) / 2 / BlockSize * BlockSize
		if mid <= lo {
			break
		}
		if plans(x, mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// plans reports whether x plans at maxVolumeSize.
func plans(x *Index, maxVolumeSize int64) bool {
	_, err := plan(x, maxVolumeSize)
	return err == nil
}

// plan plans x and returns the sizer of its index.
func plan(x *Index, maxVolumeSize int64) (*indexSizer, error) {
	sizer, err := newIndexSizer(x)
	if err != nil {
		return nil, err
	}
	var reserve int64
	for round := 0; round < 64; round++ {
		capacity := int64(-1)
		if maxVolumeSize > 0 {
			capacity = maxVolumeSize - reserve - 2*BlockSize
		}
		if maxVolumeSize > 0 && capacity < 2*BlockSize {
			return nil, &VolumeSizeError{Limit: maxVolumeSize, Need: reserve + 4*BlockSize}
		}
		volData, err := placeBlobs(x, maxVolumeSize, capacity)
		if err != nil {
			return nil, err
		}
		prefix := settlePrefix(x, sizer, volData)
		if maxVolumeSize == 0 || prefix <= reserve {
			return sizer, nil
		}
		reserve = prefix + 8*BlockSize
	}
	return nil, errors.New("internal error: volume plan did not settle")
}

// volumeFiller fills volumes with blob members in index order, at offsets
// from the end of the prefix (whose size is not known yet).
type volumeFiller struct {
	limit    int64   // the volume size limit, for errors
	capacity int64   // bytes of members a volume holds; -1: no limit
	vol      int     // the volume being filled, from 1
	used     int64   // bytes of members in it so far
	volData  []int64 // bytes of members of each volume filled
}

// placeBlobs places every blob and returns the bytes of members in each
// volume.
func placeBlobs(x *Index, limit, capacity int64) ([]int64, error) {
	f := &volumeFiller{limit: limit, capacity: capacity, vol: 1}
	for i := range x.Blobs {
		if err := f.place(&x.Blobs[i]); err != nil {
			return nil, err
		}
	}
	return append(f.volData, f.used), nil
}

// place cuts b's stored bytes into segments that fill the volumes in
// turn. A blob from a base has no placements; an empty blob has one
// empty segment.
func (f *volumeFiller) place(b *Blob) error {
	b.Placements = b.Placements[:0]
	if b.Base != "" {
		b.Placements = []Placement{}
		return nil
	}
	remaining, first := b.StoredSize, true
	for first || remaining > 0 {
		n, fits := f.segmentLen(remaining)
		if !fits {
			f.volData = append(f.volData, f.used)
			f.vol, f.used = f.vol+1, 0
			continue
		}
		if len(b.Placements) == maxSegments {
			return &VolumeSizeError{Limit: f.limit, Blob: b.Digest}
		}
		b.Placements = append(b.Placements, Placement{Volume: f.vol, Offset: f.used + BlockSize, Length: n, Digest: placeholderDigest})
		f.used += MemberSize(n)
		remaining -= n
		first = false
	}
	return nil
}

// segmentLen is how many of remaining bytes the current volume takes as
// one member: all (up to MaxMemberSize) when they fit, else the whole
// blocks that fit; fits is false when not even one block does.
func (f *volumeFiller) segmentLen(remaining int64) (n int64, fits bool) {
	room := int64(1 << 62)
	if f.capacity >= 0 {
		room = f.capacity - f.used
	}
	n = remaining
	if n > MaxMemberSize {
		n = MaxMemberSize
	}
	if MemberSize(n) <= room {
		return n, true
	}
	n = (room - BlockSize) / BlockSize * BlockSize
	return n, n > 0
}

// settlePrefix turns the relative offsets into absolute ones and sizes
// the volumes, for the prefix the resulting index needs, until that
// prefix stops changing (or 18 rounds: the caller then reserves more).
// It returns the prefix size last used.
func settlePrefix(x *Index, sizer *indexSizer, volData []int64) int64 {
	x.Volumes = make([]Volume, len(volData))
	// The placements' offsets from the end of the prefix, in order: one
	// slice, not one per blob.
	n := 0
	for i := range x.Blobs {
		n += len(x.Blobs[i].Placements)
	}
	relOffsets := make([]int64, 0, n)
	for i := range x.Blobs {
		for _, p := range x.Blobs[i].Placements {
			relOffsets = append(relOffsets, p.Offset)
		}
	}
	prefix := x.PrefixSize(sizer.size(x))
	for iter := 0; ; iter++ {
		k := 0
		for i := range x.Blobs {
			for j := range x.Blobs[i].Placements {
				x.Blobs[i].Placements[j].Offset = prefix + relOffsets[k]
				k++
			}
		}
		for v := range volData {
			x.Volumes[v] = Volume{Number: v + 1, Size: prefix + volData[v] + 2*BlockSize}
		}
		next := x.PrefixSize(sizer.size(x))
		if next == prefix || iter > 16 {
			return prefix
		}
		prefix = next
	}
}

// ErrIndexTooLarge is an index longer than readers accept (MaxIndexSize,
// SPEC 6.5 rule 1). A writer refuses it while planning: volumes carrying
// it would be refused on the far side of the air gap. At about 550 bytes
// of index per blob (digests, offsets, the manifest and image entries of
// an operator catalog) that is near 480,000 blobs per bundle.
var ErrIndexTooLarge = errors.New("bundle index too large")

// writerIndexLimit is MaxIndexSize; a variable only so that a test can
// show Plan refusing an index over it without building 256 MiB of one.
var writerIndexLimit = MaxIndexSize

// checkIndexLen refuses an index of n bytes that readers would refuse.
func checkIndexLen(n int) error {
	if n > writerIndexLimit {
		return fmt.Errorf("%w: %d bytes, more than the %d a reader accepts (SPEC 6.5 rule 1); split the images into several bundles", ErrIndexTooLarge, n, writerIndexLimit)
	}
	return nil
}
