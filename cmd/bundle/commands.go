package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/imageset"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/urfave/cli/v2"
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
			pw, err := password(consoleOf(c), true)
			if err != nil {
				return err
			}
			priv, pub, err := sign.GenerateKey(t, pw)
			if err != nil {
				return err
			}
			v, err := sign.LoadVerifier(pub)
			if err != nil {
				return err
			}
			if err := os.WriteFile(prefix+".key", priv, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(prefix+".pub", pub, 0o644); err != nil {
				return err
			}
			say(c, "wrote %s.key and %s.pub (%s, key id %s)", prefix, prefix, v.Algorithm(), v.KeyID())
			return nil
		},
	}
}

// publicKey is the public key file the flag name gives; nil when not given.
func publicKey(c *cli.Context, name string) (*sign.Verifier, error) {
	if !c.IsSet(name) {
		return nil, nil
	}
	return sign.LoadVerifierFile(c.String(name))
}

// volumeCommand is a command that reads the volumes its arguments name.
func volumeCommand(cmd *cli.Command) *cli.Command {
	cmd.ArgsUsage = "PATH... (directories or volume files)"
	cmd.Before = func(c *cli.Context) error {
		if c.NArg() == 0 {
			return usagef("%s: give the directories or volume files of the bundle", c.Command.Name)
		}
		return nil
	}
	return cmd
}

// trustFlags are what a command that reads only signed bundles, unless
// told otherwise, takes to know whom to trust (trustPolicy).
func trustFlags(more ...cli.Flag) []cli.Flag {
	return append(append(keyFlags(),
		&cli.BoolFlag{Name: "allow-unsigned", Usage: "accept a bundle that is unsigned or whose signature is not checked"},
		&cli.BoolFlag{Name: "allow-expired", Usage: "accept a bundle past the expiry it was packed with"},
	), more...)
}

// trustPolicy is what --key, --keyring, --threshold and --allow-unsigned
// say; a key or --allow-unsigned is needed.
func trustPolicy(c *cli.Context) (bundle.TrustPolicy, error) { return keyPolicy(c, true) }

func verifyCommand() *cli.Command {
	return volumeCommand(&cli.Command{
		Name:  "verify",
		Usage: "check every byte of the volumes against the signed index",
		Flags: trustFlags(
			&cli.BoolFlag{Name: "partial", Usage: "succeed when the volumes present are good, even if others are missing"},
			&cli.IntFlag{Name: "jobs", DefaultText: "one per core", Usage: "how many places of the volumes are read at once (1 reads each volume straight through, kinder to DVDs and spinning disks)"},
			&cli.BoolFlag{Name: "json", Usage: "print the verdicts as JSON on standard output (signatures, every volume)"},
		),
		Action: func(c *cli.Context) error {
			if c.IsSet("jobs") && c.Int("jobs") < 1 {
				return usagef("--jobs %d: want 1 or more", c.Int("jobs"))
			}
			policy, err := trustPolicy(c)
			if err != nil {
				return err
			}
			bar := newProgress(c, "verify")
			defer bar.stop()
			set, err := bundle.OpenFilesWith(c.Context, c.Args().Slice(), bundle.OpenOptions{VerifyIndex: policy.IndexVerifier()})
			if err != nil {
				return err
			}
			bar.volumes = len(set.Index.Volumes)
			r := set.UncheckedReport()
			if err = set.Trust(policy); err == nil {
				expiryNotice(c, set)
				r, err = set.Verify(c.Context, bundle.VerifyOptions{Partial: c.Bool("partial"), Workers: c.Int("jobs"), Progress: bar.update})
			}
			bar.stop()
			if r == nil {
				return err
			}
			if c.Bool("json") {
				if jerr := printJSON(c, r.Result(err)); jerr != nil {
					return jerr
				}
			}
			x := r.Set.Index
			sig := "signed by nobody (unsigned)"
			if x.Signer == nil && signed(set) {
				sig = "countersigned only"
			}
			if x.Signer != nil {
				sig = "signed by " + x.Signer.KeyID + " (" + x.Signer.Algorithm + ")"
			}
			keyed := len(policy.Keys) > 0 || policy.Keyring != nil
			switch {
			case !keyed:
				sig += ", signature NOT checked"
			case set.Trusted():
				sig += fmt.Sprintf(", signatures good (%d trusted keys needed)", policy.Threshold)
			case errors.Is(err, bundle.ErrExpired):
				// Trust checked the signatures and then the expiry.
				sig += ", signatures good, but the bundle has EXPIRED"
			default:
				sig += ", signatures NOT good enough"
			}
			say(c, "bundle %s (%s, %s)", x.BundleID, x.Created, sig)
			if !quiet(c) {
				sayStatuses(consoleOf(c).stderr, set.Signatures())
			}
			for _, v := range r.Result(err).Volumes {
				switch v.Verdict {
				case "ok":
					say(c, "  volume %d of %d: ok (%s)", v.Number, len(x.Volumes), v.Path)
				case "failed":
					say(c, "  volume %d of %d: FAILED (%s)", v.Number, len(x.Volumes), v.Path)
				}
			}
			if len(r.Missing) > 0 {
				say(c, "  still to be seen: volume %s", strings.ReplaceAll(strings.Trim(fmt.Sprint(r.Missing), "[]"), " ", ", "))
			} else if err == nil {
				say(c, "  %s verified", allOf(len(x.Volumes), "volume"))
			}
			return err
		},
	})
}

// destinationFlags are the flags that apply to one kind of destination
// only.
var destinationFlags = []struct{ name, only, why string }{
	{"verify-base", "oci:", " (a registry checks digests itself)"},
	{"verify", "oci:", " (a registry checks digests itself)"},
	{"strip-registry", "docker://", ""},
	{"map", "docker://", ""},
	{"config", "docker://", " (it reads the image set file's destination section, a registry's mapping)"},
	{"max-nested-paths", "docker://", ""},
	{"tag-manifests", "docker://", ""},
	{"tag-pattern", "docker://", ""},
	{"emit-mirror-config", "docker://", ""},
	{"mirror-tags", "docker://", ""},
	{"mirror-set-name", "docker://", ""},
	{"repository", "docker://", ""},
	{"history", "docker://", " (a layout keeps its record inside, " + bundle.HistoryFileName + ")"},
	{"jobs", "docker://", " (a layout is written one blob at a time, as the volumes are read)"},
}

// destination is where --to says, refused with a flag of the other kind.
func destination(c *cli.Context) (location.Location, error) {
	to, err := location.ParseDestination(c.String("to"))
	if err != nil {
		return to, usagef("--to: %w", err)
	}
	for _, f := range destinationFlags {
		if c.IsSet(f.name) && !strings.HasPrefix(to.String(), f.only) {
			return to, usagef("--%s applies to %s destinations only%s", f.name, f.only, f.why)
		}
	}
	return to, nil
}

func unpackCommand() *cli.Command {
	return volumeCommand(&cli.Command{
		Name:  "unpack",
		Usage: "verify the volumes and write their content into an OCI layout or a mirror registry",
		Flags: trustFlags(append(registryFlags(),
			&cli.StringFlag{Name: "to", Required: true, Usage: "destination: oci:PATH (created, or merged into), oci:PATH:TAG (the bundle's one image, tagged TAG) or docker://MIRROR[:PORT][/PREFIX]"},
			&cli.BoolFlag{Name: "strip-registry", Usage: "docker:// destinations: drop the source registry host from mirror repositories"},
			&cli.StringSliceFlag{Name: "map", Usage: "docker:// destinations: SOURCE_PREFIX=MIRROR_REPO puts the images under SOURCE_PREFIX (a registry, or registry/path) into MIRROR_REPO, the rest of their path appended; repeatable, the longest matching prefix wins"},
			&cli.StringFlag{Name: "config", Usage: "docker:// destinations: the image set FILE (kind ImageSet) whose destination section gives map rules, stripRegistry and maxNestedPaths; flags add to it (a --map rule wins over the file's for the same source, --max-nested-paths replaces the file's)"},
			&cli.IntFlag{Name: "max-nested-paths", DefaultText: "no limit", Usage: "docker:// destinations: at most N path components per mirror repository, prefix included; deeper ones are flattened, the excess joined with _ (2 for OpenShift's integrated registry)"},
			&cli.BoolFlag{Name: "tag-manifests", Usage: "docker:// destinations: push every manifest under a tag, the one --tag-pattern makes (sha256-<first 32 hex digits of its digest>) when it has none of its own, for registries that refuse or delete untagged manifests (done anyway once a registry refuses one by digest)"},
			&cli.StringFlag{Name: "tag-pattern", DefaultText: bundle.DefaultTagPattern, Usage: "docker:// destinations: the tag made for a manifest without one of its own (with --tag-manifests, or once the registry refuses a manifest by digest): text and {algorithm}, {hex} (64 digits) or {hex:N} (the first N, 16 or more), e.g. mirror-{hex:24}"},
			&cli.StringFlag{Name: "emit-mirror-config", Usage: "docker:// destinations: write into DIR a registries.conf drop-in, OpenShift mirror sets, install-config.yaml snippets and an oc image mirror mapping"},
			&cli.BoolFlag{Name: "mirror-tags", Usage: "with --emit-mirror-config: let pulls by tag go to the mirror too (and write an ImageTagMirrorSet)"},
			&cli.StringFlag{Name: "mirror-set-name", Usage: "with --emit-mirror-config: name the files and objects NAME and merge into those already in DIR, so one object grows from bundle to bundle"},
			&cli.BoolFlag{Name: "verify-base", Usage: "oci: destinations: re-hash the blobs already in the layout that the bundle needs instead of trusting their size (those an incremental bundle expects from its bases, refused if damaged; those it carries, written again if damaged)"},
			&cli.IntFlag{Name: "jobs", Value: bundle.DefaultPushJobs, Usage: "docker:// destinations: blob uploads in flight at once (the volumes are still read once, in order; blobs up to 8 MiB are read ahead, 32 MiB at most)"},
			&cli.BoolFlag{Name: "allow-rollback", Usage: "apply the bundle even if it moves names that a bundle created later set (the destination's record says which): a rollback, on purpose"},
			&cli.StringFlag{Name: "history", Usage: "docker:// destinations: keep the mirror's rollback record in FILE", DefaultText: "$XDG_STATE_HOME/airgap-bundle/MIRROR_PREFIX.history.json"},
			&cli.BoolFlag{Name: "json", Usage: "print what was done as JSON on standard output (every image, name and count)"},
			&cli.BoolFlag{Name: "verbose", Usage: "list every image and where it went, every tag made up"},
		)...),
		Action: func(c *cli.Context) error {
			to, err := destination(c)
			if err != nil {
				return err
			}
			for _, f := range []string{"mirror-tags", "mirror-set-name"} {
				if c.IsSet(f) && c.String("emit-mirror-config") == "" {
					return usagef("--%s applies with --emit-mirror-config only", f)
				}
			}
			policy, err := trustPolicy(c)
			if err != nil {
				return err
			}
			var rules []mirror.Rule
			for _, s := range c.StringSlice("map") {
				r, err := mirror.ParseRule(s)
				if err != nil {
					return usagef("--map: %w", err)
				}
				rules = append(rules, r)
			}
			if c.Int("jobs") < 1 {
				return usagef("--jobs %d: want 1 or more", c.Int("jobs"))
			}
			if c.Int("max-nested-paths") < 0 {
				return usagef("--max-nested-paths: %d is not a number of path components", c.Int("max-nested-paths"))
			}
			strip, nested := c.Bool("strip-registry"), c.Int("max-nested-paths")
			if f := c.String("config"); f != "" {
				set, err := imageset.Load(f)
				if err != nil {
					return usageError{fmt.Errorf("--config: %w", err)}
				}
				if d := set.Destination; d == nil {
					notice(c)(fmt.Sprintf("%s has no destination section: the mirror mapping comes from the flags alone", f))
				} else {
					// The flags' rules first: for one source, the first rule
					// wins (mirror.Mapping).
					rules = append(rules, d.Map...)
					strip = strip || d.StripRegistry
					if !c.IsSet("max-nested-paths") {
						nested = d.MaxNestedPaths
					}
				}
			}
			var pattern bundle.TagPattern
			if c.IsSet("tag-pattern") {
				if pattern, err = bundle.ParseTagPattern(c.String("tag-pattern")); err != nil {
					return usagef("--tag-pattern: %w", err)
				}
			}
			history := c.String("history")
			if history == "" && to.Transport == location.Registry {
				if history, err = bundle.DefaultRegistryHistory(to.Host, to.Prefix); err != nil {
					return err
				}
			}
			dest, err := bundle.NewDestination(to, registries(c), bundle.DestinationOptions{VerifyBase: c.Bool("verify-base"), StripRegistry: strip,
				Rules: rules, MaxNestedPaths: nested, TagManifests: c.Bool("tag-manifests"), TagPattern: pattern, History: history})
			if err != nil {
				return err
			}
			defer dest.Close()
			set, err := bundle.OpenFilesWith(c.Context, c.Args().Slice(), bundle.OpenOptions{VerifyIndex: policy.IndexVerifier()})
			if err == nil {
				err = set.Trust(policy)
			}
			if err != nil {
				return err
			}
			expiryNotice(c, set)
			bar := newProgress(c, map[bool]string{true: "push", false: "unpack"}[to.Transport == location.Registry])
			bar.volumes = len(set.Index.Volumes)
			defer bar.stop()
			r, err := set.Unpack(c.Context, dest, bundle.UnpackOptions{Progress: bar.update, Notice: notice(c), Jobs: c.Int("jobs"), AllowRollback: c.Bool("allow-rollback")})
			bar.stop()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				defer printJSON(c, r.Report(to.String()))
			}
			x := r.Index
			reg, ok := dest.(*bundle.RegistryDestination)
			if !ok {
				say(c, "unpacked bundle %s into %s: %s, %s; names: %d set (%d moved to other content), %d already so",
					x.BundleID, dest, count(len(x.Manifests), "entry"), count(len(x.Blobs), "blob"), r.NamesSet, r.NamesMoved, r.NamesPresent)
				if r.BlobsMended > 0 {
					say(c, "mended %s that %s held damaged: written again from the volumes", count(r.BlobsMended, "blob"), dest)
				}
				if c.Bool("verbose") {
					for _, n := range r.Names {
						say(c, "  %s %s", n.New, n.Name)
					}
				}
				return nil
			}
			if dir := c.String("emit-mirror-config"); dir != "" {
				images, catalogs := r.MirrorImages()
				files, err := reg.Mapping().WriteConfig(dir, reg.Entries(), mirror.ConfigOptions{
					BundleID: x.BundleID, SetName: c.String("mirror-set-name"), Tags: c.Bool("mirror-tags"), Images: images, Catalogs: catalogs})
				if errors.Is(err, mirror.ErrNothingToRedirect) {
					notice(c)(fmt.Sprintf("nothing written into %s: %v", dir, err))
				} else if err != nil {
					return err
				}
				for _, f := range files {
					say(c, "wrote %s", f)
				}
			}
			say(c, "pushed bundle %s into %s: %s; blobs: %d uploaded (%s), %d mounted, %d already there; manifests: %d pushed, %d already there; tags: %d set, %d already there",
				x.BundleID, reg, count(len(r.Images), "entry"), r.BlobsPut, bytesize.Format(r.BytesPut), r.BlobsMounted, r.BlobsPresent,
				r.ManifestsPut, r.ManifestsPresent, r.NamesSet, r.NamesPresent)
			if c.Bool("verbose") {
				for _, im := range r.Images {
					say(c, "  %s -> %s", im.Source, im.Target)
				}
			}
			if len(r.MadeTags) > 0 {
				say(c, "tagged %s that have no tag of their own, as the registry keeps only tagged ones", count(len(r.MadeTags), "manifest"))
				if c.Bool("verbose") {
					for _, t := range r.MadeTags {
						say(c, "  %s", t)
					}
				}
			}
			return nil
		},
	})
}

func inspectCommand() *cli.Command {
	return volumeCommand(&cli.Command{
		Name:  "inspect",
		Usage: "show what a bundle holds, from its volume headers",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		}, keyFlags()...), // also check the signatures with these keys
		Action: func(c *cli.Context) error {
			policy, err := keyPolicy(c, false)
			if err != nil {
				return err
			}
			policy.AllowExpired = true // inspect shows the expiry; it applies nothing
			set, err := bundle.OpenFiles(c.Context, c.Args().Slice())
			if err != nil {
				return err
			}
			if (len(policy.Keys) > 0 || policy.Keyring != nil) && signed(set) {
				err = set.Trust(policy)
			}
			s := set.Summary()
			if err != nil {
				s.Signature = "does NOT verify"
			} else {
				err = errors.Join(set.Problems...)
			}
			sigs := set.Signatures()
			if c.Bool("json") {
				enc := json.NewEncoder(consoleOf(c).stdout)
				enc.SetIndent("", "  ")
				return errors.Join(enc.Encode(struct {
					*bundle.Summary
					Signatures []bundle.SignatureStatus `json:"signatures"`
				}{s, sigs}), err)
			}
			stdout := consoleOf(c).stdout
			werr := s.WriteText(stdout)
			fmt.Fprintf(stdout, "signatures found: %d\n", len(sigs))
			sayStatuses(stdout, sigs)
			return errors.Join(werr, err)
		},
	})
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
			to, err := destination(c)
			if err != nil {
				return err
			}
			if to.Transport == location.Layout && to.Ref != "" {
				return usagef("--to %s: an inventory lists every blob of the layout; give the layout without a tag", to)
			}
			o := bundle.InventoryOptions{Verify: c.Bool("verify"), Repositories: c.StringSlice("repository"), Notice: notice(c)}
			if o.Created, err = createdTime(consoleOf(c)); err != nil {
				return err
			}
			dest, err := bundle.NewDestination(to, registries(c), bundle.DestinationOptions{})
			if err != nil {
				return err
			}
			defer dest.Close()
			v, err := bundle.TakeInventory(c.Context, dest, o)
			if err != nil {
				return err
			}
			if out := c.String("out"); out != "-" {
				if err := v.WriteFile(out); err != nil {
					return err
				}
				say(c, "inventory %s: %s at %s, written to %s", v.InventoryID, count(len(v.Blobs), "blob"), v.Destination, out)
				return nil
			}
			b, err := v.Encode()
			if err == nil {
				_, err = consoleOf(c).stdout.Write(b)
			}
			return err
		},
	}
}

// expiryWarning is how long before its expiry a bundle is said to near it.
const expiryWarning = 30 * 24 * time.Hour

// expiryNotice says when a trusted bundle nears its expiry, or that it is
// past it and accepted as asked.
func expiryNotice(c *cli.Context, set *bundle.Set) {
	at, left := set.Expires(time.Now())
	switch {
	case at.IsZero():
	case left <= 0:
		say(c, "bundle: warning: bundle %s expired on %s; applied anyway, as asked", set.Index.BundleID, at.Format(time.RFC3339))
	case left < 36*time.Hour:
		say(c, "bundle: warning: bundle %s expires on %s, in %d hours", set.Index.BundleID, at.Format(time.RFC3339), int((left+30*time.Minute)/time.Hour))
	case left < expiryWarning:
		// Rounded: a bundle packed to expire in 10 days says 10 days, not
		// 9 and some hours.
		say(c, "bundle: warning: bundle %s expires on %s, in %d days", set.Index.BundleID, at.Format(time.RFC3339), int((left+12*time.Hour)/(24*time.Hour)))
	}
}
