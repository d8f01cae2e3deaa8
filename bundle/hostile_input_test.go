package bundle

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
)

// resign rewrites bundle.json in every volume of dir to index (the same
// length in blocks) with signature sig, and index.json to layoutIndex
// when not nil.
func resign(t *testing.T, dir string, index, sig, layoutIndex []byte) {
	t.Helper()
	repl := map[string][]byte{format.MemberIndex: index, format.MemberSignature: sig}
	if layoutIndex != nil {
		repl[format.MemberOCIIndex] = layoutIndex
	}
	for _, p := range volumeFiles(t, dir) {
		rewritePrefix(t, p, repl)
	}
}

func mustSign(t *testing.T, s *sign.KeySigner, b []byte) []byte {
	t.Helper()
	sig, err := s.Sign(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestOpenVerifyIndexEarly: with OpenOptions.VerifyIndex from the trust
// policy, a volume whose bundle.json the key does not vouch for is
// refused with the class Trust would give (SPEC 11.2), before its index
// is decoded; a good bundle opens and trusts as before.
func TestOpenVerifyIndexEarly(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	other := newSigner(t, "")
	ctx := context.Background()
	signed, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer})
	unsigned, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	indexBytes, layoutIndex := readBundleIndexBytes(t, signed)
	v1, v9 := []byte(`"app:v1"`), []byte(`"app:v9"`)
	newLayoutIndex := bytes.ReplaceAll(layoutIndex, v1, v9)
	retagged := bytes.ReplaceAll(indexBytes, v1, v9)
	retagged = bytes.ReplaceAll(retagged, []byte(digest.FromBytes(layoutIndex)), []byte(digest.FromBytes(newLayoutIndex)))
	otherKeyID := bytes.ReplaceAll(retagged, []byte(signer.KeyID()), []byte(other.KeyID()))

	notResigned := copyBundle(t, signed)
	resign(t, notResigned, retagged, readSig(t, signed), newLayoutIndex)
	byOther := copyBundle(t, signed)
	resign(t, byOther, otherKeyID, mustSign(t, other, otherKeyID), newLayoutIndex)

	cases := []struct {
		name   string
		dir    string
		policy TrustPolicy
		want   error // nil: opens, and Trust passes
	}{
		{"good", signed, TrustPolicy{Key: key}, nil},
		{"edited, not re-signed", notResigned, TrustPolicy{Key: key}, ErrBadSignature},
		{"signed by the key its signer names, not ours", byOther, TrustPolicy{Key: key}, ErrWrongKey},
		{"unsigned, key given", unsigned, TrustPolicy{Key: key}, ErrUnsigned},
		{"unsigned, key given, unsigned allowed", unsigned, TrustPolicy{Key: key, AllowUnsigned: true}, nil},
		{"signed, no key, unsigned allowed", signed, TrustPolicy{AllowUnsigned: true}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenFilesWith(ctx, []string{c.dir}, OpenOptions{VerifyIndex: c.policy.IndexVerifier()})
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Trust(c.policy); err != nil || len(s.Problems) > 0 {
					t.Errorf("Trust: %v, problems %v", err, s.Problems)
				}
				return
			}
			if err == nil {
				// A claim of a key not trusted, or none, is Trust's to
				// judge (countersignatures may count): refused there,
				// naming the bundle.
				if err = s.Trust(c.policy); !errors.Is(err, c.want) || !strings.Contains(err.Error(), s.Index.BundleID) {
					t.Fatalf("Trust: want %v naming the bundle, got %s", c.want, describe(err))
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("OpenFilesWith: want %v, got %s", c.want, describe(err))
			}
			if !strings.Contains(err.Error(), c.dir) {
				t.Errorf("the error does not name the volume: %v", err)
			}
		})
	}
	t.Run("a volume of another bundle, signed by another key, beside", func(t *testing.T) {
		otherDir, ox := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: other, Created: testCreated.Add(-time.Hour)})
		foreign := volumeFiles(t, otherDir)[0]
		s, err := OpenFilesWith(ctx, []string{signed, foreign}, OpenOptions{VerifyIndex: TrustPolicy{Key: key}.IndexVerifier()})
		if err != nil {
			t.Fatal(err)
		}
		fes := findAll[*ForeignVolumeError](errors.Join(s.Problems...))
		if len(fes) != 1 || len(s.Problems) != 1 || fes[0].BundleID != ox.BundleID || fes[0].Number != 1 || fes[0].Total != len(ox.Volumes) || !fes[0].Stale {
			t.Errorf("want the other bundle's volume 1 reported stale: %v", s.Problems)
		}
		if err := s.Trust(TrustPolicy{Key: key}); err != nil {
			t.Errorf("Trust: %v", err)
		}
	})
	if (TrustPolicy{AllowUnsigned: true}).IndexVerifier() != nil {
		t.Error("without a key there is nothing to check early")
	}
}

// readSig is the bundle.json.sig of the first volume in dir.
func readSig(t *testing.T, dir string) []byte {
	t.Helper()
	p := volumeFiles(t, dir)[0]
	h, err := format.ReadVolumeHeader(bytes.NewReader(mustRead(t, p)), p)
	if err != nil {
		t.Fatal(err)
	}
	return h.Signature
}

// TestHostileSignedDuplicateKey: a bundle.json validly signed by the key
// given but holding a member twice, or a member name in another case, is
// refused as corrupt (SPEC 6.1): a signature vouches for bytes, and these
// bytes mean one thing to encoding/json and another to other readers.
func TestHostileSignedDuplicateKey(t *testing.T) {
	t.Parallel()
	signer := testSigner(t)
	key := signer.Verifier()
	ctx := context.Background()
	const packer = "bundle-test-with-a-long-name"
	orig, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Signer: signer, Packer: packer})
	indexBytes, _ := readBundleIndexBytes(t, orig)
	member := []byte(`"packer":"` + packer + `"`)
	if !bytes.Contains(indexBytes, member) {
		t.Fatalf("no %s in bundle.json", member)
	}
	// Same lengths: every offset holds.
	dup := `"packer":"","packer":"` + packer[12:] + `"`
	cases := map[string][]byte{
		"duplicate member":           bytes.Replace(indexBytes, member, []byte(dup), 1),
		"case-variant name":          bytes.Replace(indexBytes, member, []byte(`"Packer":"`+packer+`"`), 1),
		"member twice, once escaped": bytes.Replace(indexBytes, member, []byte(`"packer":"","p\u0061cker":"`+packer[17:]+`"`), 1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if len(b) != len(indexBytes) {
				t.Fatalf("edit changes the length: %d, want %d", len(b), len(indexBytes))
			}
			sig := mustSign(t, signer, b)
			if err := key.Verify(b, sig); err != nil {
				t.Fatalf("control: the signature does not verify: %v", err)
			}
			dir := copyBundle(t, orig)
			resign(t, dir, b, sig, nil)
			var ce *format.CorruptError
			_, err := verifyFiles(ctx, []string{dir}, verifyOpts{Key: key})
			if !errors.As(err, &ce) || ce.Member != format.MemberIndex {
				t.Errorf("Verify: want a corrupt bundle.json, got %s", describe(err))
			}
			_, err = OpenFilesWith(ctx, []string{dir}, OpenOptions{VerifyIndex: TrustPolicy{Key: key}.IndexVerifier()})
			if !errors.As(err, &ce) || ce.Member != format.MemberIndex {
				t.Errorf("OpenFilesWith, signature checked first: want a corrupt bundle.json, got %s", describe(err))
			}
		})
	}
}

// TestSummaryEscapesControls: strings from a bundle reach people escaped
// (SPEC 15): a ref, platform, packer, problem or path holding ESC, BEL,
// CR, a bidirectional override or invalid UTF-8 prints as Go escapes.
func TestSummaryEscapesControls(t *testing.T) {
	t.Parallel()
	evil := "\x1b]0;pwned\x07\x1b[2J\r\u202eevil\xff"
	s := &Summary{
		BundleID: "0123456789abcdef0123456789abcdef", Created: "2023-11-14T22:13:20Z", Packer: evil,
		Signer: &format.Signer{KeyID: evil, Algorithm: evil}, Signature: "not checked", Compression: "none",
		Images: []SummaryImage{{Image: format.Image{Ref: "app:" + evil, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)),
			Platforms: []string{"linux/" + evil}}}},
		Volumes:  []VolumeState{{Number: 1, Size: 1536, Path: "/media/" + evil}},
		Problems: []string{"problem " + evil},
	}
	var out bytes.Buffer
	if err := s.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for i, c := range out.Bytes() {
		if (c < 0x20 && c != '\n' && c != ' ') || c == 0x7f || c == 0xff {
			t.Fatalf("byte %#x at %d printed raw:\n%q", c, i, out.String())
		}
	}
	if strings.Contains(out.String(), "\u202e") {
		t.Errorf("bidirectional override printed raw:\n%q", out.String())
	}
	want := `\x1b]0;pwned\a\x1b[2J\r\u202eevil\xff`
	if n := strings.Count(out.String(), want); n != 7 {
		t.Errorf("%d escaped copies of the string, want 7:\n%s", n, out.String())
	}
	for _, plain := range []string{"app:v1", "linux/arm64/v8", `C:\media`, "bundle 1.0 (go1.24)", "žluťoučký kůň"} {
		if got := Printable(plain); got != plain {
			t.Errorf("Printable(%q) = %q, want it unchanged", plain, got)
		}
	}
}

func TestPrintableLines(t *testing.T) {
	t.Parallel()
	in := "first \x1b[31mred\nsecond\r\x07\nthird"
	want := `first \x1b[31mred` + "\n" + `second\r\a` + "\n" + "third"
	if got := PrintableLines(in); got != want {
		t.Errorf("PrintableLines = %q, want %q", got, want)
	}
}

// TestInspectEscapesPacker: end to end, an unsigned bundle whose packer
// holds escape sequences is summarized with them escaped.
func TestInspectEscapesPacker(t *testing.T) {
	t.Parallel()
	dir, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize, Packer: "evil\x1b]52;c;cm0gLXJmIH4=\x07"})
	s, err := inspectFiles(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := s.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(out.Bytes(), "\x1b\x07") || !strings.Contains(out.String(), `evil\x1b]52;c;cm0gLXJmIH4=\a`) {
		t.Errorf("packer not escaped:\n%q", out.String())
	}
}
