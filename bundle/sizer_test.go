package bundle

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/airgap-bundle/bundle/format"
)

// The index length planning uses (format.IndexLen) must give the length json.Marshal gives, for
// every kind of index: otherwise offsets in the volumes would be wrong.
func TestIndexSizerMatchesMarshal(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, _ := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	cases := map[string]PackOptions{
		"example, one volume":      {},
		"example, small volumes":   {MaxVolumeSize: 40 << 10},
		"example, zstd, signed":    {Compression: format.CompressionZstd, MaxVolumeSize: 64 << 10, Signer: signer},
		"delta with base and zstd": {Compression: format.CompressionZstd, Bases: []*BaseBundle{loadBase(t, v1dir)}, MaxVolumeSize: 100 << 10},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			var x *format.Index
			if len(o.Bases) > 0 {
				_, x = packSources(t, []Source{d.v2}, o)
			} else {
				_, x = packLayout(t, o)
			}
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := format.IndexLen(x); err != nil || got != len(b) {
				t.Errorf("format.IndexLen says %d bytes (%v), json.Marshal gives %d", got, err, len(b))
			}
			if m, err := format.MarshalIndex(x); err != nil || !bytes.Equal(m, b) {
				t.Errorf("format.MarshalIndex differs from json.Marshal (%v):\n%s\n%s", err, m, b)
			}
		})
	}
}
