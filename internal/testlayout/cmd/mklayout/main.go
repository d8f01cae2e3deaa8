// Command mklayout writes the deterministic example OCI image layout.
//
//	go run ./internal/testlayout/cmd/mklayout DIR
//
// DIR is created if missing. If DIR already holds an OCI layout, its
// oci-layout, index.json and blobs/ are replaced, so regenerating leaves no
// stale blobs behind; any other non-empty DIR is refused.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/airgap-bundle/bundle/internal/testlayout"
)

func main() {
	size := flag.Int("layer-size", 0, "pseudo-random bytes per layer (0 = default)")
	seed := flag.Int64("seed", 0, "PRNG seed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: mklayout [flags] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), testlayout.Options{LayerSize: *size, Seed: *seed}); err != nil {
		fmt.Fprintln(os.Stderr, "mklayout:", err)
		os.Exit(1)
	}
}

func run(dir string, o testlayout.Options) error {
	if err := clean(dir); err != nil {
		return err
	}
	l, err := testlayout.Build(dir, o)
	if err != nil {
		return err
	}
	refs := make([]string, 0, len(l.Refs))
	for r := range l.Refs {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	var total int64
	for _, s := range l.Blobs {
		total += s
	}
	for _, r := range refs {
		fmt.Printf("%-14s %s\n", r, l.Refs[r])
	}
	fmt.Printf("%-14s %s\n", "(referrer)", l.Referrer)
	fmt.Printf("%d blobs, %d bytes, in %s\n", len(l.Blobs), total, dir)
	return nil
}

// clean empties an existing OCI layout directory; a missing or empty dir is
// fine, anything else is an error.
func clean(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(ents) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return fmt.Errorf("%s is not empty and not an OCI layout (has %s); refusing to overwrite", dir, strings.Join(names, ", "))
	}
	for _, n := range []string{"blobs", "index.json", "oci-layout"} {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}
