package catalog

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseDocuments feeds untrusted files to the FBC document parser and
// to what Read and Build do with each document: nothing may panic, every
// document handed on must be a JSON object, and the rewrite of a kept
// document must be valid JSON. Run it with a short minimization time (the
// default, 60 s per new input, stalls short runs):
//
//	go test -run XXX -fuzz FuzzParseDocuments -fuzztime 60s -fuzzminimizetime 2s ./catalog/
func FuzzParseDocuments(f *testing.F) {
	f.Add([]byte(bazPackage), false)
	f.Add([]byte(bazBundles), true)
	f.Add([]byte(barYAML), true)
	f.Add(fooDocs(), false)
	f.Add([]byte(`{"schema":"olm.channel","package":"p","name":"c","entries":[{"name":"a","skips":["b"]}]}`), false)
	f.Add([]byte("a: &a [*a]\n"), true)
	f.Add([]byte("---\n---\n- 1\n"), true)
	f.Add([]byte(`{"schema":"olm.deprecations","package":"p","entries":[{"reference":{"schema":"olm.bundle","name":"x"}}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, isYAML bool) {
		format := "json"
		if isYAML {
			format = "yaml"
		}
		s := &Selection{packages: map[string]*keptPackage{
			"p":   {defaultChannel: "c", channels: map[string]map[string]bool{"c": {"a": true}}, bundles: map[string]bool{"a": true}},
			"baz": {defaultChannel: "stable", channels: map[string]map[string]bool{"stable": {"baz.v1.0.0": true}}, bundles: map[string]bool{"baz.v1.0.0": true}},
		}}
		_ = parseDocuments(format, bytes.NewReader(data), func(d document) error {
			if !json.Valid(d.JSON) || d.JSON[0] != '{' {
				t.Fatalf("document %d is not a JSON object: %q", d.Index, d.JSON)
			}
			it, err := readItem(d)
			if err != nil {
				return nil
			}
			if it.meta.Schema == "" {
				t.Fatalf("an item without schema")
			}
			out, _, _, _, err := s.rewrite(d.JSON)
			if err == nil && out != nil && !json.Valid(out) {
				t.Fatalf("rewrite gave invalid JSON %q", out)
			}
			return nil
		})
	})
}

// FuzzGraph checks the channel graph code on arbitrary entries: no panic,
// no endless loop, and a range selection of a valid channel stays valid.
func FuzzGraph(f *testing.F) {
	f.Add([]byte(`[{"name":"a"},{"name":"b","replaces":"a"},{"name":"c","replaces":"a","skips":["b"]}]`), "0.0.1", "9.0.0")
	f.Add([]byte(`[{"name":"a","replaces":"b"},{"name":"b","replaces":"a"}]`), "", "1.0.0")
	f.Fuzz(func(t *testing.T, entriesJSON []byte, min, max string) {
		var entries []Entry
		if json.Unmarshal(entriesJSON, &entries) != nil || len(entries) > 200 {
			return
		}
		g, err := newGraph(entries)
		if err != nil {
			return
		}
		r, err := parseRange(min, max)
		if err != nil || r == nil {
			return
		}
		bundles := map[string]*Bundle{}
		for i, e := range entries {
			bundles[e.Name] = &Bundle{Name: e.Name, Version: []string{"0.1.0", "1.0.0", "1.5.0", "2.0.0", "x"}[i%5]}
		}
		keep := g.inRange(r, bundles)
		var kept []Entry
		for _, e := range entries {
			if keep[e.Name] {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 {
			if _, err := newGraph(kept); err != nil {
				t.Fatalf("range %s of a valid channel %s gives an invalid one: %v", r.text, entriesJSON, err)
			}
		}
	})
}
