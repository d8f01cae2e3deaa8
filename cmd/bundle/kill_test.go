//go:build unix

package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/benchdata"
)

// These tests kill the real binary with SIGKILL at many points of its work
// and check what it leaves: the guarantees of README "Commands" for pack
// and unpack. The points are fractions of how long an uninterrupted run
// took here, so that they fall before, inside and after the writing
// whatever the machine; nothing asserts how long anything takes.

var killEnv = []string{"SOURCE_DATE_EPOCH=1700000000"}

// killFractions are the kill points, as fractions of an uninterrupted
// run: spread over the run, and dense near its end, where the commit is.
var killFractions = []float64{0, 0.03, 0.07, 0.12, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.87, 0.93, 0.97, 1.0, 1.05}

// genLayout generates a layout of about size bytes of blobs.
func genLayout(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "src")
	if _, err := benchdata.Generate(dir, benchdata.Options{Size: size, Seed: 1, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// timedRun runs the binary to completion and returns how long it took,
// once the caches are warm: it runs it into warm first.
func timedRun(t *testing.T, warm []string, args ...string) time.Duration {
	t.Helper()
	mustRun(t, 0, killEnv, warm...)
	start := time.Now()
	mustRun(t, 0, killEnv, args...)
	return time.Since(start)
}

// minKilled is how many runs, at least, must have been killed before
// they ended, for a test to have tested anything.
const minKilled = 10

// killFraction is kill point i: killFractions first, then (when too
// few runs were killed, the machine being faster than when it was
// timed) the same points ever earlier.
func killFraction(i int) float64 {
	n := len(killFractions)
	return killFractions[i%n] / float64(int(1)<<(i/n))
}

// morePoints reports whether to try kill point i, killed runs so far.
func morePoints(i, killed int) bool {
	return i < len(killFractions) || killed < minKilled && i < 4*len(killFractions)
}

// killAfter starts the binary and sends it SIGKILL after d (unless it has
// exited by then); it reports whether the process was killed.
func killAfter(t *testing.T, d time.Duration, args ...string) bool {
	t.Helper()
	return killWhen(t, func(time.Duration) bool { return true }, d, args...)
}

// killWhen starts the binary and, from d on, sends it SIGKILL as soon as
// cond holds, polling it; it reports whether the process was killed.
func killWhen(t *testing.T, cond func(time.Duration) bool, d time.Duration, args ...string) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), killEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		time.Sleep(d)
		for start := time.Now(); ; {
			select {
			case <-exited:
				return
			default:
			}
			if cond(time.Since(start)) {
				cmd.Process.Signal(syscall.SIGKILL)
				return
			}
		}
	}()
	err := cmd.Wait()
	close(exited)
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	if err != nil {
		t.Fatalf("bundle %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return false
}

// tree describes every regular file and directory under dir by its
// slash-separated path: "dir" or the file's SHA-256.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recordTree is tree(dir) of a layout with its rollback record's times of
// application cleared: two runs that apply the same bundles record the
// same, but not at the same time.
func recordTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := tree(t, dir)
	if _, ok := out[bundle.HistoryFileName]; ok {
		h := readHistory(t, filepath.Join(dir, bundle.HistoryFileName))
		for i := range h.Applied {
			h.Applied[i].Applied = ""
		}
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		out[bundle.HistoryFileName] = "record " + string(b)
	}
	return out
}

// diffTree lists how got differs from want, at most a few lines.
func diffTree(got, want map[string]string) string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, k+": "+got[k]+", want "+v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, k+": left over")
		}
	}
	if len(d) > 8 {
		d = append(d[:8], "…")
	}
	return strings.Join(d, "\n")
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// visible is tr without hidden files (temporary files of writers).
func visible(tr map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tr {
		if !strings.HasPrefix(filepath.Base(k), ".") {
			out[k] = v
		}
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

var debris = regexp.MustCompile(`(^|/)\.(tmp-|.*\.tmp-|vol-.*\.partial-|bundle-commit)`)

// TestKillPack kills pack while it replaces an earlier bundle in its output
// directory. Each time, the directory reads as exactly the old bundle or
// exactly the new one (a commit cut short is completed by the read), and a
// re-run leaves exactly what an uninterrupted pack leaves.
func TestKillPack(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes at many points")
	}
	dir := t.TempDir()
	src := genLayout(t, 24<<20)
	oldRef, newRef := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--max-size", "40K", "--out", oldRef, "oci:"+example)
	packArgs := func(out string) []string {
		return []string{"--quiet", "pack", "--unsigned", "--max-size", "512K", "--out", out, "oci:" + src}
	}
	full := timedRun(t, packArgs(filepath.Join(dir, "warm")), packArgs(newRef)...)
	oldTree, newTree := tree(t, oldRef), tree(t, newRef)

	killed := 0
	seen := map[string]int{} // debris found after the kills, by kind
	for i := 0; morePoints(i, killed); i++ {
		f := killFraction(i)
		out := filepath.Join(dir, "out", strconv.Itoa(i))
		copyTree(t, oldRef, out)
		if killAfter(t, time.Duration(f*float64(full)), packArgs(out)...) {
			killed++
		}
		left := tree(t, out)
		for k := range left {
			if debris.MatchString(k) {
				seen[strings.SplitN(k[1:], "-", 2)[0]]++
			}
		}
		// Read, as verify and unpack do: exactly one bundle, whole.
		mustRun(t, 0, nil, "--quiet", "verify", "--allow-unsigned", out)
		if got := visible(tree(t, out)); !sameMap(got, oldTree) && !sameMap(got, newTree) {
			t.Fatalf("killed at %.2f: the directory holds neither bundle exactly:\nagainst the old:\n%s\nagainst the new:\n%s", f, diffTree(got, oldTree), diffTree(got, newTree))
		}
		mustRun(t, 0, killEnv, packArgs(out)...)
		if got := tree(t, out); !sameMap(got, newTree) {
			t.Fatalf("killed at %.2f, then re-run: the directory differs from an uninterrupted pack's:\n%s", f, diffTree(got, newTree))
		}
	}
	if killed < minKilled {
		t.Errorf("only %d runs were killed before they ended: the data set is too small to test anything", killed)
	}

	// Kills inside the commit, which takes milliseconds: as soon as the
	// journal appears, or some renames after. Whether the poll sees it is
	// luck; the states themselves are all made and checked by the bundle
	// package's TestDirSinkKilledInCommit.
	inCommit := 0
	for i, wait := range []time.Duration{0, 0, 100 * time.Microsecond, 300 * time.Microsecond, time.Millisecond} {
		out := filepath.Join(dir, "commit", strconv.Itoa(i))
		copyTree(t, oldRef, out)
		journal := filepath.Join(out, ".bundle-commit")
		sawJournal := false
		cond := func(since time.Duration) bool {
			if !sawJournal {
				if _, err := os.Lstat(journal); err == nil {
					sawJournal = true
					since = 0
				}
			}
			return sawJournal && since >= wait
		}
		killWhen(t, cond, 0, packArgs(out)...)
		if _, err := os.Lstat(journal); err == nil {
			inCommit++
		}
		mustRun(t, 0, nil, "--quiet", "verify", "--allow-unsigned", out)
		if got := tree(t, out); !sameMap(got, newTree) && !sameMap(visible(got), oldTree) {
			t.Fatalf("killed in the commit (%v after the journal), then read: the directory holds neither bundle exactly:\n%s", wait, diffTree(got, newTree))
		}
		mustRun(t, 0, killEnv, packArgs(out)...)
		if got := tree(t, out); !sameMap(got, newTree) {
			t.Fatalf("killed in the commit, then re-run: the directory differs from an uninterrupted pack's:\n%s", diffTree(got, newTree))
		}
	}
	t.Logf("%d of 5 packs killed inside their commit (a journal left)", inCommit)
	t.Logf("%d packs killed, an uninterrupted one took %v; left behind, by kind: %v", killed, full, seen)
}

// TestKillUnpack kills unpack into an existing layout. Each time, every
// file that was in the layout is as it was (index.json may be the new one
// only whole), and a re-run leaves exactly what an uninterrupted unpack
// leaves: no temporary blob files.
func TestKillUnpack(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes at many points")
	}
	dir := t.TempDir()
	src := genLayout(t, 32<<20)
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--max-size", "16M", "--out", vols, "oci:"+src)
	ref := filepath.Join(dir, "ref")
	copyTree(t, example, ref)
	before := tree(t, ref)
	args := func(dest string) []string {
		return []string{"--quiet", "unpack", "--allow-unsigned", "--to", "oci:" + dest, vols}
	}
	full := timedRun(t, args(filepath.Join(dir, "warm")), args(ref)...)
	want := recordTree(t, ref)
	volsTree := tree(t, vols)

	killed, temps := 0, 0
	for i := 0; morePoints(i, killed); i++ {
		f := killFraction(i)
		dest := filepath.Join(dir, "dest", strconv.Itoa(i))
		copyTree(t, example, dest)
		if killAfter(t, time.Duration(f*float64(full)), args(dest)...) {
			killed++
		}
		got := tree(t, dest)
		for k := range got {
			if debris.MatchString(k) {
				temps++
			}
		}
		for k, v := range before {
			if got[k] != v && !(k == "index.json" && got[k] == want[k]) {
				t.Fatalf("killed at %.2f: %s changed", f, k)
			}
		}
		for k, v := range got {
			if _, ok := before[k]; ok || debris.MatchString(k) || v == "dir" {
				continue
			}
			if k == bundle.HistoryFileName && got["index.json"] == want["index.json"] {
				continue // recorded once the names are set
			}
			if m := regexp.MustCompile(`^blobs/sha256/([0-9a-f]{64})$`).FindStringSubmatch(k); m == nil || m[1] != v {
				t.Fatalf("killed at %.2f: %s is not a verified blob", f, k)
			}
		}
		mustRun(t, 0, killEnv, args(dest)...)
		if got := recordTree(t, dest); !sameMap(got, want) {
			t.Fatalf("killed at %.2f, then re-run: the layout differs from an uninterrupted unpack's:\n%s", f, diffTree(got, want))
		}
	}
	if !sameMap(tree(t, vols), volsTree) {
		t.Error("the volumes changed")
	}
	if killed < minKilled {
		t.Errorf("only %d runs were killed before they ended: the data set is too small to test anything", killed)
	}
	t.Logf("%d unpacks killed, an uninterrupted one took %v; %d temporary files left by them, removed by the re-runs", killed, full, temps)
}

// A second pack into a directory a pack is writing into fails at once,
// naming the directory, and changes nothing; the first completes.
func TestConcurrentPacks(t *testing.T) {
	dir := t.TempDir()
	src := genLayout(t, 8<<20)
	out := filepath.Join(dir, "out")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--out", out, "oci:"+example)
	oldTree := tree(t, out)
	first := exec.Command(bin, "--quiet", "pack", "--unsigned", "--max-size", "1M", "--out", out, "oci:"+src)
	first.Env = append(os.Environ(), killEnv...)
	var buf bytes.Buffer
	first.Stdout, first.Stderr = &buf, &buf
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Held still while it writes, so that the second surely meets it.
	for {
		if m, _ := filepath.Glob(filepath.Join(out, ".vol-*.partial-*")); len(m) > 0 {
			first.Process.Signal(syscall.SIGSTOP)
			waitStopped(t, first.Process.Pid)
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	during := tree(t, out)
	msg := mustRun(t, 1, killEnv, "pack", "--unsigned", "--out", out, "oci:"+example)
	if !strings.Contains(msg, out) || !strings.Contains(msg, "another pack is writing") {
		t.Errorf("the second pack's error does not say another pack holds %s:\n%s", out, msg)
	}
	if got := tree(t, out); !sameMap(got, during) {
		t.Errorf("the refused pack changed the directory:\n%s", diffTree(got, during))
	}
	first.Process.Signal(syscall.SIGCONT)
	if err := first.Wait(); err != nil {
		t.Fatalf("the first pack: %v\n%s", err, buf.String())
	}
	ref := filepath.Join(dir, "ref")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--max-size", "1M", "--out", ref, "oci:"+src)
	if got, want := tree(t, out), tree(t, ref); !sameMap(got, want) || sameMap(got, oldTree) {
		t.Errorf("the first pack did not replace the bundle exactly:\n%s", diffTree(got, want))
	}
}

// waitStopped waits until process pid is stopped (state T in
// /proc/PID/stat): SIGSTOP is delivered asynchronously, and a snapshot
// taken before it lands would see the process still writing.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			time.Sleep(100 * time.Millisecond) // no /proc (not Linux): give the signal time to land
			return
		}
		// The state follows the command name in parentheses.
		if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d did not stop", pid)
}
