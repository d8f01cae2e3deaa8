//go:build pkcs11

package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testkeys"
)

// A countersignature made in a SoftHSM token through bundle sign --key
// pkcs11:…, counted by verify as any other.
func TestSignWithPKCS11Token(t *testing.T) {
	t.Parallel()
	const module = "/usr/lib/softhsm/libsofthsm2.so"
	if _, err := os.Stat(module); err != nil {
		t.Skipf("SoftHSM is not installed (%v)", err)
	}
	dir := t.TempDir()
	k := func(n string) string { return filepath.Join(dir, n) }
	tagged := k("bundle-pkcs11")
	if out, err := exec.Command("go", "build", "-tags", "pkcs11", "-o", tagged, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	os.Mkdir(k("tokens"), 0o700)
	os.WriteFile(k("softhsm2.conf"), []byte("directories.tokendir = "+k("tokens")+"\nobjectstore.backend = file\n"), 0o600)
	env := []string{"SOFTHSM2_CONF=" + k("softhsm2.conf"), "BUNDLE_PKCS11_PIN=1234", "BUNDLE_PASSWORD="}
	run := func(want int, name string, args ...string) string {
		t.Helper()
		return mustRunProgram(t, name, want, env, args...)
	}
	testkeys.WriteUnencrypted(t, k("a"), false)
	id := testkeys.WriteUnencrypted(t, k("hsm"), false)
	run(0, "softhsm2-util", "--init-token", "--free", "--label", "release", "--pin", "1234", "--so-pin", "5678")
	run(0, "softhsm2-util", "--import", k("hsm.key"), "--token", "release", "--label", "officer", "--id", "01", "--pin", "1234")
	os.Remove(k("hsm.key")) // from now on the private key is only in the token

	run(0, tagged, "pack", "--key", k("a.key"), "--out", k("vols"), "oci:"+example+":app:v1")
	uri := "pkcs11:token=release;object=officer?module-path=" + module
	out := run(0, tagged, "sign", "--key", uri, k("vols"))
	if !strings.Contains(out, id) {
		t.Errorf("sign does not name the token key %s:\n%s", id, out)
	}
	run(0, tagged, "verify", "--key", k("a.pub"), "--key", k("hsm.pub"), "--threshold", "2", k("vols"))
	run(2, tagged, "sign", "--key", "pkcs11:token=release;object=officer?pin-value=1234&module-path="+module, k("vols"))
	// pack signs in the token too.
	run(0, tagged, "pack", "--key", uri, "--out", k("vols-hsm"), "oci:"+example+":app:v1")
	run(0, tagged, "verify", "--key", k("hsm.pub"), k("vols-hsm"))
	run(4, tagged, "verify", "--key", k("a.pub"), k("vols-hsm"))
	// The default build says what it lacks. Built here: the tests' own
	// bundle (TestMain) is this test binary, built with the tag.
	untagged := k("bundle-default")
	if out, err := exec.Command("go", "build", "-o", untagged, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out = run(2, untagged, "sign", "--key", uri, k("vols"))
	if !strings.Contains(out, "-tags pkcs11") {
		t.Errorf("sign with a pkcs11: URI in a build without it:\n%s", out)
	}
}
