package bundle

import (
	"errors"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/sign"
)

// TestIndexVerifierEarly: before an index is decoded, a signature that
// claims a trusted key must verify with it; other claims (a key not
// trusted, no signature) are left to Trust, which sees the
// countersignatures too.
func TestIndexVerifierEarly(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	other := newSigner(t, sign.Ed25519)
	index := []byte(`{"mediaType":"x","signer":{"keyId":"` + signer.KeyID() + `","algorithm":"` + signer.Algorithm() + `"},"rest":"` + strings.Repeat("z", 100) + `"}`)
	good, err := signer.Sign(t.Context(), index)
	if err != nil {
		t.Fatal(err)
	}
	check := TrustPolicy{Keys: []*sign.Verifier{signer.Verifier()}}.IndexVerifier()
	if err := check(index, good); err != nil {
		t.Errorf("good signature by the trusted key: %v", err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 1
	if err := check(index, bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("bad signature claiming the trusted key: %v, want ErrBadSignature", err)
	}
	if err := check(index, nil); err != nil {
		t.Errorf("unsigned: %v, want it left to Trust", err)
	}
	foreign := []byte(strings.Replace(string(index), signer.KeyID(), other.KeyID(), 1))
	if err := check(foreign, good); err != nil {
		t.Errorf("signature by a key not trusted: %v, want it left to Trust", err)
	}
	wrongAlg := []byte(strings.Replace(string(index), signer.Algorithm(), "ed25519", 1))
	if err := check(wrongAlg, good); !errors.Is(err, ErrWrongKey) {
		t.Errorf("trusted key id with another algorithm: %v, want ErrWrongKey", err)
	}
	// Keys from a keyring count as trusted here too.
	kr := TrustPolicy{Keyring: &Keyring{Keys: []KeyringKey{{Name: "release", Verifier: signer.Verifier()}}}}.IndexVerifier()
	if err := kr(index, bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("keyring key, bad signature: %v", err)
	}
	if (TrustPolicy{AllowUnsigned: true}).IndexVerifier() != nil {
		t.Error("a policy without keys has an early check")
	}
}
