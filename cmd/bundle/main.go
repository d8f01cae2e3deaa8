// Command bundle carries OCI content across an air gap: pack on the
// connected side, verify and unpack on the other. It is a thin front over
// the bundle, oci and sign packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/urfave/cli/v2"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

// Exit codes (README.md and SPEC.md list them).
const (
	exitOK         = 0
	exitError      = 1 // anything else: I/O, space, bad input files
	exitUsage      = 2
	exitCorrupt    = 3 // a volume's bytes differ from the signed index
	exitSignature  = 4 // unsigned, wrong key, bad signature
	exitIncomplete = 5 // volumes missing, duplicated, or of another bundle; blobs of a base bundle absent
)

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func exitCode(err error) int {
	var ue usageError
	var ce *format.CorruptError
	var me *bundle.MissingVolumesError
	var fe *bundle.ForeignVolumeError
	var de *bundle.DuplicateVolumeError
	var be *bundle.MissingBaseBlobsError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, bundle.ErrTagNeedsOneEntry):
		// A tag in the destination for a bundle of several entries is a
		// command that cannot be carried out, found once the bundle is read.
		return exitUsage
	case errors.As(err, &ce):
		return exitCorrupt
	case errors.Is(err, bundle.ErrBadSignature), errors.Is(err, bundle.ErrWrongKey), errors.Is(err, bundle.ErrUnsigned):
		return exitSignature
	case errors.As(err, &me), errors.As(err, &fe), errors.As(err, &de), errors.As(err, &be):
		return exitIncomplete
	}
	return exitError
}

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT sets
// another. Data streams through fixed buffers; what grows is the index of a
// bundle with very many blobs, whose decoding leaves garbage that the
// collector, by default, lets reach twice the live heap. Near the limit it
// collects sooner instead. It is soft: a larger live heap still works, with
// more collection.
const memoryLimit = 200 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	err := app.RunContext(ctx, os.Args)
	if err != nil {
		printError(os.Stderr, err)
	}
	os.Exit(exitCode(err))
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "bundle",
		Usage:   "carry OCI images across an air gap in signed, split, deduplicated volumes",
		Version: version,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress and no notices"},
		},
		Commands: withHints([]*cli.Command{
			keygenCommand(),
			packCommand(),
			verifyCommand(),
			unpackCommand(),
			inspectCommand(),
			inventoryCommand(),
		}),
		OnUsageError:   func(c *cli.Context, err error, _ bool) error { return usageError{err} },
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
