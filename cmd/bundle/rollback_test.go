package main_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/opencontainers/go-digest"
)

// rollbackBundles packs app:v1 of two layouts of different content: an
// older bundle (created 2023-11-14T22:13:20Z) and a newer one (created
// 2024-03-09T16:00:00Z). It returns their volumes and app:v1's digests.
func rollbackBundles(t *testing.T, dir string) (older, newer string, olderDigest, newerDigest digest.Digest) {
	t.Helper()
	pack := func(name string, seed int64, epoch string) (string, digest.Digest) {
		l, err := testlayout.Build(filepath.Join(dir, name+"-src"), testlayout.Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name)
		mustRun(t, 0, []string{"SOURCE_DATE_EPOCH=" + epoch}, "--quiet", "pack", "--unsigned", "--out", out, "oci:"+l.Dir+":app:v1")
		return out, l.Refs["app:v1"]
	}
	older, olderDigest = pack("older", 1, "1700000000")
	newer, newerDigest = pack("newer", 2, "1710000000")
	if olderDigest == newerDigest {
		t.Fatal("the two layouts have the same app:v1")
	}
	return older, newer, olderDigest, newerDigest
}

func readHistory(t *testing.T, path string) bundle.History {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h bundle.History
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return h
}

// fileTree is every file under dir with its bytes.
func fileTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	for p, x := range a {
		if y, ok := b[p]; !ok || !bytes.Equal(x, y) {
			t.Errorf("%s: %s changed", what, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// TestRollbackLayout: a layout records the bundles applied to it; an older
// bundle that would move a name a newer one set is refused (exit 4, names
// unchanged, nothing written) unless --allow-rollback, which the record
// notes; a replay changes nothing; a lost record accepts the first bundle.
func TestRollbackLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	older, newer, olderDigest, newerDigest := rollbackBundles(t, dir)
	layout := filepath.Join(dir, "layout")
	record := filepath.Join(layout, bundle.HistoryFileName)
	ai := []string{"unpack", "--allow-unsigned", "--to", "oci:" + layout}

	if out := mustRun(t, 2, nil, append(ai, "--history", filepath.Join(dir, "h.json"), newer)...); !strings.Contains(out, "--history applies to docker:// destinations only") {
		t.Errorf("--history with a layout:\n%s", out)
	}
	mustRun(t, 0, nil, append(ai, newer)...)
	h := readHistory(t, record)
	if len(h.Applied) != 1 || h.Applied[0].Created != "2024-03-09T16:00:00Z" || h.Applied[0].Names["app:v1"] != newerDigest ||
		h.Applied[0].AllowedRollback || h.Applied[0].Applied == "" || h.Applied[0].BundleID == "" {
		t.Fatalf("record after the newer bundle: %+v", h)
	}
	newerID := h.Applied[0].BundleID

	before := fileTree(t, layout)
	out := mustRun(t, 4, nil, append(ai, older)...)
	for _, want := range []string{"refusing to roll back", "app:v1", newerID, "2024-03-09T16:00:00Z", "2023-11-14T22:13:20Z", "--allow-rollback"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	sameTree(t, "refused rollback", before, fileTree(t, layout))

	out = mustRun(t, 0, nil, append(ai, "--json", newer)...)
	if !strings.Contains(out, "applied to "+layout+" already") || !strings.Contains(out, `"alreadyApplied": true`) {
		t.Errorf("replay:\n%s", out)
	}
	sameTree(t, "replay", before, fileTree(t, layout))

	mustRun(t, 0, nil, append(append(ai, "--allow-rollback"), older)...)
	h = readHistory(t, record)
	if len(h.Applied) != 2 || !h.Applied[1].AllowedRollback || h.Applied[1].Names["app:v1"] != olderDigest || h.Applied[1].Created != "2023-11-14T22:13:20Z" {
		t.Fatalf("record after an allowed rollback: %+v", h)
	}
	// The newer bundle moves the name forward again: not a replay.
	mustRun(t, 0, nil, append(ai, newer)...)
	if h = readHistory(t, record); len(h.Applied) != 3 || h.Applied[2].Names["app:v1"] != newerDigest {
		t.Fatalf("record after the newer bundle again: %+v", h)
	}

	// OCI layout readers ignore the record.
	raw, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+layout+":app:v1").Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	if digest.FromBytes(raw) != newerDigest {
		t.Errorf("skopeo inspect --raw app:v1: digest %s, want %s", digest.FromBytes(raw), newerDigest)
	}
	if ls, err := exec.Command("umoci", "ls", "--layout", layout).CombinedOutput(); err != nil || strings.TrimSpace(string(ls)) != "app:v1" {
		t.Errorf("umoci ls: %v\n%s", err, ls)
	}

	// A lost record is rebuilt from nothing: the first bundle applied is
	// accepted, whatever its age.
	if err := os.Remove(record); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, nil, append(ai, older)...)
	if h = readHistory(t, record); len(h.Applied) != 1 || h.Applied[0].Names["app:v1"] != olderDigest {
		t.Fatalf("rebuilt record: %+v", h)
	}
	mustRun(t, 0, nil, append(ai, newer)...)
}

// TestRollbackRegistry: the same into a mirror registry, whose record is a
// state file on the pushing host (--history, or under XDG_STATE_HOME).
func TestRollbackRegistry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	older, newer, olderDigest, newerDigest := rollbackBundles(t, dir)
	r := testregistry.Start(t, testregistry.Options{})
	record := filepath.Join(dir, "state", "mirror.json")
	push := func(want int, prefix string, extra ...string) string {
		args := []string{"unpack", "--allow-unsigned", "--insecure-registry", r.Host, "--to", "docker://" + r.Host + "/" + prefix}
		return mustRun(t, want, nil, append(args, extra...)...)
	}
	tag := func(prefix string) digest.Digest { return rawDigest(t, r.Host+"/"+prefix+"/app:v1") }

	push(0, "m", "--history", record, newer)
	h := readHistory(t, record)
	name := r.Host + "/m/app:v1"
	if len(h.Applied) != 1 || h.Applied[0].Names[name] != newerDigest {
		t.Fatalf("record after the newer bundle: %+v", h)
	}
	newerID := h.Applied[0].BundleID
	recordBytes, _ := os.ReadFile(record)

	out := push(4, "m", "--history", record, older)
	for _, want := range []string{"refusing to roll back", name, newerID, "2024-03-09T16:00:00Z", "--allow-rollback"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal does not say %q:\n%s", want, out)
		}
	}
	if got := tag("m"); got != newerDigest {
		t.Errorf("after a refused rollback app:v1 is %s, want %s", got, newerDigest)
	}

	out = push(0, "m", "--history", record, newer)
	if !strings.Contains(out, "already") {
		t.Errorf("replay:\n%s", out)
	}
	if b, _ := os.ReadFile(record); !bytes.Equal(b, recordBytes) {
		t.Errorf("a replay changed the record:\n%s", b)
	}

	push(0, "m", "--history", record, "--allow-rollback", older)
	if got := tag("m"); got != olderDigest {
		t.Errorf("after an allowed rollback app:v1 is %s, want %s", got, olderDigest)
	}
	if h = readHistory(t, record); len(h.Applied) != 2 || !h.Applied[1].AllowedRollback {
		t.Errorf("record after an allowed rollback: %+v", h)
	}

	// The default record: under XDG_STATE_HOME, named after host and
	// prefix; another prefix has its own.
	push(0, "d", newer)
	def, err := bundle.DefaultRegistryHistory(r.Host, "d")
	if err != nil {
		t.Fatal(err)
	}
	if h = readHistory(t, def); len(h.Applied) != 1 || h.Applied[0].Names[r.Host+"/d/app:v1"] != newerDigest {
		t.Errorf("default record %s: %+v", def, h)
	}
	push(4, "d", older)

	// A lost record: the first bundle applied after is accepted.
	if err := os.Remove(def); err != nil {
		t.Fatal(err)
	}
	push(0, "d", older)
	if got := tag("d"); got != olderDigest {
		t.Errorf("after a lost record app:v1 is %s, want %s", got, olderDigest)
	}
}
