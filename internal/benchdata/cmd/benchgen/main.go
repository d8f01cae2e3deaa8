// Command benchgen writes the benchmark data set of scripts/bench.sh, or
// reuses it when OUT already holds one made with the same parameters.
//
//	benchgen [-size 2G [-split] | -blobs 100000] [-seed 1] -out DIR
//
// DIR gets layout/ (the OCI image layout), info.json (what was made, see
// benchdata.Info), tags.txt (one ref name per line) and info.env (KEY=VALUE
// lines for the shell). DIR is written under a temporary name and renamed
// when complete, so an interrupted run leaves nothing that looks done.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/internal/benchdata"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func run() error {
	size := flag.String("size", "2G", "size mode: total bytes of blobs (K, M, G, T: powers of 1024)")
	split := flag.Bool("split", false, "with -size: the split shape (one large layer shared by every image, 24 blobs)")
	blobs := flag.Int("blobs", 0, "scale mode: number of tiny blobs (overrides -size)")
	seed := flag.Uint64("seed", 1, "seed of all content")
	out := flag.String("out", "", "directory of the data set (reused when it matches)")
	workers := flag.Int("workers", 0, "layers written at once (0: one per CPU)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		return errors.New("usage: benchgen [-size 2G [-split] | -blobs N] [-seed N] -out DIR")
	}
	o := benchdata.Options{Blobs: *blobs, Split: *split, Seed: *seed, Workers: *workers}
	if *blobs < 0 {
		return fmt.Errorf("-blobs %d: want a positive number", *blobs)
	}
	if *blobs == 0 {
		n, err := benchdata.ParseSize(*size)
		if err != nil {
			return err
		}
		o.Size = n
	}

	if b, err := os.ReadFile(filepath.Join(*out, "info.json")); err == nil {
		var info benchdata.Info
		if json.Unmarshal(b, &info) == nil && o.Matches(&info) {
			fmt.Fprintf(os.Stderr, "benchgen: reusing %s: %s\n", *out, summary(&info))
			return nil
		}
		fmt.Fprintf(os.Stderr, "benchgen: %s was made with other parameters or an older generator: regenerating\n", *out)
		if err := os.RemoveAll(*out); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	} else if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists but has no info.json: remove it", *out)
	}

	tmp := strings.TrimRight(*out, "/") + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	start := time.Now()
	info, err := benchdata.Generate(filepath.Join(tmp, "layout"), o)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "info.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "tags.txt"), []byte(strings.Join(info.Tags, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	env := fmt.Sprintf("DATA_MODE=%s\nDATA_SEED=%d\nDATA_BLOBS=%d\nDATA_BYTES=%d\nDATA_LAYERS=%d\nDATA_CONFIGS=%d\n"+
		"DATA_MANIFESTS=%d\nDATA_INDEXES=%d\nDATA_SHARED_LAYERS=%d\nDATA_SMALLEST_LAYER=%d\nDATA_LARGEST_LAYER=%d\nDATA_TAGS=%d\n",
		info.Mode, info.Seed, info.Blobs, info.Bytes, info.Layers, info.Configs, info.Manifests, info.Indexes,
		info.SharedLayers, info.SmallestLayer, info.LargestLayer, len(info.Tags))
	if err := os.WriteFile(filepath.Join(tmp, "info.env"), []byte(env), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchgen: wrote %s in %.1fs: %s\n", *out, time.Since(start).Seconds(), summary(info))
	return nil
}

func summary(i *benchdata.Info) string {
	return fmt.Sprintf("%d blobs, %d bytes (%.2f GiB): %d layers (%d shared, %d B to %d B), %d configs, %d manifests, %d indexes; %d tags",
		i.Blobs, i.Bytes, float64(i.Bytes)/(1<<30), i.Layers, i.SharedLayers, i.SmallestLayer, i.LargestLayer,
		i.Configs, i.Manifests, i.Indexes, len(i.Tags))
}
