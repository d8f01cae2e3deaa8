package bundle_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// The conformance vectors of SPEC.md 17 (testdata/vectors, made by
// internal/vectorgen), run through the public read API: each must get its
// verdict, and an invalid one exactly its error class.

const vectorsDir = "../testdata/vectors"

// vectorsV2Dir holds the version 2 vectors (testdata/vectors/v2/README.md),
// with a vectors.json of their own; their key paths are relative to it.
var vectorsV2Dir = filepath.Join(vectorsDir, "v2")

type vector struct {
	Name          string   `json:"name"`
	Kind          string   `json:"kind"`
	Files         []string `json:"files"`
	Key           string   `json:"key"`
	AllowUnsigned bool     `json:"allowUnsigned"`
	Partial       bool     `json:"partial"`
	Verdict       string   `json:"verdict"`
	Class         string   `json:"class"`
}

// errorClass names the class of one error of the tree Verify returns
// (SPEC.md 13 and testdata/vectors/README.md); "" for an error that only
// wraps others.
func errorClass(err error) string {
	var ce *format.CorruptError
	var me *bundle.MissingVolumesError
	var fe *bundle.ForeignVolumeError
	var de *bundle.DuplicateVolumeError
	switch {
	case errors.As(err, &ce):
		return "corrupt"
	case errors.As(err, &me):
		return "missing-volume"
	case errors.As(err, &fe):
		return "foreign-volume"
	case errors.As(err, &de):
		return "duplicate-volume"
	case errors.Is(err, bundle.ErrBadSignature):
		return "bad-signature"
	case errors.Is(err, bundle.ErrWrongKey):
		return "wrong-key"
	case errors.Is(err, bundle.ErrUnsigned):
		return "unsigned"
	case errors.Is(err, format.ErrNotVolume):
		return "not-a-volume"
	case errors.Is(err, bundle.ErrNoVolumes):
		return "no-volumes"
	}
	return "other"
}

// errorClasses lists the classes of the errors err joins.
func errorClasses(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, errorClasses(e)...)
		}
	} else if err != nil {
		out = append(out, errorClass(err))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func loadVectors(t *testing.T) []vector { return loadVectorsFrom(t, vectorsDir) }

func loadVectorsFrom(t *testing.T, dir string) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("vectors.json: %v", err)
	}
	return m.Vectors
}

func TestVectors(t *testing.T) {
	t.Parallel()
	classes := runVectors(t, vectorsDir)
	// What the issue asked to cover is there.
	for _, c := range []string{"valid ", "invalid corrupt", "invalid bad-signature", "invalid wrong-key", "invalid unsigned",
		"invalid missing-volume", "invalid foreign-volume", "invalid duplicate-volume", "invalid not-a-volume", "invalid index-invalid"} {
		if !classes[c] {
			t.Errorf("no vector with verdict and class %q", c)
		}
	}
}

// TestVectorsV2: the version 2 vectors (testdata/vectors/v2), as
// TestVectors runs version 1's.
func TestVectorsV2(t *testing.T) {
	t.Parallel()
	classes := runVectors(t, vectorsV2Dir)
	for _, c := range []string{"valid ", "invalid corrupt", "invalid missing-volume", "invalid index-invalid"} {
		if !classes[c] {
			t.Errorf("no vector with verdict and class %q", c)
		}
	}
}

// runVectors runs the vectors of dir's vectors.json through the reader,
// each in a subtest, and returns the verdicts and classes they list.
func runVectors(t *testing.T, dir string) map[string]bool {
	vectors := loadVectorsFrom(t, dir)
	classes := map[string]bool{}
	for _, v := range vectors {
		classes[v.Verdict+" "+v.Class] = true
		t.Run(v.Name, func(t *testing.T) {
			var paths []string
			for _, f := range v.Files {
				paths = append(paths, filepath.Join(dir, filepath.FromSlash(f)))
			}
			var err error
			switch v.Kind {
			case "index":
				if len(paths) != 1 {
					t.Fatalf("an index vector has one file, not %d", len(paths))
				}
				b, rerr := os.ReadFile(paths[0])
				if rerr != nil {
					t.Fatal(rerr)
				}
				if _, err = format.ParseIndex(b); err != nil {
					if v.Class != "index-invalid" {
						t.Fatalf("ParseIndex: %v, want class %q", err, v.Class)
					}
				}
			case "volumes":
				policy := bundle.TrustPolicy{AllowUnsigned: v.AllowUnsigned}
				if v.Key != "" {
					if policy.Key, err = sign.LoadVerifierFile(filepath.Join(dir, filepath.FromSlash(v.Key))); err != nil {
						t.Fatal(err)
					}
				}
				_, err = verifyWith(context.Background(), paths, policy, bundle.VerifyOptions{Partial: v.Partial})
				if err != nil && v.Verdict == "invalid" {
					if got := errorClasses(err); !slices.Equal(got, []string{v.Class}) {
						t.Errorf("error classes %v, want exactly [%s]: %v", got, v.Class, err)
					}
				}
			default:
				t.Fatalf("unknown kind %q", v.Kind)
			}
			switch v.Verdict {
			case "valid":
				if err != nil {
					t.Errorf("want valid, got %v", err)
				}
			case "invalid":
				if err == nil {
					t.Errorf("want invalid (%s), got no error", v.Class)
				} else {
					t.Logf("%s: %v", v.Class, err)
				}
			default:
				t.Errorf("unknown verdict %q", v.Verdict)
			}
		})
	}
	return classes
}

// TestVectorsListed: every file under testdata/vectors is a key, a
// document, or a file of some vector (of version 1, or of version 2 under
// v2/), so none is left unexplained.
func TestVectorsListed(t *testing.T) {
	t.Parallel()
	used := map[string]bool{"vectors.json": true, "README.md": true, "v2/vectors.json": true, "v2/README.md": true}
	for _, set := range []struct{ dir, prefix string }{{vectorsDir, ""}, {vectorsV2Dir, "v2/"}} {
		for _, v := range loadVectorsFrom(t, set.dir) {
			for _, f := range v.Files {
				used[path.Clean(set.prefix+f)] = true
			}
			if v.Key != "" {
				used[path.Clean(set.prefix+v.Key)] = true
			}
		}
	}
	used["keys/signing.key"] = true
	err := filepath.WalkDir(vectorsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(vectorsDir, p)
		if !used[filepath.ToSlash(rel)] {
			t.Errorf("%s is not used by any vector", rel)
		}
		delete(used, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for f := range used {
		t.Errorf("%s is listed but missing", f)
	}
}
