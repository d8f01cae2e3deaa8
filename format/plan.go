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
	sizer, err := planVersion(x, maxVolumeSize)
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
	_, err := planVersion(x, maxVolumeSize)
	return err == nil
}

// planVersion plans x in the layout of its format version and returns
// the sizer of its index.
func planVersion(x *Index, maxVolumeSize int64) (*indexSizer, error) {
	if x.FormatVersion == VersionV2 {
		return planV2(x, maxVolumeSize)
	}
	return plan(x, maxVolumeSize)
}

// plan plans x (format version 1) and returns the sizer of its index.
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

	// v2 is set when planning format version 2: each volume's room
	// depends on its own header members, its blob table among them,
	// whose room usedTable is.
	v2        *tableFiller
	usedTable int64
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
		if f.v2 != nil {
			if ok, err := f.v2.admit(f, b, remaining); err != nil {
				return err
			} else if !ok {
				f.nextVolume()
				continue
			}
		}
		n, fits := f.segmentLen(remaining)
		if !fits {
			f.nextVolume()
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

// nextVolume closes the volume being filled and starts the next.
func (f *volumeFiller) nextVolume() {
	f.volData = append(f.volData, f.used)
	f.vol, f.used = f.vol+1, 0
	if f.v2 != nil {
		f.v2.start(f)
	}
}

// segmentLen is how many of remaining bytes the current volume takes as
// one member: all (up to MaxMemberSize) when they fit, else the whole
// blocks that fit; fits is false when not even one block does.
func (f *volumeFiller) segmentLen(remaining int64) (n int64, fits bool) {
	room := int64(1 << 62)
	if f.capacity >= 0 {
		room = f.capacity - f.used - f.usedTable
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

// Planning format version 2 (SPEC 12.2). Each volume starts with its own
// blob table, whose length depends on the blobs placed in it, and so on
// the room left for them: the filler counts each volume's table as it
// places blobs (with offsets and lengths of as many digits as the limit
// has), and starts a new volume when the table would pass
// MaxBlobTableSize. A blob continued into later volumes lengthens the
// tables of the volumes before, which the count cannot know yet: after
// the offsets settle, a volume that came out over the limit gets that
// much more room reserved, and the blobs are placed again, until none is
// over (reserves only grow, so this ends).

// writerTableLimit is MaxBlobTableSize; a variable so that a test can
// show a table cut without placing 128 MiB of entries.
var writerTableLimit int64 = MaxBlobTableSize

// tableFiller is the version 2 part of a volumeFiller.
type tableFiller struct {
	x        *Index
	sizer    *indexSizer
	max      int64         // the volume size limit; 0: none
	indexLen int64         // bundle.json's length to reserve room for
	extra    map[int]int64 // more room reserved for a volume's header
	table    int64         // bytes of the current volume's table so far
	entries  int           // blobs its table lists so far
	listed   *Blob         // the last blob its table lists
	placeLen int64         // the longest placement entry
	cur      int           // index in x.Blobs of the blob being placed
	// baseTable is the length of the entries of the blobs from bases,
	// which volume 1's table lists after its own.
	baseTable int64
}

// fixed is the room volume n's header members take but for its table.
func (t *tableFiller) fixed(n int) int64 {
	return t.x.prefixV2(n, int(t.indexLen), 0) - MemberSize(0) + t.extra[n]
}

// start begins counting the table of the volume f starts.
func (t *tableFiller) start(f *volumeFiller) {
	t.table = int64(len(`{"volume":,"blobs":[]}`) + decimalLen(int64(f.vol)))
	if f.vol == 1 {
		t.table += t.baseTable
	}
	t.entries, t.listed = 0, nil
	f.usedTable = MemberSize(t.table)
	f.capacity = -1
	if t.max > 0 {
		// Never negative: that would read as no limit.
		f.capacity = max(t.max-2*BlockSize-t.fixed(f.vol), 0)
	}
}

// admit accounts b's entry in the current volume's table, when it is not
// listed there yet, and reports whether the volume has room for it and
// at least one block of data; false moves to the next volume. An empty
// volume without that room is an error: so would be the next.
func (t *tableFiller) admit(f *volumeFiller, b *Blob, remaining int64) (bool, error) {
	grow := int64(0)
	if t.listed != b {
		// The entry with the placements so far and this one and, when
		// the rest of the blob will not fit in this volume, one more.
		grow = int64(t.sizer.blobFixed[t.cur]) + int64(len(b.Placements)+1)*(t.placeLen+1)
		if t.entries > 0 {
			grow++
		}
		if f.capacity >= 0 && f.capacity-f.used-MemberSize(t.table+grow) < MemberSize(remaining) {
			grow += t.placeLen + 1
		}
	}
	table := t.table + grow
	empty := f.used == 0 && t.entries == 0
	if !empty && table > writerTableLimit {
		return false, nil
	}
	if f.capacity >= 0 && f.capacity-f.used-MemberSize(table) < MemberSize(min(remaining, BlockSize)) {
		if empty {
			return false, &VolumeSizeError{Limit: t.max, Need: t.fixed(f.vol) + MemberSize(table) + 4*BlockSize}
		}
		return false, nil
	}
	if t.listed != b {
		t.table, t.listed = table, b
		t.entries++
	}
	f.usedTable = MemberSize(t.table)
	return true, nil
}

func planV2(x *Index, maxVolumeSize int64) (*indexSizer, error) {
	sizer, err := newIndexSizer(x)
	if err != nil {
		return nil, err
	}
	limitDigits := decimalLen(1 << 40)
	if maxVolumeSize > 0 {
		limitDigits = decimalLen(maxVolumeSize)
	}
	t := &tableFiller{x: x, sizer: sizer, max: maxVolumeSize, extra: map[int]int64{},
		placeLen: int64(len(`{"volume":,"offset":,"length":,"digest":""}`) + decimalLen(MaxVolumes) + 2*limitDigits + len(placeholderDigest))}
	// bundle.json's length: all but the tables and volumes, and room for
	// as many of those as the data fills volumes of this size.
	var stored int64
	for i := range x.Blobs {
		stored += x.Blobs[i].StoredSize
	}
	vols := int64(1)
	if maxVolumeSize > 0 {
		vols += stored / maxVolumeSize * 2
	}
	perVolume := int64(len(`{"volume":,"digest":"","size":,"count":},{"number":,"size":},`) + 2*decimalLen(MaxVolumes) + len(placeholderDigest) + 2*limitDigits + 10)
	t.indexLen = int64(sizer.rest) + vols*perVolume
	for i := range x.Blobs {
		if x.Blobs[i].Base != "" {
			t.baseTable += int64(sizer.blobFixed[i]) + 1
		}
	}
	for round := 0; round < 64; round++ {
		f := &volumeFiller{limit: maxVolumeSize, vol: 1, v2: t}
		t.start(f)
		for i := range x.Blobs {
			t.cur = i
			if err := f.place(&x.Blobs[i]); err != nil {
				return nil, err
			}
		}
		settleV2(x, sizer, append(f.volData, f.used))
		if maxVolumeSize == 0 {
			return sizer, nil
		}
		over := false
		if n := int64(x.indexLen); n > t.indexLen {
			t.indexLen, over = n+8*BlockSize, true
		}
		for v := range x.Volumes {
			if size := x.Volumes[v].Size; size > maxVolumeSize {
				t.extra[v+1] += size - maxVolumeSize + 8*BlockSize
				over = true
			}
		}
		if !over {
			return sizer, nil
		}
	}
	return nil, errors.New("internal error: volume plan did not settle")
}

// settleV2 turns the offsets relative to the end of each volume's prefix
// into absolute ones, and sizes the blob tables and volumes, until the
// prefixes stop changing: a prefix holds bundle.json, whose length
// depends on the table sizes and volume sizes, and the volume's table,
// whose length depends on the offsets.
func settleV2(x *Index, sizer *indexSizer, volData []int64) {
	x.Volumes = make([]Volume, len(volData))
	x.BlobTables = make([]BlobTable, len(volData))
	for v := range volData {
		x.Volumes[v] = Volume{Number: v + 1, Size: volData[v] + 2*BlockSize}
		x.BlobTables[v] = BlobTable{Volume: v + 1, Digest: placeholderDigest, Size: 1}
	}
	relOffsets := make([][]int64, len(x.Blobs))
	for i := range x.Blobs {
		for _, p := range x.Blobs[i].Placements {
			relOffsets[i] = append(relOffsets[i], p.Offset)
		}
	}
	prefix := make([]int64, len(volData))
	for iter := 0; iter < 32; iter++ {
		lens, counts := sizer.tableLens(x)
		for v := range lens {
			x.BlobTables[v].Size, x.BlobTables[v].Count = lens[v], counts[v]
		}
		x.indexLen = sizer.size(x)
		changed := false
		for v := range prefix {
			if p := x.prefixV2(v+1, x.indexLen, lens[v]); p != prefix[v] {
				prefix[v], changed = p, true
			}
		}
		if !changed {
			return
		}
		for i := range x.Blobs {
			for j := range x.Blobs[i].Placements {
				p := &x.Blobs[i].Placements[j]
				p.Offset = prefix[p.Volume-1] + relOffsets[i][j]
			}
		}
		for v := range volData {
			x.Volumes[v].Size = prefix[v] + volData[v] + 2*BlockSize
		}
	}
}
