package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestJudgeHistory(t *testing.T) {
	t.Parallel()
	d1, d2, d3 := digest.FromString("1"), digest.FromString("2"), digest.FromString("3")
	jan, feb, mar := "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	rec := func(a ...AppliedBundle) *History { return &History{SchemaVersion: 1, Applied: a} }
	applied := func(id, created string, names map[string]digest.Digest) AppliedBundle {
		return AppliedBundle{BundleID: id, Created: created, Applied: "2025-01-01T00:00:00Z", Names: names}
	}
	feb1 := applied("B", feb, map[string]digest.Digest{"app:v1": d2, "db:1": d1})
	for _, c := range []struct {
		name     string
		h        *History
		id       string
		created  string
		names    map[string]digest.Digest
		allow    bool
		replay   bool
		refused  string // the name refused, "" none
		more     int
		rollback []string
	}{
		{name: "empty record", h: rec(), id: "A", created: jan, names: map[string]digest.Digest{"app:v1": d1}},
		{name: "newer moves", h: rec(feb1), id: "C", created: mar, names: map[string]digest.Digest{"app:v1": d3}},
		{name: "same time moves", h: rec(feb1), id: "C", created: feb, names: map[string]digest.Digest{"app:v1": d3}},
		{name: "older refused", h: rec(feb1), id: "A", created: jan, names: map[string]digest.Digest{"app:v1": d1}, refused: "app:v1"},
		{name: "older, several names, first sorted", h: rec(feb1), id: "A", created: jan, names: map[string]digest.Digest{"app:v1": d1, "db:1": d3}, refused: "app:v1", more: 1},
		{name: "older allowed", h: rec(feb1), id: "A", created: jan, names: map[string]digest.Digest{"app:v1": d1}, allow: true, rollback: []string{"app:v1"}},
		{name: "older, same digest", h: rec(feb1), id: "A", created: jan, names: map[string]digest.Digest{"app:v1": d2}},
		{name: "older, name never recorded", h: rec(feb1), id: "A", created: jan, names: map[string]digest.Digest{"other:1": d1}},
		{name: "older than a bundle that set another name only", h: rec(applied("B", feb, map[string]digest.Digest{"x:1": d1})), id: "A", created: jan, names: map[string]digest.Digest{"app:v1": d1}},
		{name: "replay", h: rec(feb1), id: "B", created: feb, names: map[string]digest.Digest{"app:v1": d2, "db:1": d1}, replay: true},
		{name: "listed, but a name the record does not know (another mapping)", h: rec(feb1), id: "B", created: feb, names: map[string]digest.Digest{"m/app:v1": d2}},
		{name: "replay of a bundle of no names", h: rec(applied("B", feb, nil)), id: "B", created: feb, replay: true},
		{name: "latest setter counts: an older bundle set it last, by rollback",
			h:  rec(applied("B", feb, map[string]digest.Digest{"app:v1": d2}), applied("A", jan, map[string]digest.Digest{"app:v1": d1})),
			id: "B", created: feb, names: map[string]digest.Digest{"app:v1": d2}},
		{name: "latest setter counts: a newer one set it after",
			h:  rec(applied("A", jan, map[string]digest.Digest{"app:v1": d1}), applied("C", mar, map[string]digest.Digest{"app:v1": d3})),
			id: "B", created: feb, names: map[string]digest.Digest{"app:v1": d2}, refused: "app:v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := judgeHistory(c.h.scan, c.id, at(c.created), c.names, c.allow)
			var re *RollbackError
			switch {
			case c.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.refused != "":
				if !errors.As(err, &re) || !errors.Is(err, ErrRollback) {
					t.Fatalf("got %v, want a *RollbackError", err)
				}
				if re.Name != c.refused || re.Bundle != c.id || !re.Created.Equal(at(c.created)) || re.More != c.more || re.SetBy == "" || !re.SetCreated.After(re.Created) {
					t.Errorf("%+v", re)
				}
			}
			if v.replay != c.replay {
				t.Errorf("replay %v, want %v", v.replay, c.replay)
			}
			var rb []string
			for _, r := range v.rollbacks {
				rb = append(rb, r.name)
			}
			if c.refused == "" && !slices.Equal(rb, c.rollback) {
				t.Errorf("rollbacks %q, want %q", rb, c.rollback)
			}
		})
	}
}

func TestRollbackErrorMessage(t *testing.T) {
	t.Parallel()
	e := &RollbackError{Name: "mirror.example/app:v1", SetBy: "NEW", SetCreated: time.Unix(1710000000, 0), Bundle: "OLD", Created: time.Unix(1700000000, 0), More: 2}
	want := "refusing to roll back: bundle OLD, created 2023-11-14T22:13:20Z, would move mirror.example/app:v1 (and 2 other names), which bundle NEW, created later (2024-03-09T16:00:00Z), set"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
}

func TestHistoryFile(t *testing.T) {
	t.Parallel()
	f := HistoryFile(filepath.Join(t.TempDir(), "state", "m.json"))
	h, err := f.LoadHistory(t.Context())
	if err != nil || len(h.Applied) != 0 {
		t.Fatalf("a missing record: %+v, %v", h, err)
	}
	for _, id := range []string{"A", "B"} {
		if err := f.AddHistory(t.Context(), AppliedBundle{BundleID: id, Created: "2024-01-01T00:00:00Z", Names: map[string]digest.Digest{}}); err != nil {
			t.Fatal(err)
		}
	}
	if h, err = f.LoadHistory(t.Context()); err != nil || len(h.Applied) != 2 || h.Applied[1].BundleID != "B" {
		t.Fatalf("%+v, %v", h, err)
	}
	os.WriteFile(string(f), []byte(`{"schemaVersion":2}`), 0o600)
	if _, err := f.LoadHistory(t.Context()); err == nil {
		t.Error("a record of another schema version was read")
	}
}

// TestHistoryFileConcurrentAndDebris: unpacks into one mirror at once each
// add their bundle (none is lost to another's rewrite), and a temporary
// file a killed writer left beside the record is removed by the next.
func TestHistoryFileConcurrentAndDebris(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(dir, 0o700)
	f := HistoryFile(filepath.Join(dir, "m.history.json"))
	other := filepath.Join(dir, "other.history.json")
	os.WriteFile(other, []byte("{}"), 0o600)
	debris := filepath.Join(dir, ".m.history.json.tmp-123")
	os.WriteFile(debris, []byte(`{"applied":[`), 0o600)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- f.AddHistory(t.Context(), AppliedBundle{BundleID: fmt.Sprint(i), Created: "2024-01-01T00:00:00Z", Names: map[string]digest.Digest{}})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h, err := f.LoadHistory(t.Context())
	if err != nil || len(h.Applied) != n {
		t.Fatalf("after %d concurrent adds: %d bundles recorded, %v", n, len(h.Applied), err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"m.history.json", "other.history.json"}; !slices.Equal(names, want) {
		t.Errorf("the state directory holds %v, want %v", names, want)
	}
}

func TestDefaultRegistryHistory(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	p, err := DefaultRegistryHistory("mirror.example:5000", "ns/sub")
	if err != nil || p != filepath.Join("/state", "airgap-bundle", "mirror.example_5000_ns_sub.history.json") {
		t.Errorf("%s, %v", p, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	if p, _ = DefaultRegistryHistory("m", ""); p != filepath.Join(home, ".local", "state", "airgap-bundle", "m.history.json") {
		t.Errorf("%s", p)
	}
}

// TestUnpackRollback: Set.Unpack into a layout refuses an older bundle
// before writing anything, applies it when allowed (and records that),
// and treats a bundle applied already as a replay.
func TestUnpackRollback(t *testing.T) {
	t.Parallel()
	a, b := newMemSource("a"), newMemSource("b")
	oldApp := a.addImage(t, "app:1", randomLayer(a, 1))
	newApp := b.addImage(t, "app:1", randomLayer(b, 2))
	jan, mar := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	oldDir, oldX := packSources(t, []Source{a}, PackOptions{Created: jan})
	newDir, newX := packSources(t, []Source{b}, PackOptions{Created: mar})
	dest := filepath.Join(t.TempDir(), "layout")
	unpack := func(dir string, o UnpackOptions) (*UnpackResult, error) {
		t.Helper()
		s, err := OpenFiles(t.Context(), []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Trust(TrustPolicy{AllowUnsigned: true}); err != nil {
			t.Fatal(err)
		}
		d := NewLayoutDestination(dest, LayoutOptions{})
		defer d.Close()
		return s.Unpack(t.Context(), d, o)
	}
	if _, err := unpack(newDir, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	before := treeHash(t, dest)
	_, err := unpack(oldDir, UnpackOptions{})
	var re *RollbackError
	if !errors.As(err, &re) || re.Name != "app:1" || re.SetBy != newX.BundleID || !re.SetCreated.Equal(mar) || re.Bundle != oldX.BundleID || !re.Created.Equal(jan) {
		t.Fatalf("older bundle: %v (%+v)", err, re)
	}
	assertUntouched(t, dest, before)

	var notices []string
	r, err := unpack(newDir, UnpackOptions{Notice: func(s string) { notices = append(notices, s) }})
	if err != nil || !r.AlreadyApplied || r.NamesSet != 0 || r.BlobsPut != 0 || len(notices) != 1 {
		t.Fatalf("replay: %+v, %v, %q", r, err, notices)
	}
	assertUntouched(t, dest, before)

	h, err := NewLayoutDestination(dest, LayoutOptions{}).History().LoadHistory(t.Context())
	if err != nil || len(h.Applied) != 1 || h.Applied[0].Names["app:1"] != newApp.Digest {
		t.Fatalf("record after the replay: %+v, %v", h, err)
	}

	r, err = unpack(oldDir, UnpackOptions{AllowRollback: true})
	if err != nil || !slices.Equal(r.RolledBack, []string{"app:1"}) || r.NamesMoved != 1 {
		t.Fatalf("allowed rollback: %+v, %v", r, err)
	}
	h, err = NewLayoutDestination(dest, LayoutOptions{}).History().LoadHistory(t.Context())
	if err != nil || len(h.Applied) != 2 {
		t.Fatalf("%+v, %v", h, err)
	}
	if a := h.Applied[1]; a.BundleID != oldX.BundleID || !a.AllowedRollback || a.Names["app:1"] != oldApp.Digest || a.Created != oldX.Created {
		t.Errorf("record of the allowed rollback: %+v", a)
	}
	// The name the rollback moved is listed by its last setter only.
	if a := h.Applied[0]; a.BundleID != newX.BundleID || a.AllowedRollback || len(a.Names) != 0 {
		t.Errorf("record of the first bundle: %+v", a)
	}
}

// TestWriteHistory: the record written a name at a time is the bytes
// json.MarshalIndent makes of it, whatever it holds; a field added to
// AppliedBundle must be written too (the count below fails first).
func TestWriteHistory(t *testing.T) {
	if n := reflect.TypeFor[AppliedBundle]().NumField(); n != 5 {
		t.Fatalf("AppliedBundle has %d fields: writeHistory writes 5", n)
	}
	d := digest.FromString("a")
	names := map[string]digest.Digest{}
	for i := range 50 {
		names[fmt.Sprintf("mirror.example/ns/app-%02d:v%d", 50-i, i)] = digest.FromString(fmt.Sprint(i))
	}
	for name, h := range map[string]*History{
		"nothing applied": {SchemaVersion: HistorySchemaVersion},
		"empty list":      {SchemaVersion: HistorySchemaVersion, Applied: []AppliedBundle{}},
		"one bundle, names to escape": {SchemaVersion: HistorySchemaVersion, Applied: []AppliedBundle{{
			BundleID: "b1", Created: "2026-12-03T00:00:00Z", Applied: "2026-12-03T01:00:00Z",
			Names: map[string]digest.Digest{"a<b>&c:\"q\"": d, "z/\u00e9\u2028:t": d, "\xff bad": d}}}},
		"several, rollback, no names": {SchemaVersion: 7, Applied: []AppliedBundle{
			{BundleID: "b1", Names: names},
			{BundleID: "b2", AllowedRollback: true, Names: map[string]digest.Digest{}},
			{BundleID: "b3"},
		}},
	} {
		want, err := json.MarshalIndent(h, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		var got bytes.Buffer
		if err := writeHistory(&got, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got.Bytes(), want)
		}
	}
}

// TestAppendHistory: the record read a bundle at a time and written back
// with one more is what MarshalIndent makes of the record with it
// appended, whatever shape json.Unmarshal accepted the record in.
func TestAppendHistory(t *testing.T) {
	t.Parallel()
	d := digest.FromString("a")
	add := AppliedBundle{BundleID: "new", Created: "2026-12-03T00:00:00Z", Applied: "2026-12-03T01:00:00Z", Names: map[string]digest.Digest{"app:v2": d}}
	b1 := AppliedBundle{BundleID: "b1", Created: "2026-11-03T00:00:00Z", Applied: "2026-11-03T01:00:00Z", Names: map[string]digest.Digest{"app:v1": d, "db:1": d}}
	b2 := AppliedBundle{BundleID: "b2", AllowedRollback: true, Names: map[string]digest.Digest{}}
	indent := func(h *History) string {
		b, err := json.MarshalIndent(h, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	for _, c := range []struct {
		name, old string
		applied   []AppliedBundle // what old holds
	}{
		{"no record", "", nil},
		{"null", "null", nil},
		{"nothing applied", indent(&History{SchemaVersion: 1}), nil},
		{"empty list", `{"schemaVersion":1,"applied":[]}`, nil},
		{"as written", indent(&History{SchemaVersion: 1, Applied: []AppliedBundle{b1, b2}}), []AppliedBundle{b1, b2}},
		{"compact, version last, other case, unknown members", `{"Applied":[{"bundleId":"b1","created":"2026-11-03T00:00:00Z","applied":"2026-11-03T01:00:00Z","names":{"app:v1":"` + string(d) + `","db:1":"` + string(d) + `"},"x":[1]},{"bundleId":"b2","allowedRollback":true,"names":{}}],"comment":{"a":"b"},"SCHEMAVERSION":1}`, []AppliedBundle{b1, b2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got bytes.Buffer
			if err := appendHistory(&got, strings.NewReader(c.old), "rec", add); err != nil {
				t.Fatal(err)
			}
			want := indent(&History{SchemaVersion: 1, Applied: append(slices.Clone(c.applied), add)})
			if got.String() != want {
				t.Errorf("got %s\nwant %s", got.String(), want)
			}
		})
	}
	for _, bad := range []string{`{"schemaVersion":2}`, `{"applied":[],"applied":[]}`, `{"applied":{}}`, `[]`, `{"schemaVersion":1} {}`, `{"applied":[{"names":[]}]}`, `{"applied":[`} {
		var out bytes.Buffer
		if err := appendHistory(&out, strings.NewReader(bad), "rec.json", add); err == nil || !strings.Contains(err.Error(), "rollback record rec.json") || !strings.Contains(err.Error(), "restore it from a backup") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// FuzzReadHistory holds the record's reader, which decodes a bundle at a
// time, to json.Unmarshal of the whole into a History.
func FuzzReadHistory(f *testing.F) {
	for _, s := range []string{"", "null", `{"schemaVersion":1,"applied":null}`, `{"schemaVersion":1,"applied":[{"bundleId":"a","names":{"x":"sha256:00"}}]}`,
		`{"applied":[{"bundleId":"a"}],"schemaVersion":2}`, `{"Applied":[],"x":1}`, `{"applied":[],"applied":[]}`, ` {"applied":[{}, {"allowedRollback":true}]} `, `{} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []AppliedBundle
		err := readHistory(bytes.NewReader(b), "f", func(a *AppliedBundle) error {
			got = append(got, *a)
			return nil
		})
		want := &History{SchemaVersion: HistorySchemaVersion}
		werr := error(nil)
		if len(b) > 0 {
			werr = json.Unmarshal(b, want)
		}
		switch {
		case err == nil && (werr != nil || want.SchemaVersion != HistorySchemaVersion):
			t.Fatalf("read %q; Unmarshal: %v, version %d", b, werr, want.SchemaVersion)
		case err == nil && !reflect.DeepEqual(got, slices.Clip(want.Applied)) && len(got)+len(want.Applied) > 0:
			t.Fatalf("%q: read %+v, Unmarshal %+v", b, got, want.Applied)
		case err != nil && werr == nil && want.SchemaVersion == HistorySchemaVersion && !strings.Contains(err.Error(), `"applied" given twice`):
			t.Fatalf("%q refused (%v); Unmarshal accepts it", b, err)
		}
	})
}

// TestJudgeHistoryHoldsOneBundle: judging reads the record a bundle at a
// time. By the last of 40 bundles of 2,000 names each, what it holds has
// not grown by the bundles before (about 16 MB decoded).
func TestJudgeHistoryHoldsOneBundle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.json")
	f := HistoryFile(path)
	func() {
		h := &History{SchemaVersion: HistorySchemaVersion}
		for i := range 40 {
			names := map[string]digest.Digest{}
			for j := range 2000 {
				names[fmt.Sprintf("mirror.example/ns/app-%04d:v%d", j, i)] = digest.FromString(fmt.Sprint(i, j))
			}
			h.Applied = append(h.Applied, AppliedBundle{BundleID: fmt.Sprint("b", i), Created: "2024-01-01T00:00:00Z", Names: names})
		}
		w, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := writeHistory(w, h); err != nil {
			t.Fatal(err)
		}
	}()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	var at uint64
	n := 0
	record := func(fn func(*AppliedBundle) error) error {
		return f.scanHistory(t.Context(), func(a *AppliedBundle) error {
			if n++; n == 40 {
				at = heap()
			}
			return fn(a)
		})
	}
	v, err := judgeHistory(record, "new", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), map[string]digest.Digest{"mirror.example/ns/app-0001:v39": digest.FromString("x")}, false)
	if err != nil || v.replay || n != 40 {
		t.Fatalf("%+v, %v, %d bundles", v, err, n)
	}
	if grown := int64(at) - int64(before); grown > 4<<20 {
		t.Errorf("judging held %d MB more by the last bundle than before it started", grown>>20)
	}
}

// TestAppendHistoryKeepsLastSetters: a record built by appending bundle
// after bundle lists each name once, by its last setter, and judges every
// bundle as a record of every name every bundle set would: random
// histories with names moved, set again to the same digest, rolled back,
// and bundles applied again.
func TestAppendHistoryKeepsLastSetters(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 11))
	names := []string{"app:1", "app:2", "db:1", "web:1", "web:2"}
	digests := []digest.Digest{digest.FromString("x"), digest.FromString("y"), digest.FromString("z")}
	day := func() time.Time { return time.Date(2026, 1, 1+rng.IntN(20), 0, 0, 0, 0, time.UTC) }
	randomBundle := func(id string) AppliedBundle {
		m := map[string]digest.Digest{}
		for _, n := range names {
			if rng.IntN(2) == 0 {
				m[n] = digests[rng.IntN(len(digests))]
			}
		}
		return AppliedBundle{BundleID: id, Created: day().Format(time.RFC3339), Applied: "2026-02-01T00:00:00Z", Names: m}
	}
	clone := func(a AppliedBundle) AppliedBundle { a.Names = maps.Clone(a.Names); return a }
	for run := range 300 {
		full := &History{SchemaVersion: HistorySchemaVersion}
		var rec []byte
		for i := range 1 + rng.IntN(8) {
			a := randomBundle(fmt.Sprintf("b%d", i))
			if i > 0 && rng.IntN(4) == 0 {
				a = clone(full.Applied[rng.IntN(i)]) // applied again, with a rollback allowed
				a.AllowedRollback = true
			}
			full.Applied = append(full.Applied, clone(a))
			var out bytes.Buffer
			if err := appendHistory(&out, bytes.NewReader(rec), "rec", clone(a)); err != nil {
				t.Fatal(err)
			}
			rec = out.Bytes()
		}
		var compact History
		if err := json.Unmarshal(rec, &compact); err != nil {
			t.Fatal(err)
		}
		if len(compact.Applied) != len(full.Applied) {
			t.Fatalf("run %d: %d bundles recorded, want %d", run, len(compact.Applied), len(full.Applied))
		}
		listed := map[string]string{}
		for _, a := range compact.Applied {
			for n := range a.Names {
				if by, ok := listed[n]; ok {
					t.Fatalf("run %d: %s listed by %s and %s:\n%s", run, n, by, a.BundleID, rec)
				}
				listed[n] = a.BundleID
			}
		}
		for k := range 6 {
			b := randomBundle("new")
			if k%2 == 1 {
				b = clone(full.Applied[rng.IntN(len(full.Applied))])
			}
			created, _ := time.Parse(time.RFC3339, b.Created)
			for _, allow := range []bool{false, true} {
				vf, ef := judgeHistory(full.scan, b.BundleID, created, b.Names, allow)
				vc, ec := judgeHistory(compact.scan, b.BundleID, created, b.Names, allow)
				if !reflect.DeepEqual(vf, vc) || fmt.Sprint(ef) != fmt.Sprint(ec) {
					t.Fatalf("run %d: %s (allow %v) judged %+v, %v by the compacted record, %+v, %v by the whole:\n%s", run, b.BundleID, allow, vc, ec, vf, ef, rec)
				}
			}
		}
	}
}
