package sign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/airgap-bundle/bundle/sign"
)

// cryptoSigner is a sign.Signer over any crypto.Signer with a P-256 key:
// here an ecdsa.PrivateKey in memory; a KMS or PKCS#11 key's crypto.Signer
// fits the same way, its Sign sending the digest to the service.
type cryptoSigner struct {
	key   crypto.Signer
	keyID string
}

func newCryptoSigner(key crypto.Signer) (*cryptoSigner, error) {
	// NewVerifier checks that the key is one bundles can carry, and
	// computes the key ID.
	v, err := sign.NewVerifier(key.Public())
	if err != nil {
		return nil, err
	}
	if v.Algorithm() != sign.AlgorithmECDSAP256 {
		return nil, fmt.Errorf("key is %s, this signer does %s only", v.Algorithm(), sign.AlgorithmECDSAP256)
	}
	return &cryptoSigner{key: key, keyID: v.KeyID()}, nil
}

func (s *cryptoSigner) Sign(ctx context.Context, message []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	digest := sha256.Sum256(message)
	// ecdsa.PrivateKey.Sign returns the ASN.1 DER form the format wants.
	return s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
}

func (s *cryptoSigner) KeyID() string            { return s.keyID }
func (s *cryptoSigner) Algorithm() string        { return sign.AlgorithmECDSAP256 }
func (s *cryptoSigner) Public() crypto.PublicKey { return s.key.Public() }

// A Signer of one's own: its signatures verify like those of a key file.
func Example_signer() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	var s sign.Signer
	s, err = newCryptoSigner(key)
	if err != nil {
		panic(err)
	}
	msg := []byte("bundle index")
	sig, err := s.Sign(context.Background(), msg)
	if err != nil {
		panic(err)
	}
	v, err := sign.NewVerifier(s.Public())
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Verify(msg, sig) == nil, v.KeyID() == s.KeyID())
	// Output: true true
}
