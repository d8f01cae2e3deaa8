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
