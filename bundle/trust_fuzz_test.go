package bundle

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseKeyring: whatever the file, the parser returns an error or a
// keyring whose every key has a name, a verifier and an ordered period,
// and whose names and keys are each listed once.
func FuzzParseKeyring(f *testing.F) {
	pub := []byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n")
	f.Add([]byte(`{"version":1,"keys":[{"name":"a","publicKey":"` + jsonEscape(pub) + `","notAfter":"2024-06-30T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"keys":[{"name":"a","publicKeyFile":"a.pub","notBefore":"2024-06-30T00:00:00+02:00"}]}`))
	f.Add([]byte(`{"version":1,"keys":[{"name":"a","publicKey":"` + jsonEscape(pub) + `"},{"name":"b","publicKeyFile":"a.pub"}]}`))
	f.Add([]byte(`{"version":1,"Keys":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseKeyring(b, func(name string) ([]byte, error) {
			if name == "a.pub" {
				return pub, nil
			}
			return nil, errors.New("no such file")
		})
		if err != nil {
			return
		}
		names, ids := map[string]bool{}, map[string]bool{}
		for _, key := range k.Keys {
			if key.Name == "" || key.Verifier == nil || names[key.Name] || ids[key.Verifier.KeyID()] {
				t.Fatalf("key %+v: empty, or listed twice", key)
			}
			names[key.Name], ids[key.Verifier.KeyID()] = true, true
			if !key.NotBefore.IsZero() && !key.NotAfter.IsZero() && key.NotAfter.Before(key.NotBefore) {
				t.Fatalf("key %s: period reversed", key.Name)
			}
			if key.NotBefore.Location() != time.UTC || key.NotAfter.Location() != time.UTC {
				t.Fatalf("key %s: period not in UTC", key.Name)
			}
		}
	})
}

func jsonEscape(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == '\n' {
			out = append(out, '\\', 'n')
			continue
		}
		out = append(out, c)
	}
	return string(out)
}
