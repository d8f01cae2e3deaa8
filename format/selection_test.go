package format

import (
	"strings"
	"testing"
)

func TestSelectionsRoundTrip(t *testing.T) {
	a := []Selection{
		{By: SelectedByOperator, Catalog: "registry.example/cat:v1", Package: "p", Channel: "stable", Bundle: "p.v1", Rule: "set.yaml:9"},
		{By: SelectedByRelease, Release: "4.18.1", Channel: "stable-4.18", Component: "etcd", Rule: "set.yaml:4"},
		{By: SelectedByOperator, Catalog: "registry.example/cat:v1", Package: "p", Channel: "stable", Bundle: "p.v1", Rule: "set.yaml:9"},
	}
	v := FormatSelections(a)
	b := []Selection{a[1], a[0]}
	if w := FormatSelections(b); w != v {
		t.Fatalf("order changed the value:\n%s\n%s", v, w)
	}
	got, err := ParseSelections(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].By != SelectedByOperator || got[1].Component != "etcd" {
		t.Fatalf("got %+v from %s", got, v)
	}
	m, err := MergeSelections(v, FormatSelections([]Selection{{By: SelectedByArgument}}))
	if err != nil || !strings.Contains(m, `"by":"argument"`) || !strings.Contains(m, "etcd") {
		t.Fatalf("merged %s, %v", m, err)
	}
	if s := got[1].String(); s != "release 4.18.1 channel stable-4.18 component etcd at set.yaml:4" {
		t.Fatalf("String: %q", s)
	}
}

func TestParseSelectionsRefuses(t *testing.T) {
	for _, v := range []string{`{}`, `[{"by":"x","extra":1}]`, `[{"rule":"a"}]`, `[] []`, `[{"by":1}]`} {
		if _, err := ParseSelections(v); err == nil {
			t.Errorf("%s: accepted", v)
		}
	}
}

func FuzzParseSelections(f *testing.F) {
	f.Add(`[{"by":"release","release":"4.18.1"}]`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, v string) {
		s, err := ParseSelections(v)
		if err != nil {
			return
		}
		again, err := ParseSelections(FormatSelections(s))
		if err != nil || (len(s) > 0 && len(again) == 0) {
			t.Fatalf("%q: formatted value does not parse back: %v", v, err)
		}
	})
}
