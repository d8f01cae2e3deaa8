package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/imageset"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/urfave/cli/v2"
	"oras.land/oras-go/v2/errdef"
)

func packCommand() *cli.Command {
	return &cli.Command{
		Name:      "pack",
		Usage:     "pack images from OCI layouts and registries into signed volumes",
		ArgsUsage: "SOURCE... (oci:PATH, oci:PATH:TAG, oci:PATH@DIGEST, docker://REGISTRY/REPOSITORY[:TAG|@DIGEST])",
		Flags: append(registryFlags(),
			&cli.StringFlag{Name: "config", Usage: "image set FILE: oc-mirror's ImageSetConfiguration, bundle's ImageSet, or a skopeo sync YAML file (README: Image set files)"},
			&cli.StringFlag{Name: "images", Usage: "FILE listing sources, one per line (# comments)"},
			&cli.StringFlag{Name: "update-url", Usage: "update service that resolves release channels (default: $UPDATE_URL_OVERRIDE, else the public OpenShift one)"},
			&cli.BoolFlag{Name: "keep-original-catalogs", Usage: "carry each operator catalog image as it is (by digest) besides the filtered one"},
			&cli.BoolFlag{Name: "no-referrers", Usage: "leave out cosign signature tags and OCI referrers of registry images"},
			&cli.StringFlag{Name: "key", Usage: "private key to sign with (password from BUNDLE_PASSWORD, COSIGN_PASSWORD, the terminal or standard input), or (builds with -tags pkcs11) a pkcs11:token=T;object=K URI"},
			&cli.BoolFlag{Name: "unsigned", Usage: "pack without a signature"},
			&cli.StringFlag{Name: "expires", Usage: "DURATION after the creation time the bundle expires: readers refuse it after (90d, 12w, 1y, or Go's 720h)"},
			&cli.StringFlag{Name: "max-size", Usage: "largest volume file: 700M, 4.7GB, 4GiB, bytes (default: one volume)"},
			&cli.StringFlag{Name: "media", Usage: "volume size preset: " + strings.Join(mediaNames(), ", ")},
			&cli.StringSliceFlag{Name: "platform", Usage: "keep only OS/ARCH[/VARIANT] of multi-platform indexes (repeatable)"},
			&cli.StringFlag{Name: "compress", Value: "none", Usage: "none or zstd (compresses blobs that are not compressed already)"},
			&cli.StringFlag{Name: "format-version", Value: "auto", Usage: "auto, 1 or 2: version 2 carries in each volume only its own blobs' entries, not every blob's (far fewer header bytes per volume for many small blobs), and needs a reader of this version; auto writes 1 unless its index would be too large for readers (SPEC 3)"},
			&cli.StringFlag{Name: "out", Usage: "directory to write the volumes into (required unless --dry-run)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "resolve the sources and print what would travel and how many volumes it takes; fetch only manifests, write nothing"},
			&cli.BoolFlag{Name: "json", Usage: "print what was packed (with --dry-run: the plan) as JSON on standard output, as inspect --json does"},
			&cli.StringSliceFlag{Name: "base", Usage: "PATH of an earlier bundle (directory, volume file or bundle.json) already unpacked at the destination: carry only what it lacks (repeatable)"},
			&cli.StringFlag{Name: "base-key", Usage: "public key the --base bundles must be signed with (without it, bases are used unchecked)"},
			&cli.StringSliceFlag{Name: "have", Usage: "FILE written by bundle inventory at the destination: carry only what it lacks (repeatable; with --base too)"},
		),
		Action: packAction,
	}
}

// packAction is bundle pack. Usage errors come before anything is read (a
// key's password, bases, registries).
func packAction(c *cli.Context) (err error) {
	dryRun := c.Bool("dry-run")
	switch {
	case !dryRun && c.String("out") == "":
		return usagef("pack: give --out DIR to write the volumes into (or --dry-run to see what would travel)")
	}
	located, set, err := packSources(c)
	if err != nil {
		return err
	}
	// Before the sources are read: a second pack into --out fails at once.
	sink := &bundle.DirSink{Dir: c.String("out")}
	if !dryRun {
		if err := sink.Lock(); err != nil {
			return err
		}
		defer sink.Abort() // releases the lock if Pack never began
	}
	o, err := packOptions(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	if ps, ok := o.Signer.(*sign.PendingSigner); ok {
		// The key is being decrypted: if it cannot be, resolving the
		// sources stops at once too, with the key's error.
		var cancel context.CancelFunc
		ctx, cancel = ps.WithCancel(c.Context)
		defer func() {
			if err != nil && ctx.Err() != nil && c.Context.Err() == nil {
				err = context.Cause(ctx)
			}
			cancel()
		}()
	}
	var hosts map[string]oci.HostOptions
	if set != nil {
		hosts = set.HostOptions()
	}
	resolved, err := imageset.Resolve(ctx, set, located, imageset.Options{
		Registries: registriesWith(c, hosts), NoReferrers: c.Bool("no-referrers"), UpdateURL: c.String("update-url"),
		KeepOriginalCatalogs: c.Bool("keep-original-catalogs"), Notice: notice(c)})
	if errors.Is(err, errdef.ErrInvalidReference) {
		return usageError{err} // a reference the registry client refuses: nothing was asked yet
	} else if err != nil {
		return err
	}
	defer resolved.Close()
	sources := resolved.Sources
	o.Platforms = append(o.Platforms, resolved.Platforms...)
	if dryRun {
		return packDryRun(ctx, c, sources, o)
	}
	if len(sources) == 0 {
		return errors.New("pack: nothing selected")
	}
	bar := newProgress(c, "pack")
	defer bar.stop()
	o.Progress = bar.update
	x, err := bundle.Pack(ctx, sources, sink, o)
	bar.stop()
	if err != nil {
		return packInterrupted(ctx, err, c.String("out"))
	}
	var total int64
	for _, v := range x.Volumes {
		total += v.Size
	}
	say(c, "packed bundle %s (format version %d): %s, %s, %s, %s in %s",
		x.BundleID, x.FormatVersion, count(len(x.Manifests), "image"), count(len(x.Blobs), "blob"), count(len(x.Volumes), "volume"), bytesize.Format(total), c.String("out"))
	switch n := sink.Replaced(); {
	case n == 1:
		notice(c)(fmt.Sprintf("%s held a volume file of an earlier pack: this one replaced it", c.String("out")))
	case n > 1:
		notice(c)(fmt.Sprintf("%s held %d volume files of an earlier pack: this one replaced them", c.String("out"), n))
	}
	if c.Bool("json") {
		sum := bundle.IndexSummary(x)
		if x.Signer != nil {
			sum.Signature = "verified" // pack checks its signature with the signer's public key before committing
		}
		for i := range sum.Volumes {
			sum.Volumes[i].Path = filepath.Join(c.String("out"), format.VolumeFileName(sum.Volumes[i].Number, len(sum.Volumes)))
		}
		return printJSON(c, sum)
	}
	return nil
}

// packDryRun prints what pack would carry.
func packDryRun(ctx context.Context, c *cli.Context, sources []bundle.Source, o bundle.PackOptions) error {
	x, err := bundle.PlanPack(ctx, sources, o)
	if err != nil {
		return err
	}
	r := bundle.NewPlanReport(x)
	if c.Bool("json") {
		return printJSON(c, r)
	}
	return r.WriteText(consoleOf(c).stdout)
}

// packSources is the SOURCE arguments and the --images list, each with
// what selected it, and the --config image set file (nil without one).
func packSources(c *cli.Context) ([]imageset.Located, *imageset.File, error) {
	var located []imageset.Located
	for _, a := range c.Args().Slice() {
		l, err := location.Parse(a)
		if err != nil {
			return nil, nil, usagef("source: %w", err)
		}
		// A source named on the command line records nothing: that is what
		// an entry without a selection record means (SPEC 6.7).
		located = append(located, imageset.Located{Location: l})
	}
	if f := c.String("images"); f != "" {
		list, err := imageset.ReadImageList(f)
		var le *location.Error
		if errors.As(err, &le) {
			return nil, nil, usageError{fmt.Errorf("--images: %w", err)} // a line that is no source is what a bad SOURCE argument is
		} else if err != nil {
			return nil, nil, fmt.Errorf("--images: %w", err)
		}
		located = append(located, list...)
	}
	var set *imageset.File
	if f := c.String("config"); f != "" {
		var err error
		if set, err = imageset.Load(f); err != nil {
			return nil, nil, usageError{fmt.Errorf("--config: %w", err)}
		}
	}
	if len(located) == 0 && set == nil {
		return nil, nil, usagef("pack: give at least one SOURCE (oci:PATH, oci:PATH:TAG, docker://REFERENCE, docker://HOST/PATH/*), --images FILE or --config FILE")
	}
	return located, set, nil
}

// packOptions reads the flags of bundle pack into PackOptions, Progress
// left out: first those that need nothing read, then the signer, bases and
// inventories.
func packOptions(c *cli.Context) (o bundle.PackOptions, err error) {
	o = bundle.PackOptions{Compression: c.String("compress"), Packer: "bundle " + version, Notice: notice(c)}
	switch {
	case c.IsSet("key") == c.Bool("unsigned"):
		return o, usagef("pack: give --key KEY to sign, or --unsigned")
	case c.IsSet("max-size") && c.IsSet("media"):
		return o, usagef("pack: give --max-size or --media, not both")
	case c.IsSet("max-size"):
		if o.MaxVolumeSize, err = bytesize.Parse(c.String("max-size")); err != nil {
			return o, usageError{err}
		}
	case c.IsSet("media"):
		var ok bool
		if o.MaxVolumeSize, ok = mediaPresets[c.String("media")]; !ok {
			return o, usagef("--media %q: want one of %s", c.String("media"), strings.Join(mediaNames(), ", "))
		}
	}
	for _, p := range c.StringSlice("platform") {
		pl, err := oci.ParsePlatform(p)
		if err != nil {
			return o, usageError{err}
		}
		o.Platforms = append(o.Platforms, pl)
	}
	if o.Compression != format.CompressionNone && o.Compression != format.CompressionZstd {
		return o, usagef("--compress %q: want none or zstd", o.Compression)
	}
	switch v := c.String("format-version"); v {
	case "auto":
	case "1", "2":
		o.FormatVersion = int(v[0] - '0')
	default:
		return o, usagef("--format-version %q: want auto, 1 or 2", v)
	}
	if c.IsSet("base-key") && !c.IsSet("base") {
		return o, usagef("pack: --base-key without --base")
	}
	if o.Created, err = createdTime(consoleOf(c)); err != nil {
		return o, err
	}
	if e := c.String("expires"); e != "" {
		if o.ExpiresAfter, err = parseDuration(e); err != nil {
			return o, usagef("--expires: %w", err)
		}
	}
	if key := c.String("key"); strings.HasPrefix(key, "pkcs11:") {
		// A key in a token (builds with -tags pkcs11): the PIN, not a
		// password, opens it. The session ends when the process does.
		if o.Signer, err = loadSigner(consoleOf(c), key); err != nil {
			return o, err
		}
	} else if c.IsSet("key") {
		pw, err := password(consoleOf(c), false)
		if err != nil {
			return o, err
		}
		// Decrypted while the sources are read and the blobs written
		// (scrypt takes a core for a few tenths of a second): Pack fails
		// at once with this error if it cannot be.
		o.Signer = sign.LoadSignerFileAsync(key, pw)
	}
	baseKey, err := publicKey(c, "base-key")
	if err != nil {
		return o, err
	}
	if o.Bases, err = bundle.LoadBases(c.Context, c.StringSlice("base"), baseKey); err != nil {
		return o, err
	}
	o.Inventories, err = bundle.LoadInventories(c.StringSlice("have"))
	return o, err
}

// mediaPresets are the --media volume sizes: the capacity of the smallest
// common disc of each kind in 2048-byte sectors, less room for the file
// system (ISO 9660/UDF): 2048 sectors (4 MiB) on a CD, 8192 sectors
// (16 MiB) on the others. fat32 is the largest file FAT32 can hold.
var mediaPresets = map[string]int64{
	"cd":     (360_000 - 2048) * 2048,    // 80-minute CD-R: 733,085,696
	"dvd":    (2_295_104 - 8192) * 2048,  // DVD+R: 4,683,595,776
	"dvd-dl": (4_171_712 - 8192) * 2048,  // DVD-R DL: 8,526,888,960
	"bd":     (12_219_392 - 8192) * 2048, // BD-R 25 GB: 25,008,537,600
	"bd-dl":  (24_438_784 - 8192) * 2048, // BD-R DL 50 GB: 50,033,852,416
	"fat32":  4*1024*1024*1024 - 1,       // 4 GiB - 1 byte
}

// mediaNames lists the presets from the smallest up, for help and errors.
func mediaNames() []string {
	names := slices.Collect(maps.Keys(mediaPresets))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(mediaPresets[a], mediaPresets[b]) })
	return names
}

// printJSON writes v on standard output, indented: the one document a
// command prints for scripts (human output goes to standard error).
func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(consoleOf(c).stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseDuration reads a duration as people give one for an expiry: a
// number of days (90d), weeks (12w) or years of 365 days (1y), or Go's
// form (720h, 90m).
func parseDuration(s string) (time.Duration, error) {
	units := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}
	if n := len(s); n > 1 {
		if u, ok := units[s[n-1]]; ok {
			v, err := strconv.ParseUint(s[:n-1], 10, 32)
			if err != nil || v == 0 {
				return 0, fmt.Errorf("%q: want a positive whole number before %q", s, s[n-1:])
			}
			return time.Duration(v) * u, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration: write 90d, 12w, 1y or 720h", s)
	}
	return d, nil
}
