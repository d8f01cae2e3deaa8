package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// console is what a run of the command reads and writes besides its
// arguments and files: the standard streams and the environment variables
// the command itself reads. main gives the process's; the tests run the
// command inside their own process with their own, many runs at once.
// (Variables the library reads, such as XDG_STATE_HOME or
// REGISTRY_AUTH_FILE, are the process's.)
type console struct {
	stdin          *os.File
	stdout, stderr io.Writer
	// stderrTerminal is whether stderr is a terminal: progress is
	// redrawn in place there, and printed as lines elsewhere.
	stderrTerminal bool
	lookupEnv      func(string) (string, bool)
}

// processConsole is the process's standard streams and environment.
func processConsole() *console {
	return &console{
		stdin:          os.Stdin,
		stdout:         os.Stdout,
		stderr:         os.Stderr,
		stderrTerminal: term.IsTerminal(int(os.Stderr.Fd())),
		lookupEnv:      os.LookupEnv,
	}
}

// getenv is os.Getenv of the console's environment.
func (con *console) getenv(name string) string {
	v, _ := con.lookupEnv(name)
	return v
}

type consoleKey struct{}

// withConsole returns ctx carrying con, for consoleOf.
func withConsole(ctx context.Context, con *console) context.Context {
	return context.WithValue(ctx, consoleKey{}, con)
}

// consoleOf is the console of the run c belongs to.
func consoleOf(c *cli.Context) *console {
	if c != nil && c.Context != nil {
		if con, ok := c.Context.Value(consoleKey{}).(*console); ok {
			return con
		}
	}
	return processConsole()
}

// sharedBoolFlag is a BoolFlag that one value can serve to every App and
// Command at once. urfave/cli's --help and --version are such values
// (cli.HelpFlag, cli.VersionFlag), but BoolFlag.Apply records its default
// in the flag, a write that runs of the command in one process (the
// tests') would make at the same time. This Apply writes nothing.
type sharedBoolFlag struct{ cli.BoolFlag }

func (f *sharedBoolFlag) Apply(set *flag.FlagSet) error {
	for _, name := range f.Names() {
		set.Bool(name, f.Value, f.Usage)
	}
	return nil
}

// GetDefaultText is empty: neither flag shows a default (DisableDefaultText).
func (f *sharedBoolFlag) GetDefaultText() string { return "" }

func init() {
	for _, p := range []*cli.Flag{&cli.HelpFlag, &cli.VersionFlag} {
		if b, ok := (*p).(*cli.BoolFlag); ok {
			*p = &sharedBoolFlag{*b}
		}
	}
}
