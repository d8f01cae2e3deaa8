package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/urfave/cli/v2"
)

// errorWithHint is an error and what to do about it in terms of this
// command line: the library's errors say what is wrong and carry the data
// (sizes, hosts, files); only here are flags known. main prints the error,
// then each hint on a line of its own.
type errorWithHint struct {
	error
	hints []string
}

func (e errorWithHint) Unwrap() error { return e.error }

// printError writes err as `bundle: ERROR`, then `bundle: hint: HINT` for
// each hint it carries.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "bundle: %s\n", bundle.PrintableLines(err.Error()))
	var h errorWithHint
	if errors.As(err, &h) {
		for _, l := range h.hints {
			fmt.Fprintf(w, "bundle: hint: %s\n", l)
		}
	}
}

// withHints wraps each command's action so that its errors carry the
// hints that apply to them in that command.
func withHints(cmds []*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		cmd.OnUsageError = unknownFlag
		if action := cmd.Action; action != nil {
			cmd.Action = func(c *cli.Context) error {
				err := action(c)
				if hints := hintsFor(c, err); len(hints) > 0 {
					return errorWithHint{error: err, hints: hints}
				}
				return err
			}
		}
	}
	return cmds
}

// hasFlag reports whether command c has the flag name: a hint names only
// flags the command has.
func hasFlag(c *cli.Context, name string) bool {
	return slices.ContainsFunc(c.Command.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) })
}

// hintsFor is what to do about err (nil: nothing) in command c.
func hintsFor(c *cli.Context, err error) []string {
	var hints []string
	add := func(format string, a ...any) { hints = append(hints, fmt.Sprintf(format, a...)) }

	// Signatures and volumes.
	if errors.Is(err, bundle.ErrUnsigned) && hasFlag(c, "allow-unsigned") {
		add("pass --allow-unsigned to accept it anyway")
	}
	if errors.Is(err, bundle.ErrExpired) && hasFlag(c, "allow-expired") {
		add("pass --allow-expired to apply it anyway (on purpose: an expired bundle may carry images since found vulnerable)")
	}
	if errors.Is(err, bundle.ErrRollback) && hasFlag(c, "allow-rollback") {
		add("pass --allow-rollback to apply it anyway (on purpose: the older bundle may carry images since found vulnerable)")
	}
	if errors.Is(err, bundle.ErrKeyNeeded) && hasFlag(c, "key") {
		add("give its public key with --key to check it")
	}
	var te0 *bundle.ThresholdError
	if errors.As(err, &te0) && hasFlag(c, "threshold") {
		if te0.Have > 0 {
			add("have it countersigned by another trusted key (bundle sign --key KEY), and keep the file it writes beside the volumes or give it by path")
		} else {
			add("check that --key or --keyring names the keys that signed it")
		}
	}
	if errors.Is(err, bundle.ErrBadPolicy) && hasFlag(c, "threshold") {
		add("give as many distinct keys (--key, --keyring) as --threshold asks for")
	}
	if c.Command.Name == "sign" {
		switch {
		case errors.Is(err, fs.ErrExist):
			add("this key has countersigned the bundle already there; remove the file to sign again, or choose another --out")
		case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
			add("the volumes may sit on read-only media: write the countersignature elsewhere with --out DIR")
		}
	}
	var me *bundle.MissingVolumesError
	if errors.As(err, &me) && hasFlag(c, "partial") && !c.Bool("partial") {
		add("or pass --partial to check only these")
	}
	var be *bundle.MissingBaseBlobsError
	if errors.As(err, &be) {
		if len(be.Damaged) > 0 {
			add("unpack the base bundle again with --verify-base: it writes the damaged blobs again from its volumes")
		}
		add("list what it holds with bundle inventory, and have the bundle packed again with pack --have")
	}

	// Packing.
	var ve *format.VolumeSizeError
	if errors.As(err, &ve) && hasFlag(c, "max-size") {
		add("give a larger --max-size")
	}
	if errors.Is(err, bundle.ErrNoSpace) && c.Command.Name == "pack" {
		add("or choose another --out")
	}

	// Mirrors.
	if errors.Is(err, bundle.ErrIncompleteIndex) {
		add("pack such images without --platform for this mirror")
	}
	if errors.Is(err, bundle.ErrNoCatalog) && hasFlag(c, "repository") {
		add("name the repositories to list with --repository (repeatable)")
	}

	// Registries.
	var pe *oci.PathRefusedError
	if errors.As(err, &pe) && hasFlag(c, "max-nested-paths") {
		add("pass --max-nested-paths N to flatten mirror repositories to N path components, prefix included (%s has %d; OpenShift's integrated registry takes 2), or place them with --map SOURCE_PREFIX=MIRROR_REPO", pe.Repository, pe.Components)
	}
	var fe *oci.RepositoryForbiddenError
	if errors.As(err, &fe) {
		add("create the namespace in the registry, or push under one that exists (docker://MIRROR/NAMESPACE%s)", map[bool]string{true: ", or --map", false: ""}[hasFlag(c, "map")])
	}
	var ae *oci.AuthError
	if errors.As(err, &ae) && !ae.AuthFile && hasFlag(c, "authfile") {
		add("or pass --authfile FILE to read the credentials for %s from FILE", ae.Registry)
	}
	var te *oci.TLSError
	var ue *oci.UnreachableError
	switch {
	case errors.As(err, &te) && te.Verify:
		// A private CA is the fix that keeps TLS verified; turning
		// checks off is the last resort, so it comes last.
		h := fmt.Sprintf("place the CA certificate of %s in %s", te.Registry, filepath.Join(te.CADir, "ca.crt"))
		if hasFlag(c, "cert-dir") {
			h += " (or in DIR/ca.crt with --cert-dir DIR)"
		}
		if hasFlag(c, "insecure-registry") {
			h += fmt.Sprintf("; only as a last resort, pass --insecure-registry %s, which turns certificate checks off for it", te.Registry)
		}
		add("%s", h)
	case errors.As(err, &te) && hasFlag(c, "insecure-registry"):
		add("if it serves plain HTTP, pass --insecure-registry %s", te.Registry)
	case errors.As(err, &ue) && !ue.Insecure && hasFlag(c, "insecure-registry") && !errors.Is(err, syscall.ECONNREFUSED):
		// Refused: nothing listens there, which no TLS setting changes.
		add("if it serves plain HTTP or a self-signed certificate, pass --insecure-registry %s", ue.Registry)
	}
	return hints
}
