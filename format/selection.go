package format

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// AnnotationSelectedBy is the annotation of a manifests entry that records
// what selected the image (SPEC 6.7): its value is a JSON array of
// Selection objects. It is informational, as image summaries are: readers
// base no decision on it but the cluster configuration they write (a
// CatalogSource for a catalog that was filtered).
const AnnotationSelectedBy = "airgap-bundle.github.io/selected-by"

// Selection kinds (Selection.By).
const (
	SelectedByArgument   = "argument"   // a source given on the command line
	SelectedByList       = "list"       // a line of an image list
	SelectedByAdditional = "additional" // an additionalImages entry of an image set file
	SelectedByRelease    = "release"    // a release image or one of its components
	SelectedByOperator   = "operator"   // an operator bundle image or one of its related images
	SelectedByCatalog    = "catalog"    // a catalog image (filtered, or the original kept)
	SelectedByRegistry   = "registry"   // a registry rule (repositories and tags by path or pattern)
)

// Selection is one reason an image travels. Only By is always set; the
// other members say more where the kind has it.
type Selection struct {
	By string `json:"by"`
	// Rule is where the entry that selected the image was written:
	// FILE:LINE of an image set file or image list.
	Rule string `json:"rule,omitempty"`
	// Release is the release version (release), Channel the update channel
	// it was chosen from or the operator channel(s) (operator), Component
	// the component name in the release's image-references.
	Release   string `json:"release,omitempty"`
	Channel   string `json:"channel,omitempty"`
	Component string `json:"component,omitempty"`
	// Catalog is the catalog image reference as written (operator,
	// catalog); Package and Bundle the operator package and bundle name;
	// Filtered says a catalog image was filtered to the operators carried.
	Catalog  string `json:"catalog,omitempty"`
	Package  string `json:"package,omitempty"`
	Bundle   string `json:"bundle,omitempty"`
	Filtered bool   `json:"filtered,omitempty"`
}

// SelectedWhere is where sels were written: their rules (FILE:LINE), each
// once, in order, joined by ", "; "" when none says. Errors about an image
// begin with it, so that the user finds which line of which file asked.
func SelectedWhere(sels []Selection) string {
	var where []string
	for _, s := range sels {
		if s.Rule != "" && !slices.Contains(where, s.Rule) {
			where = append(where, s.Rule)
		}
	}
	return strings.Join(where, ", ")
}

func compareSelections(a, b Selection) int {
	return cmp.Or(cmp.Compare(a.By, b.By), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Release, b.Release),
		cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Component, b.Component), cmp.Compare(a.Catalog, b.Catalog),
		cmp.Compare(a.Package, b.Package), cmp.Compare(a.Bundle, b.Bundle), compareBool(a.Filtered, b.Filtered))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// FormatSelections is the annotation value for sels: sorted, each once,
// compact JSON. The same reasons in any order give the same bytes, so
// that the bundle id does not depend on the order sources were read in.
func FormatSelections(sels []Selection) string {
	s := slices.Clone(sels)
	slices.SortFunc(s, compareSelections)
	s = slices.CompactFunc(s, func(a, b Selection) bool { return compareSelections(a, b) == 0 })
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings and bools only
	}
	return string(b)
}

// MergeSelections is the annotation value recording the reasons of both
// values (either may be empty).
func MergeSelections(a, b string) (string, error) {
	sa, err := ParseSelections(a)
	if err != nil {
		return "", err
	}
	sb, err := ParseSelections(b)
	if err != nil {
		return "", err
	}
	if len(sa)+len(sb) == 0 {
		return "", nil
	}
	return FormatSelections(append(sa, sb...)), nil
}

// ParseSelections reads an AnnotationSelectedBy value ("" is none). It
// accepts only the members Selection defines and requires By.
func ParseSelections(v string) ([]Selection, error) {
	if v == "" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	var sels []Selection
	if err := dec.Decode(&sels); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationSelectedBy, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("annotation %s: data after the array", AnnotationSelectedBy)
	}
	for i, s := range sels {
		if s.By == "" {
			return nil, fmt.Errorf("annotation %s: entry %d has no \"by\"", AnnotationSelectedBy, i)
		}
	}
	return sels, nil
}

// String is a one-line description for people: "release 4.18.1 (channel
// stable-4.18) component etcd".
func (s Selection) String() string {
	var b bytes.Buffer
	b.WriteString(s.By)
	add := func(label, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s %s", label, v)
		}
	}
	switch s.By {
	case SelectedByRelease:
		add("", s.Release)
		add("channel", s.Channel)
		add("component", s.Component)
	case SelectedByOperator:
		add("package", s.Package)
		add("channel", s.Channel)
		add("bundle", s.Bundle)
		add("from", s.Catalog)
	case SelectedByCatalog:
		add("", s.Catalog)
		if s.Filtered {
			b.WriteString(" (filtered)")
		}
	default:
		add("", s.Catalog)
		add("", s.Release)
	}
	add("at", s.Rule)
	return string(bytes.ReplaceAll(b.Bytes(), []byte("  "), []byte(" ")))
}
