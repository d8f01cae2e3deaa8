package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make a signing key pair: PREFIX.key (encrypted) and PREFIX.pub",
		ArgsUsage: " ",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Value: string(sign.ECDSAP256), Usage: "ecdsa-p256, ed25519 or rsa-3072"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "PREFIX of the two files written"},
		},
		Action: func(c *cli.Context) error {
			t, err := sign.ParseKeyType(c.String("type"))
			if err != nil {
				return usageError{err}
			}
			prefix := c.String("out")
			for _, p := range []string{prefix + ".key", prefix + ".pub"} {
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s exists: refusing to overwrite a key; choose another --out or remove it", p)
				}
			}
			pw, err := password(true)
			if err != nil {
				return err
			}
			priv, pub, err := sign.GenerateKey(t, pw)
			if err != nil {
				return err
			}
			if err := os.WriteFile(prefix+".key", priv, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(prefix+".pub", pub, 0o644); err != nil {
				return err
			}
			v, err := sign.LoadVerifier(pub)
			if err != nil {
				return err
			}
			if !quiet(c) {
				fmt.Fprintf(os.Stderr, "wrote %s.key and %s.pub (%s, key id %s)\n", prefix, prefix, v.Algorithm(), v.KeyID())
			}
			return nil
		},
	}
}

// password reads BUNDLE_PASSWORD, or asks on the terminal; never an argument.
func password(confirm bool) ([]byte, error) {
	if pw, ok := os.LookupEnv("BUNDLE_PASSWORD"); ok {
		return []byte(pw), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errors.New("no password: set BUNDLE_PASSWORD or run on a terminal to be asked")
	}
	fmt.Fprint(os.Stderr, "Password for the private key: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Password again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, err
		}
		if string(again) != string(pw) {
			return nil, errors.New("the passwords differ")
		}
	}
	return pw, nil
}

func quiet(c *cli.Context) bool {
	for _, l := range c.Lineage() {
		if l.Bool("quiet") {
			return true
		}
	}
	return false
}

func notice(c *cli.Context) func(string) {
	if quiet(c) {
		return nil
	}
	return func(s string) { fmt.Fprintln(os.Stderr, "bundle: "+s) }
}

func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "authfile", Usage: "registry credentials file (default: $REGISTRY_AUTH_FILE, ~/.docker/config.json, ${XDG_RUNTIME_DIR}/containers/auth.json)"},
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "HOST[:PORT] reached over plain HTTP or TLS without certificate checks (repeatable)"},
	}
}

func openRegistries(c *cli.Context) (*oci.Registries, error) {
	return oci.NewRegistries(oci.RegistryOptions{
		AuthFile:  c.String("authfile"),
		Insecure:  c.StringSlice("insecure-registry"),
		UserAgent: "bundle/" + version,
	})
}

func createdTime() (time.Time, error) {
	s, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || s == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usagef("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
	}
	return time.Unix(n, 0), nil
}

func packCommand() *cli.Command {
	return &cli.Command{
		Name:      "pack",
		Usage:     "pack images from OCI layouts and registries into signed volumes",
		ArgsUsage: "SOURCE... (oci:PATH, oci:PATH:TAG, oci:PATH@DIGEST, docker://REGISTRY/REPOSITORY[:TAG|@DIGEST])",
		Flags: append(registryFlags(),
			&cli.StringFlag{Name: "images", Usage: "FILE listing sources, one per line (# comments)"},
			&cli.BoolFlag{Name: "no-referrers", Usage: "leave out cosign signature tags and OCI referrers of registry images"},
			&cli.StringFlag{Name: "key", Usage: "private key to sign with (password from BUNDLE_PASSWORD or the terminal)"},
			&cli.BoolFlag{Name: "unsigned", Usage: "pack without a signature"},
			&cli.StringFlag{Name: "max-size", Usage: "largest volume file: 700M, 4.7GB, 4GiB, bytes (default: one volume)"},
			&cli.StringFlag{Name: "media", Usage: "volume size preset: " + strings.Join(mediaNames(), ", ")},
			&cli.StringSliceFlag{Name: "platform", Usage: "keep only OS/ARCH[/VARIANT] of multi-platform indexes (repeatable)"},
			&cli.StringFlag{Name: "compress", Value: "none", Usage: "none or zstd (compresses blobs that are not compressed already)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "directory to write the volumes into"},
			&cli.StringSliceFlag{Name: "base", Usage: "PATH of an earlier bundle (directory, volume file or bundle.json) already unpacked at the destination: carry only what it lacks (repeatable)"},
			&cli.StringFlag{Name: "base-key", Usage: "public key the --base bundles must be signed with (without it, bases are used unchecked)"},
			&cli.StringSliceFlag{Name: "have", Usage: "FILE written by bundle inventory at the destination: carry only what it lacks (repeatable; with --base too)"},
		),
		Action: packAction,
	}
}

func trustFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "key", Usage: "public key the bundle must be signed with"},
		&cli.BoolFlag{Name: "allow-unsigned", Usage: "accept a bundle that is unsigned or whose signature is not checked"},
	}
}

func loadKey(c *cli.Context) (*sign.Verifier, error) {
	if !c.IsSet("key") {
		if !c.Bool("allow-unsigned") {
			return nil, usagef("%s: give --key PUB to check the signature (or --allow-unsigned)", c.Command.Name)
		}
		return nil, nil
	}
	return sign.LoadVerifierFile(c.String("key"))
}

// trustPolicy is what --key (loaded as key) and --allow-unsigned say.
func trustPolicy(c *cli.Context, key *sign.Verifier) bundle.TrustPolicy {
	return bundle.TrustPolicy{Key: key, AllowUnsigned: c.Bool("allow-unsigned")}
}

// openTrusted opens the volumes the arguments name and checks their
// signature as trustPolicy says.
func openTrusted(c *cli.Context, key *sign.Verifier) (*bundle.Set, error) {
	set, err := bundle.OpenFiles(c.Context, c.Args().Slice())
	if err != nil {
		return nil, err
	}
	return set, set.Trust(trustPolicy(c, key))
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check every byte of the volumes against the signed index",
		ArgsUsage: "PATH... (directories or volume files)",
		Flags: append(trustFlags(),
			&cli.BoolFlag{Name: "partial", Usage: "succeed when the volumes present are good, even if others are missing"},
			&cli.IntFlag{Name: "jobs", Usage: "how many places of the volumes are read at once (default: one per core; 1 reads each volume straight through, kinder to DVDs and spinning disks)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("verify: give the directories or volume files to check")
			}
			if c.IsSet("jobs") && c.Int("jobs") < 1 {
				return usagef("--jobs %d: want 1 or more", c.Int("jobs"))
			}
			key, err := loadKey(c)
			if err != nil {
				return err
			}
			bar := newProgress(c, "verify")
			defer bar.stop()
			set, err := bundle.OpenFiles(c.Context, c.Args().Slice())
			if err != nil {
				return err
			}
			r := &bundle.Report{Set: set, Missing: set.Missing()}
			if err = set.Trust(trustPolicy(c, key)); err == nil {
				r, err = set.Verify(c.Context, bundle.VerifyOptions{Partial: c.Bool("partial"), Workers: c.Int("jobs"), Progress: bar.update})
			}
			bar.stop()
			if r != nil && !quiet(c) {
				x := r.Set.Index
				sig := "signed by " + signerName(x)
				switch {
				case key == nil:
					sig += ", signature NOT checked"
				case x.Signer != nil && set.Trusted():
					sig += ", signature good"
				case x.Signer != nil:
					sig += ", signature BAD"
				}
				fmt.Fprintf(os.Stderr, "bundle %s (%s, %s)\n", x.BundleID, x.Created, sig)
				for _, n := range r.Verified {
					fmt.Fprintf(os.Stderr, "  volume %d of %d: ok (%s)\n", n, len(x.Volumes), r.Set.Volumes[n].Path)
				}
				for _, n := range r.Failed {
					fmt.Fprintf(os.Stderr, "  volume %d of %d: FAILED (%s)\n", n, len(x.Volumes), r.Set.Volumes[n].Path)
				}
				if len(r.Missing) > 0 {
					fmt.Fprintf(os.Stderr, "  still to be seen: volume %s\n", joinInts(r.Missing))
				} else if err == nil {
					fmt.Fprintf(os.Stderr, "  all %d volumes verified\n", len(x.Volumes))
				}
			}
			return err
		},
	}
}

func signerName(x *format.Index) string {
	if x.Signer == nil {
		return "nobody (unsigned)"
	}
	return x.Signer.KeyID + " (" + x.Signer.Algorithm + ")"
}

func joinInts(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ", ")
}

func unpackCommand() *cli.Command {
	return &cli.Command{
		Name:      "unpack",
		Usage:     "verify the volumes and write their content into an OCI layout or a mirror registry",
		ArgsUsage: "PATH... (directories or volume files)",
		Flags: append(append(trustFlags(), registryFlags()...),
			&cli.StringFlag{Name: "to", Required: true, Usage: "destination: oci:PATH (created, or merged into), oci:PATH:TAG (the bundle's one image, tagged TAG) or docker://MIRROR[:PORT][/PREFIX]"},
			&cli.BoolFlag{Name: "strip-registry", Usage: "docker:// destinations: drop the source registry host from mirror repositories"},
			&cli.StringFlag{Name: "emit-mirror-config", Usage: "docker:// destinations: write a registries.conf drop-in and an ImageDigestMirrorSet into DIR"},
			&cli.BoolFlag{Name: "verify-base", Usage: "oci: destinations: re-hash the blobs an incremental bundle expects from its bases"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("unpack: give the directories or volume files of the bundle")
			}
			to, err := location.ParseDestination(c.String("to"))
			if err != nil {
				return usagef("--to: %w", err)
			}
			if to.Transport == location.Registry && c.IsSet("verify-base") {
				return usagef("--verify-base applies to oci: destinations only (a registry checks digests itself)")
			}
			if to.Transport == location.Layout && (c.IsSet("strip-registry") || c.IsSet("emit-mirror-config")) {
				return usagef("--strip-registry and --emit-mirror-config apply to docker:// destinations only")
			}
			key, err := loadKey(c)
			if err != nil {
				return err
			}
			dest, err := destination(c, to)
			if err != nil {
				return err
			}
			defer dest.Close()
			set, err := openTrusted(c, key)
			if err != nil {
				return err
			}
			bar := newProgress(c, map[bool]string{true: "push", false: "unpack"}[to.Transport == location.Registry])
			defer bar.stop()
			r, err := set.Unpack(c.Context, dest, bundle.UnpackOptions{Progress: bar.update, Notice: notice(c)})
			bar.stop()
			if err != nil {
				return err
			}
			return unpacked(c, dest, r)
		},
	}
}

// destination is where --to says to unpack.
func destination(c *cli.Context, to location.Location) (interface {
	bundle.Destination
	Close() error
}, error) {
	if to.Transport == location.Layout {
		return bundle.NewLayoutDestination(to.Path, bundle.LayoutOptions{Tag: to.Ref, VerifyBase: c.Bool("verify-base")}), nil
	}
	m := to.Mapping()
	m.StripRegistry = c.Bool("strip-registry")
	// Recorded in registries.conf by the same rule as connections use.
	m.Insecure = location.InsecureHost(c.StringSlice("insecure-registry"), m.Mirror)
	regs, err := openRegistries(c)
	if err != nil {
		return nil, err
	}
	return bundle.NewRegistryDestination(regs, m), nil
}

// unpacked writes the mirror configuration of a registry destination, and
// says what was done.
func unpacked(c *cli.Context, dest bundle.Destination, r *bundle.UnpackResult) error {
	x := r.Index
	reg, isRegistry := dest.(*bundle.RegistryDestination)
	if !isRegistry {
		if !quiet(c) {
			fmt.Fprintf(os.Stderr, "unpacked bundle %s into %s: %d entries, %d blobs\n", x.BundleID, dest, len(x.Manifests), len(x.Blobs))
		}
		return nil
	}
	if dir := c.String("emit-mirror-config"); dir != "" {
		files, err := reg.Mapping().WriteConfig(dir, "bundle-"+x.BundleID[:12], reg.Entries())
		if err != nil {
			return err
		}
		if !quiet(c) {
			for _, f := range files {
				fmt.Fprintf(os.Stderr, "wrote %s\n", f)
			}
		}
	}
	if !quiet(c) {
		fmt.Fprintf(os.Stderr, "pushed bundle %s into %s: %d entries; blobs: %d uploaded (%s), %d mounted, %d already there; manifests: %d pushed, %d already there; tags: %d set, %d already there\n",
			x.BundleID, reg, len(r.Images), r.BlobsPut, bytesize.Format(r.BytesPut), r.BlobsMounted, r.BlobsPresent,
			r.ManifestsPut, r.ManifestsPresent, r.NamesSet, r.NamesPresent)
		for _, im := range r.Images {
			fmt.Fprintf(os.Stderr, "  %s -> %s\n", im.Source, im.Target)
		}
	}
	return nil
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show what a bundle holds, from its volume headers",
		ArgsUsage: "PATH...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.StringFlag{Name: "key", Usage: "also check the signature with this public key"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("inspect: give a directory or volume file")
			}
			var key *sign.Verifier
			if c.IsSet("key") {
				var err error
				if key, err = sign.LoadVerifierFile(c.String("key")); err != nil {
					return err
				}
			}
			set, err := bundle.OpenFiles(c.Context, c.Args().Slice())
			if err != nil {
				return err
			}
			if key != nil && set.Signature != nil {
				err = set.Trust(bundle.TrustPolicy{Key: key})
			}
			s := set.Summary()
			if err != nil {
				s.Signature = "does NOT verify"
			} else {
				err = errors.Join(set.Problems...)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(s); jerr != nil {
					return jerr
				}
				return err
			}
			printSummary(os.Stdout, s)
			return err
		},
	}
}

func printSummary(w io.Writer, s *bundle.Summary) {
	signer := "unsigned"
	if s.Signer != nil {
		signer = s.Signer.KeyID + " (" + s.Signer.Algorithm + "), signature " + s.Signature
	}
	limit := "none"
	if s.MaxVolumeSize > 0 {
		limit = fmt.Sprintf("%s (%d bytes)", bytesize.Format(s.MaxVolumeSize), s.MaxVolumeSize)
	}
	fmt.Fprintf(w, "bundle:       %s\ncreated:      %s\npacker:       %s\nsigner:       %s\ncompression:  %s\nvolume limit: %s\nblobs:        %d, %s (%s stored)\n",
		s.BundleID, s.Created, s.Packer, signer, s.Compression, limit, s.Blobs, bytesize.Format(s.BlobBytes), bytesize.Format(s.StoredBytes))
	if len(s.Bases) > 0 {
		for i, b := range s.Bases {
			label := "bases:"
			if i > 0 {
				label = ""
			}
			fmt.Fprintf(w, "%-13s %s (index %s)\n", label, b.BundleID, b.Index)
		}
		fmt.Fprintf(w, "carried:      %d blobs, %s\nfrom bases:   %d blobs, %s (must be at the destination already)\n",
			s.CarriedBlobs, bytesize.Format(s.CarriedBytes), s.FromBaseBlobs, bytesize.Format(s.FromBaseBytes))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REF\tDIGEST\tPLATFORMS\tSIZE")
	for _, im := range s.Images {
		ref := im.Ref
		if ref == "" {
			ref = "(referrer of " + short(im.Subject) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ref, short(im.Digest), strings.Join(im.Platforms, ","), bytesize.Format(im.Size))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VOLUME\tSIZE\tFOUND AT")
	for _, v := range s.Volumes {
		at := v.Path
		if at == "" {
			at = "MISSING"
		}
		fmt.Fprintf(tw, "%d of %d\t%d\t%s\n", v.Number, len(s.Volumes), v.Size, at)
	}
	tw.Flush()
	for _, p := range s.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
}

func short[T ~string](d T) string {
	s := string(d)
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

func inventoryCommand() *cli.Command {
	return &cli.Command{
		Name:  "inventory",
		Usage: "list the blobs a destination holds, for pack --have on the connected side",
		Flags: append(registryFlags(),
			&cli.StringFlag{Name: "to", Required: true, Usage: "destination to list: oci:PATH or docker://MIRROR[:PORT][/PREFIX]"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "FILE to write the inventory (JSON) into; - for standard output"},
			&cli.BoolFlag{Name: "verify", Usage: "oci: destinations: re-hash every blob and list only those that match"},
			&cli.StringSliceFlag{Name: "repository", Usage: "docker:// destinations: a repository of the mirror to list (repeatable; default: every repository under the prefix, from the registry's catalog)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("inventory: unexpected argument %q (the destination goes in --to)", c.Args().First())
			}
			to, err := location.ParseDestination(c.String("to"))
			if err != nil {
				return usagef("--to: %w", err)
			}
			o := bundle.InventoryOptions{Verify: c.Bool("verify"), Repositories: c.StringSlice("repository"), Notice: notice(c)}
			switch to.Transport {
			case location.Registry:
				if c.IsSet("verify") {
					return usagef("--verify applies to oci: destinations only (a registry checks digests itself)")
				}
			case location.Layout:
				if c.IsSet("repository") {
					return usagef("--repository applies to docker:// destinations only")
				}
				if to.Ref != "" {
					return usagef("--to %s: an inventory lists every blob of the layout; give the layout without a tag", to)
				}
			}
			created, err := createdTime()
			if err != nil {
				return err
			}
			o.Created = created
			dest, err := destination(c, to)
			if err != nil {
				return err
			}
			defer dest.Close()
			v, err := bundle.TakeInventory(c.Context, dest, o)
			if err != nil {
				return err
			}
			b, err := v.Encode()
			if err != nil {
				return err
			}
			out := c.String("out")
			if out == "-" {
				_, err = os.Stdout.Write(b)
				return err
			}
			if err := writeFileAtomic(out, b); err != nil {
				return err
			}
			if !quiet(c) {
				fmt.Fprintf(os.Stderr, "inventory %s: %d blobs at %s, written to %s\n", v.InventoryID, len(v.Blobs), v.Destination, out)
			}
			return nil
		},
	}
}

// writeFileAtomic writes a file whole or not at all.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
