// Command bundle carries OCI content across an air gap: pack on the
// connected side, verify and unpack on the other. It is a thin front over
// the bundle, oci and sign packages: each command reads its flags, calls
// the library, and says what was done.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/urfave/cli/v2"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0-dev"

// Exit codes (README.md and SPEC.md list them).
const (
	exitError      = 1 // anything else: I/O, space, bad input files
	exitUsage      = 2
	exitCorrupt    = 3 // a volume's bytes differ from the signed index
	exitSignature  = 4 // unsigned, wrong key, bad signature, expired, a rollback refused
	exitIncomplete = 5 // volumes missing, duplicated, or of another bundle; blobs of a base bundle absent
)

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(usageError)), errors.Is(err, bundle.ErrTagNeedsOneEntry):
		// A tag in the destination for a bundle of several entries is a
		// command that cannot be carried out, found once the bundle is read.
		return exitUsage
	case errors.As(err, new(*format.CorruptError)):
		return exitCorrupt
	case errors.Is(err, bundle.ErrBadSignature), errors.Is(err, bundle.ErrWrongKey), errors.Is(err, bundle.ErrUnsigned),
		errors.As(err, new(*bundle.ThresholdError)), errors.Is(err, bundle.ErrExpired),
		errors.Is(err, bundle.ErrRollback):
		return exitSignature
	case errors.As(err, new(*bundle.MissingVolumesError)), errors.As(err, new(*bundle.ForeignVolumeError)),
		errors.As(err, new(*bundle.DuplicateVolumeError)), errors.As(err, new(*bundle.MissingBaseBlobsError)),
		errors.Is(err, bundle.ErrDanglingReference):
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
		// Above the limit, it follows the live heap (pack's plan, a
		// reader's index of a million blobs), or the collector runs back
		// to back.
		followLiveHeap()
	}
	ctx, stop := signalContext()
	code := run(ctx, os.Args, processConsole())
	stop()
	os.Exit(code)
}

// run runs the command line args with con as its console and returns the
// exit status.
func run(ctx context.Context, args []string, con *console) int {
	ctx = withConsole(ctx, con)
	err := explainInterrupt(ctx, runApp(ctx, args))
	if err != nil {
		printError(con.stderr, err)
	}
	return exitCode(err)
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "bundle",
		Usage:   "carry OCI images across an air gap in signed, split, deduplicated volumes",
		Version: buildInfo(),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print no progress and no notices"},
		},
		Commands:             withHints([]*cli.Command{keygenCommand(), packCommand(), verifyCommand(), unpackCommand(), inspectCommand(), inventoryCommand(), versionCommand(), completionCommand(), manCommand(), signCommand()}),
		EnableBashCompletion: true,
		OnUsageError:         func(c *cli.Context, err error, _ bool) error { return usageError{err} },
		ExitErrHandler:       func(*cli.Context, error) {},
	}
}

// quiet is --quiet, given before the command or after it.
func quiet(c *cli.Context) bool {
	for _, l := range c.Lineage() {
		if l.Bool("quiet") {
			return true
		}
	}
	return false
}

// say prints a line of what was done on standard error, unless --quiet.
func say(c *cli.Context, format string, a ...any) {
	if !quiet(c) {
		// What a bundle says (ref names, packer) may hold terminal
		// escapes: printed escaped.
		fmt.Fprintln(consoleOf(c).stderr, bundle.PrintableLines(fmt.Sprintf(format, a...)))
	}
}

// count is n things, in the singular for one ("1 blob", "2 blobs", "1 entry").
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	if strings.HasSuffix(thing, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(thing, "y"))
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// allOf is "the one volume" or "all N volumes".
func allOf(n int, thing string) string {
	if n == 1 {
		return "the one " + thing
	}
	return "all " + count(n, thing)
}

// notice is the library's Notice: what the user should know though
// nothing failed, unless --quiet.
func notice(c *cli.Context) func(string) {
	if quiet(c) {
		// Not nil: the CLI calls it too (a nil Notice is the library's
		// "no notices", and calling one panicked under --quiet).
		return func(string) {}
	}
	stderr := consoleOf(c).stderr
	return func(s string) { fmt.Fprintln(stderr, "bundle: "+bundle.PrintableLines(s)) }
}

func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "authfile", Usage: "the only registry credentials file read (default, first entry wins: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json, ~/.dockercfg)"},
		&cli.StringFlag{Name: "cert-dir", Usage: "directory of registry certificates: CAs *.crt, client *.cert with *.key (default: /etc/containers/certs.d/HOST[:PORT])"},
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "HOST[:PORT] reached over plain HTTP or TLS without certificate checks (repeatable)"},
	}
}

// registries opens the registries as --authfile, --cert-dir and --insecure-registry
// say, when the library finds it needs them.
func registries(c *cli.Context) func() (*oci.Registries, error) { return registriesWith(c, nil) }

// registriesWith is registries with settings of single registries (an image
// set file's) that win over the flags for those registries.
func registriesWith(c *cli.Context, hosts map[string]oci.HostOptions) func() (*oci.Registries, error) {
	return func() (*oci.Registries, error) {
		return oci.NewRegistries(oci.RegistryOptions{AuthFile: c.String("authfile"), CertDir: c.String("cert-dir"), Insecure: c.StringSlice("insecure-registry"),
			UserAgent: "bundle/" + version, Hosts: hosts})
	}
}

// createdTime is the time a bundle or inventory records: now, or
// SOURCE_DATE_EPOCH for reproducible output.
func createdTime(con *console) (time.Time, error) {
	s := con.getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usagef("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
	}
	return time.Unix(n, 0), nil
}
