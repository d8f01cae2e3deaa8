package format

import (
	"encoding/json"
	"errors"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestDecimalLen(t *testing.T) {
	for _, v := range []int64{0, 9, 10, 99, 100, 1<<40 + 7, -5} {
		b, _ := json.Marshal(v)
		if decimalLen(v) != len(b) {
			t.Errorf("decimalLen(%d) = %d, want %d", v, decimalLen(v), len(b))
		}
	}
}

// TestMarshalIndexIsJSONMarshal: MarshalIndex, which encodes the long
// arrays an element at a time, gives json.Marshal's bytes, and IndexLen
// their length, with the arrays nil, empty or full (characters that
// encoding/json escapes included).
func TestMarshalIndexIsJSONMarshal(t *testing.T) {
	full := testIndex()
	m := full.Manifests[0]
	m.Annotations = map[string]string{"org.opencontainers.image.ref.name": "a<b>&c:\u2028"}
	full.Manifests = append(full.Manifests, m)
	full.Images = []Image{{Ref: "a<b>&c", Digest: m.Digest, MediaType: m.MediaType, Size: m.Size, Platforms: []string{"linux/amd64"}}, {Digest: m.Digest}}
	nilArrays := testIndex()
	nilArrays.Manifests, nilArrays.Images = nil, nil
	empty := testIndex()
	empty.Manifests, empty.Images = []ocispec.Descriptor{}, []Image{}
	for i, x := range []*Index{full, nilArrays, empty} {
		want, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalIndex(x)
		if err != nil || string(got) != string(want) {
			t.Errorf("index %d: MarshalIndex\n%s\nwant\n%s\n(%v)", i, got, want, err)
		}
		if n, err := IndexLen(x); err != nil || n != len(want) {
			t.Errorf("index %d: IndexLen %d, want %d (%v)", i, n, len(want), err)
		}
	}
}

// TestCheckIndexLen: a writer refuses, while planning, an index longer
// than readers accept (SPEC 6.5 rule 1), and only that.
func TestCheckIndexLen(t *testing.T) {
	if err := checkIndexLen(MaxIndexSize); err != nil {
		t.Errorf("an index of MaxIndexSize bytes: %v", err)
	}
	if err := checkIndexLen(MaxIndexSize + 1); !errors.Is(err, ErrIndexTooLarge) {
		t.Errorf("an index of MaxIndexSize+1 bytes: %v, want ErrIndexTooLarge", err)
	}
	if err := Plan(testIndex(), 0); err != nil {
		t.Errorf("Plan of the test index: %v", err)
	}
	// Plan itself refuses: with the limit one byte below the planned
	// index's length, the same index is refused.
	x := testIndex()
	if err := Plan(x, 0); err != nil {
		t.Fatal(err)
	}
	n, err := IndexLen(x)
	if err != nil {
		t.Fatal(err)
	}
	defer func(l int) { writerIndexLimit = l }(writerIndexLimit)
	writerIndexLimit = n - 1
	if err := Plan(testIndex(), 0); !errors.Is(err, ErrIndexTooLarge) {
		t.Errorf("Plan of an index of %d bytes with a limit of %d: %v, want ErrIndexTooLarge", n, n-1, err)
	}
	writerIndexLimit = n
	if err := Plan(testIndex(), 0); err != nil {
		t.Errorf("Plan of an index of %d bytes with a limit of %d: %v", n, n, err)
	}
}
