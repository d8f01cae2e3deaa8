// Package testkeys writes signing keys for tests.
package testkeys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/airgap-bundle/bundle/sign"
)

// WriteUnencrypted writes PREFIX.key, an unencrypted PKCS#8 key (ECDSA
// P-256, or Ed25519 when ed), and PREFIX.pub, and returns the key id. A
// command given it loads it without the scrypt run an encrypted key costs
// each time: for tests that sign and verify, not that test key derivation.
func WriteUnencrypted(t testing.TB, prefix string, ed bool) string {
	t.Helper()
	var priv, pub any
	if ed {
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, p
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pder, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := sign.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
