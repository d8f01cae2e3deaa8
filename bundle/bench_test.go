package bundle_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/oci"
)

// benchSet packs a layout with a few MiB per layer into 16 MiB volumes.
func benchSet(b *testing.B) (src *testlayout.Layout, vols string, total int64) {
	b.Helper()
	src, err := testlayout.Build(filepath.Join(b.TempDir(), "src"), testlayout.Options{LayerSize: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range src.Blobs {
		total += n
	}
	vols = filepath.Join(b.TempDir(), "vols")
	if _, err := bundle.Pack(context.Background(), []bundle.Source{layoutSourceTB(b, src.Dir)}, &bundle.DirSink{Dir: vols},
		bundle.PackOptions{MaxVolumeSize: 16 << 20, Created: epoch}); err != nil {
		b.Fatal(err)
	}
	return src, vols, total
}

func layoutSourceTB(tb testing.TB, dir string) bundle.Source {
	tb.Helper()
	l, err := oci.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return &bundle.LayoutSource{Layout: l}
}

func BenchmarkPack(b *testing.B) {
	src, _, total := benchSet(b)
	out := filepath.Join(b.TempDir(), "out")
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := bundle.Pack(context.Background(), []bundle.Source{layoutSourceTB(b, src.Dir)}, &bundle.DirSink{Dir: out},
			bundle.PackOptions{MaxVolumeSize: 16 << 20, Created: epoch}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	_, vols, total := benchSet(b)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := openTrusted(b, vols).Verify(context.Background(), bundle.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnpack(b *testing.B) {
	_, vols, total := benchSet(b)
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dest := filepath.Join(b.TempDir(), "dest")
		b.StartTimer()
		if _, err := openTrusted(b, vols).Unpack(context.Background(), bundle.NewLayoutDestination(dest, bundle.LayoutOptions{}), bundle.UnpackOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dest)
		b.StartTimer()
	}
}

// openTrusted opens the unsigned bundle in dir, trusted as unsigned.
func openTrusted(tb testing.TB, dir string) *bundle.Set {
	s, err := bundle.OpenFiles(context.Background(), []string{dir})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Trust(bundle.TrustPolicy{AllowUnsigned: true}); err != nil {
		tb.Fatal(err)
	}
	return s
}
