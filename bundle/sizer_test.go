package bundle

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The sizer planning uses must give the length json.Marshal gives, for
// every kind of index: otherwise offsets in the volumes would be wrong.
func TestIndexSizerMatchesMarshal(t *testing.T) {
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, _ := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	cases := map[string]PackOptions{
		"example, one volume":      {},
		"example, small volumes":   {MaxVolumeSize: 40 << 10},
		"example, zstd, signed":    {Compression: CompressionZstd, MaxVolumeSize: 64 << 10, Signer: signer},
		"delta with base and zstd": {Compression: CompressionZstd, Bases: []*BaseBundle{loadBase(t, v1dir)}, MaxVolumeSize: 100 << 10},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			var x *Index
			if len(o.Bases) > 0 {
				_, x = packSources(t, []Source{d.v2}, o)
			} else {
				_, x = packLayout(t, o)
			}
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			s, err := newIndexSizer(x)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.size(x); got != len(b) {
				t.Errorf("sizer says %d bytes, json.Marshal gives %d", got, len(b))
			}
			if m, err := marshalIndex(x); err != nil || !bytes.Equal(m, b) {
				t.Errorf("marshalIndex differs from json.Marshal (%v):\n%s\n%s", err, m, b)
			}
		})
	}
	for _, v := range []int64{0, 9, 10, 99, 100, 1<<40 + 7, -5} {
		b, _ := json.Marshal(v)
		if decimalLen(v) != len(b) {
			t.Errorf("decimalLen(%d) = %d, want %d", v, decimalLen(v), len(b))
		}
	}
}
