package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// Sealing: the bundle id, the index's final bytes and their signature.

// bundleID derives the id from what identifies the bundle's content and
// options, so that equal inputs give equal ids (reproducible packs).
func bundleID(x *format.Index, layoutIndex io.WriterTo, blobs []*packBlob) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "airgap-bundle v%d\n%s\n%s\n%s\n%d\n", x.FormatVersion, x.Packer, x.Created, x.Compression, x.MaxVolumeSize)
	if x.Signer != nil {
		fmt.Fprintf(h, "%s\n", x.Signer.KeyID)
	}
	// Bases and which blobs they supply are part of the content: a delta
	// and a full bundle of the same images differ. (Nothing is added when
	// there are no bases, so full bundles keep their ids.)
	for _, b := range x.Bases {
		fmt.Fprintf(h, "base %s %s\n", b.BundleID, b.Index)
	}
	if _, err := layoutIndex.WriteTo(h); err != nil {
		return "", fmt.Errorf("bundle id: %w", err)
	}
	for _, b := range blobs {
		fmt.Fprintf(h, "\n%s %s %d", b.Digest, b.Encoding, b.StoredSize)
		if b.Base != "" {
			fmt.Fprintf(h, " base %s", b.Base)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// signerVerifier returns the verifier for s's public key, after checking
// that s names its key and algorithm as a reader of the bundle will.
func signerVerifier(s sign.Signer) (*sign.Verifier, error) {
	pub := s.Public()
	if pub == nil {
		return nil, fmt.Errorf("signer %s has no public key to check its signatures with", s.KeyID())
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", s.KeyID(), err)
	}
	if s.KeyID() != v.KeyID() || s.Algorithm() != v.Algorithm() {
		return nil, fmt.Errorf("signer says it is key %s (%s), but its public key is %s (%s)", s.KeyID(), s.Algorithm(), v.KeyID(), v.Algorithm())
	}
	return v, nil
}

// indexSeal makes the bundle index's final bytes and their signature, and
// checks both as a reader will.
type indexSeal struct {
	signer     sign.Signer    // nil: unsigned
	check      *sign.Verifier // signer's own public key
	indexBytes []byte
	sig        []byte
}

// newIndexSeal checks that signer (nil for none) can sign a bundle that
// its public key verifies.
func newIndexSeal(signer sign.Signer) (*indexSeal, error) {
	s := &indexSeal{signer: signer}
	if signer != nil {
		v, err := signerVerifier(signer)
		if err != nil {
			return nil, err
		}
		s.check = v
	}
	return s, nil
}

// seal marshals x, validates it and signs the bytes.
func (s *indexSeal) seal(ctx context.Context, x *format.Index) error {
	var err error
	if x.FormatVersion == format.VersionV2 {
		// The tables' digests, now that the segment digests are known.
		if err := format.SealBlobTables(x); err != nil {
			return err
		}
	}
	if s.indexBytes, err = format.MarshalIndex(x); err != nil {
		return err
	}
	// The rules a reader applies, on the index as built (decoding the
	// bytes again would double the memory a large index takes).
	if err := x.Validate(len(s.indexBytes)); err != nil {
		return fmt.Errorf("internal error: packed index does not validate: %w", err)
	}
	if s.signer == nil {
		return nil
	}
	if s.sig, err = s.signer.Sign(ctx, s.indexBytes); err != nil {
		return fmt.Errorf("sign bundle index: %w", err)
	}
	// A signature that does not verify would be found only on the far
	// side of the air gap.
	if err := s.check.Verify(s.indexBytes, s.sig); err != nil {
		return fmt.Errorf("signer %s made a signature over the bundle index that its own public key does not verify: %w", s.signer.KeyID(), err)
	}
	if len(s.sig) > format.MaxSignatureSize {
		return fmt.Errorf("signature of %d bytes is larger than the %d the format allows; use a smaller key", len(s.sig), format.MaxSignatureSize)
	}
	return nil
}

// provisionalKeyID stands in for the key ID of a signer still opening:
// every key ID has its length.
var provisionalKeyID = "sha256:" + strings.Repeat("0", 64)

// algorithmsByLength has one algorithm name of each length a signer's
// can have: the index of a bundle signed with one is as long as with any
// other of its length.
var algorithmsByLength = []string{sign.AlgorithmECDSAP256, sign.AlgorithmEd25519, sign.AlgorithmRSA}

// signerEntry is the index's signer member for s (nil when unsigned).
// When s is a *sign.PendingSigner that is still opening, it waits for it,
// unless provisional: then the entry is a placeholder of the right length
// for all but the algorithm, and provisional stays set.
func signerEntry(ctx context.Context, s sign.Signer, provisional bool) (*format.Signer, bool, error) {
	if s == nil {
		return nil, false, nil
	}
	if ps, ok := s.(*sign.PendingSigner); ok {
		open, done, err := ps.Ready()
		if !done && provisional {
			return &format.Signer{KeyID: provisionalKeyID, Algorithm: algorithmsByLength[0]}, true, nil
		}
		if !done {
			open, err = ps.Wait(ctx)
		}
		if err != nil {
			return nil, false, err
		}
		s = open
	}
	return &format.Signer{KeyID: s.KeyID(), Algorithm: s.Algorithm()}, false, nil
}

// signerLayout reports whether x, planned with a provisional signer
// entry, has the layout it would have with any signer: planned again with
// an algorithm of each other length, every blob lands where it did, every
// volume has its size and its header room. Then the blobs can be written
// before the key is open, and the bundle is the one it would have been
// with the key open from the start. It leaves x as it was.
func signerLayout(x *format.Index, maxVolumeSize int64) bool {
	planned := *x.Signer
	want, err := layoutPrint(x)
	if err != nil {
		return false
	}
	same := true
	for _, alg := range algorithmsByLength {
		if len(alg) == len(planned.Algorithm) {
			continue
		}
		x.Signer = &format.Signer{KeyID: planned.KeyID, Algorithm: alg}
		if format.Plan(x, maxVolumeSize) != nil {
			same = false
			break
		}
		if got, err := layoutPrint(x); err != nil || got != want {
			same = false
			break
		}
	}
	x.Signer = &planned
	if err := format.Plan(x, maxVolumeSize); err != nil {
		return false
	}
	if got, err := layoutPrint(x); err != nil || got != want {
		return false
	}
	return same
}

// layoutPrint is a digest of where x places things: the format version,
// the volumes' sizes and header room, the blobs' placements and the
// version 2 blob tables' sizes.
func layoutPrint(x *format.Index) ([sha256.Size]byte, error) {
	h := sha256.New()
	n, err := format.IndexLen(x)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	fmt.Fprintf(h, "v%d %d volumes\n", x.FormatVersion, len(x.Volumes))
	for _, v := range x.Volumes {
		fmt.Fprintf(h, "%d %d %d\n", v.Number, v.Size, x.VolumePrefixSize(v.Number, n))
	}
	for _, t := range x.BlobTables {
		fmt.Fprintf(h, "table %d %d %d\n", t.Volume, t.Size, t.Count)
	}
	for i := range x.Blobs {
		for _, p := range x.Blobs[i].Placements {
			fmt.Fprintf(h, "%d %d %d %d\n", i, p.Volume, p.Offset, p.Length)
		}
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum, nil
}
