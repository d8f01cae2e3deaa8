package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// buildInfo says which build this is: the version (set with -ldflags
// "-X main.version=…", else the module version go install recorded), the
// commit and its date when built from a git checkout, and the Go version.
func buildInfo() string {
	v, commit, date, dirty := version, "", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		// A tagged module version (go install …@v1.2.3) says more than
		// the default; a pseudo-version of a checkout says less than the
		// commit below.
		if mv := bi.Main.Version; releaseTag.MatchString(mv) && version == "0.1.0-dev" {
			v = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	out := v
	if commit != "" {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if dirty {
			commit += "+changes"
		}
		out += " (commit " + commit
		if date != "" {
			out += " of " + date
		}
		out += ")"
	}
	return out + ", " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version of this build",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, "bundle", buildInfo())
			return err
		},
	}
}

var releaseTag = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-rc\.[0-9]+)?$`)
