package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExpiry: pack --expires records creation time plus the duration in
// the signed index; verify and unpack refuse the bundle after it (exit 4,
// unless --allow-expired) and warn as it nears; inspect shows it.
func TestExpiry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"} // 2023-11-14T22:13:20Z
	now := []string{"BUNDLE_PASSWORD=secret"}
	k := filepath.Join(dir, "k")
	keygen(t, old, k)

	expired := filepath.Join(dir, "expired")
	mustRun(t, 0, old, "pack", "--key", k+".key", "--expires", "30d", "--out", expired, "oci:"+example+":app:v1")
	if out := mustRun(t, 0, nil, "inspect", expired); !strings.Contains(out, "expires:      2023-12-14T22:13:20Z") {
		t.Errorf("inspect does not show the expiry:\n%s", out)
	}
	out := mustRun(t, 4, nil, "verify", "--key", k+".pub", expired)
	// How long ago, in days; the signatures good, the expiry what failed.
	if !strings.Contains(out, "expired on 2023-12-14T22:13:20Z (") || !strings.Contains(out, " days ago)") || !strings.Contains(out, "--allow-expired") ||
		!strings.Contains(out, "signatures good, but the bundle has EXPIRED") || strings.Contains(out, "NOT good enough") {
		t.Errorf("verify of an expired bundle:\n%s", out)
	}
	mustRun(t, 4, nil, "unpack", "--key", k+".pub", "--to", "oci:"+filepath.Join(dir, "l1"), expired)
	if out := mustRun(t, 0, nil, "verify", "--allow-expired", "--key", k+".pub", expired); !strings.Contains(out, "applied anyway") {
		t.Errorf("verify --allow-expired:\n%s", out)
	}

	soon := filepath.Join(dir, "soon")
	mustRun(t, 0, now, "pack", "--key", k+".key", "--expires", "10d", "--out", soon, "oci:"+example+":app:v1")
	if out := mustRun(t, 0, nil, "unpack", "--key", k+".pub", "--to", "oci:"+filepath.Join(dir, "l2"), soon); !strings.Contains(out, "expires on") || !strings.Contains(out, "in 10 days") {
		t.Errorf("unpack of a bundle that expires in 10 days:\n%s", out)
	}
	later := filepath.Join(dir, "later")
	mustRun(t, 0, now, "pack", "--key", k+".key", "--expires", "1y", "--out", later, "oci:"+example+":app:v1")
	if out := mustRun(t, 0, nil, "verify", "--key", k+".pub", later); strings.Contains(out, "expire") {
		t.Errorf("verify of a bundle that expires in a year warns:\n%s", out)
	}
	for _, bad := range []string{"0d", "-5h", "soon", "d", "1.5y"} {
		mustRun(t, 2, now, "pack", "--key", k+".key", "--expires", bad, "--out", filepath.Join(dir, "x"), "oci:"+example)
	}
}
