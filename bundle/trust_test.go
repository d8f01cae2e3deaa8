package bundle

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// fastKey is a fresh key loaded from an unencrypted PKCS#8 PEM: real keys
// without the scrypt of the encrypted format, which these tests would pay
// for many keys. pub is its public key PEM.
func fastKey(t testing.TB, ed bool) (s *sign.KeySigner, pub []byte) {
	t.Helper()
	var priv any
	var err error
	if ed {
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	} else {
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err = sign.LoadSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
	if err != nil {
		t.Fatal(err)
	}
	pder, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder})
}

// countersign writes the countersignature of the bundle in paths by s into
// dir and returns its path.
func countersign(t testing.TB, paths []string, s sign.Signer, dir string) string {
	t.Helper()
	set, err := OpenFiles(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	c, err := set.Countersign(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	p, err := WriteCountersignature(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// trustFiles opens paths and applies p.
func trustFiles(t testing.TB, paths []string, p TrustPolicy) (*Set, error) {
	t.Helper()
	set, err := OpenFiles(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	return set, set.Trust(p)
}

func TestTrustThreshold(t *testing.T) {
	t.Parallel()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, true)
	c, _ := fastKey(t, false)
	d, _ := fastKey(t, false) // never trusted
	va, vb, vc := a.Verifier(), b.Verifier(), c.Verifier()

	// One bundle signed by a; the cases add countersignature files to a
	// copy of it.
	src, _ := packLayout(t, PackOptions{Signer: a, MaxVolumeSize: 40 << 10})

	for _, tc := range []struct {
		name       string
		counter    []*sign.KeySigner // countersign with these, beside the volumes
		tamper     bool              // flip a bit of the last countersignature
		policy     TrustPolicy
		wantErr    error // nil: passes
		wantHave   int   // of a *ThresholdError
		wantValid  []string
		wantCounts int // signatures counted when it passes
	}{
		{name: "2 of 3, two signers", counter: []*sign.KeySigner{b}, policy: TrustPolicy{Keys: []*sign.Verifier{va, vb, vc}, Threshold: 2}, wantCounts: 2},
		{name: "2 of 3, three signers", counter: []*sign.KeySigner{b, c}, policy: TrustPolicy{Keys: []*sign.Verifier{va, vb, vc}, Threshold: 2}, wantCounts: 3},
		{name: "2 of 3, one signer", policy: TrustPolicy{Keys: []*sign.Verifier{va, vb, vc}, Threshold: 2},
			wantErr: &ThresholdError{}, wantHave: 1, wantValid: []string{va.KeyID()}},
		{name: "countersignature alone counts", counter: []*sign.KeySigner{b}, policy: TrustPolicy{Keys: []*sign.Verifier{vb}}, wantCounts: 1},
		{name: "the signer's own countersignature counts once", counter: []*sign.KeySigner{a}, policy: TrustPolicy{Keys: []*sign.Verifier{va, vb}, Threshold: 2},
			wantErr: &ThresholdError{}, wantHave: 1, wantValid: []string{va.KeyID()}},
		{name: "one key given twice is one key", policy: TrustPolicy{Key: va, Keys: []*sign.Verifier{va}, Threshold: 2}, wantErr: ErrBadPolicy},
		{name: "Key and Keys together", counter: []*sign.KeySigner{b}, policy: TrustPolicy{Key: va, Keys: []*sign.Verifier{vb}, Threshold: 2}, wantCounts: 2},
		{name: "untrusted extra signature ignored", counter: []*sign.KeySigner{d}, policy: TrustPolicy{Key: va}, wantCounts: 1},
		{name: "untrusted signatures do not count", counter: []*sign.KeySigner{d}, policy: TrustPolicy{Keys: []*sign.Verifier{va, vb}, Threshold: 2},
			wantErr: &ThresholdError{}, wantHave: 1, wantValid: []string{va.KeyID()}},
		{name: "signed by none of the keys", counter: []*sign.KeySigner{d}, policy: TrustPolicy{Keys: []*sign.Verifier{vb, vc}}, wantErr: ErrWrongKey, wantHave: 0},
		{name: "tampered countersignature of a trusted key", counter: []*sign.KeySigner{b}, tamper: true,
			policy: TrustPolicy{Keys: []*sign.Verifier{va, vb, vc}, Threshold: 1}, wantErr: ErrBadSignature},
		{name: "tampered countersignature of an untrusted key", counter: []*sign.KeySigner{d}, tamper: true, policy: TrustPolicy{Key: va}, wantCounts: 1},
		{name: "threshold above the keys", policy: TrustPolicy{Key: va, Threshold: 2}, wantErr: ErrBadPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyBundle(t, src)
			var last string
			for _, s := range tc.counter {
				last = countersign(t, []string{dir}, s, dir)
			}
			if tc.tamper {
				cs, err := format.ParseCountersignature(mustRead(t, last))
				if err != nil {
					t.Fatal(err)
				}
				sig, _ := cs.SignatureBytes()
				sig[len(sig)/2] ^= 1
				cs.Signature = base64.StdEncoding.EncodeToString(sig)
				b, err := cs.Encode()
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, last, b)
			}
			set, err := trustFiles(t, []string{dir}, tc.policy)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Trust: %v", err)
				}
				n := 0
				for _, st := range set.Signatures() {
					if st.Counted {
						n++
					}
				}
				if n != tc.wantCounts {
					t.Errorf("%d signatures counted, want %d: %+v", n, tc.wantCounts, set.Signatures())
				}
				if _, err := set.Verify(context.Background(), VerifyOptions{}); err != nil {
					t.Errorf("verify after Trust: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Trust passed")
			}
			if set.Trusted() {
				t.Error("Trusted() after a failed Trust")
			}
			var te *ThresholdError
			if _, ok := tc.wantErr.(*ThresholdError); ok || tc.wantErr == ErrWrongKey {
				if !errors.As(err, &te) {
					t.Fatalf("error %v (%T), want a *ThresholdError", err, err)
				}
				if te.Have != tc.wantHave || !slices.Equal(te.Valid, tc.wantValid) {
					t.Errorf("have %d, valid %v; want %d, %v", te.Have, te.Valid, tc.wantHave, tc.wantValid)
				}
				want := fmt.Sprintf("have %d of %d", tc.wantHave, te.Need)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
				for _, id := range tc.wantValid {
					if !strings.Contains(err.Error(), id) {
						t.Errorf("error %q does not name the valid key %s", err, id)
					}
				}
			}
			if tc.wantErr == ErrWrongKey || tc.wantErr == ErrBadPolicy || tc.wantErr == ErrBadSignature {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
			}
			if tc.wantErr == ErrBadSignature {
				var se *SignatureError
				if !errors.As(err, &se) || se.KeyID != vb.KeyID() || se.Path != last {
					t.Errorf("error %v: want a *SignatureError naming key %s and file %s", err, vb.KeyID(), last)
				}
				if _, err := set.Verify(context.Background(), VerifyOptions{}); !errors.Is(err, ErrNotTrusted) {
					t.Errorf("verify after a refused Trust: %v, want ErrNotTrusted", err)
				}
			}
		})
	}
}

// A countersignature file that does not parse is shown, never counted,
// and named when the threshold is not met.
func TestTrustUnreadableCountersignature(t *testing.T) {
	t.Parallel()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, false)
	dir, x := packLayout(t, PackOptions{Signer: a})
	bad := filepath.Join(dir, format.CountersignatureFileName(x.BundleID, b.KeyID()))
	mustWrite(t, bad, []byte(`{"mediaType":"nonsense"}`))
	set, err := trustFiles(t, []string{dir}, TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2})
	var te *ThresholdError
	if !errors.As(err, &te) || !slices.Contains(te.Unreadable, bad) {
		t.Fatalf("error %v, want a *ThresholdError naming %s", err, bad)
	}
	if !slices.ContainsFunc(set.Signatures(), func(s SignatureStatus) bool { return s.Path == bad && s.State == SignatureUnreadable }) {
		t.Errorf("signatures %+v do not list %s as unreadable", set.Signatures(), bad)
	}
	// With one key needed it passes: the file is no signature of a
	// trusted key.
	if _, err := trustFiles(t, []string{dir}, TrustPolicy{Key: a.Verifier()}); err != nil {
		t.Errorf("threshold 1: %v", err)
	}
}

// Countersignatures of another bundle in the same directory are told apart
// by name and ignored.
func TestTrustOtherBundlesCountersignature(t *testing.T) {
	t.Parallel()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, false)
	dir1, _ := packLayout(t, PackOptions{Signer: a})
	dir2, _ := packLayout(t, PackOptions{Signer: a, Created: testCreated.Add(time.Hour)})
	p := countersign(t, []string{dir2}, b, dir1) // beside the older bundle's volumes
	set, err := trustFiles(t, volumeFiles(t, dir1), TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(set.Signatures(), func(s SignatureStatus) bool { return s.Path == p }) {
		t.Errorf("the other bundle's countersignature %s is listed: %+v", p, set.Signatures())
	}
	// Given by path, it is shown as not this bundle's.
	_, err = trustFiles(t, append(volumeFiles(t, dir1), p), TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2})
	var te *ThresholdError
	if !errors.As(err, &te) || te.Have != 1 || !slices.Contains(te.Unreadable, p) {
		t.Errorf("error %v, want have 1 and %s unreadable", err, p)
	}
	// In a directory given for its countersignatures, a file named for
	// another bundle is not read, and is named when the threshold is not
	// met: the user most likely gave the directory for it. One beside the
	// volumes is not (volumes of several bundles may share a directory).
	sigDir := t.TempDir()
	q := countersign(t, []string{dir2}, b, sigDir)
	_, err = trustFiles(t, []string{dir1, sigDir}, TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2})
	if !errors.As(err, &te) || te.Have != 1 || !slices.Equal(te.OtherBundles, []string{q}) || !strings.Contains(err.Error(), "countersignature files of other bundles, not read: "+q) {
		t.Errorf("error %v, want have 1 and %s named as another bundle's", err, q)
	}
	_, err = trustFiles(t, []string{dir1}, TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2})
	if !errors.As(err, &te) || len(te.OtherBundles) != 0 {
		t.Errorf("error %v: files beside the volumes named as other bundles' (%v)", err, te.OtherBundles)
	}
}

// Each volume, alone with the countersignature beside it (or given by
// path), passes the threshold; the set's other volumes are then missing.
func TestTrustEachVolumeAlone(t *testing.T) {
	t.Parallel()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, false)
	src, _ := packLayout(t, PackOptions{Signer: a, MaxVolumeSize: 40 << 10})
	sigDir := t.TempDir()
	sigPath := countersign(t, []string{src}, b, sigDir)
	p := TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2}
	vols := volumeFiles(t, src)
	if len(vols) < 2 {
		t.Fatalf("want several volumes, got %d", len(vols))
	}
	for _, v := range vols {
		// Each medium: one volume and a copy of the signature file.
		medium := t.TempDir()
		copyFile(t, v, filepath.Join(medium, filepath.Base(v)))
		copyFile(t, sigPath, filepath.Join(medium, filepath.Base(sigPath)))
		set, err := trustFiles(t, []string{medium}, p)
		if err != nil {
			t.Fatalf("%s alone: %v", filepath.Base(v), err)
		}
		if r, err := set.Verify(context.Background(), VerifyOptions{Partial: true}); err != nil || len(r.Verified) != 1 {
			t.Errorf("%s alone: verified %v, %v", filepath.Base(v), r, err)
		}
		// The volume alone, the signature given by path.
		if _, err := trustFiles(t, []string{v, sigPath}, p); err != nil {
			t.Errorf("%s with %s by path: %v", filepath.Base(v), sigPath, err)
		}
		// Without it: one of two.
		if _, err := trustFiles(t, []string{v}, p); !errors.As(err, new(*ThresholdError)) {
			t.Errorf("%s without the countersignature: %v, want a *ThresholdError", filepath.Base(v), err)
		}
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	mustWrite(t, to, mustRead(t, from))
}

// A countersigner needs only bundle.json and its signature, taken out of
// a volume.
func TestCountersignFromIndexFile(t *testing.T) {
	t.Parallel()
	a, _ := fastKey(t, false)
	b, _ := fastKey(t, true)
	dir, _ := packLayout(t, PackOptions{Signer: a, MaxVolumeSize: 40 << 10})
	set, err := OpenFiles(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	mustWrite(t, filepath.Join(out, "bundle.json"), set.IndexBytes)
	mustWrite(t, filepath.Join(out, "bundle.json.sig"), set.Signature)

	is, err := OpenIndexFile(filepath.Join(out, "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The set of the index file alone is checked as the volumes are.
	if err := is.Trust(TrustPolicy{Key: a.Verifier()}); err != nil {
		t.Fatalf("trust of bundle.json and its signature: %v", err)
	}
	c, err := is.Countersign(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := WriteCountersignature(out, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteCountersignature(out, c); !errors.Is(err, os.ErrExist) {
		t.Errorf("writing it again: %v, want ErrExist", err)
	}
	if _, err := trustFiles(t, []string{dir, p}, TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2}); err != nil {
		t.Errorf("the volumes with the countersignature made from bundle.json: %v", err)
	}
	is2, err := OpenIndexFile(filepath.Join(out, "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := is2.Trust(TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}, Threshold: 2}); err != nil {
		t.Errorf("bundle.json with both signatures beside it: %v", err)
	}
	// An altered bundle.json: the first signature fails, and the
	// countersignature, over other bytes, is shown and not counted.
	altered := []byte(strings.Replace(string(set.IndexBytes), `"bundle-test"`, `"bundle-tesX"`, 1))
	mustWrite(t, filepath.Join(out, "bundle.json"), altered)
	is3, err := OpenIndexFile(filepath.Join(out, "bundle.json"))
	if err != nil {
		t.Fatal(err)
	}
	err = is3.Trust(TrustPolicy{Keys: []*sign.Verifier{a.Verifier(), b.Verifier()}})
	if !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered bundle.json: %v, want ErrBadSignature", err)
	}
	if !slices.ContainsFunc(is3.Signatures(), func(s SignatureStatus) bool { return s.Path == p && s.State == SignatureUnreadable }) {
		t.Errorf("altered bundle.json: the countersignature over the original is not shown as not this one's: %+v", is3.Signatures())
	}
}

func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	old, oldPub := fastKey(t, false)
	cur, curPub := fastKey(t, false)
	retired := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "old.pub"), oldPub)
	ring := fmt.Sprintf(`{"version":1,"keys":[
		{"name":"release-2023","publicKeyFile":"old.pub","notAfter":"2024-06-30T00:00:00Z"},
		{"name":"release-2024","publicKey":%q,"notBefore":"2024-06-01T00:00:00+00:00"}]}`, curPub)
	mustWrite(t, filepath.Join(dir, "keys.json"), []byte(ring))
	k, err := LoadKeyring(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Keys) != 2 || k.Keys[0].Name != "release-2023" || !k.Keys[0].NotAfter.Equal(retired) || k.Keys[1].Verifier.KeyID() != cur.KeyID() {
		t.Fatalf("keyring %+v", k)
	}
	for _, tc := range []struct {
		name    string
		signer  *sign.KeySigner
		created time.Time
		counter *sign.KeySigner
		ok      bool
	}{
		{"old key, before retirement", old, retired.Add(-time.Hour), nil, true},
		{"old key, at retirement", old, retired, nil, true},
		{"old key, after retirement", old, retired.Add(time.Second), nil, false},
		{"new key, before its period", cur, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), nil, false},
		{"new key, in its period", cur, retired.Add(time.Hour), nil, true},
		{"old key after retirement, countersigned by the new", old, retired.Add(time.Hour), cur, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vols, _ := packLayout(t, PackOptions{Signer: tc.signer, Created: tc.created})
			if tc.counter != nil {
				countersign(t, []string{vols}, tc.counter, vols)
			}
			_, err := trustFiles(t, []string{vols}, TrustPolicy{Keyring: k})
			if tc.ok {
				if err != nil {
					t.Errorf("Trust: %v", err)
				}
				return
			}
			var te *ThresholdError
			if !errors.As(err, &te) || len(te.Outside) != 1 || te.Outside[0] != tc.signer.KeyID() {
				t.Fatalf("error %v, want a *ThresholdError with the key outside its period", err)
			}
			if errors.Is(err, ErrWrongKey) {
				t.Errorf("a trusted key outside its period is reported as a wrong key: %v", err)
			}
			if name := k.Keys[slices.IndexFunc(k.Keys, func(x KeyringKey) bool { return x.Verifier.KeyID() == tc.signer.KeyID() })].Name; !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the key %s", err, name)
			}
		})
	}
}

func TestParseKeyringRefuses(t *testing.T) {
	t.Parallel()
	_, pub := fastKey(t, false)
	p := fmt.Sprintf("%q", pub)
	for _, tc := range []struct{ name, json, want string }{
		{"no version", `{"keys":[{"name":"a","publicKey":` + p + `}]}`, "version"},
		{"no keys", `{"version":1,"keys":[]}`, "no keys"},
		{"unknown member", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `,"expires":"x"}]}`, "expires"},
		{"case-folded member", `{"version":1,"keys":[{"Name":"a","publicKey":` + p + `}]}`, "Name"},
		{"member twice", `{"version":1,"keys":[{"name":"a","name":"b","publicKey":` + p + `}]}`, "name"},
		{"no key", `{"version":1,"keys":[{"name":"a"}]}`, "exactly one"},
		{"both keys", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `,"publicKeyFile":"x.pub"}]}`, "exactly one"},
		{"key twice", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `},{"name":"b","publicKey":` + p + `}]}`, "also"},
		{"name twice", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `},{"name":"a","publicKeyFile":"x.pub"}]}`, ""},
		{"bad time", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `,"notAfter":"2024-06-30"}]}`, "RFC 3339"},
		{"period reversed", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `,"notBefore":"2025-01-01T00:00:00Z","notAfter":"2024-01-01T00:00:00Z"}]}`, "before"},
		{"wrong pinned id", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `,"keyId":"sha256:00"}]}`, "keyId"},
		{"trailing data", `{"version":1,"keys":[{"name":"a","publicKey":` + p + `}]} {}`, "after"},
		{"private key", `{"version":1,"keys":[{"name":"a","publicKey":"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"}]}`, "public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeyring([]byte(tc.json), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseKeyring: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// Without keys, the old rules hold: a countersigned bundle needs a key or
// leave to skip the check.
func TestTrustNoKeyCountersigned(t *testing.T) {
	t.Parallel()
	b, _ := fastKey(t, false)
	dir, _ := packLayout(t, PackOptions{})
	countersign(t, []string{dir}, b, dir)
	if _, err := trustFiles(t, []string{dir}, TrustPolicy{}); !errors.Is(err, ErrKeyNeeded) {
		t.Errorf("unsigned volumes, countersigned, no key: %v, want ErrKeyNeeded", err)
	}
	set, err := trustFiles(t, []string{dir}, TrustPolicy{Key: b.Verifier()})
	if err != nil {
		t.Errorf("unsigned volumes, countersigned, its key: %v", err)
	}
	// The summary does not call a countersigned bundle unsigned.
	if got := set.Summary().Signature; got != "verified" {
		t.Errorf("summary of the countersigned bundle, trusted: signature %q, want verified", got)
	}
	set, _ = trustFiles(t, []string{dir}, TrustPolicy{AllowUnsigned: true})
	if got := set.Summary().Signature; got != "not checked" {
		t.Errorf("summary of the countersigned bundle, no key: signature %q, want not checked", got)
	}
}
