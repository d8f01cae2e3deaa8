package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// cliFlags lists the names (and aliases) of every flag of the app and its
// commands.
func cliFlags(app *cli.App) map[string]bool {
	names := map[string]bool{}
	addAll := func(flags []cli.Flag) {
		for _, f := range flags {
			for _, n := range f.Names() {
				names[n] = true
			}
		}
	}
	addAll(app.Flags)
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			addAll(c.Flags)
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return names
}

// flagRefs matches what could name a flag in text: --name.
var flagRefs = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)

// flagsNamed returns the flags of names that s mentions as --NAME.
func flagsNamed(s string, names map[string]bool) []string {
	var out []string
	for _, m := range flagRefs.FindAllStringSubmatch(s, -1) {
		if names[m[1]] {
			out = append(out, "--"+m[1])
		}
	}
	return out
}

// libraryFiles lists the non-test Go files of every package of the module
// but the commands (cmd/) and the examples, which are programs of their own.
func libraryFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case rel == "cmd", rel == "examples", rel == "testdata", strings.HasPrefix(d.Name(), "."), d.Name() == "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestFlagsNamed(t *testing.T) {
	t.Parallel()
	names := map[string]bool{"key": true, "max-size": true, "to": true}
	for _, c := range []struct {
		s    string
		want []string
	}{
		{"give its public key with --key to check it", []string{"--key"}},
		{"give a larger --max-size", []string{"--max-size"}},
		{"--keyring is another tool's", nil},
		{"--top and --to", []string{"--to"}},
		{"cosign verify-blob --signature", nil},
		{"no flag here - or -- here", nil},
	} {
		if got := flagsNamed(c.s, names); !slices.Equal(got, c.want) {
			t.Errorf("flagsNamed(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

// TestLibraryErrorsNameNoFlag fails when a string literal in a library
// package names a flag of the CLI: library errors say what is wrong in the
// library's terms, and the CLI adds hints in its own (hints.go).
func TestLibraryErrorsNameNoFlag(t *testing.T) {
	t.Parallel()
	names := cliFlags(newApp())
	for _, must := range []string{"key", "allow-unsigned", "max-size", "authfile", "cert-dir", "insecure-registry", "partial"} {
		if !names[must] {
			t.Fatalf("flag --%s not found among the app's flags %v: the collection is broken", must, names)
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	files := libraryFiles(t, root)
	if len(files) < 10 {
		t.Fatalf("only %d library files found under %s", len(files), root)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "main" {
			continue // a program of its own (internal/.../cmd)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
				return true
			}
			if named := flagsNamed(s, names); len(named) > 0 {
				rel, _ := filepath.Rel(root, fset.Position(lit.Pos()).Filename)
				t.Errorf("%s:%d: a library string names the CLI's %s: %s (say what is wrong, typed if callers must tell it apart, and add the hint in cmd/bundle/hints.go)",
					rel, fset.Position(lit.Pos()).Line, strings.Join(named, ", "), lit.Value)
			}
			return true
		})
	}
}
