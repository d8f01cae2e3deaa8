package bundle

import (
	"context"
	"errors"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

func TestVolumeSizeError(t *testing.T) {
	t.Parallel()
	for _, max := range []int64{2000, 6000} {
		_, err := Pack(context.Background(), []Source{layoutSource(t, exampleLayout, "")}, &DirSink{Dir: t.TempDir()},
			PackOptions{MaxVolumeSize: max, Created: testCreated})
		var ve *format.VolumeSizeError
		if !errors.As(err, &ve) || !errors.Is(err, format.ErrTooSmall) {
			t.Fatalf("max %d: error %v, want a *VolumeSizeError that is ErrTooSmall", max, err)
		}
		if ve.Limit != max || ve.Need <= max {
			t.Errorf("max %d: VolumeSizeError{Limit: %d, Need: %d}, want the limit given and more needed", max, ve.Limit, ve.Need)
		}
	}
}

func TestTrustWithoutKey(t *testing.T) {
	t.Parallel()
	signed, _ := packLayout(t, PackOptions{Signer: testSigner(t)})
	unsigned, _ := packLayout(t, PackOptions{})
	for _, c := range []struct {
		name          string
		dir           string
		allowUnsigned bool
		want          error // nil: accepted
	}{
		{"signed, no key", signed, false, ErrKeyNeeded},
		{"signed, no key, allowed", signed, true, nil},
		{"unsigned", unsigned, false, ErrUnsigned},
		{"unsigned, allowed", unsigned, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenFiles(context.Background(), []string{c.dir})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Trust(TrustPolicy{AllowUnsigned: c.allowUnsigned})
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("Trust: %v, want %v", err, c.want)
			}
		})
	}
}
