//go:build pkcs11

package sign

import (
	"context"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"
)

const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSMToken makes a SoftHSM token in a temporary directory, with an
// ECDSA P-256, a P-384 and an RSA key pair made inside it, and points
// SOFTHSM2_CONF at it.
func softHSMToken(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(softHSMModule); err != nil {
		t.Skipf("SoftHSM is not installed (%v)", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "test", "--pin", "1234", "--so-pin", "5678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	p := pkcs11.New(softHSMModule)
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer func() { p.Finalize(); p.Destroy() }()
	slot, err := findSlot(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseSession(sh)
	if err := p.Login(sh, pkcs11.CKU_USER, "1234"); err != nil {
		t.Fatal(err)
	}
	common := func(label string) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}
	}
	for label, oid := range map[string]asn1.ObjectIdentifier{"ec256": oidP256, "ec384": oidP384} {
		params, _ := asn1.Marshal(oid)
		if _, _, err := p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			append(common(label), pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)),
			append(common(label), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true))); err != nil {
			t.Fatalf("generate %s: %v", label, err)
		}
	}
	if _, _, err := p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
		append(common("rsa"), pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)),
		append(common("rsa"), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true))); err != nil {
		t.Fatalf("generate rsa: %v", err)
	}
}

func TestPKCS11Signer(t *testing.T) {
	softHSMToken(t)
	msg := []byte(`{"bundleId":"9c5692d27063a390e55e9202b68f773e"}`)
	for label, alg := range map[string]string{"ec256": AlgorithmECDSAP256, "ec384": AlgorithmECDSAP384, "rsa": AlgorithmRSA} {
		t.Run(label, func(t *testing.T) {
			s, err := OpenPKCS11Signer(PKCS11Config{Module: softHSMModule, TokenLabel: "test", PIN: "1234", KeyLabel: label})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Algorithm() != alg {
				t.Errorf("algorithm %s, want %s", s.Algorithm(), alg)
			}
			if id, _ := KeyID(s.Public()); id != s.KeyID() {
				t.Errorf("key id %s, want %s", s.KeyID(), id)
			}
			sig, err := s.Sign(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			// The strict verifier a reader uses: DER ECDSA, PKCS#1 v1.5.
			if err := s.Verifier().Verify(msg, sig); err != nil {
				t.Errorf("verify: %v", err)
			}
			if err := s.Verifier().Verify(append(msg, ' '), sig); err == nil {
				t.Error("a signature verifies over other bytes")
			}
		})
	}
	if _, err := OpenPKCS11Signer(PKCS11Config{Module: softHSMModule, TokenLabel: "test", PIN: "0000", KeyLabel: "ec256"}); err == nil {
		t.Error("wrong PIN: no error")
	}
	if _, err := OpenPKCS11Signer(PKCS11Config{Module: softHSMModule, TokenLabel: "test", PIN: "1234", KeyLabel: "none"}); err == nil {
		t.Error("no such key: no error")
	}
}

func TestParsePKCS11URI(t *testing.T) {
	t.Parallel()
	cfg, err := ParsePKCS11URI("pkcs11:token=My%20Token;object=release;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so")
	if err != nil || cfg.TokenLabel != "My Token" || cfg.KeyLabel != "release" || cfg.Module != softHSMModule {
		t.Errorf("got %+v, %v", cfg, err)
	}
	for _, bad := range []string{
		"token=a;object=b",
		"pkcs11:token=a",
		"pkcs11:token=a;object=b;serial=1",
		"pkcs11:token=a;object=b;type=public",
		"pkcs11:token=a;object=b?pin-value=1234",
		"pkcs11:token=a;object=b?module-name=softhsm2",
		"pkcs11:token=%zz;object=b",
	} {
		if _, err := ParsePKCS11URI(bad); err == nil {
			t.Errorf("ParsePKCS11URI(%q): no error", bad)
		}
	}
}
