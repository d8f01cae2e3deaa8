package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// OpenIndexFile reads a bundle.json taken out of a volume, and the
// bundle.json.sig beside it when there is one, as a set without volumes:
// enough to countersign the bundle, or to check its signatures with Trust
// (countersignature files beside it count), not to verify or unpack it.
// A countersigner needs no more than these two small files.
func OpenIndexFile(path string) (*Set, error) {
	b, err := readLimited(path, format.MaxIndexSize)
	if err != nil {
		return nil, err
	}
	x, err := format.ParseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s := &Set{Index: x, IndexBytes: b, Volumes: map[int]*format.VolumeHeader{}, openers: map[int]VolumeOpener{}, indexPath: path}
	if x.Signer != nil {
		sigPath := filepath.Join(filepath.Dir(path), format.MemberSignature)
		sig, err := readLimited(sigPath, format.MaxSignatureSize)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Only the countersignatures can then count.
		case err != nil:
			return nil, err
		case len(sig) == 0:
			return nil, fmt.Errorf("%s: empty signature", sigPath)
		default:
			s.Signature = sig
			s.signatures = [][]byte{sig}
		}
	}
	return s, nil
}

// readLimited reads the file at path, refusing one larger than limit.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	return b, nil
}

// Countersign signs the set's bundle.json with signer and returns the
// countersignature (SPEC 10.6), checked with the signer's public key as a
// reader will check it. Nothing of the volumes is read or written: the
// signature is over the bundle.json bytes, which bind every other byte.
func (s *Set) Countersign(ctx context.Context, signer sign.Signer) (*format.Countersignature, error) {
	v, err := signerVerifier(signer)
	if err != nil {
		return nil, err
	}
	// Released by Trust (see IndexBytes): read again, and checked
	// against the digest of what Trust checked.
	index, err := s.ReadIndexBytes(ctx)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("countersigning bundle %s: %w", s.Index.BundleID, err)
	}
	if len(sig) == 0 || len(sig) > format.MaxSignatureSize {
		return nil, fmt.Errorf("countersigning bundle %s with %s: a signature of %d bytes, want 1 to %d", s.Index.BundleID, v.KeyID(), len(sig), format.MaxSignatureSize)
	}
	if err := v.Verify(index, sig); err != nil {
		return nil, fmt.Errorf("countersigning bundle %s: the signer's signature does not verify with its own public key: %w", s.Index.BundleID, err)
	}
	return format.NewCountersignature(s.Index.BundleID, index, v.KeyID(), v.Algorithm(), sig)
}

// WriteCountersignature writes c into dir under its file name
// (format.CountersignatureFileName) and returns the path. It never
// replaces a file: an existing one gives an error wrapping fs.ErrExist.
// The file appears whole or not at all (written aside, then linked).
func WriteCountersignature(dir string, c *format.Countersignature) (string, error) {
	b, err := c.Encode()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, format.CountersignatureFileName(c.BundleID, c.KeyID))
	tmp, err := os.CreateTemp(dir, ".sig-*.partial")
	if err != nil {
		return "", fmt.Errorf("writing the countersignature of bundle %s into %s: %w", c.BundleID, dir, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		// A link, unlike a rename, fails when the name is taken.
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("writing countersignature %s: %w", path, err)
	}
	return path, nil
}
