package main_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's commands are run by TestReadme, so that what a reader
// types works. Each fenced block of README.md is one of:
//
//   - a block with a language (```yaml, ```go, ```text …): not commands,
//     not run;
//   - a block without one: shell commands, run in order, one after the
//     other, unless an HTML comment on the lines just before it says
//     otherwise:
//     <!-- readme-test: skip (REASON) -->  not run: it needs what this
//     machine has not (the network beyond loopback, a token, a cluster)
//     or it is not commands (output, a file's contents);
//     <!-- readme-test: first N (REASON) -->  only its first N commands
//     run;
//     <!-- readme-test: setup COMMANDS -->  run before the block, unseen
//     by readers: what the prose says to do between blocks (copy the
//     volumes onto media), or a second key the example assumes.
//
// The blocks share one sandbox, as a reader's shell would: a key made in
// one is used in the next; they run in its home directory. The absolute
// paths of the examples (/media/…, /srv/…, /tmp/…) are rewritten into the
// sandbox; $REPO is the repository, for setup commands. `make` runs in
// the repository with its outputs (BIN, DEMO) moved into the sandbox.

// readmeBlock is one fenced block of shell commands.
type readmeBlock struct {
	line     int // of its opening fence
	skip     string
	first    int // 0: all
	setup    []string
	commands []readmeCommand
}

type readmeCommand struct {
	line int
	text string
}

var readmeDirective = regexp.MustCompile(`^<!-- readme-test: (skip|first|setup)\b\s*(.*?)\s*-->$`)

// readmeBlocks parses the shell blocks of the README at path.
func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks     []readmeBlock
		pending    readmeBlock // directives seen since the last block
		in, isCode bool
		cur        *readmeBlock
		cont       *readmeCommand // a command continued with a backslash
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if !in {
				in = true
				isCode = strings.TrimPrefix(trimmed, "```") == ""
				if isCode {
					b := pending
					b.line = n
					blocks = append(blocks, b)
					cur = &blocks[len(blocks)-1]
				} else if pending.skip != "" || pending.first != 0 || pending.setup != nil {
					t.Errorf("README.md:%d: readme-test directive before a block with a language (never run)", n)
				}
				pending = readmeBlock{}
				continue
			}
			in, cur, cont = false, nil, nil
			continue
		}
		if in {
			if !isCode {
				continue
			}
			if cont != nil {
				cont.text += "\n" + line
			} else if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
				cur.commands = append(cur.commands, readmeCommand{line: n, text: line})
				cont = &cur.commands[len(cur.commands)-1]
			}
			if !strings.HasSuffix(line, `\`) {
				cont = nil
			}
			continue
		}
		if m := readmeDirective.FindStringSubmatch(trimmed); m != nil {
			switch m[1] {
			case "skip":
				if m[2] == "" {
					t.Errorf("README.md:%d: readme-test skip without a reason", n)
				}
				pending.skip = m[2]
			case "first":
				k, rest, _ := strings.Cut(m[2], " ")
				if pending.first, err = strconv.Atoi(k); err != nil || pending.first < 1 || rest == "" {
					t.Errorf("README.md:%d: want <!-- readme-test: first N (why not the rest) -->", n)
				}
			case "setup":
				pending.setup = append(pending.setup, m[2])
			}
		} else if strings.Contains(line, "readme-test") {
			t.Errorf("README.md:%d: not a readme-test directive this test knows: %s", n, line)
		} else if trimmed != "" && !strings.HasPrefix(trimmed, "<!--") {
			pending = readmeBlock{} // a directive belongs to the block right after it
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

var sandboxPaths = regexp.MustCompile(`(^|[\s:=])/(media|srv|tmp)/`)

func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's commands (make demo builds bundle again, every pack derives a key with scrypt), skipped by -short")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, filepath.Join(repo, "README.md"))
	sandbox := t.TempDir()
	home := filepath.Join(sandbox, "home")
	for _, d := range []string{home, filepath.Join(sandbox, "media"), filepath.Join(sandbox, "srv"), filepath.Join(sandbox, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(),
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), // the bundle built from this tree
		// HOME stays: the go command's caches are under it (make demo
		// builds), and nothing run here writes there but state, moved.
		"REPO="+repo, "XDG_STATE_HOME="+filepath.Join(sandbox, "state"),
		"BUNDLE_PASSWORD=readme-test", "SOURCE_DATE_EPOCH=1700000000",
		"REGISTRY_AUTH_FILE=/nonexistent/auth.json")
	run := func(where string, text string) {
		t.Helper()
		text = sandboxPaths.ReplaceAllString(text, "${1}"+sandbox+"/${2}/")
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", text)
		cmd.Dir, cmd.Env = home, env
		if strings.HasPrefix(strings.TrimSpace(text), "make ") {
			// The Makefile's targets are relative to the repository;
			// what they make goes into the sandbox.
			cmd.Dir = repo
			cmd.Env = append(cmd.Env, "MAKEFLAGS=BIN="+filepath.Join(sandbox, "make-bin", "bundle")+" DEMO="+filepath.Join(sandbox, "demo"))
		}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", where, text, err, out)
		}
		t.Logf("%s: %.1fs", where, time.Since(start).Seconds())
	}
	ran := 0
	for _, b := range blocks {
		if b.skip != "" {
			t.Logf("README.md:%d: skipped: %s", b.line, b.skip)
			continue
		}
		if len(b.commands) == 0 {
			t.Errorf("README.md:%d: a block without a language and without commands: give it a language (```text) or a readme-test skip", b.line)
			continue
		}
		for _, s := range b.setup {
			run("README.md:"+strconv.Itoa(b.line)+" (setup)", s)
		}
		cmds := b.commands
		if b.first > 0 {
			cmds = cmds[:min(b.first, len(cmds))]
		}
		for _, c := range cmds {
			run("README.md:"+strconv.Itoa(c.line), c.text)
			ran++
		}
	}
	// The main job on the example is the README's first command.
	if len(blocks) == 0 || blocks[0].skip != "" || len(blocks[0].commands) == 0 || !strings.HasPrefix(blocks[0].commands[0].text, "make demo") {
		t.Errorf("the README's first command is no longer make demo, run here")
	}
	t.Logf("ran %d README commands", ran)
}
