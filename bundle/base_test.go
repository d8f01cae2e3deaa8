package bundle

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
)

// TestLoadBase reads a base from each of its forms and checks its
// signature as unpack would.
func TestLoadBase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	signer := testSigner(t)
	key := signer.Verifier()
	dir, x := packLayout(t, PackOptions{Signer: signer, MaxVolumeSize: 40 << 10})
	vols := volumeFiles(t, dir)
	if len(vols) < 2 {
		t.Fatalf("want several volumes, got %d", len(vols))
	}
	indexBytes, _ := readBundleIndexBytes(t, dir)
	h, err := readHeader(context.Background(), FileVolume(vols[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	bare := t.TempDir()
	jsonPath := filepath.Join(bare, format.MemberIndex)
	mustWrite(t, jsonPath, indexBytes)
	mustWrite(t, jsonPath+".sig", h.Signature)

	for _, p := range []string{dir, vols[1], jsonPath} {
		b, err := LoadBase(ctx, p, key)
		if err != nil {
			t.Errorf("LoadBase(%s): %v", p, err)
			continue
		}
		if !b.Verified || b.Index.BundleID != x.BundleID || !bytes.Equal(b.IndexBytes, indexBytes) {
			t.Errorf("LoadBase(%s): verified %v, id %s, %d index bytes", p, b.Verified, b.Index.BundleID, len(b.IndexBytes))
		}
		// Without a key it loads, unchecked.
		if b, err := LoadBase(ctx, p, nil); err != nil || b.Verified {
			t.Errorf("LoadBase(%s, no key): %v, %+v", p, err, b)
		}
	}

	other := newSigner(t, sign.Ed25519).Verifier()
	for _, p := range []string{dir, vols[0], jsonPath} {
		if _, err := LoadBase(ctx, p, other); !errors.Is(err, ErrWrongKey) {
			t.Errorf("LoadBase(%s) with another key: %v, want ErrWrongKey", p, err)
		}
	}

	// A bundle.json without its .sig counts as unsigned.
	nosig := filepath.Join(t.TempDir(), format.MemberIndex)
	mustWrite(t, nosig, indexBytes)
	if _, err := LoadBase(ctx, nosig, key); !errors.Is(err, ErrUnsigned) {
		t.Errorf("bundle.json without .sig: %v, want ErrUnsigned", err)
	}
	// An altered bundle.json (still valid) fails its signature.
	altered := filepath.Join(t.TempDir(), format.MemberIndex)
	mustWrite(t, altered, bytes.Replace(indexBytes, []byte(`"packer":"bundle-test"`), []byte(`"packer":"bundle-tesT"`), 1))
	mustWrite(t, altered+".sig", h.Signature)
	if _, err := LoadBase(ctx, altered, key); !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered bundle.json: %v, want ErrBadSignature", err)
	}
	// An unsigned base with a key is refused.
	udir, _ := packLayout(t, PackOptions{})
	if _, err := LoadBase(ctx, udir, key); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned base with a key: %v, want ErrUnsigned", err)
	}
	// Not a bundle at all, and nothing there.
	junk := filepath.Join(t.TempDir(), "junk.json")
	mustWrite(t, junk, []byte(`{"hello":1}`))
	if _, err := LoadBase(ctx, junk, nil); err == nil || !strings.Contains(err.Error(), "neither a volume nor a bundle.json") {
		t.Errorf("LoadBase(junk): %v", err)
	}
	if _, err := LoadBase(ctx, filepath.Join(t.TempDir(), "none"), nil); err == nil {
		t.Errorf("LoadBase of nothing succeeded")
	}
	// A directory with volumes of two bundles is ambiguous.
	mixed := copyBundle(t, dir)
	copyDir(t, udir, filepath.Join(mixed))
	if _, err := LoadBase(ctx, mixed, nil); err == nil || !strings.Contains(err.Error(), "several bundles") {
		t.Errorf("LoadBase of a directory with two bundles: %v", err)
	}
}

// TestPackNoticesUncheckedBase: a base loaded without a key is used, and
// pack says so.
func TestPackNoticesUncheckedBase(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{})
	b, err := LoadBase(context.Background(), v1dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	_, x := packSources(t, []Source{d.v2}, PackOptions{Bases: []*BaseBundle{b}, Notice: func(s string) { notices = append(notices, s) }})
	if len(fromBase(x, v1.BundleID)) == 0 {
		t.Errorf("unchecked base supplied nothing")
	}
	if all := strings.Join(notices, "\n"); !strings.Contains(all, v1.BundleID) || !strings.Contains(all, "without checking its signature") {
		t.Errorf("notices: %q", notices)
	}
}

// TestParseIndexBaseRules: what ParseIndex refuses about bases (SPEC.md
// 6.3, 6.5, 9.3.2).
func TestParseIndexBaseRules(t *testing.T) {
	t.Parallel()
	d := newDeltaVersions(t)
	signer := testSigner(t)
	v1dir, v1 := packSources(t, []Source{d.v1}, PackOptions{Signer: signer})
	deltaDir, _ := packSources(t, []Source{d.v2}, PackOptions{Signer: signer, Bases: []*BaseBundle{loadBase(t, v1dir)}})
	b, _ := readBundleIndexBytes(t, deltaDir)
	if _, err := format.ParseIndex(b); err != nil {
		t.Fatalf("the delta's own index: %v", err)
	}
	s := string(b)
	baseEntry := s[strings.Index(s, `"bases":[`)+len(`"bases":[`) : strings.Index(s, `],"compression"`)]
	for _, tc := range []struct{ name, doc, want string }{
		{"base listed twice", strings.Replace(s, baseEntry, baseEntry+","+baseEntry, 1), "twice"},
		{"unknown base", strings.Replace(s, `"base":"`+v1.BundleID+`"`, `"base":"`+strings.Repeat("0", 32)+`"`, 1), "not among bases"},
		{"base and placements", strings.Replace(s, `"base":"`+v1.BundleID+`","placements":[]`, `"base":"`+v1.BundleID+`","placements":[{"volume":1,"offset":512,"length":0,"digest":"`+digest.FromString("").String()+`"}]`, 1), "placements"},
		{"bad base id", strings.Replace(s, `"bundleId":"`+v1.BundleID+`"`, `"bundleId":"XYZ"`, 1), "bad bundleId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.doc == s {
				t.Fatal("the edit did not apply")
			}
			if _, err := format.ParseIndex([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseIndex: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// validDigest's fast path and go-digest's check agree on what passes.
func TestValidDigest(t *testing.T) {
	t.Parallel()
	good := digest.FromString("x").String()
	for _, tc := range []struct {
		d  string
		ok bool
	}{
		{good, true},
		{strings.ToUpper(good[:7]) + good[7:], false},
		{good[:7] + strings.ToUpper(good[7:]), false},
		{good[:len(good)-1], false},
		{good + "0", false},
		{"sha512:" + strings.Repeat("0", 128), false},
		{"sha256:" + strings.Repeat("g", 64), false},
		{"", false},
		{"sha256", false},
	} {
		if err := format.CheckDigest(digest.Digest(tc.d)); (err == nil) != tc.ok {
			t.Errorf("format.CheckDigest(%q) = %v, want ok %v", tc.d, err, tc.ok)
		}
	}
}
