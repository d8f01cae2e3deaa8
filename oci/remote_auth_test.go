package oci

// Credentials per repository and private CAs, against real docker-registry
// servers on 127.0.0.1 (internal/testregistry).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeAuths writes an auth.json with the given key → "user:password"
// entries and returns its path.
func writeAuths(t testing.TB, entries map[string]string) string {
	t.Helper()
	auths := map[string]any{}
	for k, up := range entries {
		auths[k] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(up))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pushPull pushes a small image (blob, config, manifest tagged tag) to
// host/path and reads it back.
func pushPull(ctx context.Context, regs *Registries, host, path, tag string, seed int) error {
	repo, err := regs.Repository(ctx, host, path)
	if err != nil {
		return err
	}
	layer := []byte(fmt.Sprintf("layer %s %d", path, seed))
	ld := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(layer), Size: int64(len(layer))}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	for _, b := range []struct {
		d ocispec.Descriptor
		c []byte
	}{{ld, layer}, {cd, cfg}} {
		if err := repo.Push(ctx, b.d, bytes.NewReader(b.c)); err != nil {
			return err
		}
	}
	m, err := json.Marshal(ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	if err != nil {
		return err
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	if err := repo.PushTag(ctx, md, bytes.NewReader(m), tag); err != nil {
		return err
	}
	d, err := repo.Resolve(ctx, tag)
	if err != nil {
		return err
	}
	if d.Digest != md.Digest {
		return fmt.Errorf("resolved %s, want %s", d.Digest, md.Digest)
	}
	rc, err := repo.Fetch(ctx, ld)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, layer) {
		return errors.New("fetched layer differs from the one pushed")
	}
	return nil
}

// TestRemoteRepositoryScopedCredentials: an auth.json entry for host/ns
// beats the one for host, for every repository under ns and every time
// (a random pick among matching entries would fail some of 20 tries),
// while another namespace gets the host entry.
func TestRemoteRepositoryScopedCredentials(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry with htpasswd (bcrypt per request); TestRemoteRegistryCredentials keeps credentials in -short, skipped by -short")
	}
	reg := testregistry.Start(t, testregistry.Options{Users: map[string]string{"alice": "Right-Pa55"}})
	host := reg.Host
	authFile := writeAuths(t, map[string]string{
		host:         "alice:Wrong-Pa55",
		host + "/ns": "alice:Right-Pa55",
		// A longer key for another repository must not match ns/app.
		host + "/ns/app-other": "alice:Wrong-Pa55",
	})
	ctx := context.Background()
	for i := range 20 {
		// Fresh registries each time: nothing cached from a previous try.
		regs, err := NewRegistries(RegistryOptions{AuthFile: authFile, Insecure: []string{host}, Retries: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := pushPull(ctx, regs, host, "ns/app", fmt.Sprintf("v%d", i), i); err != nil {
			t.Fatalf("try %d of 20: push and pull %s/ns/app with the %s/ns entry: %v", i+1, host, host, err)
		}
		// The same Registries then opens another namespace: the host entry
		// (a wrong password) applies there, not ns's cached credentials.
		err = pushPull(ctx, regs, host, "other/app", "v1", i)
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Status != 401 {
			t.Fatalf("try %d: %s/other/app with the host entry's wrong password: %v, want an *AuthError (HTTP 401)", i+1, host, err)
		}
		if !strings.Contains(err.Error(), authFile) {
			t.Errorf("error %q does not name the credentials file %s", err, authFile)
		}
	}
	// With a right host entry, other namespaces work too.
	authFile = writeAuths(t, map[string]string{host: "alice:Right-Pa55", host + "/ns": "alice:Wrong-Pa55"})
	regs, err := NewRegistries(RegistryOptions{AuthFile: authFile, Insecure: []string{host}, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := pushPull(ctx, regs, host, "other/app", "v1", 0); err != nil {
		t.Errorf("%s/other/app with the right host entry: %v", host, err)
	}
	if err := pushPull(ctx, regs, host, "ns/app", "v1", 0); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("%s/ns/app with a wrong ns entry beside a right host entry: %v, want ErrUnauthorized", host, err)
	}
}

func TestAuthFileLookup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	p := write("auth.json", `{"auths": {
		"reg.example:5000": {"auth": "`+b64("host:pw")+`"},
		"reg.example:5000/ns": {"auth": "`+b64("ns:pw")+`"},
		"reg.example:5000/ns/app": {"username": "app", "password": "pw"},
		"reg.example:5000/ns/ap": {"auth": "`+b64("prefix-not-a-path:pw")+`"},
		"https://index.docker.io/v1/": {"auth": "`+b64("hub:pw")+`"},
		"empty.example": {}
	}}`)
	f, err := readAuthFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ host, path, user string }{
		{"reg.example:5000", "ns/app", "app"},
		{"reg.example:5000", "ns/app/sub", "app"},
		{"reg.example:5000", "ns/apple", "ns"},
		{"reg.example:5000", "ns", "ns"},
		{"reg.example:5000", "other/app", "host"},
		{"reg.example:5000", "", "host"},
		{"reg.example", "ns/app", ""}, // another port is another registry
		{"docker.io", "library/nginx", "hub"},
		{"empty.example", "x", ""},
	} {
		for range 10 {
			cred, found, err := f.lookup(context.Background(), c.host, c.path)
			if err != nil || found != (c.user != "") || cred.Username != c.user {
				t.Fatalf("lookup(%s, %s) = %q, %v, %v; want user %q", c.host, c.path, cred.Username, found, err, c.user)
			}
		}
	}
	if _, err := readAuthFile(write("bad.json", `{"auths": `)); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("malformed file: error %v, want one naming it", err)
	}
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it,
// and returns the PEM files' paths.
func testCA(t testing.TB) (caCert, serverCert, serverKey string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bundle test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return writePEM("ca.pem", "CERTIFICATE", caDER), writePEM("server.pem", "CERTIFICATE", der), writePEM("server.key", "EC PRIVATE KEY", keyDER)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRemotePrivateCA: a registry whose certificate a private CA signed is
// reached with verified TLS when the CA is in its certs.d directory
// (HOST:PORT or HOST) or in CertDir, and not without: then the error is a
// *TLSError naming the host and where the CA belongs.
func TestRemotePrivateCA(t *testing.T) {
	ca, cert, key := testCA(t)
	reg := testregistry.Start(t, testregistry.Options{TLSCert: cert, TLSKey: key})
	host := reg.Host
	ctx := context.Background()

	hostPortRoot := t.TempDir()
	copyFile(t, ca, filepath.Join(hostPortRoot, host, "ca.crt"))
	hostRoot := t.TempDir()
	copyFile(t, ca, filepath.Join(hostRoot, "127.0.0.1", "my-ca.crt"))
	certDir := t.TempDir()
	copyFile(t, ca, filepath.Join(certDir, "ca.crt"))
	for _, c := range []struct {
		name string
		o    RegistryOptions
	}{
		{"certs.d/HOST:PORT", RegistryOptions{CertsDirs: []string{t.TempDir(), hostPortRoot}}},
		{"certs.d/HOST", RegistryOptions{CertsDirs: []string{hostRoot}}},
		{"CertDir", RegistryOptions{CertDir: certDir, CertsDirs: []string{t.TempDir()}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Credential = noCredentials
			c.o.Retries = 1
			regs, err := NewRegistries(c.o)
			if err != nil {
				t.Fatal(err)
			}
			if err := pushPull(ctx, regs, host, "ns/app", "v1", 1); err != nil {
				t.Fatalf("push and pull over TLS with the CA: %v", err)
			}
		})
	}

	t.Run("without the CA", func(t *testing.T) {
		root := t.TempDir()
		regs, err := NewRegistries(RegistryOptions{Credential: noCredentials, Retries: 1, CertsDirs: []string{root}})
		if err != nil {
			t.Fatal(err)
		}
		err = pushPull(ctx, regs, host, "ns/app", "v1", 1)
		var te *TLSError
		if !errors.As(err, &te) || !te.Verify || te.Registry != host {
			t.Fatalf("error %v: want a *TLSError for %s, certificate not verified", err, host)
		}
		want := filepath.Join(root, host, "ca.crt")
		if te.CADir != filepath.Join(root, host) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), host) {
			t.Errorf("error %q (CADir %q): want it to name %s and suggest %s", err, te.CADir, host, want)
		}
	})

	t.Run("another CA", func(t *testing.T) {
		other, _, _ := testCA(t)
		root := t.TempDir()
		copyFile(t, other, filepath.Join(root, host, "ca.crt"))
		regs, err := NewRegistries(RegistryOptions{Credential: noCredentials, Retries: 1, CertsDirs: []string{root}})
		if err != nil {
			t.Fatal(err)
		}
		err = pushPull(ctx, regs, host, "ns/app", "v1", 1)
		var te *TLSError
		if !errors.As(err, &te) || te.CertsDir != filepath.Join(root, host) || !strings.Contains(err.Error(), te.CertsDir) {
			t.Fatalf("error %v: want a *TLSError naming the directory whose CAs were used, %s", err, filepath.Join(root, host))
		}
	})

	t.Run("key without certificate", func(t *testing.T) {
		root := t.TempDir()
		copyFile(t, ca, filepath.Join(root, host, "ca.crt"))
		copyFile(t, key, filepath.Join(root, host, "client.key"))
		regs, err := NewRegistries(RegistryOptions{Credential: noCredentials, Retries: 1, CertsDirs: []string{root}})
		if err != nil {
			t.Fatal(err)
		}
		err = pushPull(ctx, regs, host, "ns/app", "v1", 1)
		if err == nil || !strings.Contains(err.Error(), "client.key") || !strings.Contains(err.Error(), host) {
			t.Fatalf("error %v: want one naming client.key and %s", err, host)
		}
	})
}

// TestAuthFileCredentialHelpers: credHelpers for the host come before the
// auths entries, credsStore after them, as with Docker and podman.
func TestAuthFileCredentialHelpers(t *testing.T) {
	bin := t.TempDir()
	// docker-credential-NAME get: the server address on stdin, the
	// credentials as JSON on stdout; "credentials not found" when none.
	for _, name := range []string{"helper", "store"} {
		script := `#!/bin/sh
read addr
case "$addr" in
reg.example|https://index.docker.io/v1/) echo '{"ServerURL":"'"$addr"'","Username":"` + name + `","Secret":"pw"}' ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
		if err := os.WriteFile(filepath.Join(bin, "docker-credential-"+name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	p := filepath.Join(t.TempDir(), "config.json")
	b64 := base64.StdEncoding.EncodeToString([]byte("file:pw"))
	if err := os.WriteFile(p, []byte(`{
		"auths": {"reg.example": {"auth": "`+b64+`"}, "other.example": {"auth": "`+b64+`"}, "docker.io": {}},
		"credHelpers": {"reg.example": "helper"},
		"credsStore": "store"
	}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := readAuthFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ host, user string }{
		{"reg.example", "helper"}, // credHelpers first
		{"other.example", "file"}, // the auths entry before credsStore
		{"docker.io", "store"},    // an empty placeholder: credsStore holds it
		{"unknown.example", ""},   // nobody has it
	} {
		cred, found, err := f.lookup(context.Background(), c.host, "ns/app")
		if err != nil || found != (c.user != "") || cred.Username != c.user {
			t.Errorf("lookup(%s) = %q, %v, %v; want user %q", c.host, cred.Username, found, err, c.user)
		}
	}
}
