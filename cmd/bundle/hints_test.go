package main_test

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestHints checks that errors the library reports in its own terms come
// out with the flags that help, on lines of their own, and with the exit
// codes they always had.
func TestHints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := []string{"BUNDLE_PASSWORD=secret", "SOURCE_DATE_EPOCH=1700000000"}
	k := filepath.Join(dir, "k")
	keygen(t, pw, k)
	unsigned := filepath.Join(dir, "unsigned")
	mustRun(t, 0, pw, "-q", "pack", "--unsigned", "--max-size", "40K", "--out", unsigned, "oci:"+example)
	signed := filepath.Join(dir, "signed")
	mustRun(t, 0, pw, "-q", "pack", "--key", k+".key", "--max-size", "40K", "--out", signed, "oci:"+example)
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	// A registry whose certificate no CA here signed.
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	private := tlsSrv.Listener.Addr().String()
	// A registry that speaks plain HTTP.
	plainSrv := httptest.NewServer(http.NotFoundHandler())
	defer plainSrv.Close()
	plain := plainSrv.Listener.Addr().String()

	for _, c := range []struct {
		name     string
		args     []string
		code     int
		err      string // in the error line
		hint     string // "": no hint line at all
		notInErr string // must not be in the error line
	}{
		{name: "unsigned", args: []string{"verify", "--key", k + ".pub", unsigned}, code: 4,
			err: "the bundle is not signed", hint: "pass --allow-unsigned to accept it anyway", notInErr: "--allow-unsigned"},
		{name: "volumes missing", args: []string{"verify", "--key", k + ".pub", filepath.Join(signed, "vol-0001-of-0004.tar")}, code: 5,
			err: "volumes not found", hint: "or pass --partial to check only these", notInErr: "--partial"},
		{name: "volumes missing on unpack, which has no --partial", args: []string{"unpack", "--key", k + ".pub", "--to", "oci:" + filepath.Join(dir, "d"), filepath.Join(signed, "vol-0001-of-0004.tar")}, code: 5,
			err: "volumes not found"},
		{name: "volume size too small", args: []string{"pack", "--unsigned", "--max-size", "2K", "--out", filepath.Join(dir, "small"), "oci:" + example}, code: 1,
			err: "volume size too small", hint: "give a larger --max-size", notInErr: "--max-size"},
		// Nothing listens there: no TLS setting would help.
		{name: "registry unreachable", args: []string{"pack", "--unsigned", "--out", filepath.Join(dir, "r"), "docker://" + down + "/ns/app:v1"}, code: 1,
			err: "registry unreachable"},
		// It answers, in plain HTTP: reachable, and TLS is what failed.
		{name: "plain HTTP registry", args: []string{"pack", "--unsigned", "--out", filepath.Join(dir, "p"), "docker://" + plain + "/ns/app:v1"}, code: 1,
			err: "TLS with " + plain + " failed (does it speak plain HTTP?)", hint: "if it serves plain HTTP, pass --insecure-registry " + plain, notInErr: "--insecure-registry"},
		// The CA first; turning checks off only as a last resort.
		{name: "private CA", args: []string{"pack", "--unsigned", "--out", filepath.Join(dir, "t"), "docker://" + private + "/ns/app:v1"}, code: 1,
			err: "TLS with " + private + " failed", notInErr: "--",
			hint: "place the CA certificate of " + private + " in /etc/containers/certs.d/" + private + "/ca.crt (or in DIR/ca.crt with --cert-dir DIR); only as a last resort, pass --insecure-registry " + private},
		{name: "registry unreachable though named insecure", args: []string{"pack", "--unsigned", "--insecure-registry", down, "--out", filepath.Join(dir, "r"), "docker://" + down + "/ns/app:v1"}, code: 1,
			err: "registry unreachable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := mustRun(t, c.code, pw, c.args...)
			var errLine string
			var hints []string
			for _, line := range strings.Split(out, "\n") {
				if h, ok := strings.CutPrefix(line, "bundle: hint: "); ok {
					hints = append(hints, h)
				} else if strings.Contains(line, c.err) && strings.HasPrefix(line, "bundle: ") {
					errLine = line
				}
			}
			if errLine == "" {
				t.Fatalf("no error line saying %q:\n%s", c.err, out)
			}
			if c.notInErr != "" && strings.Contains(errLine, c.notInErr) {
				t.Errorf("the error line names %s; that is the hint's job:\n%s", c.notInErr, errLine)
			}
			switch {
			case c.hint == "" && len(hints) > 0:
				t.Errorf("hints %q, want none:\n%s", hints, out)
			case c.hint != "" && (len(hints) != 1 || !strings.Contains(hints[0], c.hint)):
				t.Errorf("hints %q, want one saying %q:\n%s", hints, c.hint, out)
			}
			if len(hints) > 0 && !strings.HasSuffix(strings.TrimRight(out, "\n"), hints[len(hints)-1]) {
				t.Errorf("the hint is not the last line:\n%s", out)
			}
		})
	}
}
