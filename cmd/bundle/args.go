package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// runApp runs the command line args (args[0] the program) after putting
// its flags where urfave/cli v2 reads them. v2 stops reading flags at the
// first argument, so `bundle verify DIR --key K` would take --key as a
// path; skopeo, podman, crane, oras and cosign take flags anywhere, and so
// do we: flags after the command's arguments are moved before them, and
// global flags given after the command (-q) before the command. "--" ends
// the flags, as usual. An unknown command is a usage error (exit 2) that
// names the closest one. (urfave/cli v3 parses flags anywhere, but is a
// new API for every command; a reordering step keeps v2.)
func runApp(ctx context.Context, args []string) error {
	app := newApp()
	if con, ok := ctx.Value(consoleKey{}).(*console); ok {
		app.Reader, app.Writer, app.ErrWriter = con.stdin, con.stdout, con.stderr
	}
	args, err := reorderArgs(app, args)
	if err != nil {
		return err
	}
	return app.RunContext(ctx, args)
}

// reorderArgs returns args with every flag before the arguments of its
// command.
func reorderArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args, nil // completion reads the line as typed
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags before the command.
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "--" {
		out = append(out, rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return out, nil
	}
	cmd := app.Command(rest[0])
	if cmd == nil {
		if rest[0] == "--" || rest[0] == "help" || rest[0] == "h" {
			return args, nil // urfave/cli's own commands
		}
		msg := fmt.Sprintf("%q is not a command", rest[0])
		if m := closest(rest[0], commandNames(app)); m != "" {
			msg += " (did you mean " + m + "?)"
		}
		return nil, usageError{fmt.Errorf("%s; the commands are %s", msg, strings.Join(commandNames(app), ", "))}
	}
	var flags, positional, global []string
	tokens := rest[1:]
	for i := 0; i < len(tokens); i++ {
		t := tokens[i]
		if t == "--" {
			positional = append(positional, tokens[i:]...)
			break
		}
		if !strings.HasPrefix(t, "-") || t == "-" {
			positional = append(positional, t)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(t, "-"), "=")
		f := findFlag(cmd.Flags, name)
		if f == nil && findFlag(app.Flags, name) != nil {
			global = append(global, t)
			continue
		}
		flags = append(flags, t)
		if f != nil && takesValue(f) && !hasValue {
			if i+1 == len(tokens) {
				return nil, usageError{fmt.Errorf("%s: flag %s needs a value", rest[0], t)}
			}
			flags = append(flags, tokens[i+1])
			i++
		}
	}
	out = append(out, global...)
	out = append(out, rest[0])
	out = append(out, flags...)
	return append(out, positional...), nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// takesValue reports whether a flag is followed by its value (every kind
// but a boolean).
func takesValue(f cli.Flag) bool {
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}

func commandNames(app *cli.App) []string {
	var names []string
	for _, c := range app.Commands {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return names
}

// unknownFlag is a command's usage error: an unknown flag names the
// closest flag of the command, with a one-line usage instead of the whole
// help.
func unknownFlag(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		for _, f := range c.Command.Flags {
			names = append(names, f.Names()...)
		}
		name = strings.TrimLeft(name, "-")
		hint := ""
		if m := closest(name, names); m != "" {
			hint = " (did you mean --" + m + "?)"
		}
		return usageError{fmt.Errorf("%s: unknown flag --%s%s; bundle %s --help lists them", c.Command.Name, name, hint, c.Command.Name)}
	}
	return usageError{fmt.Errorf("%s: %w (bundle %s --help)", c.Command.Name, err, c.Command.Name)}
}

// closest is the candidate closest to s (at most two edits away, or s
// the start of it), or "".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if len(s) >= 3 && strings.HasPrefix(c, s) && d > 1 {
			d = 1
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
