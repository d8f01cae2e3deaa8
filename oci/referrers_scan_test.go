package oci_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestReferrersScanDecodesAsIndex: the referrers scan, which decodes
// index.json an entry at a time, fails exactly when Index fails and finds
// the referrers of the manifests member Index keeps (the last, when
// repeated).
func TestReferrersScanDecodesAsIndex(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(example, oci.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Manifests []json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(orig, &idx); err != nil {
		t.Fatal(err)
	}
	all := "[" + string(joinRaw(idx.Manifests)) + "]"
	sbom := string(idx.Manifests[len(idx.Manifests)-1]) // the app:v1 SBOM, a referrer
	head := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",`
	for _, tc := range []struct {
		name, index string
		referrers   int // of app:v1
	}{
		{"as is", string(orig), 1},
		{"no manifests", head[:len(head)-1] + "}", 0},
		{"null manifests", head + `"manifests":null}`, 0},
		{"repeated, the last has the referrer", head + `"manifests":[],"Manifests":` + all + `}`, 1},
		{"repeated, the last has none", head + `"manifests":` + all + `,"manifests":[]}`, 0},
		{"not an array", head + `"manifests":{"a":1}}`, -1},
		{"an entry of the wrong type", head + `"manifests":[` + sbom + `,{"size":"x"}]}`, -1},
		{"an entry not an object", head + `"manifests":[` + sbom + `,5]}`, -1},
		{"a member outside manifests of the wrong type", head + `"manifests":` + all + `,"annotations":{"a":1}}`, -1},
		{"schemaVersion of the wrong type", `{"schemaVersion":"2","manifests":` + all + `}`, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(example)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, oci.IndexFile), []byte(tc.index), 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := oci.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			_, indexErr := l.Index()
			rs, err := l.Referrers(context.Background(), "sha256:8cbb944bdf35e78de679f04bc16ab1d5af06fa62c4187c31896c171c348d26d8")
			if (err != nil) != (indexErr != nil) {
				t.Fatalf("referrers: %v; Index: %v", err, indexErr)
			}
			if tc.referrers < 0 {
				if err == nil || !strings.Contains(err.Error(), oci.IndexFile) {
					t.Fatalf("want an error naming %s, got %v", oci.IndexFile, err)
				}
				return
			}
			if len(rs) != tc.referrers {
				t.Fatalf("%d referrers, want %d: %v", len(rs), tc.referrers, rs)
			}
			if len(rs) == 1 && rs[0].ArtifactType != "application/spdx+json" {
				t.Fatalf("referrer %v", rs[0])
			}
		})
	}
}

func joinRaw(list []json.RawMessage) []byte {
	var out []byte
	for i, r := range list {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return out
}

// TestReferrersScanMissingManifest: a manifest index.json lists but the
// layout lacks fails the scan, naming the layout.
func TestReferrersScanMissingManifest(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(example)); err != nil {
		t.Fatal(err)
	}
	l, err := oci.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tagged, err := l.Tagged("app:v2")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", tagged[0].Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	_, err = l.Referrers(context.Background(), tagged[0].Digest)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tagged[0].Digest.String()) {
		t.Fatalf("got %v", err)
	}
}

// TestPrimeReferrers: what the caller knows of a manifest's subject is
// taken instead of reading it; the rest is read.
func TestPrimeReferrers(t *testing.T) {
	const app = "sha256:8cbb944bdf35e78de679f04bc16ab1d5af06fa62c4187c31896c171c348d26d8"
	for _, tc := range []struct {
		name  string
		known oci.KnownSubject
		want  int
	}{
		{"nothing known", func(ocispec.Descriptor) (digest.Digest, bool) { return "", false }, 1},
		{"known without subject", func(ocispec.Descriptor) (digest.Digest, bool) { return "", true }, 0},
		// Every manifest entry but app:v1 itself (not its own referrer).
		{"known as a referrer of app:v1", func(ocispec.Descriptor) (digest.Digest, bool) { return app, true }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := oci.Open(example)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.PrimeReferrers(context.Background(), tc.known); err != nil {
				t.Fatal(err)
			}
			// Primed once: a second call changes nothing.
			if err := l.PrimeReferrers(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			rs, err := l.Referrers(context.Background(), app)
			if err != nil || len(rs) != tc.want {
				t.Fatalf("%d referrers (%v), want %d", len(rs), err, tc.want)
			}
		})
	}
}
