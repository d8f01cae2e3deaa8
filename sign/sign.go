// Package sign creates and loads signing keys and makes and checks
// detached signatures, using sigstore's signature and cryptoutils packages.
//
// # Keys
//
// Private keys are written in the sigstore encrypted PEM format
// ("ENCRYPTED SIGSTORE PRIVATE KEY": a PKCS#8 DER key encrypted with
// scrypt + NaCl secretbox), which is what `cosign generate-key-pair` writes
// and `cosign sign-blob --key` reads. LoadSigner also reads the older
// "ENCRYPTED COSIGN PRIVATE KEY" label and unencrypted PKCS#8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY")
// PEM. Public keys are PKIX ("PUBLIC KEY") PEM, as read by openssl and
// cosign.
//
// Supported keys are ECDSA on NIST P-256 (the default) and P-384, Ed25519,
// and RSA with a modulus of 2048 to 4096 bits and an odd public exponent
// of at least 3. Anything else is rejected when the key is loaded.
//
// # Signatures
//
// Sign returns raw signature bytes over the whole message; there is no
// envelope, encoding or prehash beyond the following:
//
//   - ECDSA P-256 ("ecdsa-p256-sha256"): ASN.1 DER encoded ECDSA-Sig-Value
//     (SEQUENCE { r INTEGER, s INTEGER }) over the SHA-256 digest of the
//     message. ECDSA P-384 ("ecdsa-p384-sha384") is the same with SHA-384.
//     Verify accepts only the strict DER form (minimal lengths and
//     integers, nothing after the SEQUENCE, r and s in [1, n-1]), not raw
//     r||s (IEEE P1363); high and low s alike.
//   - RSA ("rsa-pkcs1v15-sha256"): RSASSA-PKCS1-v1_5 over the SHA-256
//     digest of the message.
//   - Ed25519 ("ed25519"): pure Ed25519 (RFC 8032, not Ed25519ph) over the
//     message itself.
//
// These are exactly the signatures checked by
//
//	openssl dgst -sha256 -verify key.pub -signature sig msg          (ECDSA P-256, RSA)
//	openssl dgst -sha384 -verify key.pub -signature sig msg          (ECDSA P-384)
//	openssl pkeyutl -verify -pubin -inkey key.pub -rawin -in msg -sigfile sig  (Ed25519)
//
// and, for ECDSA P-256 keys, by `cosign verify-blob --key key.pub
// --signature <base64 of sig> msg` (cosign base64-encodes the same bytes).
//
// # Key IDs
//
// A key's ID is "sha256:" followed by the lowercase hex SHA-256 of the DER
// encoded PKIX SubjectPublicKeyInfo of the public key, i.e. of the bytes
// inside the "PUBLIC KEY" PEM block. It can be computed with
//
//	openssl pkey -pubin -in key.pub -outform DER | sha256sum
//
// # Signers
//
// Pack signs through the Signer interface. LoadSigner and LoadSignerFile
// return a *KeySigner, which holds a private key read from a file;
// LoadSignerFileAsync decrypts the file in the background and returns a
// *PendingSigner at once, which Pack opens while it reads and writes. A key
// kept in a KMS, an HSM, a smartcard or a TPM plugs in as a Signer of its
// own:
//
//   - Sign(ctx, message) returns the signature over the whole message in
//     the scheme of Algorithm, as described above. A KMS computes the
//     digest (SHA-256, or SHA-384 for P-384) locally and sends the service
//     that digest to sign, asking for the DER form of an ECDSA signature
//     (which AWS KMS, Google Cloud KMS and PKCS#11 through crypto11 give)
//     or PKCS#1 v1.5 for RSA; Ed25519 keys sign the message itself. ctx
//     carries the caller's deadline and cancellation to the network call.
//   - Public returns the public key, as a *ecdsa.PublicKey,
//     *rsa.PublicKey or ed25519.PublicKey (what crypto.Signer.Public
//     returns, or the service's public key parsed with x509), so that a
//     signature can be checked as soon as it is made.
//   - KeyID returns KeyID(Public()) and Algorithm one of the Algorithm...
//     constants for that key; NewVerifier(Public()) computes both.
//
// Any crypto.Signer (crypto11, go-tpm-keyfiles, the KMS libraries' signers)
// fits these methods in a few lines: hash the message, call its Sign with
// the hash function as opts (crypto.Hash(0) for Ed25519); the package
// example shows one over an ecdsa.PrivateKey.
//
// KeySigner and Verifier values are immutable and safe for concurrent use;
// so must other Signers be.
package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"runtime/debug"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// KeyType names a kind of key pair that GenerateKey can make.
type KeyType string

// Key types accepted by GenerateKey and ParseKeyType.
const (
	ECDSAP256 KeyType = "ecdsa-p256" // default
	Ed25519   KeyType = "ed25519"
	RSA3072   KeyType = "rsa-3072"
)

// keyTypes lists the valid key types, default first.
var keyTypes = []KeyType{ECDSAP256, Ed25519, RSA3072}

// RSA moduli accepted when loading keys: at least 2048 bits, and at most
// 4096, whose 512-byte signatures are the largest a bundle can carry
// (SPEC.md 10.2); a larger key could sign nothing a reader accepts.
const (
	minRSABits = 2048
	maxRSABits = 4096
)

// Algorithm names returned by Verifier.Algorithm and Signer.Algorithm, and
// recorded in a bundle's index (see the package documentation for each
// scheme).
const (
	AlgorithmECDSAP256 = "ecdsa-p256-sha256"
	AlgorithmECDSAP384 = "ecdsa-p384-sha384"
	AlgorithmEd25519   = "ed25519"
	AlgorithmRSA       = "rsa-pkcs1v15-sha256"
)

var (
	// ErrWrongPassword is wrapped by the errors LoadSigner and
	// LoadSignerFile return when an encrypted private key cannot be
	// decrypted with the given password.
	ErrWrongPassword = errors.New("wrong password for encrypted private key (or the key is corrupted)")

	// ErrBadSignature is wrapped by the error Verify returns when the
	// signature does not match the message and key (including signatures
	// that are malformed).
	ErrBadSignature = errors.New("signature does not match")
)

// ParseKeyType parses a key type name. The empty string means ECDSAP256.
func ParseKeyType(s string) (KeyType, error) {
	if s == "" {
		return ECDSAP256, nil
	}
	for _, t := range keyTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown key type %q: valid key types are %s", s, validKeyTypes())
}

func validKeyTypes() string {
	names := make([]string, len(keyTypes))
	for i, t := range keyTypes {
		names[i] = fmt.Sprintf("%q", string(t))
		if t == ECDSAP256 {
			names[i] += " (default)"
		}
	}
	return strings.Join(names, ", ")
}

// GenerateKey makes a new key pair of type t. privPEM is the private key in
// the sigstore encrypted PEM format ("ENCRYPTED SIGSTORE PRIVATE KEY", as
// written and read by cosign), encrypted with password, which may be empty
// (the key is then still in the encrypted format, as cosign does with an
// empty password). pubPEM is the public key as PKIX "PUBLIC KEY" PEM.
// An empty t means ECDSAP256.
func GenerateKey(t KeyType, password []byte) (privPEM, pubPEM []byte, err error) {
	if t == "" {
		t = ECDSAP256
	}
	var priv crypto.PrivateKey
	switch t {
	case ECDSAP256:
		_, priv, err = signature.NewDefaultECDSASignerVerifier()
	case Ed25519:
		_, priv, err = signature.NewDefaultED25519SignerVerifier()
	case RSA3072:
		_, priv, err = signature.NewRSAPKCS1v15SignerVerifier(rand.Reader, 3072, crypto.SHA256)
	default:
		return nil, nil, fmt.Errorf("cannot generate key: unknown key type %q: valid key types are %s", string(t), validKeyTypes())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generating %s key: %w", t, err)
	}
	if password == nil {
		// cryptoutils refuses a nil password; an empty one is what cosign
		// uses for "no password".
		password = []byte{}
	}
	der, err := cryptoutils.MarshalPrivateKeyToDER(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding %s private key: %w", t, err)
	}
	// What cryptoutils.MarshalPrivateKeyToEncryptedDER does, with the
	// strength of scrypt named here (see generateKDF).
	der, err = encrypted.EncryptWithCustomKDFParameters(der, password, generateKDF)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting %s private key: %w", t, err)
	}
	privPEM = cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der)
	pubPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.(crypto.Signer).Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encoding %s public key: %w", t, err)
	}
	return privPEM, pubPEM, nil
}

// Signer makes the signatures Pack puts in bundles. KeySigner implements
// it with a private key read from a file; the package documentation says
// how a KMS or hardware key implements it.
type Signer interface {
	// Sign returns the signature over the whole message, in the scheme
	// Algorithm names.
	Sign(ctx context.Context, message []byte) ([]byte, error)
	// KeyID is KeyID(Public()).
	KeyID() string
	// Algorithm is one of the Algorithm... constants.
	Algorithm() string
	// Public is the public key that verifies the signatures: Pack checks
	// each signature with it before the volumes are committed.
	Public() crypto.PublicKey
}

// KeySigner signs with a private key held in memory. Create one with
// LoadSigner or LoadSignerFile.
type KeySigner struct {
	sv       signature.Signer
	pub      crypto.PublicKey
	verifier *Verifier
}

var _ Signer = (*KeySigner)(nil)

// Verifier checks signatures with a public key. Create one with
// LoadVerifier, LoadVerifierFile, NewVerifier or KeySigner.Verifier.
type Verifier struct {
	v     signature.Verifier
	keyID string
	alg   string
	// ecdsaOrder is the order n of the curve of an ECDSA key (nil for
	// other keys): r and s of a signature must be in [1, n-1].
	ecdsaOrder *big.Int
}

// LoadSigner parses a PEM private key: an encrypted sigstore/cosign key
// ("ENCRYPTED SIGSTORE PRIVATE KEY" or "ENCRYPTED COSIGN PRIVATE KEY"),
// decrypted with password (which may be empty), or an unencrypted
// "PRIVATE KEY" (PKCS#8), "EC PRIVATE KEY" or "RSA PRIVATE KEY", for which
// password is ignored. A wrong password gives an error wrapping
// ErrWrongPassword.
func LoadSigner(privPEM, password []byte) (*KeySigner, error) {
	block, _ := pem.Decode(privPEM)
	if block == nil {
		return nil, errors.New("no PEM data found: expected a PEM private key (ENCRYPTED SIGSTORE PRIVATE KEY, ENCRYPTED COSIGN PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)")
	}
	switch block.Type {
	case string(cryptoutils.PublicKeyPEMType), string(cryptoutils.PKCS1PublicKeyPEMType), "CERTIFICATE":
		return nil, fmt.Errorf("got a PEM block of type %q where a private key was expected: pass the private key, not the public key or certificate", block.Type)
	}
	if password == nil {
		// A nil password makes cryptoutils skip decryption; cosign keys
		// made with an empty password are still encrypted.
		password = []byte{}
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(privPEM, cryptoutils.StaticPasswordFunc(password))
	// Decrypting runs scrypt over 32 MiB. Hand that memory back now: left
	// to the collector, it would raise the heap goal of the whole run (a
	// pack's peak memory would double).
	releaseMemory()
	if err != nil {
		if isWrongPassword(err) {
			return nil, fmt.Errorf("decrypting %s: %w", block.Type, ErrWrongPassword)
		}
		return nil, fmt.Errorf("parsing %s PEM: %w (expected an ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY as written by GenerateKey or `cosign generate-key-pair`, or an unencrypted PKCS#8/EC/RSA private key PEM)", block.Type, err)
	}
	cs, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T: supported are ECDSA P-256/P-384, Ed25519 and RSA (%d to %d bits)", priv, minRSABits, maxRSABits)
	}
	verifier, err := NewVerifier(cs.Public())
	if err != nil {
		return nil, err
	}
	var sv signature.Signer
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		sv, err = signature.LoadED25519SignerVerifier(k)
	default:
		sv, err = signature.LoadSignerVerifier(priv, hashFor(cs.Public()))
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s signer: %w", verifier.alg, err)
	}
	return &KeySigner{sv: sv, pub: cs.Public(), verifier: verifier}, nil
}

// generateKDF is the scrypt strength GenerateKey encrypts with: Standard
// (N = 2^16, 64 MiB), what cosign generate-key-pair writes. This package's
// tests, which generate dozens of keys, use Legacy (N = 2^15, 32 MiB), which
// costs half and is also one of the three strengths a key is read with.
var generateKDF = encrypted.Standard

// releaseMemory is debug.FreeOSMemory. This package's tests, which decrypt
// dozens of keys in one process, keep the memory instead: where touching
// fresh pages is slow (13 µs a page on some virtual machines), handing
// 32 MiB back and taking it again doubles what each scrypt costs.
var releaseMemory = debug.FreeOSMemory

// isWrongPassword reports whether err from cryptoutils.UnmarshalPEMToPrivateKey
// means the key could not be decrypted with the password. The underlying
// libraries do not export sentinel errors for all cases, so this matches
// their messages (covered by tests against the pinned versions).
func isWrongPassword(err error) bool {
	if errors.Is(err, x509.IncorrectPasswordError) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "encrypted: decryption failed") || // go-securesystemslib (sigstore/cosign format)
		strings.Contains(msg, "pkcs8: incorrect password") // youmark/pkcs8 (ENCRYPTED PRIVATE KEY)
}

// LoadVerifier parses a PKIX "PUBLIC KEY" PEM (a PKCS#1 "RSA PUBLIC KEY" is
// accepted too).
func LoadVerifier(pubPEM []byte) (*Verifier, error) {
	block, _ := pem.Decode(pubPEM)
	if block == nil {
		return nil, errors.New("no PEM data found: expected a PKIX PUBLIC KEY PEM block such as cosign.pub")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("got a PEM block of type %q where a public key was expected: pass the public key (the PUBLIC KEY PEM, usually the .pub file), not the private key", block.Type)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w (expected a PKIX PUBLIC KEY PEM such as cosign.pub)", err)
	}
	return NewVerifier(pub)
}

// LoadSignerFile reads the private key file at path and calls LoadSigner.
func LoadSignerFile(path string, password []byte) (*KeySigner, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("private key file %s does not exist: check the path, or generate a key pair first: %w", path, err)
		}
		return nil, fmt.Errorf("reading private key file %s: %w", path, err)
	}
	s, err := LoadSigner(data, password)
	if err != nil {
		if errors.Is(err, ErrWrongPassword) {
			return nil, fmt.Errorf("private key %s: %w: check the password", path, err)
		}
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return s, nil
}

// LoadVerifierFile reads the public key file at path and calls LoadVerifier.
func LoadVerifierFile(path string) (*Verifier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("public key file %s does not exist: check the path (it is the .pub file written next to the private key): %w", path, err)
		}
		return nil, fmt.Errorf("reading public key file %s: %w", path, err)
	}
	v, err := LoadVerifier(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return v, nil
}

// checkPublicKey rejects keys this package does not support and returns the
// algorithm name for the ones it does.
func checkPublicKey(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return AlgorithmECDSAP256, nil
		case elliptic.P384():
			return AlgorithmECDSAP384, nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s: supported curves are P-256 and P-384", k.Params().Name)
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return "", fmt.Errorf("RSA key is too small (%d bits): at least %d bits are required", bits, minRSABits)
		} else if bits > maxRSABits {
			return "", fmt.Errorf("RSA key is too large (%d bits): at most %d bits, whose signatures fit a bundle", bits, maxRSABits)
		}
		// What crypto/rsa verifies with anyway; refused here, when the key
		// is loaded, rather than as a bad signature later.
		if k.E < 3 || k.E%2 == 0 || k.N.Bit(0) == 0 {
			return "", fmt.Errorf("invalid RSA public key: the exponent %d must be odd and at least 3, and the modulus odd", k.E)
		}
		return AlgorithmRSA, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("invalid Ed25519 public key length %d", len(k))
		}
		return AlgorithmEd25519, nil
	}
	return "", fmt.Errorf("unsupported key type %T: supported are ECDSA P-256/P-384, Ed25519 and RSA (%d to %d bits)", pub, minRSABits, maxRSABits)
}

// hashFor returns the digest used with pub (ignored for Ed25519).
func hashFor(pub crypto.PublicKey) crypto.Hash {
	if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P384() {
		return crypto.SHA384
	}
	return crypto.SHA256
}

// NewVerifier makes a verifier for a public key: a *ecdsa.PublicKey (P-256
// or P-384), an ed25519.PublicKey or an *rsa.PublicKey of 2048 bits or
// more. Other keys are refused.
func NewVerifier(pub crypto.PublicKey) (*Verifier, error) {
	alg, err := checkPublicKey(pub)
	if err != nil {
		return nil, err
	}
	keyID, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	var v signature.Verifier
	if k, ok := pub.(ed25519.PublicKey); ok {
		v, err = signature.LoadED25519Verifier(k)
	} else {
		v, err = signature.LoadVerifier(pub, hashFor(pub))
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s verifier: %w", alg, err)
	}
	var order *big.Int
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		order = k.Params().N
	}
	return &Verifier{v: v, keyID: keyID, alg: alg, ecdsaOrder: order}, nil
}

// KeyID returns "sha256:" and the lowercase hex SHA-256 of the DER PKIX
// SubjectPublicKeyInfo encoding of pub.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", fmt.Errorf("computing key ID: %w", err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Sign returns the raw signature over msg (see the package documentation
// for the exact scheme per key type).
func (s *KeySigner) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(msg), options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("signing with %s key %s: %w", s.verifier.alg, s.verifier.keyID, err)
	}
	return sig, nil
}

// Verifier returns the verifier for the signer's public key.
func (s *KeySigner) Verifier() *Verifier { return s.verifier }

// KeyID returns the ID of the signer's public key; see Verifier.KeyID.
func (s *KeySigner) KeyID() string { return s.verifier.keyID }

// Algorithm returns the signature algorithm; see Verifier.Algorithm.
func (s *KeySigner) Algorithm() string { return s.verifier.alg }

// Public returns the signer's public key.
func (s *KeySigner) Public() crypto.PublicKey { return s.pub }

// Verify checks that sig is a valid signature over msg by this key. If it is
// not (including when sig is malformed), the error wraps ErrBadSignature.
func (v *Verifier) Verify(msg, sig []byte) error {
	if v.ecdsaOrder != nil && !isDERECDSASig(sig, v.ecdsaOrder) {
		// sigstore would also accept raw r||s (IEEE P1363) signatures;
		// openssl and cosign's blob format use DER only.
		return fmt.Errorf("%w: not a DER ECDSA-Sig-Value with r and s in [1, n-1] (key %s)", ErrBadSignature, v.keyID)
	}
	if err := v.v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("%w: %s signature check failed for key %s: %v", ErrBadSignature, v.alg, v.keyID, err)
	}
	return nil
}

// isDERECDSASig reports whether sig is exactly the DER encoding of an
// ECDSA-Sig-Value, SEQUENCE { r INTEGER, s INTEGER }, with r and s in
// [1, n-1] (SPEC.md 10.2): definite minimal lengths, minimal integers,
// nothing else inside the SEQUENCE and nothing after it. encoding/asn1
// would allow more members at the end of a SEQUENCE, and negative or
// out-of-range integers; each reader deciding those alone is how two
// readers come to disagree about one signature.
func isDERECDSASig(sig []byte, n *big.Int) bool {
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	r, s := new(big.Int), new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return false
	}
	return r.Sign() > 0 && s.Sign() > 0 && r.Cmp(n) < 0 && s.Cmp(n) < 0
}

// KeyID returns "sha256:" followed by the lowercase hex SHA-256 of the DER
// PKIX SubjectPublicKeyInfo of the public key.
func (v *Verifier) KeyID() string { return v.keyID }

// Algorithm returns the signature algorithm: "ecdsa-p256-sha256",
// "ecdsa-p384-sha384", "ed25519" or "rsa-pkcs1v15-sha256".
func (v *Verifier) Algorithm() string { return v.alg }
