package format

import (
	"bytes"
	"testing"
)

// FuzzParseCountersignature: whatever the bytes, the parser returns an
// error or a countersignature that validates and encodes to a document it
// parses again to the same value (one file, one meaning).
func FuzzParseCountersignature(f *testing.F) {
	good, err := NewCountersignature("9c5692d27063a390e55e9202b68f773e", []byte("{}"),
		"sha256:"+string(bytes.Repeat([]byte("ab"), 32)), "ed25519", bytes.Repeat([]byte{7}, 64))
	if err != nil {
		f.Fatal(err)
	}
	enc, err := good.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add(bytes.Replace(enc, []byte(`"keyId"`), []byte(`"keyID"`), 1))
	f.Add(bytes.Replace(enc, []byte(`"ed25519"`), []byte(`"ed25519","algorithm":"ed25519"`), 1))
	f.Add([]byte(`{"signature":"AA=="}`))
	f.Add([]byte(`{"mediaType":"\ud800"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCountersignature(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed but does not validate: %v", err)
		}
		sig, err := c.SignatureBytes()
		if err != nil || len(sig) == 0 || len(sig) > MaxSignatureSize {
			t.Fatalf("signature %d bytes, %v", len(sig), err)
		}
		again, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := ParseCountersignature(again)
		if err != nil || *c2 != *c {
			t.Fatalf("re-encoded %q parses as %+v, %v; want %+v", again, c2, err, c)
		}
	})
}
