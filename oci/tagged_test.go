package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestTagged: the tagged entries of index.json in order, one by its ref
// name, and errors that say what the layout has.
func TestTagged(t *testing.T) {
	t.Parallel()
	entry := func(ref string, i int) string {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(fmt.Sprint(i)), Size: int64(i)}
		if ref != "" {
			d.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
		}
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d%s}`, d.MediaType, d.Digest, d.Size,
			map[bool]string{true: fmt.Sprintf(`,"annotations":{%q:%q}`, ocispec.AnnotationRefName, ref)}[ref != ""])
	}
	layout := func(entries ...string) *Layout {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, LayoutFile), []byte(LayoutFileContent), 0o644)
		os.WriteFile(filepath.Join(dir, IndexFile), []byte(`{"schemaVersion":2,"manifests":[`+strings.Join(entries, ",")+`]}`), 0o644)
		l, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	l := layout(entry("b", 1), entry("", 2), entry("a", 3), entry("d", 4), entry("d", 5))
	refs := func(ds []ocispec.Descriptor) string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprint(d.Annotations[ocispec.AnnotationRefName], "=", d.Size))
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		tag, want, err string
	}{
		{tag: "", want: "b=1 a=3 d=4 d=5"},
		{tag: "a", want: "a=3"},
		{tag: "zz", err: `has no ref name "zz" (it has: a, b, d, d)`},
		{tag: "d", err: `lists ref name "d" 2 times`},
	} {
		got, err := l.Tagged(c.tag)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), l.Path) {
				t.Errorf("Tagged(%q): %v, want an error saying %q", c.tag, err, c.err)
			}
			continue
		}
		if err != nil || refs(got) != c.want || cap(got) != len(got) {
			t.Errorf("Tagged(%q) = %s (cap %d), %v; want %s", c.tag, refs(got), cap(got), err, c.want)
		}
	}
	if _, err := layout(entry("", 1)).Tagged(""); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no tagged manifest") {
		t.Errorf("a layout of no tagged entry: %v", err)
	}
	// manifests given twice: the last counts, as json.Unmarshal has it.
	twice := layout(entry("old", 1))
	os.WriteFile(filepath.Join(twice.Path, IndexFile), []byte(`{"manifests":[`+entry("old", 1)+`],"Manifests":[`+entry("new", 2)+`]}`), 0o644)
	if got, err := twice.Tagged(""); err != nil || refs(got) != "new=2" {
		t.Errorf("manifests given twice: %s, %v", refs(got), err)
	}
	if _, err := twice.Tagged("zz"); err == nil || !strings.Contains(err.Error(), "(it has: new)") {
		t.Errorf("manifests given twice, an unknown tag: %v", err)
	}
	if _, err := l.Tagged("zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown tag: %v is not ErrNotFound", err)
	}

	// Entry: the first entry of a digest, tagged or not.
	dup := layout(entry("", 1), entry("x", 2), entry("y", 2))
	for _, c := range []struct {
		l    *Layout
		i    int
		want string // ref name=size, or "" for not found
	}{
		{dup, 1, "=1"}, {dup, 2, "x=2"}, {dup, 3, ""}, {twice, 1, ""}, {twice, 2, "new=2"},
	} {
		d := digest.FromString(fmt.Sprint(c.i))
		got, err := c.l.Entry(d)
		if c.want == "" {
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), string(d)) || !strings.Contains(err.Error(), c.l.Path) {
				t.Errorf("Entry(%d) in %s: %v, want ErrNotFound naming the digest and the layout", c.i, c.l.Path, err)
			}
			continue
		}
		if err != nil || refs([]ocispec.Descriptor{got}) != c.want || got.Digest != d {
			t.Errorf("Entry(%d) = %s %s, %v; want %s", c.i, refs([]ocispec.Descriptor{got}), got.Digest, err, c.want)
		}
	}
}
