package sign

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// productKDF is generateKDF as the product has it.
var productKDF = generateKDF

func TestMain(m *testing.M) {
	// See releaseMemory.
	releaseMemory = func() {}
	// See generateKDF: TestGenerateKeyKDF checks what the product writes.
	generateKDF = encrypted.Legacy
	os.Exit(m.Run())
}

// TestGenerateKeyKDF checks the scrypt parameters GenerateKey writes: the
// product's are cosign's (N = 2^16, r = 8, p = 1), the tests' Legacy ones
// (N = 2^15), and both load. Not parallel: it sets generateKDF, which the
// parallel tests read after it has run.
func TestGenerateKeyKDF(t *testing.T) {
	for _, tc := range []struct {
		kdf  encrypted.KDFParameterStrength
		n    int
		name string
	}{{productKDF, 1 << 16, "product"}, {encrypted.Legacy, 1 << 15, "tests"}} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.kdf == productKDF {
				// Two scrypt runs over 64 MiB; the tests' case shows
				// that GenerateKey writes generateKDF's strength.
				if productKDF != encrypted.Standard {
					t.Errorf("the product's generateKDF is %v, want Standard", productKDF)
				}
				return
			}
			old := generateKDF
			generateKDF = tc.kdf
			defer func() { generateKDF = old }()
			priv, _, err := GenerateKey(ECDSAP256, []byte("pw"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := pem.Decode(priv)
			if b == nil || b.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
				t.Fatalf("not an encrypted sigstore key: %q", priv)
			}
			var data struct {
				KDF struct {
					Name   string
					Params struct{ N, R, P int } `json:"params"`
				} `json:"kdf"`
			}
			if err := json.Unmarshal(b.Bytes, &data); err != nil {
				t.Fatal(err)
			}
			if p := data.KDF.Params; data.KDF.Name != "scrypt" || p.N != tc.n || p.R != 8 || p.P != 1 {
				t.Errorf("kdf %s %+v, want scrypt N=%d r=8 p=1", data.KDF.Name, p, tc.n)
			}
			if _, err := LoadSigner(priv, []byte("pw")); err != nil {
				t.Errorf("the key does not load: %v", err)
			}
		})
	}
}
