package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/urfave/cli/v2"
)

// packAction is bundle pack. Usage errors come before anything is read
// (a key's password, bases, registries), in the order of the flags.
func packAction(c *cli.Context) error {
	args, err := packSourceArgs(c)
	if err != nil {
		return err
	}
	if c.IsSet("key") == c.Bool("unsigned") {
		return usagef("pack: give --key KEY to sign, or --unsigned")
	}
	o, err := packOptions(c)
	if err != nil {
		return err
	}
	sources, err := openSources(c, args)
	if err != nil {
		return err
	}
	bar := newProgress(c, "pack")
	defer bar.stop()
	o.Progress = bar.update
	x, err := bundle.Pack(c.Context, sources, &bundle.DirSink{Dir: c.String("out")}, o)
	bar.stop()
	if err != nil {
		return err
	}
	if !quiet(c) {
		var total int64
		for _, v := range x.Volumes {
			total += v.Size
		}
		fmt.Fprintf(os.Stderr, "packed bundle %s: %d images, %d blobs, %d volumes, %s in %s\n",
			x.BundleID, len(x.Manifests), len(x.Blobs), len(x.Volumes), bytesize.Format(total), c.String("out"))
	}
	return nil
}

// packSourceArgs is the SOURCE arguments and the --images list.
func packSourceArgs(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	if f := c.String("images"); f != "" {
		list, err := readImageList(f)
		if err != nil {
			return nil, err
		}
		args = append(args, list...)
	}
	if len(args) == 0 {
		return nil, usagef("pack: give at least one SOURCE (oci:PATH, oci:PATH:TAG or docker://REFERENCE) or --images FILE")
	}
	return args, nil
}

// packOptions reads the flags of bundle pack into PackOptions, Progress
// left out.
func packOptions(c *cli.Context) (bundle.PackOptions, error) {
	o := bundle.PackOptions{Compression: c.String("compress"), Packer: "bundle " + version, Notice: notice(c)}
	var err error
	if o.MaxVolumeSize, err = volumeLimit(c); err != nil {
		return o, err
	}
	if o.Platforms, err = platformFlags(c); err != nil {
		return o, err
	}
	if o.Compression != format.CompressionNone && o.Compression != format.CompressionZstd {
		return o, usagef("--compress %q: want none or zstd", o.Compression)
	}
	if o.Created, err = createdTime(); err != nil {
		return o, err
	}
	if c.IsSet("key") {
		pw, err := password(false)
		if err != nil {
			return o, err
		}
		ks, err := sign.LoadSignerFile(c.String("key"), pw)
		if err != nil {
			return o, err
		}
		o.Signer = ks // left nil, not a nil *KeySigner, when unsigned
	}
	if o.Bases, err = loadBases(c); err != nil {
		return o, err
	}
	for _, p := range c.StringSlice("have") {
		f, err := bundle.LoadInventory(p)
		if err != nil {
			return o, err
		}
		o.Inventories = append(o.Inventories, f)
	}
	return o, nil
}

// volumeLimit is --max-size or --media in bytes; 0 for one volume.
func volumeLimit(c *cli.Context) (int64, error) {
	if c.IsSet("max-size") && c.IsSet("media") {
		return 0, usagef("pack: give --max-size or --media, not both")
	}
	if c.IsSet("max-size") {
		n, err := bytesize.Parse(c.String("max-size"))
		if err != nil {
			return 0, usageError{err}
		}
		return n, nil
	}
	if c.IsSet("media") {
		n, ok := mediaPresets[c.String("media")]
		if !ok {
			return 0, usagef("--media %q: want one of %s", c.String("media"), strings.Join(mediaNames(), ", "))
		}
		return n, nil
	}
	return 0, nil
}

// platformFlags is the --platform list.
func platformFlags(c *cli.Context) ([]ocispec.Platform, error) {
	var platforms []ocispec.Platform
	for _, p := range c.StringSlice("platform") {
		pl, err := oci.ParsePlatform(p)
		if err != nil {
			return nil, usageError{err}
		}
		platforms = append(platforms, pl)
	}
	return platforms, nil
}

// loadBases reads the --base bundles, checked with --base-key when given.
func loadBases(c *cli.Context) ([]*bundle.BaseBundle, error) {
	if c.IsSet("base-key") && len(c.StringSlice("base")) == 0 {
		return nil, usagef("pack: --base-key without --base")
	}
	var baseKey *sign.Verifier
	if c.IsSet("base-key") {
		var err error
		if baseKey, err = sign.LoadVerifierFile(c.String("base-key")); err != nil {
			return nil, err
		}
	}
	var bases []*bundle.BaseBundle
	for _, p := range c.StringSlice("base") {
		b, err := bundle.LoadBase(c.Context, p, baseKey)
		if err != nil {
			return nil, err
		}
		bases = append(bases, b)
	}
	return bases, nil
}

// openSources opens every source, connecting to registries only when one
// is a registry image.
func openSources(c *cli.Context, args []string) ([]bundle.Source, error) {
	var regs *oci.Registries
	var sources []bundle.Source
	for _, a := range args {
		loc, err := location.Parse(a)
		if err != nil {
			return nil, usagef("source: %w", err)
		}
		if regs == nil && loc.Transport == location.Registry {
			if regs, err = openRegistries(c); err != nil {
				return nil, err
			}
		}
		s, err := bundle.OpenLocation(c.Context, regs, loc, c.Bool("no-referrers"))
		if err != nil {
			if loc.Transport == location.Registry {
				return nil, usageError{err} // a reference the registry client refuses: nothing was asked yet
			}
			return nil, err
		}
		sources = append(sources, s)
	}
	return sources, nil
}
