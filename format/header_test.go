package format

import (
	"bytes"
	"math/rand"
	"slices"
	"testing"
)

// TestReadDataLike: member data the same as bytes already known is
// returned as those bytes (no copy); anything else is read as it is.
func TestReadDataLike(t *testing.T) {
	known := make([]byte, 200<<10+7)
	rand.New(rand.NewSource(3)).Read(known)
	changed := func(at int) []byte { b := slices.Clone(known); b[at] ^= 1; return b }
	cases := []struct {
		name  string
		input []byte
		like  []byte
		size  int64
		err   bool
	}{
		{"no like", known, nil, int64(len(known)), false},
		{"same", known, known, int64(len(known)), false},
		{"first byte differs", changed(0), known, int64(len(known)), false},
		{"differs after the first 64 KiB", changed(70 << 10), known, int64(len(known)), false},
		{"last byte differs", changed(len(known) - 1), known, int64(len(known)), false},
		{"cut, like so far", known[:100<<10], known, int64(len(known)), true},
		{"cut, no like", known[:100<<10], nil, int64(len(known)), true},
		{"empty", nil, []byte{}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &prefixReader{r: bytes.NewReader(append(slices.Clone(c.input), "after"...)), path: "x"}
			got, err := p.readData(c.size, c.like)
			if c.err {
				if err == nil {
					t.Fatalf("want an error, got %d bytes", len(got))
				}
				return
			}
			if err != nil || !bytes.Equal(got, c.input) || p.off != c.size {
				t.Fatalf("got %d bytes (equal %v), off %d, error %v", len(got), bytes.Equal(got, c.input), p.off, err)
			}
			if reused := len(got) > 0 && len(c.like) > 0 && &got[0] == &c.like[0]; reused != (c.like != nil && bytes.Equal(c.input, c.like) && len(got) > 0) {
				t.Errorf("like reused: %v", reused)
			}
			if int64(cap(got)) > 2*c.size+64<<10 {
				t.Errorf("capacity %d for %d bytes", cap(got), c.size)
			}
		})
	}
}
