package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bundlemain "github.com/airgap-bundle/bundle/cmd/bundle"
	"github.com/airgap-bundle/bundle/internal/testkeys"
)

// bin is the command the tests run: a link named bundle to this test
// binary, which, started under that name, is the command (TestMain calls
// its main) instead of running the tests. That spares building it again,
// a second compile and link of everything; TestBuiltBinary builds the
// real one (-short skips it).
var bin string

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "bundle" {
		bundlemain.Main() // exits
		panic("main returned")
	}
	dir, err := os.MkdirTemp("", "bundle-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "bundle")
	// Rollback records of mirrors (unpack --to docker://) go here, not
	// into the home directory of whoever runs the tests.
	os.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	if err := os.Symlink(self, bin); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary and returns its exit code and combined output.
func runCLI(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	return runProgram(t, bin, env, args...)
}

// runProgram runs program with env added to the tests' environment and
// returns its exit code and combined output. The command itself (bin) runs
// inside the test process (bundlemain.Run) when env holds only variables
// it reads through its console: starting a process costs more than most
// runs' work on slow machines, and this suite runs the command some 180
// times. Tests of what only a process shows (signals, exit on a kill, the
// memory limit, the shell's completion, README's commands) start it with
// exec themselves, or pass other variables.
func runProgram(t *testing.T, program string, env []string, args ...string) (int, string) {
	t.Helper()
	if program == bin {
		if vars, ok := consoleEnv(env); ok {
			var out bytes.Buffer
			code := bundlemain.Run(append([]string{"bundle"}, args...), vars, &out)
			return code, out.String()
		}
	}
	cmd := exec.Command(program, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// consoleEnv is env (NAME=VALUE) as a map, and whether the command reads
// every one of them through its console (bundlemain.ConsoleVariables).
func consoleEnv(env []string) (map[string]string, bool) {
	vars := map[string]string{}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !slices.Contains(bundlemain.ConsoleVariables, name) {
			return nil, false
		}
		vars[name] = value
	}
	return vars, true
}

// mustRun runs the binary and fails unless it exits with want.
func mustRun(t *testing.T, want int, env []string, args ...string) string {
	t.Helper()
	return mustRunProgram(t, bin, want, env, args...)
}

// mustRunProgram is mustRun of another program.
func mustRunProgram(t *testing.T, program string, want int, env []string, args ...string) string {
	t.Helper()
	code, out := runProgram(t, program, env, args...)
	if code != want {
		t.Fatalf("%s %s: exit %d, want %d\n%s", filepath.Base(program), strings.Join(args, " "), code, want, out)
	}
	return out
}

const example = "../../testdata/example-layout"

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, pw, args...) }
	k, other := filepath.Join(dir, "k"), filepath.Join(dir, "other")
	// k is a cosign-format key with the tests' cheaper scrypt (the pack
	// below decrypts it); keygen's own exit is other's.
	testkeys.WriteEncrypted(t, k, "secret")
	must(0, "keygen", "--type", "ed25519", "--out", other)
	must(1, "keygen", "--out", k) // refuses to overwrite
	vols := filepath.Join(dir, "vols")
	must(2, "pack", "--out", vols, "oci:"+example)                                     // neither --key nor --unsigned
	must(2, "pack", "--unsigned", "--max-size", "lots", "--out", vols, "oci:"+example) // bad size
	must(2, "pack", "--unsigned", "--media", "floppy", "--out", vols, "oci:"+example)
	must(2, "pack", "--unsigned", "--out", vols, "docker.io/library/alpine")
	out := must(1, "pack", "--unsigned", "--out", vols, "oci:"+example+":no:such")
	if !strings.Contains(out, "app:v1") {
		t.Errorf("error for a missing tag does not list the tags there: %s", out)
	}
	must(0, "pack", "--key", k+".key", "--max-size", "40K", "--out", vols, "oci:"+example+":app:v1", "oci:"+example+":multi:latest")
	must(0, "verify", "--key", k+".pub", vols)
	must(2, "verify", vols) // no key and no --allow-unsigned
	must(4, "verify", "--key", other+".pub", vols)
	must(0, "verify", "--allow-unsigned", vols)
	must(0, "verify", "--jobs", "1", "--key", k+".pub", vols) // straight through
	must(2, "verify", "--jobs", "0", "--key", k+".pub", vols)
	out = must(0, "inspect", "--key", k+".pub", vols)
	for _, want := range []string{"app:v1", "multi:latest", "linux/arm64/v8", "signature verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	must(0, "inspect", "--json", vols)

	// One volume alone: the others are missing.
	files, _ := filepath.Glob(filepath.Join(vols, "vol-*.tar"))
	if len(files) < 2 {
		t.Fatalf("want several volumes, got %v", files)
	}
	out = must(5, "verify", "--key", k+".pub", files[1])
	if !strings.Contains(out, "still to be seen") || !strings.Contains(out, "not found") {
		t.Errorf("verify of one volume does not say what is missing:\n%s", out)
	}
	must(0, "verify", "--partial", "--key", k+".pub", files[1])

	// A flipped byte in the last volume.
	b, _ := os.ReadFile(files[len(files)-1])
	b[len(b)-2000] ^= 1
	os.WriteFile(files[len(files)-1], b, 0o644)
	must(3, "verify", "--key", k+".pub", vols)
	dest := filepath.Join(dir, "dest")
	must(3, "unpack", "--key", k+".pub", "--to", "oci:"+dest, vols)
	if _, err := os.Stat(filepath.Join(dest, "index.json")); err == nil {
		t.Fatal("a failed unpack wrote index.json")
	}

	// Unsigned bundles need --allow-unsigned.
	uv := filepath.Join(dir, "unsigned")
	must(0, "pack", "--unsigned", "--media", "fat32", "--compress", "zstd", "--out", uv, "oci:"+example)
	must(4, "verify", "--key", k+".pub", uv)
	must(4, "unpack", "--key", k+".pub", "--to", "oci:"+dest, uv)
	must(0, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+dest, uv)
	out = must(0, "inspect", uv)
	if !strings.Contains(out, "unsigned") || !strings.Contains(out, "zstd") || !strings.Contains(out, "4294967295") {
		t.Errorf("inspect of the unsigned zstd bundle:\n%s", out)
	}
}

func TestPasswordNeverFromArguments(t *testing.T) {
	t.Parallel(
	// Without BUNDLE_PASSWORD and without a terminal, keygen refuses.
	)

	cmd := exec.Command(bin, "keygen", "--out", filepath.Join(t.TempDir(), "k"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "BUNDLE_PASSWORD") {
		t.Fatalf("keygen without a password source: %v\n%s", err, out)
	}
}

// Locations on the command line are read by one parser: oci:PATH:TAG as an
// unpack destination is the layout PATH with the image under TAG (not a
// directory named PATH:TAG), and what cannot be carried out is a usage
// error before anything is written.
func TestLocations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, nil, args...) }
	one, several := filepath.Join(dir, "one"), filepath.Join(dir, "several")
	must(0, "--quiet", "pack", "--unsigned", "--out", one, "oci:"+example+":app:v1")
	must(0, "--quiet", "pack", "--unsigned", "--out", several, "oci:"+example)

	out := filepath.Join(dir, "out")
	must(0, "--quiet", "unpack", "--allow-unsigned", "--to", "oci:"+out+"/t1:mytag", one)
	index, err := os.ReadFile(filepath.Join(out, "t1", "index.json"))
	if err != nil {
		t.Fatalf("no layout at out/t1: %v", err)
	}
	if !strings.Contains(string(index), `"org.opencontainers.image.ref.name":"mytag"`) || strings.Contains(string(index), "app:v1") {
		t.Errorf("out/t1/index.json does not name the image mytag alone:\n%s", index)
	}
	if _, err := os.Stat(filepath.Join(out, "t1:mytag")); err == nil {
		t.Error("unpack made a directory named t1:mytag")
	}

	msg := must(2, "unpack", "--allow-unsigned", "--to", "oci:"+out+"/t2:mytag", several)
	if !strings.Contains(msg, "own ref name") {
		t.Errorf("refusal of a tag for several images does not say why:\n%s", msg)
	}
	msg = must(2, "unpack", "--allow-unsigned", "--to", "oci:"+out+"/t3@sha256:"+strings.Repeat("0", 64), one)
	if !strings.Contains(msg, "a digest") || !strings.Contains(msg, "--to") {
		t.Errorf("refusal of a digest destination:\n%s", msg)
	}
	must(2, "unpack", "--allow-unsigned", "--to", "oci:", one)
	must(2, "unpack", "--allow-unsigned", "--to", out, one) // no transport
	must(2, "unpack", "--allow-unsigned", "--to", "docker://mirror/A", one)
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("refused unpacks wrote into %s: %v", out, entries)
	}

	// Sources: a digest picks the untagged entry; bad ones are usage errors.
	byDigest := filepath.Join(dir, "by-digest")
	must(0, "--quiet", "pack", "--unsigned", "--out", byDigest, "oci:"+example+"@sha256:333ce0e66cf7a20cef9237f991385d95e9a5dce396f8b8836b15625778908f44")
	if msg := must(0, "inspect", byDigest); !strings.Contains(msg, "333ce0e66cf7") {
		t.Errorf("inspect of the bundle packed by digest:\n%s", msg)
	}
	must(2, "pack", "--unsigned", "--out", filepath.Join(dir, "x"), "oci:")
	must(2, "pack", "--unsigned", "--out", filepath.Join(dir, "x"), "oci:"+example+":bad tag")
	list := filepath.Join(dir, "images.txt")
	os.WriteFile(list, []byte("# a list\nNginx\n"), 0o644)
	if msg := must(2, "pack", "--unsigned", "--out", filepath.Join(dir, "x"), "--images", list); !strings.Contains(msg, list+":2:") {
		t.Errorf("bad line of an image list:\n%s", msg)
	}

	must(2, "inventory", "--to", "oci:"+out+"/t1:mytag", "--out", filepath.Join(dir, "inv"))
	must(2, "inventory", "--to", "oci:", "--out", filepath.Join(dir, "inv"))
	must(0, "--quiet", "inventory", "--to", "oci:"+out+"/t1", "--out", filepath.Join(dir, "inv"))
}
