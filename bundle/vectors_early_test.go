package bundle_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/sign"
)

// TestVectorsVerifyIndexFirst runs the volume vectors with the signature
// checked as the headers are read (OpenOptions.VerifyIndex, before any
// index is decoded): every verdict and class is the one TestVectors gets
// with the signature checked by Trust afterwards.
func TestVectorsVerifyIndexFirst(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{vectorsDir, vectorsV2Dir} {
		t.Run(filepath.Base(dir), func(t *testing.T) { vectorsVerifyIndexFirst(t, dir) })
	}
}

func vectorsVerifyIndexFirst(t *testing.T, dir string) {
	ctx := context.Background()
	for _, v := range loadVectorsFrom(t, dir) {
		if v.Kind != "volumes" {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			var paths []string
			for _, f := range v.Files {
				paths = append(paths, filepath.Join(dir, filepath.FromSlash(f)))
			}
			policy := bundle.TrustPolicy{AllowUnsigned: v.AllowUnsigned}
			if v.Key != "" {
				var err error
				if policy.Key, err = sign.LoadVerifierFile(filepath.Join(dir, filepath.FromSlash(v.Key))); err != nil {
					t.Fatal(err)
				}
			}
			s, err := bundle.OpenFilesWith(ctx, paths, bundle.OpenOptions{VerifyIndex: policy.IndexVerifier()})
			if err == nil {
				if err = s.Trust(policy); err == nil {
					_, err = s.Verify(ctx, bundle.VerifyOptions{Partial: v.Partial})
				}
			}
			switch {
			case v.Verdict == "valid" && err != nil:
				t.Errorf("want valid, got %v", err)
			case v.Verdict == "invalid" && err == nil:
				t.Errorf("want invalid (%s), got no error", v.Class)
			case v.Verdict == "invalid":
				if got := errorClasses(err); !slices.Equal(got, []string{v.Class}) {
					t.Errorf("error classes %v, want exactly [%s]: %v", got, v.Class, err)
				}
			}
		})
	}
}
