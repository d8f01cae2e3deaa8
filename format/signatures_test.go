package format

import (
	"bytes"
	"strings"
	"testing"
)

func TestCountersignatureRoundTrip(t *testing.T) {
	keyID := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	c, err := NewCountersignature("9c5692d27063a390e55e9202b68f773e", []byte(`{"x":1}`), keyID, "ecdsa-p256-sha256", []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mediaType":"application/vnd.airgap-bundle.signature.v1+json","bundleId":"9c5692d27063a390e55e9202b68f773e",` +
		`"indexDigest":"sha256:5041bf1f713df204784353e82f6a4a535931cb64f1f4b4a5aeaffcb720918b22","keyId":"` + keyID + `",` +
		`"algorithm":"ecdsa-p256-sha256","signature":"AQID"}` + "\n"
	if string(b) != want {
		t.Errorf("encoded\n%s\nwant\n%s", b, want)
	}
	if name := CountersignatureFileName(c.BundleID, keyID); name != "9c5692d27063a390e55e9202b68f773e.0123456789abcdef.sig.json" ||
		!IsCountersignatureFileName(name, c.BundleID) || IsCountersignatureFileName(name, strings.Repeat("1", 32)) {
		t.Errorf("file name %q", name)
	}
	for _, tc := range []struct{ name, from, to string }{
		{"unknown member", `"signature"`, `"x":1,"signature"`},
		{"member twice", `"signature"`, `"algorithm":"ed25519","signature"`},
		{"case-folded name", `"keyId"`, `"keyid"`},
		{"non-canonical base64", `"AQID"`, `"AQI D"`},
		{"base64 padding bits", `"AQID"`, `"AQIE="`},
		{"empty signature", `"AQID"`, `""`},
		{"unknown algorithm", `"ecdsa-p256-sha256"`, `"dsa"`},
		{"uppercase digest", `"sha256:5041`, `"sha256:5041BF`},
		{"other media type", `signature.v1`, `signature.v2`},
		{"data after", "}\n", "}{}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Replace(b, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(bad, b) {
				t.Fatalf("%q not found", tc.from)
			}
			if _, err := ParseCountersignature(bad); err == nil {
				t.Errorf("accepted %s", bad)
			}
		})
	}
	if _, err := ParseCountersignature(b); err != nil {
		t.Errorf("the encoding does not parse: %v", err)
	}
}
