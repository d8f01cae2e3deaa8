// Package intern keeps one copy of each of the small strings a decoded
// document repeats in every entry (media types, encodings, platforms,
// annotation names): decoded, each entry holds a copy of its own, and a
// bundle index or an index.json of 300,000 entries repeats them by the
// hundred thousand (issue 15).
package intern

// Table is the strings kept. It is bounded: a crafted document of
// distinct strings only makes it stop growing. The zero value is not
// ready: New makes one.
type Table struct{ m map[string]string }

// Most strings kept, and the longest.
const (
	maxStrings = 1024
	maxLen     = 256
)

func New() *Table { return &Table{m: map[string]string{}} }

// String returns the copy of s the table keeps, keeping s when it has
// none (and room).
func (t *Table) String(s string) string {
	if v, ok := t.m[s]; ok {
		return v
	}
	if len(t.m) < maxStrings && len(s) <= maxLen {
		t.m[s] = s
	}
	return s
}
