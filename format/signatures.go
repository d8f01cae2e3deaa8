package format

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MediaTypeCountersignature is the mediaType of a countersignature file
// (SPEC 10.6).
const MediaTypeCountersignature = "application/vnd.airgap-bundle.signature.v1+json"

// MaxCountersignatureSize bounds a countersignature file: its fixed
// members and a signature of at most MaxSignatureSize bytes in base64 fit
// well within it, and a reader reads no more of a file that claims to be
// one (SPEC 10.6).
const MaxCountersignatureSize = 4096

// CountersignatureSuffix ends the name of every countersignature file; a
// file given by path is taken for one by this suffix.
const CountersignatureSuffix = ".sig.json"

// Countersignature is one signature over a bundle's bundle.json bytes kept
// outside the volumes, in a file of its own beside them (SPEC 10.6), so
// that a signer can add one without rewriting, or even being able to write
// to, the media. Field order is the serialization order.
type Countersignature struct {
	MediaType string `json:"mediaType"`
	// BundleID and IndexDigest say which bundle.json is signed: a reader
	// matches the file to the set it reads by them, before checking the
	// signature, so that files of other bundles in the same directory
	// are told apart from bad signatures.
	BundleID    string        `json:"bundleId"`
	IndexDigest digest.Digest `json:"indexDigest"`
	// KeyID and Algorithm name the key that made the signature. They are
	// not signed: they only select which trusted key checks it.
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	// Signature is the raw signature (SPEC 10.2) in standard base64 with
	// padding.
	Signature string `json:"signature"`
}

// algorithms are the signature algorithms of SPEC 10.2.
var algorithms = map[string]bool{"ecdsa-p256-sha256": true, "ecdsa-p384-sha384": true, "rsa-pkcs1v15-sha256": true, "ed25519": true}

// NewCountersignature describes sig, made by the key keyID with algorithm
// over indexBytes, the bundle.json of bundle bundleID.
func NewCountersignature(bundleID string, indexBytes []byte, keyID, algorithm string, sig []byte) (*Countersignature, error) {
	c := &Countersignature{MediaType: MediaTypeCountersignature, BundleID: bundleID, IndexDigest: digest.FromBytes(indexBytes),
		KeyID: keyID, Algorithm: algorithm, Signature: base64.StdEncoding.EncodeToString(sig)}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks every member's form (SPEC 10.6).
func (c *Countersignature) Validate() error {
	if c.MediaType != MediaTypeCountersignature {
		return fmt.Errorf("mediaType %q: want %q", c.MediaType, MediaTypeCountersignature)
	}
	if err := CheckBundleID(c.BundleID); err != nil {
		return err
	}
	if err := CheckDigest(c.IndexDigest); err != nil {
		return fmt.Errorf("indexDigest: %w", err)
	}
	if h, ok := strings.CutPrefix(c.KeyID, "sha256:"); !ok || len(h) != 64 || !isLowerHex(h) {
		return fmt.Errorf("keyId %q: want sha256: and 64 lowercase hex digits", c.KeyID)
	}
	if !algorithms[c.Algorithm] {
		return fmt.Errorf("algorithm %q is not one of SPEC 10.2", c.Algorithm)
	}
	_, err := c.SignatureBytes()
	return err
}

// SignatureBytes decodes the signature. Only the canonical base64 of 1 to
// MaxSignatureSize bytes is accepted: one signature has one spelling, so
// two readers cannot disagree about which bytes a file holds.
func (c *Countersignature) SignatureBytes() ([]byte, error) {
	sig, err := base64.StdEncoding.Strict().DecodeString(c.Signature)
	if err != nil {
		return nil, fmt.Errorf("signature: not standard base64: %w", err)
	}
	if len(sig) == 0 || len(sig) > MaxSignatureSize {
		return nil, fmt.Errorf("signature: %d bytes, want 1 to %d", len(sig), MaxSignatureSize)
	}
	if base64.StdEncoding.EncodeToString(sig) != c.Signature {
		return nil, fmt.Errorf("signature: not in canonical base64")
	}
	return sig, nil
}

// Encode serializes c: compact JSON, members in order, and one LF.
func (c *Countersignature) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseCountersignature reads a countersignature file: strict JSON (as
// bundle.json is, SPEC 6.1) with exactly the members of SPEC 10.6, each
// of the right form, and nothing but whitespace after the object.
func ParseCountersignature(b []byte) (*Countersignature, error) {
	if len(b) > MaxCountersignatureSize {
		return nil, fmt.Errorf("countersignature is %d bytes, more than %d", len(b), MaxCountersignatureSize)
	}
	if err := CheckStrictJSON(b, reflect.TypeFor[Countersignature]()); err != nil {
		return nil, fmt.Errorf("countersignature: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Countersignature
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("countersignature: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("countersignature: data after the JSON object")
	}
	// Every member is required: a missing one decodes as "" and fails
	// its check below, so no member can be left out.
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("countersignature: %w", err)
	}
	return &c, nil
}

// CountersignatureFileName is the name of the countersignature file of
// bundle bundleID by key keyID: "<bundleId>.<first 16 hex digits of the
// key id>.sig.json". The bundle id keeps the files of several bundles in
// one directory apart; the key id, each signer's file apart, so that
// copying the files of several signers together never overwrites one.
func CountersignatureFileName(bundleID, keyID string) string {
	return bundleID + "." + KeyIDPrefix(keyID) + CountersignatureSuffix
}

var countersignatureName = regexp.MustCompile(`^[0-9a-f]{32}\.[0-9a-f]{16}\.sig\.json$`)

// IsCountersignatureFileName reports whether name (a base name) is that of
// a countersignature file of bundle bundleID; with bundleID "" of any
// bundle.
func IsCountersignatureFileName(name, bundleID string) bool {
	return countersignatureName.MatchString(name) && (bundleID == "" || strings.HasPrefix(name, bundleID+"."))
}

// KeyIDPrefix is the part of keyID a countersignature file name carries.
func KeyIDPrefix(keyID string) string {
	h := strings.TrimPrefix(keyID, "sha256:")
	if len(h) > 16 {
		h = h[:16]
	}
	return h
}
