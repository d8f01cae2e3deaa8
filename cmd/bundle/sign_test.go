package main_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testkeys"
)

// keygen makes PREFIX.key and PREFIX.pub for a test that signs and
// verifies through the CLI: `bundle keygen`, or under -short testkeys.WriteUnencrypted,
// since every command given an encrypted key decrypts it with scrypt.
// TestExitCodes and TestPasswordSources keep keygen and encrypted keys in
// -short.
func keygen(t *testing.T, env []string, prefix string) {
	t.Helper()
	if testing.Short() {
		testkeys.WriteUnencrypted(t, prefix, false)
		return
	}
	mustRun(t, 0, env, "keygen", "--out", prefix)
}

// snapshot is every file under dir with its mode, mtime and content hash.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		h := ""
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			h = hex.EncodeToString(s[:])
		}
		out[p] = fmt.Sprintf("%v %d %s", st.Mode(), st.ModTime().UnixNano(), h)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readOnlyCopy makes dir read-only: a read-only bind mount when running as
// root allows it (root writes through permissions), else chmod a-w. It
// reports whether writes there are refused.
func readOnlyCopy(t *testing.T, src string) (string, bool) {
	t.Helper()
	ro := filepath.Join(t.TempDir(), "media")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if exec.Command("mount", "--bind", src, ro).Run() == nil {
			t.Cleanup(func() { exec.Command("umount", ro).Run() })
			if exec.Command("mount", "-o", "remount,bind,ro", ro).Run() == nil {
				return ro, true
			}
		}
		t.Log("no read-only bind mount here: the media are only chmod a-w, which root writes through")
	}
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ro, e.Name()), b, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	return ro, os.Getuid() != 0
}

func TestSignCountersign(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"BUNDLE_PASSWORD=", "SOURCE_DATE_EPOCH=1700000000"} // 2023-11-14T22:13:20Z
	must := func(want int, args ...string) string { t.Helper(); return mustRun(t, want, env, args...) }
	k := func(n string) string { return filepath.Join(dir, n) }
	ida := testkeys.WriteUnencrypted(t, k("a"), false)
	idb := testkeys.WriteUnencrypted(t, k("b"), true)
	idc := testkeys.WriteUnencrypted(t, k("c"), false)
	idd := testkeys.WriteUnencrypted(t, k("d"), false) // trusted by nobody
	vols := k("vols")
	must(0, "pack", "--key", k("a.key"), "--max-size", "40K", "--out", vols, "oci:"+example+":app:v1", "oci:"+example+":multi:latest")

	// Countersigning the media: nothing written there.
	ro, refused := readOnlyCopy(t, vols)
	before := snapshot(t, ro)
	if refused {
		out := must(1, "sign", "--key", k("b.key"), ro)
		if !strings.Contains(out, "--out DIR") {
			t.Errorf("sign onto read-only media gives no hint of --out:\n%s", out)
		}
	}
	sigs := k("sigs")
	if err := os.Mkdir(sigs, 0o755); err != nil {
		t.Fatal(err)
	}
	must(0, "sign", "--key", k("b.key"), "--out", sigs, ro)
	if after := snapshot(t, ro); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("sign changed the media:\nbefore %v\nafter  %v", before, after)
	}
	files, _ := filepath.Glob(filepath.Join(sigs, "*.sig.json"))
	if len(files) != 1 || !strings.Contains(files[0], idb[7:23]) {
		t.Fatalf("sign wrote %v, want one file named for key %s", files, idb)
	}
	sigB := files[0]
	out := must(1, "sign", "--key", k("b.key"), "--out", sigs, ro)
	if !strings.Contains(out, "already") {
		t.Errorf("signing twice into one place: %s", out)
	}

	trust3 := []string{"--key", k("a.pub"), "--key", k("b.pub"), "--key", k("c.pub"), "--threshold", "2"}
	verify := func(want int, args ...string) string {
		t.Helper()
		return must(want, append(append([]string{"verify"}, trust3...), args...)...)
	}
	// 2 of 3: one signer is not enough, two are.
	out = verify(4, ro)
	if !strings.Contains(out, "have 1 of 2") || !strings.Contains(out, ida) || !strings.Contains(out, "bundle sign") {
		t.Errorf("verify with one signature of two:\n%s", out)
	}
	verify(0, ro, sigB)
	must(0, "verify", "--key", k("a.pub"), "--key", k("a.pub"), ro) // one key given twice, threshold 1
	out = must(1, "verify", "--key", k("a.pub"), "--key", k("a.pub"), "--threshold", "2", ro)
	if !strings.Contains(out, "1 distinct trusted keys") {
		t.Errorf("one key twice, threshold 2:\n%s", out)
	}
	must(2, "verify", "--threshold", "2", "--allow-unsigned", ro)
	must(2, "verify", "--threshold", "0", "--key", k("a.pub"), ro)

	// An untrusted signature beside them is ignored, and listed.
	must(0, "sign", "--key", k("d.key"), "--out", sigs, ro)
	out = verify(0, ro, sigs)
	if !strings.Contains(out, idd) || !strings.Contains(out, "untrusted key") {
		t.Errorf("verify does not list the untrusted signature:\n%s", out)
	}

	// Unpack with the threshold.
	must(0, append(append([]string{"unpack"}, trust3...), "--to", "oci:"+k("dest"), ro, sigB)...)
	must(4, append(append([]string{"unpack"}, trust3...), "--to", "oci:"+k("dest2"), ro)...)

	// Each volume alone, the signature files beside it.
	vfiles, _ := filepath.Glob(filepath.Join(vols, "vol-*.tar"))
	if len(vfiles) < 2 {
		t.Fatalf("want several volumes, got %v", vfiles)
	}
	for i, v := range vfiles {
		medium := k(fmt.Sprintf("medium%d", i))
		os.Mkdir(medium, 0o755)
		for _, f := range []string{v, sigB} {
			b, _ := os.ReadFile(f)
			os.WriteFile(filepath.Join(medium, filepath.Base(f)), b, 0o644)
		}
		verify(0, "--partial", medium)
	}

	// From bundle.json and its signature alone, on another machine.
	jdir := k("json")
	os.Mkdir(jdir, 0o755)
	if b, err := exec.Command("tar", "-xf", vfiles[0], "-C", jdir, "bundle.json", "bundle.json.sig").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	must(0, "sign", "--key", k("c.key"), filepath.Join(jdir, "bundle.json"))
	files, _ = filepath.Glob(filepath.Join(jdir, "*.sig.json"))
	if len(files) != 1 {
		t.Fatalf("sign of bundle.json wrote %v", files)
	}
	sigC := files[0]
	out = must(0, "verify", "--key", k("a.pub"), "--key", k("c.pub"), "--threshold", "2", vols, sigC)
	if !strings.Contains(out, idc) {
		t.Errorf("verify does not list the countersignature by %s:\n%s", idc, out)
	}

	// openssl checks a countersignature as it checks the first (SPEC
	// 10.5): the signature is the base64 of the file's signature member.
	for _, tc := range []struct {
		file, pub string
		args      []string
	}{
		{sigC, k("c.pub"), []string{"dgst", "-sha256", "-verify", k("c.pub"), "-signature"}},
		{sigB, k("b.pub"), []string{"pkeyutl", "-verify", "-pubin", "-inkey", k("b.pub"), "-rawin", "-in", filepath.Join(jdir, "bundle.json"), "-sigfile"}},
	} {
		var cs struct{ Signature string }
		b, _ := os.ReadFile(tc.file)
		if err := json.Unmarshal(b, &cs); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(cs.Signature)
		if err != nil {
			t.Fatal(err)
		}
		rawPath := tc.file + ".raw"
		os.WriteFile(rawPath, raw, 0o644)
		args := append(tc.args, rawPath)
		if tc.args[0] == "dgst" {
			args = append(args, filepath.Join(jdir, "bundle.json"))
		}
		if b, err := exec.Command("openssl", args...).CombinedOutput(); err != nil || !strings.Contains(string(b), "Verified OK") && !strings.Contains(string(b), "Signature Verified Successfully") {
			t.Errorf("openssl %v: %v\n%s", args, err, b)
		}
	}

	// A tampered countersignature of a trusted key is refused, by name.
	var cs map[string]string
	b, _ := os.ReadFile(sigC)
	json.Unmarshal(b, &cs)
	raw, _ := base64.StdEncoding.DecodeString(cs["signature"])
	raw[10] ^= 1
	cs["signature"] = base64.StdEncoding.EncodeToString(raw)
	b, _ = json.Marshal(cs)
	tampered := filepath.Join(k("tampered"), filepath.Base(sigC))
	os.Mkdir(filepath.Dir(tampered), 0o755)
	os.WriteFile(tampered, b, 0o644)
	out = must(4, "verify", "--key", k("a.pub"), "--key", k("c.pub"), vols, tampered)
	if !strings.Contains(out, idc) || !strings.Contains(out, tampered) {
		t.Errorf("verify of a tampered countersignature does not name the key and file:\n%s", out)
	}

	// inspect lists every signature found.
	out = must(0, "inspect", "--key", k("a.pub"), "--key", k("b.pub"), vols, sigs)
	for _, want := range []string{"signatures found: 3", ida, idb, idd, "valid, trusted key, counted", "not checked, untrusted key"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	out = must(0, "inspect", "--json", vols, sigs)
	var sum struct {
		Signatures []struct{ KeyID, State string }
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &sum); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	if len(sum.Signatures) != 3 || sum.Signatures[0].KeyID != ida || sum.Signatures[0].State != "not checked" {
		t.Errorf("inspect --json signatures: %+v", sum.Signatures)
	}
}

func TestKeyringRotationCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k := func(n string) string { return filepath.Join(dir, n) }
	testkeys.WriteUnencrypted(t, k("old"), false)
	testkeys.WriteUnencrypted(t, k("new"), true)
	ring := `{"version":1,"keys":[
  {"name":"release-2023","publicKeyFile":"old.pub","notAfter":"2023-12-31T23:59:59Z"},
  {"name":"release-2024","publicKeyFile":"new.pub","notBefore":"2023-12-01T00:00:00Z"}
]}`
	os.WriteFile(k("trusted.json"), []byte(ring), 0o644)
	pack := func(epoch, key, out string) {
		mustRun(t, 0, []string{"BUNDLE_PASSWORD=", "SOURCE_DATE_EPOCH=" + epoch}, "pack", "--key", k(key), "--out", k(out), "oci:"+example+":app:v1")
	}
	pack("1700000000", "old.key", "before") // 2023-11-14
	pack("1710000000", "old.key", "after")  // 2024-03-09
	pack("1710000000", "new.key", "new")
	mustRun(t, 0, nil, "verify", "--keyring", k("trusted.json"), k("before"))
	out := mustRun(t, 4, nil, "verify", "--keyring", k("trusted.json"), k("after"))
	if !strings.Contains(out, "release-2023") || !strings.Contains(out, "validity period") {
		t.Errorf("verify of a bundle made after the key's retirement:\n%s", out)
	}
	mustRun(t, 0, nil, "verify", "--keyring", k("trusted.json"), k("new"))
	// The retired key's late bundle, countersigned with the new key.
	mustRun(t, 0, nil, "sign", "--key", k("new.key"), k("after"))
	mustRun(t, 0, nil, "verify", "--keyring", k("trusted.json"), k("after"))
	os.WriteFile(k("bad.json"), []byte(`{"version":1,"keys":[{"name":"x","publicKeyFile":"old.pub","notAfter":"2023-12-31"}]}`), 0o644)
	out = mustRun(t, 1, nil, "verify", "--keyring", k("bad.json"), k("before"))
	if !strings.Contains(out, "bad.json") || !strings.Contains(out, "RFC 3339") {
		t.Errorf("a bad keyring:\n%s", out)
	}
}
