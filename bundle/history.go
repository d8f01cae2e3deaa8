package bundle

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/atomicfile"
	"github.com/airgap-bundle/bundle/internal/jsonstream"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// HistoryFileName is the rollback record of an OCI layout, in the layout
// directory beside index.json (SPEC 11.8). OCI layout readers ignore it.
const HistoryFileName = "airgap-bundle-history.json"

// HistorySchemaVersion is the version of the record's format.
const HistorySchemaVersion = 1

// History is the record a destination keeps of the bundles applied to it
// (SPEC 11.8): what Set.Unpack judges a rollback or a replay by.
type History struct {
	SchemaVersion int `json:"schemaVersion"`
	// Applied lists the bundles applied, oldest application first.
	Applied []AppliedBundle `json:"applied"`
}

// AppliedBundle is one bundle applied to a destination.
type AppliedBundle struct {
	BundleID string `json:"bundleId"`
	// Created is the bundle's created time, from its signed index (RFC 3339).
	Created string `json:"created"`
	// Applied is when it was applied (RFC 3339, UTC).
	Applied string `json:"applied"`
	// AllowedRollback: it moved names that a bundle created later had set,
	// because a rollback was allowed (UnpackOptions.AllowRollback).
	AllowedRollback bool `json:"allowedRollback,omitempty"`
	// Names is each name (tag) it set, as people see it at the
	// destination, and the digest it set it to; in a record, only those
	// that no bundle applied after it has set since (a name is listed
	// once, by its last setter).
	Names map[string]digest.Digest `json:"names"`
}

// HistoryStore is where a destination keeps its History. Unpack judges a
// bundle against the record of its own stores a bundle at a time; one of
// another HistoryStore is loaded whole.
type HistoryStore interface {
	// LoadHistory reads the record; an empty one when there is none yet.
	LoadHistory(ctx context.Context) (*History, error)
	// AddHistory appends a to the record, whole or not at all.
	AddHistory(ctx context.Context, a AppliedBundle) error
}

// historian is a destination that keeps a record: History returns nil
// when it keeps none. historyNames are the names (as in the record) that
// the bundle x sets there, with their digests.
type historian interface {
	History() HistoryStore
	historyNames(x *format.Index) map[string]digest.Digest
}

// ErrRollback is wrapped by *RollbackError.
var ErrRollback = errors.New("refusing to roll back")

// RollbackError: a bundle would move a name to other content though the
// bundle that last set it there was created later (a replay of an older
// bundle, which may bring back images since found vulnerable). Nothing
// was written.
type RollbackError struct {
	Name       string    // the first such name (sorted)
	SetBy      string    // the bundle that last set it
	SetCreated time.Time // and when that bundle was created
	Bundle     string    // the bundle refused
	Created    time.Time // and when it was created
	More       int       // other names it would roll back
}

func (e *RollbackError) Error() string {
	more := ""
	if e.More > 0 {
		more = fmt.Sprintf(" (and %d other names)", e.More)
	}
	return fmt.Sprintf("%v: bundle %s, created %s, would move %s%s, which bundle %s, created later (%s), set",
		ErrRollback, e.Bundle, e.Created.UTC().Format(time.RFC3339), e.Name, more, e.SetBy, e.SetCreated.UTC().Format(time.RFC3339))
}

func (e *RollbackError) Unwrap() error { return ErrRollback }

// historyVerdict is what the record says of a bundle about to be applied.
type historyVerdict struct {
	// replay: the record lists this bundle, and every name it sets is
	// recorded where it sets it; appliedAt is when it was applied.
	replay    bool
	appliedAt string
	// rollbacks: names it moves back, allowed (the error is nil) or not.
	rollbacks []rollback
}

type rollback struct {
	name       string
	setBy      string
	setCreated time.Time
}

// historyScan hands each bundle of a record to fn, oldest application
// first; a is fn's only while fn runs.
type historyScan func(fn func(a *AppliedBundle) error) error

// scan is h's historyScan.
func (h *History) scan(fn func(a *AppliedBundle) error) error {
	for i := range h.Applied {
		if err := fn(&h.Applied[i]); err != nil {
			return err
		}
	}
	return nil
}

// setter is the bundle that last set a name, and what it set it to.
type setter struct {
	bundleID, created string
	digest            digest.Digest
}

// judgeHistory decides, from the record alone, whether the bundle id
// created at created, setting names, is a replay, a rollback (refused
// unless allow), or neither. It holds the setters of names only: the
// record, which grows with every bundle applied, goes by a bundle at a
// time.
func judgeHistory(record historyScan, id string, created time.Time, names map[string]digest.Digest, allow bool) (historyVerdict, error) {
	var v historyVerdict
	last := map[string]setter{}
	err := record(func(a *AppliedBundle) error {
		if a.BundleID == id {
			v.replay, v.appliedAt = true, a.Applied
		}
		if len(a.Names) < len(names) {
			for n, d := range a.Names {
				if _, ok := names[n]; ok {
					last[n] = setter{a.BundleID, a.Created, d}
				}
			}
			return nil
		}
		for n := range names {
			if d, ok := a.Names[n]; ok {
				last[n] = setter{a.BundleID, a.Created, d}
			}
		}
		return nil
	})
	if err != nil {
		return v, err
	}
	for n, d := range names {
		a, ok := last[n]
		if !ok {
			v.replay = false // a name the record does not know: record it
			continue
		}
		if a.digest == d {
			continue
		}
		v.replay = false // a name moves: not a replay, whatever the record lists
		t, err := time.Parse(time.RFC3339, a.created)
		if err != nil {
			return v, fmt.Errorf("rollback record: bundle %s has created time %q: %w", a.bundleID, a.created, err)
		}
		if t.After(created) {
			v.rollbacks = append(v.rollbacks, rollback{name: n, setBy: a.bundleID, setCreated: t})
		}
	}
	slices.SortFunc(v.rollbacks, func(a, b rollback) int { return strings.Compare(a.name, b.name) })
	if len(v.rollbacks) > 0 && !allow {
		r := v.rollbacks[0]
		return v, &RollbackError{Name: r.name, SetBy: r.setBy, SetCreated: r.setCreated, Bundle: id, Created: created, More: len(v.rollbacks) - 1}
	}
	return v, nil
}

// checkHistory judges the bundle against the destination's record before
// anything is written. It returns the record to add once the names are
// set (nil when the destination keeps none, or on a replay).
func (w *walk) checkHistory(o UnpackOptions) (*AppliedBundle, historyVerdict, error) {
	h, ok := w.dest.(historian)
	if !ok || h.History() == nil {
		return nil, historyVerdict{}, nil
	}
	x := w.set.Index
	created, err := x.CreatedTime()
	if err != nil {
		return nil, historyVerdict{}, fmt.Errorf("bundle %s: created %q: %w", x.BundleID, x.Created, err)
	}
	var record historyScan
	if s, ok := h.History().(historyScanner); ok {
		record = func(fn func(*AppliedBundle) error) error { return s.scanHistory(w.ctx, fn) }
	} else {
		rec, err := h.History().LoadHistory(w.ctx)
		if err != nil {
			return nil, historyVerdict{}, err
		}
		record = rec.scan
	}
	names := h.historyNames(x)
	v, err := judgeHistory(record, x.BundleID, created, names, o.AllowRollback)
	if err != nil || v.replay {
		return nil, v, err
	}
	for _, r := range v.rollbacks {
		w.notice(fmt.Sprintf("rolling back %s, as allowed: bundle %s, created %s, set it; bundle %s was created %s",
			r.name, r.setBy, r.setCreated.UTC().Format(time.RFC3339), x.BundleID, x.Created))
	}
	if names == nil {
		names = map[string]digest.Digest{}
	}
	return &AppliedBundle{BundleID: x.BundleID, Created: x.Created, AllowedRollback: len(v.rollbacks) > 0, Names: names}, v, nil
}

// historyScanner is a HistoryStore that reads its record a bundle at a
// time (the stores of this package): a record grows with every bundle
// applied, a year of monthly bundles of 300,000 names each to millions
// of names, and an unpack's memory should not.
type historyScanner interface {
	scanHistory(ctx context.Context, fn func(a *AppliedBundle) error) error
}

// readHistory reads the record r (from where), handing each bundle to fn
// as it is decoded. Empty input is an empty record. It accepts what
// json.Unmarshal into a History accepts (member names in any case,
// unknown members, null), except a record that lists "applied" twice; a
// schemaVersion other than HistorySchemaVersion is an error once the
// whole record is read, where it may stand, and so is anything after the
// record.
func readHistory(r io.Reader, where string, fn func(a *AppliedBundle) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if _, err := br.Peek(1); err == io.EOF {
		return nil
	}
	version := HistorySchemaVersion
	_, err := jsonstream.ReadObject(br, "applied", nil, func(dec *json.Decoder, i int) error {
		var a AppliedBundle
		if err := dec.Decode(&a); err != nil {
			return fmt.Errorf("applied bundle %d: %w", i+1, err)
		}
		return fn(&a)
	}, func(name string, raw json.RawMessage) error {
		if strings.EqualFold(name, "schemaVersion") {
			return json.Unmarshal(raw, &version)
		}
		return nil
	})
	if err == nil && version != HistorySchemaVersion {
		err = fmt.Errorf("schema version %d, want %d", version, HistorySchemaVersion)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("rollback record %s: %w", where, err)
	}
	return fmt.Errorf("rollback record %s: %w; restore it from a backup, or move it away to start a new record, against which the next bundle is accepted whatever its age", where, err)
}

// scanHistoryFile is readHistory of the file at path, stopped by ctx; a
// missing file is an empty record.
func scanHistoryFile(ctx context.Context, path string, fn func(a *AppliedBundle) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rollback record: %w", err)
	}
	defer f.Close()
	return readHistory(f, path, func(a *AppliedBundle) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(a)
	})
}

// loadHistoryFile reads the record at path whole.
func loadHistoryFile(ctx context.Context, path string) (*History, error) {
	h := &History{SchemaVersion: HistorySchemaVersion}
	err := scanHistoryFile(ctx, path, func(a *AppliedBundle) error {
		h.Applied = append(h.Applied, *a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// appendHistory writes to w the record old (from where) with a appended,
// a bundle at a time, as writeHistory writes the whole. The names a sets
// leave the entries before it: a is their last setter now, and the last
// setter of a name is all that judging reads (SPEC 11.8). So the record
// holds each name once and grows with the destination's names and the
// count of bundles, not with every name of every bundle ever applied (a
// monthly bundle of 300,000 names added 300,000 entries a month, read
// twice by every unpack).
func appendHistory(w io.Writer, old io.Reader, where string, a AppliedBundle) error {
	hw := newHistoryWriter(w, HistorySchemaVersion)
	err := readHistory(old, where, func(e *AppliedBundle) error {
		if len(e.Names) <= len(a.Names) {
			maps.DeleteFunc(e.Names, func(n string, _ digest.Digest) bool { _, ok := a.Names[n]; return ok })
		} else {
			for n := range a.Names {
				delete(e.Names, n)
			}
		}
		return hw.add(e)
	})
	if err != nil {
		return err
	}
	hw.add(&a)
	return hw.close(false)
}

// writeHistory writes h as json.MarshalIndent(h, "", "  ") makes it, and a
// newline, a name at a time: a bundle of 300,000 images sets as many names,
// and MarshalIndent's two copies of them (79 MB) were the peak of an
// unpack's memory (issue 15).
func writeHistory(w io.Writer, h *History) error {
	hw := newHistoryWriter(w, h.SchemaVersion)
	h.scan(hw.add)
	return hw.close(h.Applied == nil)
}

// historyWriter writes a record a bundle at a time.
type historyWriter struct {
	bw *bufio.Writer
	n  int
}

func newHistoryWriter(w io.Writer, version int) *historyWriter {
	hw := &historyWriter{bw: bufio.NewWriterSize(w, 64<<10)}
	fmt.Fprintf(hw.bw, "{\n  \"schemaVersion\": %d,\n  \"applied\": ", version)
	return hw
}

func (hw *historyWriter) str(s string) {
	b, _ := json.Marshal(s) // a string always marshals
	hw.bw.Write(b)
}

func (hw *historyWriter) add(a *AppliedBundle) error {
	bw := hw.bw
	if hw.n == 0 {
		bw.WriteString("[")
	} else {
		bw.WriteString(",")
	}
	hw.n++
	bw.WriteString("\n    {\n      \"bundleId\": ")
	hw.str(a.BundleID)
	bw.WriteString(",\n      \"created\": ")
	hw.str(a.Created)
	bw.WriteString(",\n      \"applied\": ")
	hw.str(a.Applied)
	if a.AllowedRollback {
		bw.WriteString(",\n      \"allowedRollback\": true")
	}
	bw.WriteString(",\n      \"names\": ")
	switch {
	case a.Names == nil:
		bw.WriteString("null")
	case len(a.Names) == 0:
		bw.WriteString("{}")
	default:
		bw.WriteString("{")
		for j, name := range slices.Sorted(maps.Keys(a.Names)) {
			if j > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n        ")
			hw.str(name)
			bw.WriteString(": ")
			hw.str(string(a.Names[name]))
		}
		bw.WriteString("\n      }")
	}
	bw.WriteString("\n    }")
	return nil
}

// close ends the record: applied is null when none were added and null
// says so, [] when none were added otherwise.
func (hw *historyWriter) close(null bool) error {
	switch {
	case hw.n > 0:
		hw.bw.WriteString("\n  ]")
	case null:
		hw.bw.WriteString("null")
	default:
		hw.bw.WriteString("[]")
	}
	hw.bw.WriteString("\n}\n")
	return hw.bw.Flush()
}

// HistoryFile is a record kept in a file of its own: a registry's, on the
// host that pushes into it (RegistryDestinationOptions.History).
type HistoryFile string

func (f HistoryFile) LoadHistory(ctx context.Context) (*History, error) {
	return loadHistoryFile(ctx, string(f))
}

func (f HistoryFile) scanHistory(ctx context.Context, fn func(a *AppliedBundle) error) error {
	return scanHistoryFile(ctx, string(f), fn)
}

// AddHistory rewrites the file with a appended, reading the record as it
// writes it. It holds a lock on the file's directory meanwhile: unpacks
// into one mirror at once would otherwise each rewrite the record they
// read, and all but the last bundle would drop out of it. Holding it, it
// removes what a writer killed mid-rewrite left there (.NAME.tmp-*).
func (f HistoryFile) AddHistory(ctx context.Context, a AppliedBundle) error {
	dir := filepath.Dir(string(f))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("rollback record: %w", err)
	}
	unlock, err := oci.LockDir(ctx, dir)
	if err != nil {
		return fmt.Errorf("rollback record: %w", err)
	}
	defer unlock()
	if debris, err := filepath.Glob(filepath.Join(dir, "."+filepath.Base(string(f))+".tmp-*")); err == nil {
		for _, p := range debris {
			os.Remove(p)
		}
	}
	var old io.Reader = strings.NewReader("")
	switch r, err := os.Open(string(f)); {
	case err == nil:
		defer r.Close()
		old = r
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("rollback record: %w", err)
	}
	return atomicfile.WriteWith(string(f), 0o600, func(w io.Writer) error { return appendHistory(w, old, string(f), a) })
}

// DefaultRegistryHistory is where the record of the mirror
// docker://MIRROR[/PREFIX] is kept by default: under $XDG_STATE_HOME
// (~/.local/state when unset) in airgap-bundle/, in a file named after
// the mirror host and prefix.
func DefaultRegistryHistory(mirrorHost, prefix string) (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("rollback record: no state directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	name := mirrorHost
	if prefix != "" {
		name += "/" + prefix
	}
	name = strings.NewReplacer("/", "_", ":", "_", `\`, "_").Replace(name)
	return filepath.Join(dir, "airgap-bundle", name+".history.json"), nil
}

// layoutHistory is the record inside a layout (HistoryFileName).
type layoutHistory struct{ d *LayoutDestination }

func (h layoutHistory) LoadHistory(ctx context.Context) (*History, error) {
	if err := h.d.checkPath(); err != nil {
		return nil, err
	}
	return loadHistoryFile(ctx, filepath.Join(h.d.path, HistoryFileName))
}

func (h layoutHistory) scanHistory(ctx context.Context, fn func(a *AppliedBundle) error) error {
	if err := h.d.checkPath(); err != nil {
		return err
	}
	return scanHistoryFile(ctx, filepath.Join(h.d.path, HistoryFileName), fn)
}

func (h layoutHistory) AddHistory(_ context.Context, a AppliedBundle) error {
	l, err := h.d.layout()
	if err != nil {
		return err
	}
	p := filepath.Join(h.d.path, HistoryFileName)
	return l.UpdateFile(HistoryFileName, func(old io.Reader, w io.Writer) error { return appendHistory(w, old, p, a) })
}

// History is the record inside the layout (HistoryFileName).
func (d *LayoutDestination) History() HistoryStore { return layoutHistory{d} }

func (d *LayoutDestination) historyNames(x *format.Index) map[string]digest.Digest {
	entries := x.Manifests
	if d.o.Tag != "" {
		var err error
		if entries, err = retag(x, d.path, d.o.Tag); err != nil {
			return nil // Prepare refuses it
		}
	}
	out := map[string]digest.Digest{}
	for _, m := range entries {
		if ref := m.Annotations[ocispec.AnnotationRefName]; ref != "" {
			out[ref] = m.Digest
		}
	}
	return out
}

// History is the record RegistryDestinationOptions.History names; nil
// when none.
func (d *RegistryDestination) History() HistoryStore {
	if d.history == "" {
		return nil
	}
	return HistoryFile(d.history)
}

func (d *RegistryDestination) historyNames(x *format.Index) map[string]digest.Digest {
	out := map[string]digest.Digest{}
	for _, m := range x.Manifests {
		n, err := mirror.ParseName(m.Annotations[ocispec.AnnotationRefName])
		if err != nil || n.Tag == "" {
			continue
		}
		repo, err := d.mapping.Repository(n)
		if err != nil {
			continue
		}
		out[d.mapping.Mirror+"/"+repo+":"+n.Tag] = m.Digest
	}
	return out
}
