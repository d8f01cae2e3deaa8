// Command pack-custom-sink packs an OCI layout into bundle volumes written
// by a Sink of its own, to show how to plug a destination into bundle.Pack.
//
//	pack-custom-sink LAYOUT_DIR OUT_DIR MAX_BYTES
//
// The sink writes each volume together with a VOLUME.sha256 sidecar (the
// format sha256sum -c reads), hashed while the volume streams through. Files
// are written under temporary names and renamed into place only on Commit;
// Abort removes them. The bundle is signed with a key generated on the spot,
// whose public half is written to OUT_DIR/bundle.pub.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: pack-custom-sink LAYOUT_DIR OUT_DIR MAX_BYTES (e.g. 40000)")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "pack-custom-sink:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, layoutDir, outDir, maxBytes string) error {
	max, err := strconv.ParseInt(maxBytes, 10, 64)
	if err != nil || max <= 0 {
		return fmt.Errorf("volume size %q: want a positive number of bytes", maxBytes)
	}
	layout, err := oci.Open(layoutDir)
	if err != nil {
		return err
	}
	defer layout.Close()

	// A throwaway key: GenerateKey returns PEM, which LoadSigner parses.
	// (The private key is encrypted with the empty password.)
	privPEM, pubPEM, err := sign.GenerateKey(sign.ECDSAP256, nil)
	if err != nil {
		return err
	}
	signer, err := sign.LoadSigner(privPEM, nil)
	if err != nil {
		return err
	}

	sink := &sidecarSink{dir: outDir}
	x, err := bundle.Pack(ctx, []bundle.Source{&bundle.LayoutSource{Layout: layout}}, sink, bundle.PackOptions{
		MaxVolumeSize: max,
		Signer:        signer,
		Packer:        "pack-custom-sink example",
		Notice:        func(s string) { fmt.Fprintln(os.Stderr, "notice:", s) },
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "bundle.pub"), pubPEM, 0o644); err != nil {
		return err
	}
	fmt.Printf("bundle %s: %d volumes, %d blobs, signed by %s\n", x.BundleID, len(x.Volumes), len(x.Blobs), signer.KeyID())
	for _, v := range x.Volumes {
		fmt.Printf("  %s (%d bytes) + .sha256\n", format.VolumeFileName(v.Number, len(x.Volumes)), v.Size)
	}
	return nil
}

// sidecarSink is a bundle.Sink writing VOLUME and VOLUME.sha256 files into
// dir. Pack calls Begin, then Create/Close for each volume in order, then
// Commit; on failure it closes the open volume and calls Abort.
type sidecarSink struct {
	dir     string
	pending []pendingFile // temporary files, renamed by Commit
}

type pendingFile struct{ tmp, final string }

// Begin refuses a directory that already holds volumes: a leftover of an
// earlier bundle beside the new one would confuse whoever reads them.
func (s *sidecarSink) Begin(ctx context.Context, x *format.Index) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if format.IsVolumeFileName(e.Name()) {
			return fmt.Errorf("%s already holds volume %s: use an empty directory", s.dir, e.Name())
		}
	}
	return nil
}

// Create opens a temporary file for volume v; the returned writer hashes
// what it writes and, when closed, writes the sidecar next to it.
func (s *sidecarSink) Create(ctx context.Context, v format.Volume, total int) (io.WriteCloser, error) {
	name := format.VolumeFileName(v.Number, total)
	final := filepath.Join(s.dir, name)
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	s.pending = append(s.pending, pendingFile{tmp, final})
	return &hashingFile{sink: s, f: f, h: sha256.New(), name: name, want: v.Size}, nil
}

// Commit moves every volume and sidecar into place. The sidecars go last,
// so a sidecar never names a volume that is not there.
func (s *sidecarSink) Commit() error {
	for _, pass := range []bool{false, true} {
		for _, p := range s.pending {
			if (filepath.Ext(p.final) == ".sha256") == pass {
				if err := os.Rename(p.tmp, p.final); err != nil {
					return err
				}
			}
		}
	}
	s.pending = nil
	return nil
}

// Abort removes the temporary files written so far.
func (s *sidecarSink) Abort() {
	for _, p := range s.pending {
		os.Remove(p.tmp)
	}
	s.pending = nil
}

// hashingFile is one volume on its way to disk.
type hashingFile struct {
	sink *sidecarSink
	f    *os.File
	h    hash.Hash
	n    int64
	name string
	want int64
}

func (w *hashingFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Close syncs the volume and writes its sidecar under a temporary name.
// Pack also closes the open volume when it fails, before Abort; the sidecar
// written then is removed by Abort with the rest.
func (w *hashingFile) Close() error {
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if w.n != w.want {
		return fmt.Errorf("volume %s: %d bytes written, the index says %d", w.name, w.n, w.want)
	}
	line := hex.EncodeToString(w.h.Sum(nil)) + "  " + w.name + "\n"
	final := filepath.Join(w.sink.dir, w.name+".sha256")
	tmp := filepath.Join(w.sink.dir, "."+w.name+".sha256.tmp")
	w.sink.pending = append(w.sink.pending, pendingFile{tmp, final})
	return os.WriteFile(tmp, []byte(line), 0o644)
}
