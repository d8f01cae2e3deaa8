package bundle

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// TestTrustReleasesIndexBytes: once Trust has checked the signatures, the
// set drops the raw bundle.json (issue 15); it is read again, checked,
// for a second Trust or a countersignature, and a volume whose bundle.json
// changed since is refused, not signed or trusted.
func TestTrustReleasesIndexBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, true)
	dir, _ := packLayout(t, PackOptions{Signer: a, MaxVolumeSize: 40 << 10})
	s, err := OpenFiles(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(s.IndexBytes)
	if err := s.Trust(TrustPolicy{Key: a.Verifier()}); err != nil {
		t.Fatal(err)
	}
	if s.IndexBytes != nil {
		t.Fatal("IndexBytes kept after Trust")
	}
	for n, h := range s.Volumes {
		if h.IndexBytes != nil || h.LayoutIndex != nil || h.IndexSize() != len(orig) {
			t.Errorf("volume %d keeps its raw header members (index size %d)", n, h.IndexSize())
		}
	}
	if got, err := s.ReadIndexBytes(ctx); err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("ReadIndexBytes: %v", err)
	}
	if err := s.Trust(TrustPolicy{Key: a.Verifier()}); err != nil {
		t.Errorf("second Trust: %v", err)
	}
	if _, err := s.Countersign(ctx, b); err != nil {
		t.Errorf("Countersign after Trust: %v", err)
	}
	if _, err := s.Verify(ctx, VerifyOptions{}); err != nil {
		t.Errorf("Verify after the release: %v", err)
	}
	// bundle.json changed on the first volume after the set was read.
	path := s.Volumes[1].Path
	xorByte(t, path, s.Index.IndexOffset(1)+format.BlockSize+10, 0x01)
	var ce *format.CorruptError
	if _, err := s.ReadIndexBytes(ctx); !errors.As(err, &ce) || ce.Path != path {
		t.Errorf("ReadIndexBytes of a changed volume: %v", err)
	}
	if _, err := s.Countersign(ctx, b); err == nil {
		t.Error("countersigned a changed bundle.json")
	}
	if err := s.Trust(TrustPolicy{Key: a.Verifier()}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Trust of a changed bundle.json: %v, want ErrBadSignature", err)
	}
}

// TestOpenReleasesLargeIndexBytes: a bundle.json larger than
// LargeIndexSize is not held from the open set on (issue 15: at a million
// blobs it was 123 MB on top of the blob tables being merged); Trust
// reads it again for the signature it checks with a key, and refuses it
// when it changed on the volume since the set was opened. Not parallel:
// it lowers the size for the sets it opens.
func TestOpenReleasesLargeIndexBytes(t *testing.T) {
	ctx := context.Background()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, true)
	for _, v := range []int{format.Version, format.VersionV2} {
		dir, _ := packLayout(t, PackOptions{Signer: a, MaxVolumeSize: 40 << 10, FormatVersion: v})
		open := func(above int) *Set {
			t.Helper()
			releaseIndexAbove = above
			defer func() { releaseIndexAbove = LargeIndexSize }()
			s, err := OpenFiles(ctx, []string{dir})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if s := open(LargeIndexSize); s.IndexBytes == nil {
			t.Fatalf("version %d: a small bundle.json released when the set was opened", v)
		}
		s := open(0)
		if s.IndexBytes != nil || s.Volumes[1].IndexBytes != nil {
			t.Fatalf("version %d: a large bundle.json is held after open", v)
		}
		if len(s.Index.Blobs) == 0 || len(s.Volumes) < 2 {
			t.Fatalf("version %d: %d blobs in %d volumes", v, len(s.Index.Blobs), len(s.Volumes))
		}
		if err := s.Trust(TrustPolicy{Key: a.Verifier()}); err != nil {
			t.Fatalf("version %d: Trust after the release at open: %v", v, err)
		}
		if err := s.Trust(TrustPolicy{Key: b.Verifier()}); err == nil {
			t.Errorf("version %d: trusted with another key", v)
		}
		if _, err := s.Verify(ctx, VerifyOptions{}); err != nil {
			t.Errorf("version %d: Verify: %v", v, err)
		}
		// A base read from the directory names the bundle.json it has.
		releaseIndexAbove = 0
		base, err := LoadBase(ctx, dir, a.Verifier())
		releaseIndexAbove = LargeIndexSize
		if err != nil || base.Digest() != s.indexContent().Digest || !base.Verified {
			t.Errorf("version %d: LoadBase of a set that let its bundle.json go: %v", v, err)
		}
		s = open(0)
		xorByte(t, s.Volumes[1].Path, s.Index.IndexOffset(1)+format.BlockSize+10, 0x01)
		if err := s.Trust(TrustPolicy{Key: a.Verifier()}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("version %d: Trust of a bundle.json changed after open: %v, want ErrBadSignature", v, err)
		}
	}
}
