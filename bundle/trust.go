package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// TrustPolicy says which bundles a reader accepts (SPEC 11.2).
//
// The trusted keys are Key, Keys and the keys of Keyring, each key counted
// once however often it is given. With any, the bundle passes only with
// valid signatures over its bundle.json by at least Threshold of them
// (1 when Threshold is 0): the signature in the volumes
// (bundle.json.sig) and the countersignatures found beside them (SPEC
// 10.6) alike. Signatures by keys not trusted are ignored; a signature
// that claims a trusted key and does not verify fails the bundle. A key of
// the keyring counts only for bundles created within its period, unless
// it is given in Key or Keys too (then it counts always).
type TrustPolicy struct {
	// Key is a public key the bundle must be signed with (as one of Keys).
	Key *sign.Verifier
	// Keys are more trusted public keys.
	Keys []*sign.Verifier
	// Keyring holds trusted keys with the periods they are valid for: a
	// key counts only for bundles created within its period.
	Keyring *Keyring
	// Threshold is how many distinct trusted keys must have signed the
	// bundle; 0 means 1.
	Threshold int
	// AllowUnsigned accepts a bundle that is not signed at all, or,
	// without any trusted key, one whose signatures are then not checked.
	AllowUnsigned bool
	// AllowExpired accepts a bundle past the expiry its index records.
	AllowExpired bool
	// Now is the time expiry is judged at; zero means the clock's.
	Now time.Time
}

// ErrExpired is wrapped by *ExpiredError.
var ErrExpired = errors.New("the bundle has expired")

// ExpiredError is a bundle past the expiry its signed index records.
type ExpiredError struct {
	BundleID string
	Expires  time.Time
	Now      time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("bundle %s expired on %s (%s ago): it is not to be applied any more; pack a new one",
		e.BundleID, e.Expires.Format(time.RFC3339), roughly(e.Now.Sub(e.Expires)))
}

// roughly says d as people say it: in days from two days on, in hours
// from two hours on, else in minutes or seconds ("1085 days", not
// "26048h11m39s").
func roughly(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int((d+12*time.Hour)/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int((d+30*time.Minute)/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int((d+30*time.Second)/time.Minute))
	}
	return d.Round(time.Second).String()
}

func (e *ExpiredError) Unwrap() error { return ErrExpired }

// Expires is when the bundle expires (zero when it does not), and how long
// is left before it from now (negative once past).
func (s *Set) Expires(now time.Time) (at time.Time, left time.Duration) {
	at, err := s.Index.ExpiresTime()
	if err != nil || at.IsZero() {
		return time.Time{}, 0
	}
	return at, at.Sub(now)
}

// Errors of trust policies.
var (
	// ErrBadPolicy: the trust policy cannot be met by any bundle (a
	// threshold above the number of distinct trusted keys, or below 0).
	ErrBadPolicy = errors.New("the trust policy cannot be met")
)

// ThresholdError is a bundle signed by fewer distinct trusted keys than
// the policy's threshold. Without any valid signature by a trusted key it
// wraps ErrWrongKey too.
type ThresholdError struct {
	BundleID string
	Need     int
	Have     int
	// Valid are the ids of the trusted keys whose signatures are valid
	// and count.
	Valid []string
	// Untrusted are the ids of the keys of the signatures ignored, their
	// keys not being trusted.
	Untrusted []string
	// Outside are the trusted keys that signed, validly, a bundle created
	// outside their keyring period: they do not count.
	Outside []string
	// Unreadable are the countersignature files that could not be read:
	// they may have been meant to count.
	Unreadable []string
	// OtherBundles are countersignature files, in directories given for
	// their countersignatures, named for other bundles: not read, and
	// most likely the reason the user gave the directory.
	OtherBundles []string

	names map[string]string // key id to keyring name
}

func (e *ThresholdError) label(id string) string {
	if n := e.names[id]; n != "" {
		return n + " (" + id + ")"
	}
	return id
}

func (e *ThresholdError) labels(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = e.label(id)
	}
	return strings.Join(out, ", ")
}

func (e *ThresholdError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bundle %s: not signed by enough trusted keys: have %d of %d (valid signatures by distinct trusted keys)", e.BundleID, e.Have, e.Need)
	if len(e.Valid) > 0 {
		fmt.Fprintf(&b, "; valid: %s", e.labels(e.Valid))
	}
	if len(e.Outside) > 0 {
		fmt.Fprintf(&b, "; not counted, the bundle being created outside their validity period: %s", e.labels(e.Outside))
	}
	if len(e.Untrusted) > 0 {
		fmt.Fprintf(&b, "; ignored, by keys not trusted: %s", strings.Join(e.Untrusted, ", "))
	}
	if len(e.Unreadable) > 0 {
		fmt.Fprintf(&b, "; unreadable countersignature files: %s", strings.Join(e.Unreadable, ", "))
	}
	if len(e.OtherBundles) > 0 {
		fmt.Fprintf(&b, "; countersignature files of other bundles, not read: %s", strings.Join(e.OtherBundles, ", "))
	}
	return b.String()
}

// Unwrap gives ErrWrongKey when no trusted key signed: what a reader
// given one key has always been told of a bundle signed by another.
func (e *ThresholdError) Unwrap() error {
	if e.Have == 0 && len(e.Outside) == 0 {
		return ErrWrongKey
	}
	return nil
}

// SignatureError is a signature that claims a trusted key and does not
// verify over bundle.json, or whose algorithm is not its key's. It wraps
// ErrBadSignature, or ErrWrongKey for the algorithm.
type SignatureError struct {
	BundleID string
	KeyID    string
	KeyName  string // from the keyring, or ""
	Path     string // the volume or countersignature file that holds it
	Err      error
}

func (e *SignatureError) Error() string {
	key := e.KeyID
	if e.KeyName != "" {
		key = e.KeyName + " (" + e.KeyID + ")"
	}
	return fmt.Sprintf("bundle %s, %s: signature by trusted key %s: %v", e.BundleID, e.Path, key, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// Signature states (SignatureStatus.State).
const (
	SignatureValid      = "valid"
	SignatureInvalid    = "invalid"
	SignatureNotChecked = "not checked"
	SignatureUnreadable = "unreadable"
)

// SignatureStatus is one signature found for a bundle: in its volumes or
// in a countersignature file, and what the last Trust made of it.
type SignatureStatus struct {
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	KeyName   string `json:"keyName,omitempty"` // from the keyring
	// Path is the volume (the first that carries it) or the
	// countersignature file.
	Path     string `json:"path"`
	InVolume bool   `json:"inVolume"`
	// State is SignatureValid, SignatureInvalid, SignatureNotChecked (its
	// key is not trusted, or no key was given) or SignatureUnreadable (a
	// countersignature file that does not parse, or is for another
	// bundle.json).
	State   string `json:"state"`
	Trusted bool   `json:"trusted"`
	// Counted: valid, by a trusted key valid for the bundle, and the
	// first such signature of that key.
	Counted bool   `json:"counted"`
	Note    string `json:"note,omitempty"`
}

// Trust checks the bundle's signatures against p, once: Verify, Unpack
// and Push read only a set whose signatures passed. Without a trusted key,
// unsigned bundles and signed ones pass only with p.AllowUnsigned
// (ErrUnsigned, ErrKeyNeeded). With trusted keys, see TrustPolicy; a
// failure is a *ThresholdError or one or more *SignatureError.
func (s *Set) Trust(p TrustPolicy) error {
	st, err := s.evaluate(p)
	s.statuses = st
	if err != nil {
		return err
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	// After the signatures: a forged expiry is no reason to be refused
	// before the forgery is named.
	if at, left := s.Expires(now); !at.IsZero() && left <= 0 && !p.AllowExpired {
		return &ExpiredError{BundleID: s.Index.BundleID, Expires: at, Now: now}
	}
	s.trusted = true
	s.checkedKey = slices.ContainsFunc(st, func(x SignatureStatus) bool { return x.Counted })
	// The signatures over bundle.json are checked: reading the bundle
	// needs only the decoded index and the digest (see IndexBytes).
	s.releaseIndexBytes()
	return nil
}

// Trusted reports whether Trust passed.
func (s *Set) Trusted() bool { return s.trusted }

// Signatures lists every signature found for the bundle, in the volumes
// first, with what the last Trust made of each (all "not checked" before
// Trust).
func (s *Set) Signatures() []SignatureStatus {
	if s.statuses != nil {
		return s.statuses
	}
	st, _ := s.evaluate(TrustPolicy{AllowUnsigned: true})
	return st
}

// checkSignature is Trust's check with one key (LoadBase).
func (s *Set) checkSignature(key *sign.Verifier, allowUnsigned bool) error {
	_, err := s.evaluate(TrustPolicy{Key: key, AllowUnsigned: allowUnsigned})
	return err
}

// trustedKey is a key of a policy, as it applies to one bundle.
type trustedKey struct {
	v      *sign.Verifier
	name   string
	counts bool   // valid for the bundle's created time
	period string // when !counts
}

// keys lists p's keys, each once, for a bundle created at created: a key
// given directly counts always; from the keyring, within its period.
func (p TrustPolicy) keys(created time.Time) []*trustedKey {
	var out []*trustedKey
	byID := map[string]*trustedKey{}
	add := func(v *sign.Verifier, name string, counts bool, period string) {
		if v == nil {
			return
		}
		k := byID[v.KeyID()]
		if k == nil {
			k = &trustedKey{v: v}
			byID[v.KeyID()] = k
			out = append(out, k)
		}
		if k.name == "" {
			k.name = name
		}
		if counts {
			k.counts = true
		} else if !k.counts {
			k.period = period
		}
	}
	add(p.Key, "", true, "")
	for _, v := range p.Keys {
		add(v, "", true, "")
	}
	if p.Keyring != nil {
		for i := range p.Keyring.Keys {
			k := &p.Keyring.Keys[i]
			add(k.Verifier, k.Name, k.ValidFor(created), k.period())
		}
	}
	return out
}

// candidate is a signature found for the bundle.
type candidate struct {
	keyID, alg, path string
	inVolume         bool
	sig              []byte
}

// evaluate applies p to the bundle's signatures: the statuses of all
// found, and the error Trust returns.
func (s *Set) evaluate(p TrustPolicy) ([]SignatureStatus, error) {
	id := s.Index.BundleID
	cs := s.countersignatures()
	var cands []candidate
	if s.Index.Signer != nil {
		sigs := s.signatures
		if len(sigs) == 0 && s.Signature != nil {
			sigs = [][]byte{s.Signature}
		}
		for _, sig := range sigs {
			cands = append(cands, candidate{keyID: s.Index.Signer.KeyID, alg: s.Index.Signer.Algorithm, path: s.signaturePath(sig), inVolume: true, sig: sig})
		}
	}
	for _, f := range cs.found {
		cands = append(cands, candidate{keyID: f.c.KeyID, alg: f.c.Algorithm, path: f.path, sig: f.sig})
	}
	statuses := make([]SignatureStatus, 0, len(cands)+len(cs.unreadable))
	for _, c := range cands {
		statuses = append(statuses, SignatureStatus{KeyID: c.keyID, Algorithm: c.alg, Path: c.path, InVolume: c.inVolume, State: SignatureNotChecked})
	}
	var unreadable []string
	for _, u := range cs.unreadable {
		statuses = append(statuses, SignatureStatus{Path: u.path, State: SignatureUnreadable, Note: u.err.Error()})
		unreadable = append(unreadable, u.path)
	}

	created, err := s.Index.CreatedTime()
	if err != nil {
		return statuses, fmt.Errorf("bundle %s: %w", id, err)
	}
	keys := p.keys(created)
	if len(keys) == 0 {
		switch {
		case p.AllowUnsigned:
			return statuses, nil
		case len(cands) == 0:
			return statuses, fmt.Errorf("bundle %s: %w", id, ErrUnsigned)
		case s.Index.Signer != nil:
			return statuses, fmt.Errorf("bundle %s is signed by %s: %w", id, s.Index.Signer.KeyID, ErrKeyNeeded)
		}
		return statuses, fmt.Errorf("bundle %s is countersigned by %s: %w", id, cands[0].keyID, ErrKeyNeeded)
	}
	need := p.Threshold
	if need == 0 {
		need = 1
	}
	if need < 0 || need > len(keys) {
		return statuses, fmt.Errorf("a threshold of %d signatures with %d distinct trusted keys: %w", p.Threshold, len(keys), ErrBadPolicy)
	}
	if len(cands) == 0 {
		if p.AllowUnsigned {
			return statuses, nil
		}
		return statuses, fmt.Errorf("bundle %s: %w", id, ErrUnsigned)
	}

	byID := map[string]*trustedKey{}
	names := map[string]string{}
	for _, k := range keys {
		byID[k.v.KeyID()] = k
		if k.name != "" {
			names[k.v.KeyID()] = k.name
		}
	}
	var bad []error
	counted := map[string]bool{}
	terr := &ThresholdError{BundleID: id, Need: need, Unreadable: unreadable, OtherBundles: cs.otherBundles, names: names}
	// The bytes signed, read once for every signature checked: a set
	// that let a large bundle.json go reads it again from a volume.
	var msg []byte
	var msgErr error
	signed := func() ([]byte, error) {
		if msg == nil && msgErr == nil {
			msg, msgErr = s.ReadIndexBytes(context.Background())
		}
		return msg, msgErr
	}
	for i, c := range cands {
		st := &statuses[i]
		k := byID[c.keyID]
		if k == nil {
			// Whoever else signed is not ours to judge (SPEC 10.6).
			if !slices.Contains(terr.Untrusted, c.keyID) {
				terr.Untrusted = append(terr.Untrusted, c.keyID)
			}
			continue
		}
		st.Trusted, st.KeyName = true, k.name
		var err error
		if c.alg != k.v.Algorithm() {
			err = fmt.Errorf("%w: the signature says algorithm %s, the key is %s", ErrWrongKey, c.alg, k.v.Algorithm())
		} else if msg, rerr := signed(); rerr != nil {
			// Released by an earlier Trust and not the same on the
			// volume now: not what was signed.
			err = fmt.Errorf("%w (%v)", ErrBadSignature, rerr)
		} else if verr := k.v.Verify(msg, c.sig); verr != nil {
			err = fmt.Errorf("%w (%v)", ErrBadSignature, verr)
		}
		if err != nil {
			st.State, st.Note = SignatureInvalid, err.Error()
			bad = append(bad, &SignatureError{BundleID: id, KeyID: c.keyID, KeyName: k.name, Path: c.path, Err: err})
			continue
		}
		st.State = SignatureValid
		switch {
		case !k.counts:
			st.Note = "the key is trusted " + k.period + ", and the bundle was created " + s.Index.Created
			if !slices.Contains(terr.Outside, c.keyID) {
				terr.Outside = append(terr.Outside, c.keyID)
			}
		case counted[c.keyID]:
			st.Note = "its key is counted once"
		default:
			st.Counted = true
			counted[c.keyID] = true
			terr.Valid = append(terr.Valid, c.keyID)
		}
	}
	// A trusted key's signature that does not verify is refused, not
	// skipped: it is the mark of an altered index or a damaged or forged
	// file, which the user should see even when enough others are good.
	if len(bad) > 0 {
		return statuses, errors.Join(bad...)
	}
	terr.Have = len(terr.Valid)
	if terr.Have < need {
		return statuses, terr
	}
	return statuses, nil
}

// signaturePath is the first volume (by number) that carries sig.
func (s *Set) signaturePath(sig []byte) string {
	best := 0
	for n, v := range s.Volumes {
		if bytes.Equal(v.Signature, sig) && (best == 0 || n < best) {
			best = n
		}
	}
	if best == 0 {
		if s.indexPath != "" {
			return filepath.Join(filepath.Dir(s.indexPath), format.MemberSignature)
		}
		return format.MemberSignature
	}
	return s.Volumes[best].Path
}

// countersignatures are the countersignature files found for a set.
type countersignatures struct {
	found      []foundCountersignature
	unreadable []unreadableCountersignature
	// otherBundles are the files in directories given for their
	// countersignatures (given, and holding no volume of the set) named
	// for other bundles.
	otherBundles []string
}

type foundCountersignature struct {
	path string
	c    *format.Countersignature
	sig  []byte
}

type unreadableCountersignature struct {
	path string
	err  error
}

// splitSignaturePaths separates the countersignature files among paths
// (by their name) from the rest. sigs has the directories too, which may
// hold countersignature files and no volume.
func splitSignaturePaths(paths []string) (rest, sigs []string) {
	for _, p := range paths {
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			sigs = append(sigs, p)
		case err == nil && st.Mode().IsRegular() && strings.HasSuffix(filepath.Base(p), format.CountersignatureSuffix):
			sigs = append(sigs, p)
			continue
		}
		rest = append(rest, p)
	}
	return rest, sigs
}

// countersignatures finds, once, the countersignature files of the set:
// those named for its bundle in the directories of its volume files (and
// of its bundle.json, for a set read from one), and those given by path.
// Copies of one signature (one beside each volume) count once.
func (s *Set) countersignatures() *countersignatures {
	if s.counters != nil {
		return s.counters
	}
	cs := &countersignatures{}
	s.counters = cs
	seen := map[string]bool{} // keyId and signature
	var seenFiles []os.FileInfo
	add := func(path string, explicit bool) {
		st, err := os.Stat(path)
		if err == nil {
			for _, o := range seenFiles {
				if os.SameFile(o, st) {
					return
				}
			}
			seenFiles = append(seenFiles, st)
		}
		c, sig, err := readCountersignature(path)
		if err == nil && (c.BundleID != s.Index.BundleID || c.IndexDigest != s.indexContent().Digest) {
			// Named for this bundle (or given by path): a signature over
			// other bytes is worth showing, not counting.
			err = fmt.Errorf("it signs bundle.json %s of bundle %s, not this bundle's", c.IndexDigest, c.BundleID)
		}
		if err != nil {
			cs.unreadable = append(cs.unreadable, unreadableCountersignature{path, err})
			return
		}
		k := c.KeyID + "\x00" + c.Signature
		if seen[k] {
			return
		}
		seen[k] = true
		cs.found = append(cs.found, foundCountersignature{path, c, sig})
	}
	var dirs []string
	given := map[string]bool{} // directories given for their countersignatures
	for _, n := range slices.Sorted(maps.Keys(s.Volumes)) {
		if fv, ok := s.openers[n].(*fileVolume); ok {
			dirs = append(dirs, filepath.Dir(fv.path))
		}
	}
	if s.indexPath != "" {
		dirs = append(dirs, filepath.Dir(s.indexPath))
	}
	var files []string
	for _, p := range s.sigPaths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if !slices.Contains(dirs, filepath.Clean(p)) {
				// Not a directory of the set's volumes, which may hold
				// other bundles' volumes and files alike.
				given[filepath.Clean(p)] = true
			}
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	scanned := map[string]bool{}
	for _, d := range dirs {
		d = filepath.Clean(d)
		if scanned[d] {
			continue
		}
		scanned[d] = true
		entries, err := os.ReadDir(d)
		if err != nil {
			cs.unreadable = append(cs.unreadable, unreadableCountersignature{d, err})
			continue
		}
		for _, e := range entries {
			switch {
			case !e.Type().IsRegular():
			case format.IsCountersignatureFileName(e.Name(), s.Index.BundleID):
				add(filepath.Join(d, e.Name()), false)
			case given[d] && strings.HasSuffix(e.Name(), format.CountersignatureSuffix):
				cs.otherBundles = append(cs.otherBundles, filepath.Join(d, e.Name()))
			}
		}
	}
	for _, p := range files {
		add(p, true)
	}
	return cs
}

// readCountersignature reads and parses the countersignature file at path,
// reading no more than a countersignature can be.
func readCountersignature(path string) (*format.Countersignature, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, format.MaxCountersignatureSize+1))
	if err != nil {
		return nil, nil, err
	}
	c, err := format.ParseCountersignature(b)
	if err != nil {
		return nil, nil, err
	}
	sig, err := c.SignatureBytes()
	return c, sig, err
}
