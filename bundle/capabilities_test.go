package bundle

// Tests of the optional interfaces of sinks and sources (FileSink,
// RemoteSource, AttachedSource): implemented by types outside the package's
// own, they change what Pack does, and only that.

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	_ FileSink       = (*DirSink)(nil)
	_ RemoteSource   = (*RegistrySource)(nil)
	_ AttachedSource = (*RegistrySource)(nil)
)

// ownFileSink is a FileSink of the kind a caller would write: it records
// the volumes Pack asks to write headers into.
type ownFileSink struct {
	*DirSink
	mu    sync.Mutex
	asked []int
}

func (s *ownFileSink) VolumeFile(n int) (*os.File, error) {
	s.mu.Lock()
	s.asked = append(s.asked, n)
	s.mu.Unlock()
	return s.DirSink.VolumeFile(n)
}

// countingSource counts the fetches of each digest, passing through what
// the source returns (an *os.File from a layout).
type countingSource struct {
	Source
	mu      sync.Mutex
	fetches map[digest.Digest]int
}

func (s *countingSource) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	s.mu.Lock()
	s.fetches[d.Digest]++
	s.mu.Unlock()
	return s.Source.Fetch(ctx, d)
}

func TestFileSinkGetsHeadersLast(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		fileSink  bool
		wantAsked bool
		// wantSplitReads is how often each split blob is fetched: once
		// when the segment digests are found while writing, twice when a
		// pass of its own finds them first.
		wantSplitReads int
	}{
		{name: "own FileSink", fileSink: true, wantAsked: true, wantSplitReads: 1},
		{name: "plain Sink", fileSink: false, wantAsked: false, wantSplitReads: 2},
	}
	var volumes [][][]byte
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := &countingSource{Source: layoutSource(t, exampleLayout, ""), fetches: map[digest.Digest]int{}}
			own := &ownFileSink{DirSink: &DirSink{Dir: dir}}
			var sink Sink = own
			if !c.fileSink {
				sink = streamSink{&DirSink{Dir: dir}}
			}
			x, err := Pack(context.Background(), []Source{src}, sink, PackOptions{MaxVolumeSize: 40 << 10, Created: testCreated, Packer: "bundle-test"})
			if err != nil {
				t.Fatalf("pack: %v", err)
			}
			if len(x.Volumes) < 2 {
				t.Fatalf("%d volumes: want several, so that blobs are split", len(x.Volumes))
			}
			wantAsked := []int(nil)
			if c.wantAsked {
				for n := 1; n <= len(x.Volumes); n++ {
					wantAsked = append(wantAsked, n)
				}
			}
			if !slices.Equal(own.asked, wantAsked) {
				t.Errorf("VolumeFile asked for volumes %v, want %v", own.asked, wantAsked)
			}
			split := 0
			for _, b := range x.Blobs {
				if len(b.Placements) < 2 {
					continue
				}
				split++
				if got := src.fetches[b.Digest]; got != c.wantSplitReads {
					t.Errorf("split blob %s fetched %d times, want %d", b.Digest, got, c.wantSplitReads)
				}
			}
			if split == 0 {
				t.Fatal("no blob was split: the test proves nothing")
			}
			if _, err := verifyFiles(context.Background(), []string{dir}, verifyOpts{AllowUnsigned: true}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			var vols [][]byte
			for _, f := range volumeFiles(t, dir) {
				vols = append(vols, mustRead(t, f))
			}
			volumes = append(volumes, vols)
		})
	}
	// Headers last or first, the same inputs give the same bytes.
	if len(volumes) == 2 && !slices.EqualFunc(volumes[0], volumes[1], bytes.Equal) {
		t.Error("the volumes written through a FileSink differ from those written through a plain Sink")
	}
}

// askedSource is a source in memory that records what it was asked for
// referrers and attached manifests, and says it is remote when told to.
type askedSource struct {
	*memSource
	remote   bool
	attached map[digest.Digest][]ocispec.Descriptor

	referrersOf []digest.Digest
	attachedOf  []digest.Digest
}

func (s *askedSource) Remote() bool { return s.remote }

func (s *askedSource) Referrers(_ context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	s.referrersOf = append(s.referrersOf, d)
	return nil, nil
}

// attachingSource adds Attached to an askedSource.
type attachingSource struct{ *askedSource }

func (s attachingSource) Attached(_ context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	s.attachedOf = append(s.attachedOf, d)
	return s.attached[d], nil
}

func TestRemoteSourceAskedAboutItsOwnManifestsOnly(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		remote        bool
		wantAskedOthr bool
	}{
		{name: "Remote() true", remote: true, wantAskedOthr: false},
		{name: "Remote() false", remote: false, wantAskedOthr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			far := &askedSource{memSource: newMemSource("far"), remote: c.remote}
			farImage := far.addImage(t, "far:1", far.add(ocispec.MediaTypeImageLayer, []byte("far layer")))
			near := &askedSource{memSource: newMemSource("near")}
			nearImage := near.addImage(t, "near:1", near.add(ocispec.MediaTypeImageLayer, []byte("near layer")))
			packSources(t, []Source{far, near}, PackOptions{})
			if !slices.Contains(far.referrersOf, farImage.Digest) {
				t.Errorf("the source was not asked for referrers of its own image %s", farImage.Digest)
			}
			if got := slices.Contains(far.referrersOf, nearImage.Digest); got != c.wantAskedOthr {
				t.Errorf("asked for referrers of the other source's image: %v, want %v", got, c.wantAskedOthr)
			}
			// The local source is asked about everything.
			if !slices.Contains(near.referrersOf, farImage.Digest) {
				t.Errorf("a local source was not asked for referrers of %s", farImage.Digest)
			}
		})
	}
}

func TestAttachedSourceManifestsTravelTagged(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		attaches bool
	}{
		{name: "AttachedSource", attaches: true},
		{name: "plain Source", attaches: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &askedSource{memSource: newMemSource("reg"), attached: map[digest.Digest][]ocispec.Descriptor{}}
			img := s.addImage(t, "reg/app:1", s.add(ocispec.MediaTypeImageLayer, []byte("app layer")))
			// A signature stored as an image of its own, not a root.
			sig := s.addImage(t, "", s.add(ocispec.MediaTypeImageLayer, []byte("signature")))
			s.roots = s.roots[:1]
			sigRef := "reg/app:" + img.Digest.Algorithm().String() + "-" + img.Digest.Encoded() + ".sig"
			sig.Annotations = map[string]string{ocispec.AnnotationRefName: sigRef}
			s.attached[img.Digest] = []ocispec.Descriptor{sig}
			var src Source = s
			if c.attaches {
				src = attachingSource{s}
			}
			dir, x := packSources(t, []Source{src}, PackOptions{})
			var refs []string
			for _, m := range x.Manifests {
				refs = append(refs, m.Annotations[ocispec.AnnotationRefName])
			}
			if got := slices.Contains(refs, sigRef); got != c.attaches {
				t.Errorf("packed refs %v: %s among them is %v, want %v", refs, sigRef, got, c.attaches)
			}
			if c.attaches && !slices.Contains(s.attachedOf, img.Digest) {
				t.Errorf("Attached was asked about %v, not about the image %s", s.attachedOf, img.Digest)
			}
			if _, err := verifyFiles(context.Background(), []string{filepath.Clean(dir)}, verifyOpts{AllowUnsigned: true}); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}
