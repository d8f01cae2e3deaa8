package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"time"
	"unicode"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// Keyring is a set of named trusted public keys, each trusted for bundles
// created within its validity period: a key retired on a date no longer
// counts for bundles created after it (SPEC 10.7). Read one with
// LoadKeyring or ParseKeyring.
type Keyring struct {
	Keys []KeyringKey
}

// KeyringKey is one key of a keyring.
type KeyringKey struct {
	Name     string
	Verifier *sign.Verifier
	// NotBefore and NotAfter bound, both included, the created time of
	// the bundles the key counts for; a zero time leaves that side open.
	NotBefore, NotAfter time.Time
}

// ValidFor reports whether the key counts for a bundle created at created.
func (k *KeyringKey) ValidFor(created time.Time) bool {
	return (k.NotBefore.IsZero() || !created.Before(k.NotBefore)) && (k.NotAfter.IsZero() || !created.After(k.NotAfter))
}

// period describes the validity period for messages.
func (k *KeyringKey) period() string {
	switch {
	case k.NotBefore.IsZero() && k.NotAfter.IsZero():
		return "always"
	case k.NotBefore.IsZero():
		return "until " + k.NotAfter.Format(time.RFC3339)
	case k.NotAfter.IsZero():
		return "from " + k.NotBefore.Format(time.RFC3339)
	}
	return "from " + k.NotBefore.Format(time.RFC3339) + " until " + k.NotAfter.Format(time.RFC3339)
}

// Limits of a keyring file: a reader never holds more than this whatever
// the file says.
const (
	maxKeyringSize = 1 << 20
	maxKeyringKeys = 1000
	maxKeyNameLen  = 128
)

// keyringFile is the keyring file as written (SPEC 10.7).
type keyringFile struct {
	Version int            `json:"version"`
	Keys    []keyringEntry `json:"keys"`
}

type keyringEntry struct {
	Name          string `json:"name"`
	PublicKey     string `json:"publicKey,omitempty"`
	PublicKeyFile string `json:"publicKeyFile,omitempty"`
	KeyID         string `json:"keyId,omitempty"`
	NotBefore     string `json:"notBefore,omitempty"`
	NotAfter      string `json:"notAfter,omitempty"`
}

// LoadKeyring reads the keyring file at path; a publicKeyFile in it is
// relative to the file's directory.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyringSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	k, err := ParseKeyring(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	return k, nil
}

// ParseKeyring parses a keyring file (SPEC 10.7); a relative publicKeyFile
// is taken relative to dir.
func ParseKeyring(data []byte, dir string) (*Keyring, error) {
	return parseKeyring(data, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	})
}

// parseKeyring is ParseKeyring reading key files with readFile (the fuzz
// target gives one that reads nothing).
func parseKeyring(data []byte, readFile func(string) ([]byte, error)) (*Keyring, error) {
	if len(data) > maxKeyringSize {
		return nil, fmt.Errorf("%d bytes or more, more than %d", len(data), maxKeyringSize)
	}
	// Strict JSON as bundle.json is: a member twice, or a name that only
	// matches when case is ignored, would let two readers take one file
	// for two lists of keys.
	if err := format.CheckStrictJSON(data, reflect.TypeFor[keyringFile]()); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f keyringFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("version %d: want 1", f.Version)
	}
	if len(f.Keys) == 0 {
		return nil, errors.New("no keys: a keyring lists at least one")
	}
	if len(f.Keys) > maxKeyringKeys {
		return nil, fmt.Errorf("%d keys, more than %d", len(f.Keys), maxKeyringKeys)
	}
	k := &Keyring{}
	names, ids := map[string]bool{}, map[string]string{}
	for i, e := range f.Keys {
		key, err := parseKeyringEntry(e, readFile)
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (%q): %w", i, e.Name, err)
		}
		if names[key.Name] {
			return nil, fmt.Errorf("keys[%d]: name %q is given twice", i, key.Name)
		}
		// One key twice, with two periods, would be read by one reader as
		// the union and by another as the first: refused.
		if other, ok := ids[key.Verifier.KeyID()]; ok {
			return nil, fmt.Errorf("keys[%d] (%q): key %s is also %q: list each key once", i, key.Name, key.Verifier.KeyID(), other)
		}
		names[key.Name], ids[key.Verifier.KeyID()] = true, key.Name
		k.Keys = append(k.Keys, key)
	}
	return k, nil
}

func parseKeyringEntry(e keyringEntry, readFile func(string) ([]byte, error)) (KeyringKey, error) {
	key := KeyringKey{Name: e.Name}
	if e.Name == "" || len(e.Name) > maxKeyNameLen {
		return key, fmt.Errorf("name: want 1 to %d bytes", maxKeyNameLen)
	}
	for _, r := range e.Name {
		if !unicode.IsPrint(r) {
			return key, fmt.Errorf("name %q: only printable characters", e.Name)
		}
	}
	var pem []byte
	switch {
	case (e.PublicKey == "") == (e.PublicKeyFile == ""):
		return key, errors.New("give exactly one of publicKey (PEM) and publicKeyFile (a path)")
	case e.PublicKey != "":
		pem = []byte(e.PublicKey)
	default:
		var err error
		if pem, err = readFile(e.PublicKeyFile); err != nil {
			return key, fmt.Errorf("publicKeyFile: %w", err)
		}
	}
	v, err := sign.LoadVerifier(pem)
	if err != nil {
		return key, err
	}
	key.Verifier = v
	// A pinned key id guards against a key file replaced beside the
	// keyring.
	if e.KeyID != "" && e.KeyID != v.KeyID() {
		return key, fmt.Errorf("keyId %s, but the public key's id is %s", e.KeyID, v.KeyID())
	}
	for _, t := range []struct {
		s    string
		to   *time.Time
		what string
	}{{e.NotBefore, &key.NotBefore, "notBefore"}, {e.NotAfter, &key.NotAfter, "notAfter"}} {
		if t.s == "" {
			continue
		}
		tm, err := time.Parse(time.RFC3339, t.s)
		if err != nil {
			return key, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-01-31T00:00:00Z", t.what, t.s)
		}
		*t.to = tm.UTC()
	}
	if !key.NotBefore.IsZero() && !key.NotAfter.IsZero() && key.NotAfter.Before(key.NotBefore) {
		return key, fmt.Errorf("notAfter %s is before notBefore %s", e.NotAfter, e.NotBefore)
	}
	return key, nil
}
