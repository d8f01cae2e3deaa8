// Command verify-unpack checks bundle volumes against their signed index,
// then writes their content into an OCI layout, printing progress and
// notices as it goes. It opens the set once (bundle.OpenFiles), checks the
// signature once (Set.Trust), then verifies (Set.Verify) and unpacks
// (Set.Unpack).
//
//	verify-unpack KEY.pub VOLUME_DIR DEST_LAYOUT
//
// VOLUME_DIR may hold other files too (sidecars, the key): files that are
// not volumes are skipped. DEST_LAYOUT is created, or merged into.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/sign"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: verify-unpack KEY.pub VOLUME_DIR DEST_LAYOUT")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "verify-unpack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keyFile, volDir, dest string) error {
	key, err := sign.LoadVerifierFile(keyFile)
	if err != nil {
		return err
	}
	set, err := bundle.OpenFiles(ctx, []string{volDir})
	if err != nil {
		return err
	}
	if err := set.Trust(bundle.TrustPolicy{Key: key}); err != nil {
		return err
	}

	// Verify reads every byte of every volume present. Its Progress
	// callback is called from several goroutines at once (one per volume
	// being read), so it must be safe for concurrent use.
	verifyBar := newProgressPrinter()
	r, err := set.Verify(ctx, bundle.VerifyOptions{Progress: verifyBar.update})
	if r != nil {
		x := r.Set.Index
		signer := "nobody (unsigned)"
		if x.Signer != nil {
			signer = x.Signer.KeyID
		}
		fmt.Printf("bundle %s, created %s, signed by %s\n", x.BundleID, x.Created, signer)
		for _, n := range r.Verified {
			fmt.Printf("  verified: volume %d of %d (%s)\n", n, len(x.Volumes), r.Path(n))
		}
		for _, n := range r.Failed {
			fmt.Printf("  FAILED:   volume %d of %d (%s)\n", n, len(x.Volumes), r.Path(n))
		}
		for _, n := range r.Missing {
			fmt.Printf("  missing:  volume %d of %d\n", n, len(x.Volumes))
		}
	}
	if err != nil {
		var missing *bundle.MissingVolumesError
		if errors.As(err, &missing) {
			fmt.Fprintf(os.Stderr, "verify-unpack: %d volume(s) still to be brought over\n", len(missing.Missing))
		}
		return err
	}

	// Unpack verifies again as it writes (each volume is read once), so it
	// is safe on its own; Verify first only gives a full report before
	// anything is written.
	unpackBar := newProgressPrinter()
	layout := bundle.NewLayoutDestination(dest, bundle.LayoutOptions{})
	defer layout.Close()
	res, err := set.Unpack(ctx, layout, bundle.UnpackOptions{
		Progress: unpackBar.update,
		Notice:   func(s string) { fmt.Println("  notice:", s) },
	})
	if err != nil {
		return err
	}
	x := res.Index
	for _, n := range res.Names {
		if n.Name != "" {
			fmt.Printf("  named %s: %s\n", n.Name, n.New)
		}
	}
	fmt.Printf("unpacked %d entries, %d blobs into %s\n", len(x.Manifests), len(x.Blobs), dest)
	return nil
}

// progressPrinter prints a line each time another quarter of the work is
// done, and whenever the volume changes.
type progressPrinter struct {
	mu      sync.Mutex
	quarter int64
	volume  int
}

func newProgressPrinter() *progressPrinter { return &progressPrinter{quarter: -1} }

func (p *progressPrinter) update(pr bundle.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr.Total <= 0 {
		return
	}
	q := 4 * pr.Done / pr.Total
	if q == p.quarter && pr.Volume == p.volume {
		return
	}
	p.quarter, p.volume = q, pr.Volume
	where := ""
	if pr.Volume > 0 { // Verify reads volumes in parallel and leaves Volume 0
		where = fmt.Sprintf(" (volume %d)", pr.Volume)
	}
	fmt.Printf("  %s: %3d%% %d of %d bytes%s\n", pr.Op, 100*pr.Done/pr.Total, pr.Done, pr.Total, where)
}
