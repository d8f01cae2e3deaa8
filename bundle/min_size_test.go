package bundle

import (
	"context"
	"errors"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// TestTooSmallNamesALimitThatWorks: the size a too-small limit's error
// names is one that packs, and a block less is not (more volumes make a
// larger index, so the room the headers took at the first limit would
// fail again).
func TestTooSmallNamesALimitThatWorks(t *testing.T) {
	t.Parallel()
	pack := func(limit int64) error {
		_, err := Pack(context.Background(), []Source{layoutSource(t, exampleLayout, "")}, &DirSink{Dir: t.TempDir()},
			PackOptions{MaxVolumeSize: limit, Created: testCreated, Signer: testSigner(t)})
		return err
	}
	for _, limit := range []int64{4096, 12000, 20000} {
		var se *format.VolumeSizeError
		if err := pack(limit); !errors.As(err, &se) || se.Need <= limit {
			t.Fatalf("limit %d: %v, want a *VolumeSizeError naming a larger size", limit, err)
		}
		if err := pack(se.Need); err != nil {
			t.Errorf("limit %d names %d, which fails: %v", limit, se.Need, err)
		}
		if err := pack(se.Need - format.BlockSize); err == nil {
			t.Errorf("limit %d names %d, but a block less works too", limit, se.Need)
		}
	}
}
