package format

import "testing"

// TestJSONValuesEqual is the definition of SPEC.md 5.2, case by case.
func TestJSONValuesEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[true,null,"x"]}`, `{ "b" : [ true , null , "x" ] , "a" : 1 }`, true},
		{`1`, `1.0`, true},
		{`1`, `1e0`, true},
		{`1`, `10E-1`, true},
		{`1500`, `1.5e+3`, true},
		{`0`, `-0.0e5`, true},
		{`-2`, `-2.000`, true},
		{`"A"`, `"\u0041"`, true},
		{`"é"`, `"\u00e9"`, true},
		{`"\ud83d\ude00"`, `"😀"`, true},
		{`1e999999999999`, `10e999999999998`, true},
		{`9007199254740993`, `9007199254740992`, false}, // equal as float64
		{`0.1`, `0.10000000000000001`, false},           // equal as float64
		{`1`, `-1`, false},
		{`1e400`, `1e401`, false},
		{`"é"`, `"e\u0301"`, false}, // no normalization
		{`"a"`, `"A"`, false},
		{`1`, `"1"`, false},
		{`null`, `false`, false},
		{`[]`, `{}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`[1]`, `[1,1]`, false},
		{`{"a":1}`, `{"a":1,"b":1}`, false},
		{`{"a":1}`, `{"A":1}`, false},
		{`{"a":1,"a":1}`, `{"a":1}`, false}, // a member twice is equal to nothing
		{`{"a":1}`, `{"a":1}x`, false},
		{`{"a":"\ud800"}`, `{"a":"\ud800"}`, false},
	} {
		if got := jsonValuesEqual([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("%s vs %s: %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := jsonValuesEqual([]byte(tc.b), []byte(tc.a)); got != tc.want {
			t.Errorf("%s vs %s: %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// TestManifestsAgree: index.json against bundle.json, as the volume reader
// checks them (rule 26).
func TestManifestsAgree(t *testing.T) {
	const bundle = `{"mediaType":"x","manifests":[{"mediaType":"m","digest":"d","size":9007199254740993}],"blobs":[]}`
	for _, tc := range []struct {
		layout string
		want   bool
	}{
		{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":9007199254740993}]}`, true},
		{`{"manifests":[{"size":9007199254740993.0,"digest":"d","mediaType":"\u006d"}],"schemaVersion":2}`, true},
		{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":9007199254740992}]}`, false},
		{`{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":9007199254740993,"urls":[]}]}`, false},
		{`{"schemaVersion":2,"manifests":[]}`, false},
		{`{"schemaVersion":2}`, false},
		// The value would depend on which member a reader keeps.
		{`{"manifests":[],"manifests":[{"mediaType":"m","digest":"d","size":9007199254740993}]}`, false},
		{`{"schemaVersion":2,"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":9007199254740993}]}`, false},
		{"{\"x\":\"\xff\",\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"d\",\"size\":9007199254740993}]}", false},
	} {
		if got := manifestsAgree([]byte(tc.layout), []byte(bundle)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.layout, got, tc.want)
		}
	}
}
