package format

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// offsetsRead is a ReaderAt that remembers where it was read from, and how
// much.
type offsetsRead struct {
	r     io.ReaderAt
	reads [][2]int64
}

func (o *offsetsRead) ReadAt(p []byte, off int64) (int, error) {
	o.reads = append(o.reads, [2]int64{off, int64(len(p))})
	return o.r.ReadAt(p, off)
}

// TestLayoutIndexHashed: a header reader that can read a volume again
// holds no large index.json: it hashes it as it reads it, and knows it as
// the one bundle.json's entries make (as the reference writer writes it)
// by that digest alone; one another writer laid out otherwise is read
// again and compared entry by entry, and one that lists other entries is
// refused, as a reader holding it decides.
func TestLayoutIndexHashed(t *testing.T) {
	x := testIndex()
	x.Bases, x.Blobs = nil, x.Blobs[:2]
	x.Compression = CompressionNone
	entries, err := json.Marshal(x.Manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		layout  string
		accept  bool
		readsIt bool // read again to compare
	}{
		{"as the reference writer", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":` + string(entries) + `}`, true, false},
		{"another writer's", `{"manifests":` + string(entries) + `, "schemaVersion":2}`, true, true},
		{"other entries", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[]}`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := *x
			x.LayoutIndex = Content{Digest: digest.FromString(tc.layout), Size: int64(len(tc.layout))}
			x.Volumes = []Volume{{Number: 1}, {Number: 2}}
			x.Blobs = slices.Clone(x.Blobs)
			if err := Plan(&x, 16384); err != nil {
				t.Fatal(err)
			}
			fillSegmentDigests(&x)
			ib, err := MarshalIndex(&x)
			if err != nil {
				t.Fatal(err)
			}
			var vol bytes.Buffer
			if err := WritePrefix(&vol, &x, ib, strings.NewReader(tc.layout), nil, 1); err != nil {
				t.Fatal(err)
			}
			vol.Write(make([]byte, x.Volumes[0].Size-int64(vol.Len())))
			_, plain := ReadVolumeHeader(bytes.NewReader(vol.Bytes()), "vol")
			ra := &offsetsRead{r: bytes.NewReader(vol.Bytes())}
			h, err := (&HeaderReader{KeepIndexUpTo: 1}).ReadAt(ra, int64(vol.Len()), "vol")
			if (err == nil) != tc.accept || (plain == nil) != tc.accept {
				t.Fatalf("hashed: %v; held: %v; want accepted %v", err, plain, tc.accept)
			}
			if err == nil && h.LayoutIndex != nil {
				t.Error("index.json held")
			}
			again := false
			for _, r := range ra.reads {
				if r == [2]int64{MemberSize(int64(len(OCILayoutFile))) + BlockSize, int64(len(tc.layout))} {
					again = true
				}
			}
			if again != tc.readsIt {
				t.Errorf("index.json read again: %v, want %v", again, tc.readsIt)
			}
			t.Log(err)
		})
	}
}
