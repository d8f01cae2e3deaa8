//go:build pkcs11

// PKCS#11 needs cgo and the token vendor's module: it is built only with
// -tags pkcs11, so that the default build stays pure Go.

package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// PKCS11Config names a private key kept in a PKCS#11 token (an HSM, a
// smartcard, SoftHSM).
type PKCS11Config struct {
	// Module is the path of the token vendor's PKCS#11 module
	// (/usr/lib/softhsm/libsofthsm2.so for SoftHSM).
	Module string
	// TokenLabel selects the token.
	TokenLabel string
	// PIN is the user PIN; it is never logged.
	PIN string
	// KeyLabel is the CKA_LABEL of the private key and of its public key.
	KeyLabel string
}

// PKCS11Signer is a Signer whose private key never leaves its token:
// ECDSA P-256 and P-384, and RSA (PKCS#1 v1.5 with SHA-256). Close it when
// done. It is safe for concurrent use (one session, used in turn).
type PKCS11Signer struct {
	mu       sync.Mutex
	ctx      *pkcs11.Ctx
	session  pkcs11.SessionHandle
	key      pkcs11.ObjectHandle
	pub      crypto.PublicKey
	verifier *Verifier
}

var _ Signer = (*PKCS11Signer)(nil)

// OpenPKCS11Signer loads the module, logs into the token and finds the key
// pair labelled cfg.KeyLabel.
func OpenPKCS11Signer(cfg PKCS11Config) (_ *PKCS11Signer, err error) {
	p := pkcs11.New(cfg.Module)
	if p == nil {
		return nil, fmt.Errorf("pkcs11: cannot load module %s", cfg.Module)
	}
	if err := p.Initialize(); err != nil {
		p.Destroy()
		return nil, fmt.Errorf("pkcs11 module %s: initialize: %w", cfg.Module, err)
	}
	s := &PKCS11Signer{ctx: p}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	slot, err := findSlot(p, cfg.TokenLabel)
	if err != nil {
		return nil, err
	}
	if s.session, err = p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION); err != nil {
		return nil, fmt.Errorf("pkcs11 token %q: open session: %w", cfg.TokenLabel, err)
	}
	if err := p.Login(s.session, pkcs11.CKU_USER, cfg.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return nil, fmt.Errorf("pkcs11 token %q: login: %w", cfg.TokenLabel, err)
	}
	if s.key, err = findObject(p, s.session, pkcs11.CKO_PRIVATE_KEY, cfg.KeyLabel); err != nil {
		return nil, err
	}
	pubObj, err := findObject(p, s.session, pkcs11.CKO_PUBLIC_KEY, cfg.KeyLabel)
	if err != nil {
		return nil, err
	}
	if s.pub, err = readPublicKey(p, s.session, pubObj); err != nil {
		return nil, fmt.Errorf("pkcs11 key %q: %w", cfg.KeyLabel, err)
	}
	if s.verifier, err = NewVerifier(s.pub); err != nil {
		return nil, fmt.Errorf("pkcs11 key %q: %w", cfg.KeyLabel, err)
	}
	return s, nil
}

func findSlot(p *pkcs11.Ctx, label string) (uint, error) {
	slots, err := p.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: list slots: %w", err)
	}
	for _, sl := range slots {
		if ti, err := p.GetTokenInfo(sl); err == nil && ti.Label == label {
			return sl, nil
		}
	}
	return 0, fmt.Errorf("pkcs11: no token labelled %q", label)
}

func findObject(p *pkcs11.Ctx, sh pkcs11.SessionHandle, class uint, label string) (pkcs11.ObjectHandle, error) {
	if err := p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, class), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)}); err != nil {
		return 0, fmt.Errorf("pkcs11: find %q: %w", label, err)
	}
	objs, _, err := p.FindObjects(sh, 2)
	p.FindObjectsFinal(sh)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: find %q: %w", label, err)
	}
	kind := map[uint]string{pkcs11.CKO_PRIVATE_KEY: "private", pkcs11.CKO_PUBLIC_KEY: "public"}[class]
	switch len(objs) {
	case 0:
		return 0, fmt.Errorf("pkcs11: no %s key labelled %q", kind, label)
	case 1:
		return objs[0], nil
	}
	// Two keys of one label: signing with either could name the other.
	return 0, fmt.Errorf("pkcs11: several %s keys labelled %q", kind, label)
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// readPublicKey reads an EC or RSA public key object.
func readPublicKey(p *pkcs11.Ctx, sh pkcs11.SessionHandle, o pkcs11.ObjectHandle) (crypto.PublicKey, error) {
	attrs, err := p.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)})
	if err != nil {
		return nil, fmt.Errorf("read key type: %w", err)
	}
	switch kt := bytesToUint(attrs[0].Value); kt {
	case pkcs11.CKK_EC:
		attrs, err := p.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
		if err != nil {
			return nil, fmt.Errorf("read EC key: %w", err)
		}
		var oid asn1.ObjectIdentifier
		if rest, err := asn1.Unmarshal(attrs[0].Value, &oid); err != nil || len(rest) > 0 {
			return nil, errors.New("EC parameters are not a named curve")
		}
		var curve elliptic.Curve
		switch {
		case oid.Equal(oidP256):
			curve = elliptic.P256()
		case oid.Equal(oidP384):
			curve = elliptic.P384()
		default:
			return nil, fmt.Errorf("unsupported curve %v: P-256 and P-384 are", oid)
		}
		// CKA_EC_POINT is a DER OCTET STRING holding the uncompressed point.
		var point []byte
		if rest, err := asn1.Unmarshal(attrs[1].Value, &point); err != nil || len(rest) > 0 {
			return nil, errors.New("EC point is not a DER OCTET STRING")
		}
		x, y := elliptic.Unmarshal(curve, point) //nolint:staticcheck // the token gives the uncompressed point
		if x == nil {
			return nil, errors.New("EC point is not on the curve")
		}
		return &ecdsa.PublicKey{Curve: curve, X: x, Y: y}, nil
	case pkcs11.CKK_RSA:
		attrs, err := p.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			return nil, fmt.Errorf("read RSA key: %w", err)
		}
		e := new(big.Int).SetBytes(attrs[1].Value)
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, errors.New("RSA public exponent too large")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[0].Value), E: int(e.Int64())}, nil
	default:
		return nil, fmt.Errorf("unsupported key type %#x: EC and RSA are", kt)
	}
}

// bytesToUint reads a CK_ULONG attribute, in the host's byte order.
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

// Sign signs message in the token: ECDSA over its SHA-256 (P-384:
// SHA-384) digest, returned in DER as SPEC 10.2 asks (tokens give raw
// r||s); RSA with CKM_SHA256_RSA_PKCS over the message.
func (s *PKCS11Signer) Sign(ctx context.Context, message []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var mech *pkcs11.Mechanism
	var input []byte
	switch k := s.pub.(type) {
	case *ecdsa.PublicKey:
		mech = pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)
		if k.Curve == elliptic.P384() {
			h := sha512.Sum384(message)
			input = h[:]
		} else {
			h := sha256.Sum256(message)
			input = h[:]
		}
	case *rsa.PublicKey:
		mech, input = pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil), message
	}
	if err := s.ctx.SignInit(s.session, []*pkcs11.Mechanism{mech}, s.key); err != nil {
		return nil, fmt.Errorf("pkcs11 sign with %s: %w", s.verifier.keyID, err)
	}
	sig, err := s.ctx.Sign(s.session, input)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 sign with %s: %w", s.verifier.keyID, err)
	}
	if _, ok := s.pub.(*ecdsa.PublicKey); ok {
		if len(sig)%2 != 0 || len(sig) == 0 {
			return nil, fmt.Errorf("pkcs11 sign with %s: an ECDSA signature of %d bytes", s.verifier.keyID, len(sig))
		}
		half := len(sig) / 2
		return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])})
	}
	return sig, nil
}

// KeyID is the id of the token key's public key.
func (s *PKCS11Signer) KeyID() string { return s.verifier.keyID }

// Algorithm is the signature algorithm of the token key.
func (s *PKCS11Signer) Algorithm() string { return s.verifier.alg }

// Public is the token key's public key.
func (s *PKCS11Signer) Public() crypto.PublicKey { return s.pub }

// Verifier checks the token key's signatures.
func (s *PKCS11Signer) Verifier() *Verifier { return s.verifier }

// Close logs out and unloads the module.
func (s *PKCS11Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return nil
	}
	if s.session != 0 {
		s.ctx.Logout(s.session)
		s.ctx.CloseSession(s.session)
	}
	err := s.ctx.Finalize()
	s.ctx.Destroy()
	s.ctx = nil
	return err
}

// ParsePKCS11URI reads the parts of an RFC 7512 PKCS#11 URI that name a
// key: pkcs11:token=LABEL;object=LABEL, and the query attribute
// module-path=PATH. The PIN is not read from the URI (pin-value would put
// it in a command line); the caller sets PIN.
func ParsePKCS11URI(uri string) (PKCS11Config, error) {
	var cfg PKCS11Config
	rest, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return cfg, fmt.Errorf("%q is not a pkcs11: URI", uri)
	}
	path, query, _ := strings.Cut(rest, "?")
	for _, attr := range strings.Split(path, ";") {
		k, v, _ := strings.Cut(attr, "=")
		v, err := url.PathUnescape(v)
		if err != nil {
			return cfg, fmt.Errorf("pkcs11 URI: %s: %w", k, err)
		}
		switch k {
		case "token":
			cfg.TokenLabel = v
		case "object":
			cfg.KeyLabel = v
		case "type":
			if v != "private" {
				return cfg, fmt.Errorf("pkcs11 URI: type=%s: a private key signs", v)
			}
		case "":
		default:
			// Other attributes (manufacturer, serial, id) would narrow
			// the choice; refused rather than ignored, so that a URI
			// never selects more than it says.
			return cfg, fmt.Errorf("pkcs11 URI: attribute %q is not supported (token, object, type are)", k)
		}
	}
	for _, attr := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(attr, "=")
		v, err := url.QueryUnescape(v)
		if err != nil {
			return cfg, fmt.Errorf("pkcs11 URI: %s: %w", k, err)
		}
		switch k {
		case "module-path":
			cfg.Module = v
		case "":
		case "pin-value", "pin-source":
			return cfg, fmt.Errorf("pkcs11 URI: %s: give the PIN another way, not in the URI", k)
		default:
			return cfg, fmt.Errorf("pkcs11 URI: query attribute %q is not supported (module-path is)", k)
		}
	}
	if cfg.TokenLabel == "" || cfg.KeyLabel == "" {
		return cfg, errors.New("pkcs11 URI: token= and object= are needed")
	}
	return cfg, nil
}
