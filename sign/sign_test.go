package sign

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Fixtures in testdata:
//
// cosign.key / cosign.pub: an ECDSA P-256 key pair written by
// `cosign generate-key-pair` with an empty password ("ENCRYPTED COSIGN
// PRIVATE KEY", the older label). Taken from edgelesssys/constellation,
// internal/attestation/measurements/measurements_test.go
// (TestMeasurementsFetchAndVerify), whose comment says "Generated with:
// cosign generate-key-pair / Password left empty". cosignBlobSig below is a
// signature made with that key over cosignBlobMsg, from the same test (its
// "json measurements" case).
//
// sigstore-hello.key: an "ENCRYPTED SIGSTORE PRIVATE KEY" with password
// "hello", from sigstore/cosign pkg/cosign/keys_test.go (const
// pemsigstorekey, loaded there with []byte("hello") in
// TestReadingPrivatePemTypes). How it was produced is not stated there.
const (
	cosignKeyFile     = "testdata/cosign.key"
	cosignPubFile     = "testdata/cosign.pub"
	sigstoreHelloFile = "testdata/sigstore-hello.key"

	cosignBlobMsg = `{"csp":"test","image":"test","measurements":{"0":{"expected":"0000000000000000000000000000000000000000000000000000000000000000","warnOnly":false}}}`
	cosignBlobSig = "MEYCIQD1RR91pWPw1BMWXTSmTBHg/JtfKerbZNQ9PJTWDdW0sgIhANQbETJGb67qzQmMVmcq007VUFbHRMtYWKZeeyRf0gVa"
)

var keyIDPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

var keyTypeCases = []struct {
	typ KeyType
	alg string
}{
	{ECDSAP256, "ecdsa-p256-sha256"},
	{Ed25519, "ed25519"},
	{RSA3072, "rsa-pkcs1v15-sha256"},
}

type generated struct {
	priv, pub []byte
}

// genEntry is one cached key: made once, loaded once.
type genEntry struct {
	genOnce  sync.Once
	g        generated
	genErr   error
	loadOnce sync.Once
	signer   *KeySigner
	loadErr  error
}

var (
	genMu    sync.Mutex
	genCache = map[string]*genEntry{}
)

func genLookup(typ KeyType, password string, slot int) *genEntry {
	genMu.Lock()
	defer genMu.Unlock()
	k := fmt.Sprintf("%s/%q/%d", typ, password, slot)
	e := genCache[k]
	if e == nil {
		e = &genEntry{}
		genCache[k] = e
	}
	return e
}

// genKey returns a generated key pair for (t, password, slot), generating it
// once per test binary (RSA generation and scrypt are slow). Parallel tests
// asking for different keys generate them in parallel.
func genKey(t *testing.T, typ KeyType, password string, slot int) generated {
	t.Helper()
	e := genLookup(typ, password, slot)
	e.genOnce.Do(func() {
		priv, pub, err := GenerateKey(typ, []byte(password))
		e.g, e.genErr = generated{priv, pub}, err
	})
	if e.genErr != nil {
		t.Fatalf("GenerateKey(%s): %v", typ, e.genErr)
	}
	return e.g
}

// genSigner is genKey with its private key loaded by LoadSigner with the
// right password, also once per test binary: each load is a scrypt run.
// Tests of loading itself (wrong passwords, loading again) call LoadSigner.
func genSigner(t *testing.T, typ KeyType, password string, slot int) (generated, *KeySigner) {
	t.Helper()
	g := genKey(t, typ, password, slot)
	e := genLookup(typ, password, slot)
	e.loadOnce.Do(func() {
		e.signer, e.loadErr = LoadSigner(g.priv, []byte(password))
	})
	if e.loadErr != nil {
		t.Fatalf("LoadSigner(%s key) with the right password: %v", typ, e.loadErr)
	}
	return g, e.signer
}

func pemType(t *testing.T, data []byte) string {
	t.Helper()
	b, rest := pem.Decode(data)
	if b == nil {
		t.Fatalf("not PEM: %q", data)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("trailing data after PEM block: %q", rest)
	}
	return b.Type
}

func TestParseKeyType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want KeyType
	}{
		{"", ECDSAP256},
		{"ecdsa-p256", ECDSAP256},
		{"ed25519", Ed25519},
		{"rsa-3072", RSA3072},
	} {
		got, err := ParseKeyType(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKeyType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"rsa", "ECDSA-P256", "ecdsa-p384", "rsa-2048", " ed25519"} {
		_, err := ParseKeyType(bad)
		if err == nil {
			t.Errorf("ParseKeyType(%q): no error", bad)
			continue
		}
		for _, name := range []string{"ecdsa-p256", "ed25519", "rsa-3072"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseKeyType(%q) error %q does not list %q", bad, err, name)
			}
		}
	}
}

func TestGenerateKeyUnknownType(t *testing.T) {
	t.Parallel()
	if _, _, err := GenerateKey("dsa", nil); err == nil {
		t.Fatal("GenerateKey(dsa): no error")
	}
}

// keyPairPassword is the password of the keys TestKeyPairs generates; the
// other tests that need a generated key share those (genSigner).
const keyPairPassword = "correct horse battery staple"

func TestKeyPairs(t *testing.T) {
	t.Parallel()
	const password = keyPairPassword
	for _, tc := range keyTypeCases {
		t.Run(string(tc.typ), func(t *testing.T) {
			t.Parallel()
			g, s := genSigner(t, tc.typ, password, 0)

			if got := pemType(t, g.priv); got != "ENCRYPTED SIGSTORE PRIVATE KEY" {
				t.Errorf("private key PEM type %q", got)
			}
			if got := pemType(t, g.pub); got != "PUBLIC KEY" {
				t.Errorf("public key PEM type %q", got)
			}
			if bytes.Contains(g.priv, []byte(password)) {
				t.Error("private key PEM contains the password")
			}

			if s.Algorithm() != tc.alg || s.Verifier().Algorithm() != tc.alg {
				t.Errorf("Algorithm = %q / %q, want %q", s.Algorithm(), s.Verifier().Algorithm(), tc.alg)
			}

			t.Run("wrong password", func(t *testing.T) {
				t.Parallel()
				if testing.Short() && tc.typ != ECDSAP256 {
					t.Skip("scrypt per wrong password; the same code for every key type, so -short tries it on ecdsa-p256 only")
				}
				for i, pw := range [][]byte{[]byte("wrong"), nil, {}, []byte(password + " ")} {
					if testing.Short() && i >= 2 {
						continue // a scrypt run each; -short tries a wrong and a nil password (an empty one is nil's bytes to scrypt)
					}
					_, err := LoadSigner(g.priv, pw)
					if !errors.Is(err, ErrWrongPassword) {
						t.Errorf("LoadSigner(password %q): err = %v, want ErrWrongPassword", pw, err)
					}
				}
			})

			t.Run("key id", func(t *testing.T) {
				t.Parallel()
				v, err := LoadVerifier(g.pub)
				if err != nil {
					t.Fatalf("LoadVerifier: %v", err)
				}
				if !keyIDPattern.MatchString(s.KeyID()) {
					t.Fatalf("KeyID %q has wrong form", s.KeyID())
				}
				if s.KeyID() != v.KeyID() || s.KeyID() != s.Verifier().KeyID() {
					t.Errorf("KeyIDs differ: signer %q, signer.Verifier %q, loaded public key %q", s.KeyID(), s.Verifier().KeyID(), v.KeyID())
				}
				if v.Algorithm() != tc.alg {
					t.Errorf("loaded verifier Algorithm = %q, want %q", v.Algorithm(), tc.alg)
				}
				// Definition: SHA-256 over the PKIX DER inside the PEM.
				b, _ := pem.Decode(g.pub)
				sum := sha256.Sum256(b.Bytes)
				if want := "sha256:" + hex.EncodeToString(sum[:]); v.KeyID() != want {
					t.Errorf("KeyID = %q, want %q", v.KeyID(), want)
				}
				pub, err := x509.ParsePKIXPublicKey(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				if id, err := KeyID(pub); err != nil || id != v.KeyID() {
					t.Errorf("KeyID(pub) = %q, %v; want %q", id, err, v.KeyID())
				}
				if testing.Short() && tc.typ != ECDSAP256 {
					return // loading again and a second key are a scrypt each, the same for every type: -short does them on ecdsa-p256 only
				}
				// Stable across loads.
				s2, err := LoadSigner(g.priv, []byte(password))
				if err != nil {
					t.Fatal(err)
				}
				if s2.KeyID() != s.KeyID() {
					t.Errorf("KeyID changed between loads: %q vs %q", s.KeyID(), s2.KeyID())
				}
				other := genKey(t, tc.typ, password, 1)
				ov, err := LoadVerifier(other.pub)
				if err != nil {
					t.Fatal(err)
				}
				if ov.KeyID() == v.KeyID() {
					t.Error("two different keys have the same KeyID")
				}
			})

			t.Run("sign and verify", func(t *testing.T) {
				v, err := LoadVerifier(g.pub)
				if err != nil {
					t.Fatal(err)
				}
				for _, msg := range [][]byte{[]byte("hello, world\n"), {}, bytes.Repeat([]byte{0, 1, 2, 0xff}, 100000)} {
					sig, err := s.Sign(context.Background(), msg)
					if err != nil {
						t.Fatalf("Sign: %v", err)
					}
					if err := s.Verifier().Verify(msg, sig); err != nil {
						t.Errorf("Signer.Verifier().Verify: %v", err)
					}
					if err := v.Verify(msg, sig); err != nil {
						t.Errorf("loaded Verifier.Verify: %v", err)
					}
				}
			})

			t.Run("tampering", func(t *testing.T) {
				msg := []byte("the bundle manifest")
				sig, err := s.Sign(context.Background(), msg)
				if err != nil {
					t.Fatal(err)
				}
				v := s.Verifier()

				badMsgs := map[string][]byte{
					"flipped bit":  append([]byte{msg[0] ^ 1}, msg[1:]...),
					"appended":     append(bytes.Clone(msg), '\n'),
					"truncated":    msg[:len(msg)-1],
					"empty":        {},
					"nil":          nil,
					"other string": []byte("another manifest"),
				}
				for name, m := range badMsgs {
					if err := v.Verify(m, sig); !errors.Is(err, ErrBadSignature) {
						t.Errorf("tampered message (%s): err = %v, want ErrBadSignature", name, err)
					}
				}

				flip := func(i int) []byte {
					b := bytes.Clone(sig)
					b[i] ^= 0x01
					return b
				}
				badSigs := map[string][]byte{
					"last byte flipped":   flip(len(sig) - 1),
					"middle byte flipped": flip(len(sig) / 2),
					"first byte flipped":  flip(0),
					"truncated":           sig[:len(sig)-1],
					"extended":            append(bytes.Clone(sig), 0),
					"empty":               {},
					"nil":                 nil,
					"zeros":               make([]byte, len(sig)),
				}
				for name, b := range badSigs {
					if err := v.Verify(msg, b); !errors.Is(err, ErrBadSignature) {
						t.Errorf("tampered signature (%s): err = %v, want ErrBadSignature", name, err)
					}
				}
			})

			t.Run("other key", func(t *testing.T) {
				if testing.Short() && tc.typ != ECDSAP256 {
					t.Skip("generates (scrypt) a second key of its type; -short does it for ecdsa-p256 only")
				}
				msg := []byte("signed by the first key")
				sig, err := s.Sign(context.Background(), msg)
				if err != nil {
					t.Fatal(err)
				}
				for _, oc := range keyTypeCases {
					slot := 0 // a key of another type is another key
					if oc.typ == tc.typ {
						slot = 1
					}
					other := genKey(t, oc.typ, password, slot)
					ov, err := LoadVerifier(other.pub)
					if err != nil {
						t.Fatal(err)
					}
					if err := ov.Verify(msg, sig); err == nil {
						t.Errorf("signature verified with another %s key", oc.typ)
					} else if !errors.Is(err, ErrBadSignature) {
						t.Errorf("other %s key: err = %v, want ErrBadSignature", oc.typ, err)
					}
				}
			})

			t.Run("files", func(t *testing.T) {
				t.Parallel()
				if testing.Short() && tc.typ != ECDSAP256 {
					t.Skip("three scrypt runs, the same file handling for every key type; -short tries ecdsa-p256 only")
				}
				dir := t.TempDir()
				kp := filepath.Join(dir, "k.key")
				pp := filepath.Join(dir, "k.pub")
				if err := os.WriteFile(kp, g.priv, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(pp, g.pub, 0o644); err != nil {
					t.Fatal(err)
				}
				fs, err := LoadSignerFile(kp, []byte(password))
				if err != nil {
					t.Fatalf("LoadSignerFile: %v", err)
				}
				fv, err := LoadVerifierFile(pp)
				if err != nil {
					t.Fatalf("LoadVerifierFile: %v", err)
				}
				if fs.KeyID() != s.KeyID() || fv.KeyID() != s.KeyID() {
					t.Errorf("KeyIDs from files differ: %q, %q, want %q", fs.KeyID(), fv.KeyID(), s.KeyID())
				}
				_, err = LoadSignerFile(kp, []byte("nope"))
				if !errors.Is(err, ErrWrongPassword) || !strings.Contains(err.Error(), kp) {
					t.Errorf("LoadSignerFile wrong password: err = %v, want ErrWrongPassword naming %s", err, kp)
				}
				// Keys swapped by mistake.
				if _, err := LoadSignerFile(pp, []byte(password)); err == nil || !strings.Contains(err.Error(), "public key") {
					t.Errorf("LoadSignerFile(public key): err = %v", err)
				}
				if _, err := LoadVerifierFile(kp); err == nil || !strings.Contains(err.Error(), "private key") {
					t.Errorf("LoadVerifierFile(private key): err = %v", err)
				}
			})
		})
	}
}

func TestEmptyPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range keyTypeCases {
		t.Run(string(tc.typ), func(t *testing.T) {
			t.Parallel()
			if testing.Short() && tc.typ != ECDSAP256 {
				t.Skip("six scrypt runs per key type, the same code for each; -short tries ecdsa-p256 only")
			}
			for _, pw := range [][]byte{nil, {}} {
				if testing.Short() && pw != nil {
					continue // an empty password is nil's bytes to scrypt; -short derives one
				}
				priv, pub, err := GenerateKey(tc.typ, pw)
				if err != nil {
					t.Fatal(err)
				}
				// Still encrypted, like cosign with an empty password.
				if got := pemType(t, priv); got != "ENCRYPTED SIGSTORE PRIVATE KEY" {
					t.Errorf("PEM type %q", got)
				}
				for _, lp := range [][]byte{nil, {}} {
					if testing.Short() && lp != nil {
						continue // a scrypt run; LoadSigner makes nil an empty password first
					}
					s, err := LoadSigner(priv, lp)
					if err != nil {
						t.Fatalf("LoadSigner(password %q): %v", lp, err)
					}
					v, err := LoadVerifier(pub)
					if err != nil {
						t.Fatal(err)
					}
					if s.KeyID() != v.KeyID() {
						t.Error("KeyID mismatch")
					}
				}
				if _, err := LoadSigner(priv, []byte("x")); !errors.Is(err, ErrWrongPassword) {
					t.Errorf("non-empty password on empty-password key: err = %v, want ErrWrongPassword", err)
				}
			}
		})
	}
}

func TestDefaultKeyType(t *testing.T) {
	t.Parallel()
	priv, pub, err := GenerateKey("", nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	if v.Algorithm() != "ecdsa-p256-sha256" {
		t.Errorf("default key's public key algorithm %q", v.Algorithm())
	}
	if testing.Short() {
		return // loading is a scrypt run; TestEmptyPassword loads an ecdsa-p256 key made with no password
	}
	s, err := LoadSigner(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm() != "ecdsa-p256-sha256" {
		t.Errorf("default key algorithm %q", s.Algorithm())
	}
}

// TestCosignKeyFixture loads a private key written by `cosign
// generate-key-pair` (see the comment at the top of this file).
func TestCosignKeyFixture(t *testing.T) {
	t.Parallel()
	s, err := LoadSignerFile(cosignKeyFile, nil)
	if err != nil {
		t.Fatalf("LoadSignerFile(%s): %v", cosignKeyFile, err)
	}
	if s.Algorithm() != "ecdsa-p256-sha256" {
		t.Errorf("Algorithm = %q", s.Algorithm())
	}
	v, err := LoadVerifierFile(cosignPubFile)
	if err != nil {
		t.Fatalf("LoadVerifierFile(%s): %v", cosignPubFile, err)
	}
	if s.KeyID() != v.KeyID() {
		t.Errorf("cosign.key KeyID %q != cosign.pub KeyID %q", s.KeyID(), v.KeyID())
	}

	// A signature cosign made with this key verifies.
	sig, err := base64.StdEncoding.DecodeString(cosignBlobSig)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify([]byte(cosignBlobMsg), sig); err != nil {
		t.Errorf("cosign-made signature does not verify: %v", err)
	}
	if err := v.Verify([]byte(cosignBlobMsg+" "), sig); !errors.Is(err, ErrBadSignature) {
		t.Errorf("cosign-made signature over changed message: err = %v, want ErrBadSignature", err)
	}

	// openssl agrees: cosign's blob signature is the same format as ours.
	dir := t.TempDir()
	msgPath := writeFile(t, dir, "msg", []byte(cosignBlobMsg))
	sigPath := writeFile(t, dir, "sig", sig)
	if _, err := runOpenSSL(t, opensslVerifyArgs("ecdsa-p256-sha256", cosignPubFile, msgPath, sigPath)...); err != nil {
		t.Errorf("openssl rejected the cosign-made signature: %v", err)
	}

	// And what we sign with it verifies with cosign.pub.
	msg := []byte("signed with the cosign key")
	ours, err := s.Sign(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(msg, ours); err != nil {
		t.Errorf("our signature with cosign.key does not verify with cosign.pub: %v", err)
	}

	if _, err := LoadSignerFile(cosignKeyFile, []byte("hello")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password on cosign.key: err = %v, want ErrWrongPassword", err)
	}

	// cosign's own test key, ENCRYPTED SIGSTORE PRIVATE KEY, password "hello".
	hs, err := LoadSignerFile(sigstoreHelloFile, []byte("hello"))
	if err != nil {
		t.Fatalf("LoadSignerFile(%s): %v", sigstoreHelloFile, err)
	}
	hsig, err := hs.Sign(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := hs.Verifier().Verify(msg, hsig); err != nil {
		t.Error(err)
	}
	for i, pw := range []string{"", "Hello", "hello\n"} {
		if testing.Short() && i > 0 {
			break // a scrypt run each, the same check: -short tries the empty password
		}
		if _, err := LoadSignerFile(sigstoreHelloFile, []byte(pw)); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("password %q on %s: err = %v, want ErrWrongPassword", pw, sigstoreHelloFile, err)
		}
	}
}

// TestECDSARejectsP1363 checks that only DER ECDSA signatures are accepted
// (sigstore alone would also take raw r||s, which openssl does not).
func TestECDSARejectsP1363(t *testing.T) {
	t.Parallel()
	_, s := genSigner(t, ECDSAP256, keyPairPassword, 0) // TestKeyPairs's key
	msg := []byte("msg")
	sig, err := s.Sign(context.Background(), msg)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		t.Fatalf("our ECDSA signature is not plain DER: %v", err)
	}
	raw := make([]byte, 64)
	rs.R.FillBytes(raw[:32])
	rs.S.FillBytes(raw[32:])
	if err := s.Verifier().Verify(msg, raw); !errors.Is(err, ErrBadSignature) {
		t.Errorf("P1363 signature: err = %v, want ErrBadSignature", err)
	}
}

func TestUnsupportedKeys(t *testing.T) {
	t.Parallel()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		priv    any
		pub     any
		wantMsg string
	}{
		{"rsa-1024", rsa1024, &rsa1024.PublicKey, "2048"},
		{"ecdsa-p521", p521, &p521.PublicKey, "P-521"},
		{"ecdsa-p224", p224, &p224.PublicKey, "P-224"},
		{"x25519", x25519, x25519.PublicKey(), "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := x509.MarshalPKCS8PrivateKey(tc.priv)
			if err != nil {
				t.Fatal(err)
			}
			plain := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
			for _, name := range []string{"plain", "encrypted"} {
				p := plain
				if name == "encrypted" {
					if testing.Short() && tc.name != "rsa-1024" {
						continue // two scrypt runs per key; the check after decryption is the plain one's, so -short decrypts one
					}
					enc, err := encrypted.EncryptWithCustomKDFParameters(der, []byte("pw"), generateKDF)
					if err != nil {
						t.Fatal(err)
					}
					p = cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, enc)
				}
				_, err := LoadSigner(p, []byte("pw"))
				if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("LoadSigner(%s): err = %v, want one mentioning %q", name, err, tc.wantMsg)
				}
			}
			pubDER, err := x509.MarshalPKIXPublicKey(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
			if _, err := LoadVerifier(pubPEM); err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("LoadVerifier: err = %v, want one mentioning %q", err, tc.wantMsg)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{nil, []byte("not a key"), []byte("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")} {
		if _, err := LoadSigner(in, nil); err == nil {
			t.Errorf("LoadSigner(%q): no error", in)
		}
		if _, err := LoadVerifier(in); err == nil {
			t.Errorf("LoadVerifier(%q): no error", in)
		}
	}
	missing := filepath.Join(t.TempDir(), "does-not-exist.key")
	if _, err := LoadSignerFile(missing, nil); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadSignerFile(missing): err = %v", err)
	}
	if _, err := LoadVerifierFile(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadVerifierFile(missing): err = %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSignerFile(garbage, nil); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("LoadSignerFile(garbage): err = %v", err)
	}
	if _, err := LoadVerifierFile(garbage); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("LoadVerifierFile(garbage): err = %v", err)
	}
}

// openssl returns the path of the openssl binary. The interoperability
// tests are part of the spec, so a missing openssl is a failure, not a skip.
func openssl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl binary is required for the interoperability tests (expected at /usr/bin/openssl): %v", err)
	}
	return p
}

func runOpenSSL(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(openssl(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("openssl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslVerifyArgs is the openssl command line from the package
// documentation that checks sig over msg with pub for algorithm alg.
func opensslVerifyArgs(alg, pub, msg, sig string) []string {
	switch alg {
	case "ed25519":
		return []string{"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msg, "-sigfile", sig}
	case "ecdsa-p384-sha384":
		return []string{"dgst", "-sha384", "-verify", pub, "-signature", sig, msg}
	default:
		return []string{"dgst", "-sha256", "-verify", pub, "-signature", sig, msg}
	}
}

// TestOpenSSLVerifiesOurSignatures runs the real openssl binary on
// signatures made by Signer.
func TestOpenSSLVerifiesOurSignatures(t *testing.T) {
	t.Parallel()
	openssl(t)
	for _, tc := range keyTypeCases {
		t.Run(string(tc.typ), func(t *testing.T) {
			t.Parallel()
			g, s := genSigner(t, tc.typ, keyPairPassword, 0) // TestKeyPairs's keys
			dir := t.TempDir()
			msg := []byte("airgap bundle index\x00\xff with binary bytes\n")
			sig, err := s.Sign(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			pubPath := writeFile(t, dir, "key.pub", g.pub)
			msgPath := writeFile(t, dir, "msg", msg)
			sigPath := writeFile(t, dir, "sig", sig)

			out, err := runOpenSSL(t, opensslVerifyArgs(tc.alg, pubPath, msgPath, sigPath)...)
			if err != nil {
				t.Fatalf("openssl rejected our signature: %v", err)
			}
			// "Verified OK" (dgst) or "Signature Verified Successfully" (pkeyutl).
			if !strings.Contains(string(out), "Verified") {
				t.Errorf("unexpected openssl output: %s", out)
			}

			// openssl must reject a tampered signature and message too,
			// otherwise the check above proves nothing.
			bad := bytes.Clone(sig)
			bad[len(bad)/2] ^= 0x01
			badSig := writeFile(t, dir, "bad.sig", bad)
			if _, err := runOpenSSL(t, opensslVerifyArgs(tc.alg, pubPath, msgPath, badSig)...); err == nil {
				t.Error("openssl accepted a tampered signature")
			}
			badMsg := writeFile(t, dir, "bad.msg", append(bytes.Clone(msg), 'x'))
			if _, err := runOpenSSL(t, opensslVerifyArgs(tc.alg, pubPath, badMsg, sigPath)...); err == nil {
				t.Error("openssl accepted a tampered message")
			}

			// KeyID = sha256 of the DER SubjectPublicKeyInfo, as openssl
			// computes it.
			der, err := runOpenSSL(t, "pkey", "-pubin", "-in", pubPath, "-outform", "DER")
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(der)
			if want := "sha256:" + hex.EncodeToString(sum[:]); s.KeyID() != want {
				t.Errorf("KeyID %q, openssl DER gives %q", s.KeyID(), want)
			}
		})
	}
}

// TestWeVerifyOpenSSLSignatures goes the other way: keys made and
// signatures made by openssl, unencrypted private key PEM in the formats
// openssl writes, all loaded and checked by this package.
func TestWeVerifyOpenSSLSignatures(t *testing.T) {
	t.Parallel()
	openssl(t)
	for _, tc := range []struct {
		name    string
		genArgs []string
		// legacy converts the PKCS#8 key to the traditional format
		// (EC PRIVATE KEY / RSA PRIVATE KEY), if any.
		legacy     []string
		legacyType string
		alg        string
	}{
		{"ecdsa-p256", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, []string{"ec"}, "EC PRIVATE KEY", "ecdsa-p256-sha256"},
		{"ecdsa-p384", []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"}, []string{"ec"}, "EC PRIVATE KEY", "ecdsa-p384-sha384"},
		{"ed25519", []string{"-algorithm", "ED25519"}, nil, "", "ed25519"},
		{"rsa-2048", []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, []string{"rsa", "-traditional"}, "RSA PRIVATE KEY", "rsa-pkcs1v15-sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keyPath := filepath.Join(dir, "key.pem")
			if _, err := runOpenSSL(t, append(append([]string{"genpkey"}, tc.genArgs...), "-out", keyPath)...); err != nil {
				t.Fatal(err)
			}
			pubPath := filepath.Join(dir, "key.pub")
			if _, err := runOpenSSL(t, "pkey", "-in", keyPath, "-pubout", "-out", pubPath); err != nil {
				t.Fatal(err)
			}
			msg := []byte("signed by openssl\n")
			msgPath := writeFile(t, dir, "msg", msg)
			sigPath := filepath.Join(dir, "sig")
			var signArgs []string
			switch tc.alg {
			case "ed25519":
				signArgs = []string{"pkeyutl", "-sign", "-inkey", keyPath, "-rawin", "-in", msgPath, "-out", sigPath}
			case "ecdsa-p384-sha384":
				signArgs = []string{"dgst", "-sha384", "-sign", keyPath, "-out", sigPath, msgPath}
			default:
				signArgs = []string{"dgst", "-sha256", "-sign", keyPath, "-out", sigPath, msgPath}
			}
			if _, err := runOpenSSL(t, signArgs...); err != nil {
				t.Fatal(err)
			}
			sig, err := os.ReadFile(sigPath)
			if err != nil {
				t.Fatal(err)
			}

			v, err := LoadVerifierFile(pubPath)
			if err != nil {
				t.Fatal(err)
			}
			if v.Algorithm() != tc.alg {
				t.Errorf("Algorithm = %q, want %q", v.Algorithm(), tc.alg)
			}
			if err := v.Verify(msg, sig); err != nil {
				t.Errorf("openssl signature does not verify: %v", err)
			}
			if err := v.Verify(append(bytes.Clone(msg), 'x'), sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("openssl signature over other message: err = %v, want ErrBadSignature", err)
			}

			keyPaths := map[string]string{"PRIVATE KEY": keyPath}
			if tc.legacy != nil {
				lp := filepath.Join(dir, "legacy.pem")
				if _, err := runOpenSSL(t, append(append([]string{}, tc.legacy...), "-in", keyPath, "-out", lp)...); err != nil {
					t.Fatal(err)
				}
				keyPaths[tc.legacyType] = lp
			}
			for wantType, p := range keyPaths {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := pemType(t, data); got != wantType {
					t.Fatalf("openssl wrote %q, expected %q", got, wantType)
				}
				s, err := LoadSignerFile(p, nil)
				if err != nil {
					t.Fatalf("LoadSignerFile(%s): %v", wantType, err)
				}
				if s.KeyID() != v.KeyID() || s.Algorithm() != tc.alg {
					t.Errorf("%s: KeyID/Algorithm %q/%q, want %q/%q", wantType, s.KeyID(), s.Algorithm(), v.KeyID(), tc.alg)
				}
				ours, err := s.Sign(context.Background(), msg)
				if err != nil {
					t.Fatal(err)
				}
				ourSig := writeFile(t, dir, "ours.sig", ours)
				if _, err := runOpenSSL(t, opensslVerifyArgs(tc.alg, pubPath, msgPath, ourSig)...); err != nil {
					t.Errorf("%s: openssl rejected our signature: %v", wantType, err)
				}
			}
		})
	}
}
