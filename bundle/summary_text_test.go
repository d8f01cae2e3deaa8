package bundle

import (
	"errors"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
)

func TestSummaryWriteText(t *testing.T) {
	t.Parallel()
	d1 := digest.Digest("sha256:8cbb944bdf35e78de679f04bc16ab1d5af06fa62c4187c31896c171c348d26d8")
	d2 := digest.Digest("sha256:333ce0e66cf7a20cef9237f991385d95e9a5dce396f8b8836b15625778908f44")
	s := &Summary{
		BundleID: "0123456789abcdef0123456789abcdef", FormatVersion: 1, Created: "2023-11-14T22:13:20Z", Expires: "2024-11-13T22:13:20Z", Packer: "bundle 1.0",
		Signer: &format.Signer{KeyID: "sha256:abc", Algorithm: "ed25519"}, Signature: "verified", Compression: "zstd",
		MaxVolumeSize: 40000, Blobs: 3, BlobBytes: 3 << 20, StoredBytes: 1 << 20,
		Images: []SummaryImage{
			{Image: format.Image{Ref: "app:v1", Digest: d1, Platforms: []string{"linux/amd64", "linux/arm64"}, Size: 10 << 10}},
			{Image: format.Image{Digest: d2, Subject: d1, Size: 1700}},
		},
		Bases:        []format.Base{{BundleID: "aaaa", Index: "sha256:1111"}, {BundleID: "bbbb", Index: "sha256:2222"}},
		CarriedBlobs: 1, CarriedBytes: 1 << 20, FromBaseBlobs: 2, FromBaseBytes: 2 << 20,
		Volumes:  []VolumeState{{Number: 1, Size: 35840, Path: "/media/a/vol-0001-of-0002.tar"}, {Number: 2, Size: 20480}},
		Problems: []string{"volume 2 not found"},
	}
	want := `bundle:       0123456789abcdef0123456789abcdef (format version 1)
created:      2023-11-14T22:13:20Z
expires:      2024-11-13T22:13:20Z
packer:       bundle 1.0
signer:       sha256:abc (ed25519), signature verified
compression:  zstd
volume limit: 39.1 KiB (40000 bytes)
blobs:        3, 3.0 MiB (1.0 MiB stored)
bases:        aaaa (index sha256:1111)
              bbbb (index sha256:2222)
carried:      1 blobs, 1.0 MiB
from bases:   2 blobs, 2.0 MiB (must be at the destination already)

REF                                DIGEST               PLATFORMS                SIZE
app:v1                             sha256:8cbb944bdf35  linux/amd64,linux/arm64  10.0 KiB
(referrer of sha256:8cbb944bdf35)  sha256:333ce0e66cf7                           1.7 KiB

VOLUME  SIZE   FOUND AT
1 of 2  35840  /media/a/vol-0001-of-0002.tar
2 of 2  20480  MISSING
problem: volume 2 not found
`
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	// Unsigned, one volume, no bases: none of their lines.
	s.Signer, s.MaxVolumeSize, s.Bases, s.Problems = nil, 0, nil, nil
	b.Reset()
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	s.Expires = ""
	b.Reset()
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"signer:       unsigned\n", "volume limit: none\n", "expires:      never\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("no line %q in:\n%s", line, b.String())
		}
	}
	if strings.Contains(b.String(), "bases:") || strings.Contains(b.String(), "problem:") {
		t.Errorf("bases or problems printed without any:\n%s", b.String())
	}

	boom := errors.New("disk full")
	if err := s.WriteText(failingWriter{boom}); !errors.Is(err, boom) {
		t.Errorf("WriteText into a failing writer: %v, want %v", err, boom)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }
