package testregistry

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// RunSkopeo runs skopeo with exactly args (nothing implicit is added) and
// returns its stdout, its combined stdout and stderr, and its error, for
// tests that expect a failure. It fails the test only if skopeo is not
// installed. The process is killed if the test's context is cancelled.
func RunSkopeo(t testing.TB, args ...string) (stdout, output string, err error) {
	t.Helper()
	bin, lerr := exec.LookPath("skopeo")
	if lerr != nil {
		t.Fatalf("skopeo is required for this test but not installed (apt-get install skopeo)")
	}
	var out, combined bytes.Buffer
	var mu sync.Mutex
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdout = &lockedWriter{mu: &mu, w: &out, also: &combined}
	cmd.Stderr = &lockedWriter{mu: &mu, w: &combined}
	err = cmd.Run()
	return out.String(), combined.String(), err
}

// Skopeo runs skopeo with exactly args (nothing implicit is added), failing
// the test with the command line and its combined output on error, and
// returns its stdout.
func Skopeo(t testing.TB, args ...string) string {
	t.Helper()
	stdout, output, err := RunSkopeo(t, args...)
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, output)
	}
	return stdout
}

// CopyToRegistry copies the entry refName (its org.opencontainers.image.ref.name,
// e.g. "app:v1") of the OCI layout in layoutDir to dest ("HOST/REPO:TAG")
// over plain HTTP, keeping digests:
//
//	skopeo copy --all --preserve-digests --dest-tls-verify=false [--dest-creds CREDS] oci:LAYOUT:REF docker://DEST
//
// creds is "user:password", or "" for anonymous access.
// --preserve-digests makes skopeo fail rather than convert a manifest or
// recompress a layer (which would change digests).
func CopyToRegistry(t testing.TB, layoutDir, refName, dest, creds string) {
	t.Helper()
	if strings.Contains(layoutDir, ":") {
		t.Fatalf("testregistry: CopyToRegistry: layout path %q contains ':', which skopeo's oci: transport cannot express", layoutDir)
	}
	args := []string{"copy", "--all", "--preserve-digests", "--dest-tls-verify=false"}
	if creds != "" {
		args = append(args, "--dest-creds", creds)
	}
	args = append(args, "oci:"+layoutDir+":"+refName, "docker://"+dest)
	Skopeo(t, args...)
}

// lockedWriter writes to w (and also, if set) under a shared mutex, so that
// stdout and stderr interleave into one combined buffer.
type lockedWriter struct {
	mu   *sync.Mutex
	w    *bytes.Buffer
	also *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.also != nil {
		l.also.Write(p)
	}
	return l.w.Write(p)
}
