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
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
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
	writePair(t, prefix, priv, pub, func(der []byte) (string, []byte) { return "PRIVATE KEY", der })
	id, err := sign.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// WriteEncrypted writes PREFIX.key, an ECDSA P-256 key encrypted with
// password as cosign writes it (ENCRYPTED SIGSTORE PRIVATE KEY: scrypt and
// secretbox), but with scrypt's Legacy strength (N = 2^15, 32 MiB), half
// what GenerateKey's Standard costs and one of the three every reader
// accepts; and PREFIX.pub. For tests of what opens an encrypted key (a
// password's sources, decryption while packing), not of key generation.
func WriteEncrypted(t testing.TB, prefix, password string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, prefix, k, &k.PublicKey, func(der []byte) (string, []byte) {
		enc, err := encrypted.EncryptWithCustomKDFParameters(der, []byte(password), encrypted.Legacy)
		if err != nil {
			t.Fatal(err)
		}
		return "ENCRYPTED SIGSTORE PRIVATE KEY", enc
	})
}

// writePair writes PREFIX.key, the PEM block seal makes of priv's PKCS#8
// DER, and PREFIX.pub.
func writePair(t testing.TB, prefix string, priv, pub any, seal func(der []byte) (pemType string, b []byte)) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pder, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	typ, b := seal(der)
	if err := os.WriteFile(prefix+".key", pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644); err != nil {
		t.Fatal(err)
	}
}
