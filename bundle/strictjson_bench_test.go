package bundle

import (
	"reflect"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// BenchmarkCheckStrictJSON is the strict scan ParseIndex runs before
// decoding, on the synthetic index of 100,000 blobs.
func BenchmarkCheckStrictJSON(b *testing.B) {
	_, ib := synthIndex(b, 100000, benchIndexVolume)
	b.SetBytes(int64(len(ib)))
	t := reflect.TypeFor[format.Index]()
	for b.Loop() {
		if err := format.CheckStrictJSON(ib, t); err != nil {
			b.Fatal(err)
		}
	}
}
