package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/urfave/cli/v2"
)

// signCommand adds a countersignature to an existing bundle (SPEC 10.6):
// a file beside the volumes, or in --out, never a change to them.
func signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "countersign a bundle: sign its bundle.json with another key, into a file kept beside the volumes",
		ArgsUsage: "PATH... (directories or volume files of the bundle, or the bundle.json taken out of a volume)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Required: true, Usage: "private key to sign with: a key file, or (builds with -tags pkcs11) a pkcs11:token=T;object=K URI, the PIN from BUNDLE_PKCS11_PIN or the terminal"},
			&cli.StringFlag{Name: "out", Usage: "DIR to write the countersignature file into (default: the directory of the first volume, or of bundle.json); the volumes are never written"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("sign: give the directories or volume files of the bundle, or its bundle.json")
			}
			set, err := openForSigning(c)
			if err != nil {
				return err
			}
			out := c.String("out")
			if out == "" {
				out = defaultSignatureDir(set, c.Args().Slice())
			}
			signer, err := loadSigner(consoleOf(c), c.String("key"))
			if err != nil {
				return err
			}
			if cl, ok := signer.(signerCloser); ok {
				defer cl.Close()
			}
			x := set.Index
			for _, st := range set.Signatures() {
				if st.KeyID == signer.KeyID() && st.State != bundle.SignatureUnreadable {
					say(c, "note: key %s has already signed bundle %s (%s); its signatures count once", signer.KeyID(), x.BundleID, st.Path)
					break
				}
			}
			cs, err := set.Countersign(c.Context, signer)
			if err != nil {
				return err
			}
			path, err := bundle.WriteCountersignature(out, cs)
			if err != nil {
				return err
			}
			say(c, "countersigned bundle %s (created %s) with %s (%s): wrote %s", x.BundleID, x.Created, signer.KeyID(), signer.Algorithm(), path)
			say(c, "keep it beside the volumes (copy it onto each medium), or give it to verify and unpack by path")
			return nil
		},
	}
}

// signerCloser is a signer that holds something open (a token session).
type signerCloser interface {
	sign.Signer
	Close() error
}

// openTokenSigner opens a key kept in a token, named by a pkcs11: URI; set
// in builds with -tags pkcs11 only (it needs cgo).
var openTokenSigner func(con *console, uri string) (signerCloser, error)

// loadSigner loads the private key at path, asking for its password only
// when it is encrypted: a countersigner's unencrypted key (kept on an
// encrypted disk) needs none. A pkcs11: URI names a key in a token.
func loadSigner(con *console, path string) (sign.Signer, error) {
	if strings.HasPrefix(path, "pkcs11:") {
		if openTokenSigner == nil {
			return nil, usagef("--key %s: this bundle was built without PKCS#11 support (go build -tags pkcs11)", path)
		}
		return openTokenSigner(con, path)
	}
	var pw []byte
	if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte("ENCRYPTED")) {
		if pw, err = password(con, false); err != nil {
			return nil, err
		}
	}
	return sign.LoadSignerFile(path, pw)
}

// openForSigning opens what the arguments name: one bundle.json (with the
// bundle.json.sig beside it), or the volumes.
func openForSigning(c *cli.Context) (*bundle.Set, error) {
	args := c.Args().Slice()
	if len(args) == 1 {
		if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() && isIndexFile(args[0]) {
			return bundle.OpenIndexFile(args[0])
		}
	}
	set, err := bundle.OpenFiles(c.Context, args)
	if err != nil {
		return nil, err
	}
	// Volumes of other bundles, or damaged headers, do not change what
	// is signed (the chosen bundle's bundle.json), but the signer should
	// know which bundle that is.
	for _, p := range set.Problems {
		say(c, "bundle: %v", p)
	}
	return set, nil
}

// isIndexFile reports whether the file at path starts as JSON does, not as
// a volume (a tar header) does.
func isIndexFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 1)
	for {
		if _, err := io.ReadFull(f, b); err != nil {
			return false
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b[0] == '{'
	}
}

// defaultSignatureDir is the directory of the first volume of the set, or
// of its bundle.json, or of the first argument.
func defaultSignatureDir(set *bundle.Set, args []string) string {
	for _, v := range set.Index.Volumes {
		if h := set.Volumes[v.Number]; h != nil {
			return filepath.Dir(h.Path)
		}
	}
	if st, err := os.Stat(args[0]); err == nil && st.IsDir() {
		return args[0]
	}
	return filepath.Dir(args[0])
}

// pathList is a flag given more than once, each value a path kept whole
// (a StringSliceFlag would split a path at its commas).
type pathList []string

func (p *pathList) Set(s string) error {
	if s == "" {
		return errors.New("empty path")
	}
	*p = append(*p, s)
	return nil
}

func (p *pathList) String() string { return strings.Join(*p, " ") }

// paths is the values of the pathList flag name.
func paths(c *cli.Context, name string) []string {
	if l, ok := c.Generic(name).(*pathList); ok && l != nil {
		return *l
	}
	return nil
}

// publicKeys loads the public key files the pathList flag name gives.
func publicKeys(c *cli.Context, name string) ([]*sign.Verifier, error) {
	var keys []*sign.Verifier
	for _, p := range paths(c, name) {
		v, err := sign.LoadVerifierFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, v)
	}
	return keys, nil
}

// keyPolicy is the trust policy of --key (repeatable), --keyring and
// --threshold; required says one of them, or --allow-unsigned, is needed.
func keyPolicy(c *cli.Context, required bool) (bundle.TrustPolicy, error) {
	var p bundle.TrustPolicy
	given := c.IsSet("key") || c.IsSet("keyring")
	if required && !given && !c.Bool("allow-unsigned") {
		return p, usagef("%s: give --key PUB (or --keyring FILE) to check the signatures (or --allow-unsigned)", c.Command.Name)
	}
	if c.IsSet("threshold") && !given {
		return p, usagef("--threshold applies with --key or --keyring only")
	}
	p.Threshold = c.Int("threshold")
	if p.Threshold < 1 {
		return p, usagef("--threshold %d: want 1 or more", p.Threshold)
	}
	var err error
	if p.Keys, err = publicKeys(c, "key"); err != nil {
		return p, err
	}
	if f := c.String("keyring"); f != "" {
		if p.Keyring, err = bundle.LoadKeyring(f); err != nil {
			return p, err
		}
	}
	p.AllowUnsigned = hasFlag(c, "allow-unsigned") && c.Bool("allow-unsigned")
	p.AllowExpired = hasFlag(c, "allow-expired") && c.Bool("allow-expired")
	return p, nil
}

// keyFlags are the flags that name the trusted keys.
func keyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "key", Value: &pathList{}, Usage: "public key trusted to sign the bundle (repeatable: each key counts once towards --threshold)"},
		&cli.StringFlag{Name: "keyring", Usage: "FILE listing trusted public keys, each with an optional validity period (see README)"},
		&cli.IntFlag{Name: "threshold", Value: 1, Usage: "how many distinct trusted keys must have signed the bundle"},
	}
}

// sayStatuses prints each signature found and what was made of it.
func sayStatuses(w io.Writer, statuses []bundle.SignatureStatus) {
	for _, st := range statuses {
		fmt.Fprintf(w, "  %s\n", statusLine(st))
	}
}

func statusLine(st bundle.SignatureStatus) string {
	if st.State == bundle.SignatureUnreadable {
		return fmt.Sprintf("signature file %s: unreadable: %s", st.Path, st.Note)
	}
	key := st.KeyID
	if st.KeyName != "" {
		key = st.KeyName + " " + key
	}
	where := "countersignature " + st.Path
	if st.InVolume {
		where = "in volume " + st.Path
	}
	trust := "untrusted key"
	if st.Trusted {
		trust = "trusted key"
	}
	l := fmt.Sprintf("signature by %s (%s), %s: %s, %s", key, st.Algorithm, where, st.State, trust)
	if st.Counted {
		l += ", counted"
	}
	if st.Note != "" {
		l += " (" + st.Note + ")"
	}
	return l
}

// signed reports whether any signature was found for the set, in its
// volumes or beside them.
func signed(set *bundle.Set) bool {
	for _, st := range set.Signatures() {
		if st.State != bundle.SignatureUnreadable {
			return true
		}
	}
	return false
}
