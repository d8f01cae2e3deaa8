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
	"github.com/airgap-bundle/bundle/mirror"
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
	// destination, and the digest it set it to.
	Names map[string]digest.Digest `json:"names"`
}

// HistoryStore is where a destination keeps its History.
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

// judgeHistory decides, from the record h alone, whether the bundle id
// created at created, setting names, is a replay, a rollback (refused
// unless allow), or neither.
func judgeHistory(h *History, id string, created time.Time, names map[string]digest.Digest, allow bool) (historyVerdict, error) {
	var v historyVerdict
	// The latest setter of each name, and the digest it set.
	last := map[string]*AppliedBundle{}
	for i := range h.Applied {
		a := &h.Applied[i]
		for n := range a.Names {
			last[n] = a
		}
	}
	for i := range h.Applied {
		if h.Applied[i].BundleID == id {
			v.replay, v.appliedAt = true, h.Applied[i].Applied
		}
	}
	for n, d := range names {
		a := last[n]
		if a == nil {
			v.replay = false // a name the record does not know: record it
			continue
		}
		if a.Names[n] == d {
			continue
		}
		v.replay = false // a name moves: not a replay, whatever the record lists
		t, err := time.Parse(time.RFC3339, a.Created)
		if err != nil {
			return v, fmt.Errorf("rollback record: bundle %s has created time %q: %w", a.BundleID, a.Created, err)
		}
		if t.After(created) {
			v.rollbacks = append(v.rollbacks, rollback{name: n, setBy: a.BundleID, setCreated: t})
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
	rec, err := h.History().LoadHistory(w.ctx)
	if err != nil {
		return nil, historyVerdict{}, err
	}
	names := h.historyNames(x)
	v, err := judgeHistory(rec, x.BundleID, created, names, o.AllowRollback)
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

// parseHistory reads a record; empty bytes are an empty record.
func parseHistory(b []byte, where string) (*History, error) {
	h := &History{SchemaVersion: HistorySchemaVersion}
	if len(b) == 0 {
		return h, nil
	}
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("rollback record %s: %w", where, err)
	}
	if h.SchemaVersion != HistorySchemaVersion {
		return nil, fmt.Errorf("rollback record %s: schema version %d, want %d", where, h.SchemaVersion, HistorySchemaVersion)
	}
	return h, nil
}

// appendHistory writes to w the record old (from where) with a appended.
func appendHistory(w io.Writer, old []byte, where string, a AppliedBundle) error {
	h, err := parseHistory(old, where)
	if err != nil {
		return err
	}
	h.Applied = append(h.Applied, a)
	return writeHistory(w, h)
}

// writeHistory writes h as json.MarshalIndent(h, "", "  ") makes it, and a
// newline, a name at a time: a bundle of 300,000 images sets as many names,
// and MarshalIndent's two copies of them (79 MB) were the peak of an
// unpack's memory (issue 15).
func writeHistory(w io.Writer, h *History) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	str := func(s string) {
		b, _ := json.Marshal(s) // a string always marshals
		bw.Write(b)
	}
	fmt.Fprintf(bw, "{\n  \"schemaVersion\": %d,\n  \"applied\": ", h.SchemaVersion)
	switch {
	case h.Applied == nil:
		bw.WriteString("null")
	case len(h.Applied) == 0:
		bw.WriteString("[]")
	default:
		bw.WriteString("[")
		for i, a := range h.Applied {
			if i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    {\n      \"bundleId\": ")
			str(a.BundleID)
			bw.WriteString(",\n      \"created\": ")
			str(a.Created)
			bw.WriteString(",\n      \"applied\": ")
			str(a.Applied)
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
					str(name)
					bw.WriteString(": ")
					str(string(a.Names[name]))
				}
				bw.WriteString("\n      }")
			}
			bw.WriteString("\n    }")
		}
		bw.WriteString("\n  ]")
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// HistoryFile is a record kept in a file of its own: a registry's, on the
// host that pushes into it (RegistryDestinationOptions.History).
type HistoryFile string

func (f HistoryFile) LoadHistory(context.Context) (*History, error) {
	b, err := os.ReadFile(string(f))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("rollback record: %w", err)
	}
	return parseHistory(b, string(f))
}

func (f HistoryFile) AddHistory(_ context.Context, a AppliedBundle) error {
	if err := os.MkdirAll(filepath.Dir(string(f)), 0o700); err != nil {
		return fmt.Errorf("rollback record: %w", err)
	}
	b, err := os.ReadFile(string(f))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rollback record: %w", err)
	}
	return atomicfile.WriteWith(string(f), 0o600, func(w io.Writer) error { return appendHistory(w, b, string(f), a) })
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

func (h layoutHistory) LoadHistory(context.Context) (*History, error) {
	p := filepath.Join(h.d.path, HistoryFileName)
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("rollback record: %w", err)
	}
	return parseHistory(b, p)
}

func (h layoutHistory) AddHistory(_ context.Context, a AppliedBundle) error {
	l, err := h.d.layout()
	if err != nil {
		return err
	}
	p := filepath.Join(h.d.path, HistoryFileName)
	return l.UpdateFile(HistoryFileName, func(old []byte, w io.Writer) error { return appendHistory(w, old, p, a) })
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
