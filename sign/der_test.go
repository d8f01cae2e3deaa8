package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// derSeq encodes SEQUENCE { contents } with a minimal definite length.
func derSeq(contents []byte) []byte {
	return append(derLen(0x30, len(contents)), contents...)
}

func derLen(tag byte, n int) []byte {
	if n < 128 {
		return []byte{tag, byte(n)}
	}
	return []byte{tag, 0x81, byte(n)}
}

// derInt encodes an INTEGER the way encoding/asn1 does (minimal, two's
// complement).
func derInt(t *testing.T, v *big.Int) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestECDSASignatureEncoding: what SPEC.md 10.2 says a reader accepts as an
// ECDSA signature, one rule at a time. Each rejected form is also refused
// by Verify, as a bad signature.
func TestECDSASignatureEncoding(t *testing.T) {
	t.Parallel()
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		t.Run(curve.Params().Name, func(t *testing.T) {
			key, err := ecdsa.GenerateKey(curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			s, err := LoadSigner(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("bundle.json")
			sig, err := s.Sign(context.Background(), msg)
			if err != nil {
				t.Fatal(err)
			}
			var rs struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(sig, &rs); err != nil {
				t.Fatal(err)
			}
			n := curve.Params().N
			r, sv := rs.R, rs.S
			ints := func(vs ...*big.Int) []byte {
				var out []byte
				for _, v := range vs {
					out = append(out, derInt(t, v)...)
				}
				return out
			}
			body := ints(r, sv)
			// r with a needless leading zero byte (one zero is needed when
			// its top bit is set, never two).
			padded := append([]byte{0x02, byte(len(r.Bytes()) + 2), 0x00, 0x00}, r.Bytes()...)
			longLen := append([]byte{0x30, 0x81, byte(len(body))}, body...)
			if len(body) >= 128 {
				longLen = append([]byte{0x30, 0x82, 0x00, byte(len(body))}, body...)
			}
			raw := make([]byte, 2*((curve.Params().BitSize+7)/8))
			r.FillBytes(raw[:len(raw)/2])
			sv.FillBytes(raw[len(raw)/2:])
			for _, tc := range []struct {
				name string
				sig  []byte
				ok   bool
			}{
				{"as signed", sig, true},
				{"high s", derSeq(ints(r, new(big.Int).Sub(n, sv))), true},
				{"byte after the sequence", append(append([]byte{}, sig...), 0), false},
				{"third integer", derSeq(ints(r, sv, big.NewInt(1))), false},
				{"long-form length", longLen, false},
				{"indefinite length", append(append([]byte{0x30, 0x80}, body...), 0, 0), false},
				{"non-minimal integer", derSeq(append(padded, derInt(t, sv)...)), false},
				{"SET instead of SEQUENCE", append([]byte{0x31}, sig[1:]...), false},
				{"negative r", derSeq(ints(new(big.Int).Neg(r), sv)), false},
				{"r zero", derSeq(ints(big.NewInt(0), sv)), false},
				{"s = n", derSeq(ints(r, n)), false},
				{"r + n", derSeq(ints(new(big.Int).Add(r, n), sv)), false},
				{"raw r||s (P1363)", raw, false},
				{"empty", nil, false},
			} {
				if got := isDERECDSASig(tc.sig, n); got != tc.ok {
					t.Errorf("%s: isDERECDSASig = %v, want %v", tc.name, got, tc.ok)
				}
				err := s.Verifier().Verify(msg, tc.sig)
				if tc.ok && err != nil {
					t.Errorf("%s: Verify: %v", tc.name, err)
				}
				if !tc.ok && !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: Verify: %v, want ErrBadSignature", tc.name, err)
				}
			}
		})
	}
}

// TestRSAKeyLimits: RSA public keys outside what SPEC.md 10.2 allows are
// refused when loaded: too long a modulus for a signature to fit a bundle,
// and exponents crypto/rsa would refuse only at verification.
func TestRSAKeyLimits(t *testing.T) {
	t.Parallel()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	big4097 := new(big.Int).Lsh(big.NewInt(1), 4096)
	big4097.Add(big4097, big.NewInt(1))
	big4096 := new(big.Int).Lsh(big.NewInt(1), 4095)
	big4096.Add(big4096, big.NewInt(1))
	for _, tc := range []struct {
		name string
		pub  *rsa.PublicKey
		want string // "" accepted
	}{
		{"2048 bits", &k.PublicKey, ""},
		{"4096 bits", &rsa.PublicKey{N: big4096, E: 65537}, ""},
		{"4097 bits", &rsa.PublicKey{N: big4097, E: 65537}, "too large"},
		{"even exponent", &rsa.PublicKey{N: k.N, E: 65536}, "exponent"},
		{"exponent 1", &rsa.PublicKey{N: k.N, E: 1}, "exponent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := x509.MarshalPKIXPublicKey(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			_, err = LoadVerifier(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("LoadVerifier: %v, want %q", err, tc.want)
			}
		})
	}
}
