package imageset

import (
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/mirror"
)

// FuzzParse feeds Parse untrusted input: it must never panic, and what it
// accepts must be consistent: a kind, and positions in the file.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		ocMirrorFile, imageSetFile, skopeoFile,
		"", "{}", "[]", "a: [", "quay.io: {images: {a: [1.0]}}",
		"apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nmirror:\n  additionalImages: &a [{name: a}]\n  blockedImages: *a\n",
		"apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\nmirror:\n  registries: [{registry: a.b, repositories: '(^a|b$)', newest: 2}]\n",
		"apiVersion: airgap-bundle.github.io/v1alpha1\nkind: ImageSet\nmirror:\n  additionalImages: [{name: a}]\ndestination:\n  map: [quay.io/ns=team/ns, a=b]\n  stripRegistry: true\n  maxNestedPaths: 2\n",
		"x: &a [*a]\n",
		"a: &a [*a, *a]\nb: &b [*a, *a]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		switch file.Kind {
		case KindOCMirror, KindImageSet, KindSkopeoSync:
		default:
			t.Fatalf("accepted with kind %q", file.Kind)
		}
		if (file.Releases == nil || len(file.Releases.Channels) == 0) && len(file.Operators) == 0 && len(file.AdditionalImages) == 0 && len(file.Registries) == 0 {
			t.Fatal("accepted a file that selects nothing")
		}
		if d := file.Destination; d != nil {
			if d.MaxNestedPaths < 0 {
				t.Fatalf("accepted maxNestedPaths %d", d.MaxNestedPaths)
			}
			for _, r := range d.Map {
				if _, err := mirror.ParseRule(r.Source + "=" + r.Mirror); err != nil {
					t.Fatalf("accepted a rule that does not parse again: %v", err)
				}
			}
		}
		for _, r := range file.Registries {
			if r.Registry == "" || r.Pos.Line < 1 {
				t.Fatalf("rule without registry or position: %+v", r)
			}
			_ = r.String()
		}
		for _, b := range file.BlockedImages {
			b.Matches("quay.io/a/b:1")
			b.Matches(b.Name)
		}
		for _, n := range file.Notices {
			if !strings.HasPrefix(n, "fuzz.yaml:") {
				t.Fatalf("notice without position: %s", n)
			}
		}
	})
}

// TestAliasBomb: aliases may not make a small file cost much.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: mirror.openshift.io/v2alpha1\nkind: ImageSetConfiguration\nx:\n  c: &c [")
	for i := 0; i < 2000; i++ {
		b.WriteString("{name: c},")
	}
	b.WriteString("]\n  p: &p {name: p, channels: *c}\nmirror:\n  operators:\n    - catalog: quay.io/a/b:1\n      packages: [")
	for i := 0; i < 5000; i++ {
		b.WriteString("*p,")
	}
	b.WriteString("]\n")
	start := time.Now()
	_, err := Parse([]byte(b.String()), "bomb.yaml")
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Fatalf("error: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
