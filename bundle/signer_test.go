package bundle

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/sign"
)

// memSigner is a sign.Signer of the kind a KMS or hardware key would be:
// not a *sign.KeySigner, signing through crypto.Signer over a key held
// elsewhere (here an ecdsa.PrivateKey in memory). lie and damage make it
// misbehave.
type memSigner struct {
	key    *ecdsa.PrivateKey
	keyID  string
	lie    string // a key ID to claim instead of its own
	damage bool   // flip a bit of every signature
}

func newMemSigner(t *testing.T) *memSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sign.KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &memSigner{key: key, keyID: id}
}

func (s *memSigner) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	sig, err := s.key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err == nil && s.damage {
		sig[len(sig)-1] ^= 1
	}
	return sig, err
}

func (s *memSigner) KeyID() string {
	if s.lie != "" {
		return s.lie
	}
	return s.keyID
}
func (s *memSigner) Algorithm() string        { return sign.AlgorithmECDSAP256 }
func (s *memSigner) Public() crypto.PublicKey { return s.key.Public() }

func TestPackWithSignerOfOwn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		lie     string
		damage  bool
		wantErr error // nil: packs, and verifies with the signer's public key
	}{
		{name: "good"},
		{name: "signature that does not verify", damage: true, wantErr: sign.ErrBadSignature},
		{name: "key ID not its own", lie: "sha256:" + strings.Repeat("0", 64)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newMemSigner(t)
			s.lie, s.damage = c.lie, c.damage
			dir := t.TempDir()
			x, err := Pack(context.Background(), []Source{layoutSource(t, exampleLayout, "")}, &DirSink{Dir: dir},
				PackOptions{Signer: s, MaxVolumeSize: 40 << 10, Created: testCreated, Packer: "bundle-test"})
			if c.wantErr == nil && c.lie == "" {
				if err != nil {
					t.Fatalf("pack: %v", err)
				}
				if x.Signer == nil || x.Signer.KeyID != s.keyID || x.Signer.Algorithm != sign.AlgorithmECDSAP256 {
					t.Errorf("index signer %+v, want %s (%s)", x.Signer, s.keyID, sign.AlgorithmECDSAP256)
				}
				v, err := sign.NewVerifier(s.Public())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := verifyFiles(context.Background(), []string{dir}, verifyOpts{Key: v}); err != nil {
					t.Fatalf("verify with the signer's public key: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("pack succeeded")
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v, want one that is %v", err, c.wantErr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused pack left %d files", len(entries))
			}
		})
	}
}
