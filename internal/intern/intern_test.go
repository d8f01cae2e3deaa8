package intern

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestTable: equal strings come back as one, up to the table's bounds.
func TestTable(t *testing.T) {
	tb := New()
	a := strings.Repeat("x", 10)
	b := strings.Repeat("x", 10) // equal, another copy
	if unsafe.StringData(a) == unsafe.StringData(b) {
		t.Fatal("the test's strings share memory")
	}
	if got := tb.String(b); unsafe.StringData(tb.String(a)) != unsafe.StringData(got) {
		t.Error("equal strings not shared")
	}
	long := strings.Repeat("y", maxLen+1)
	tb.String(long)
	if got := tb.String(strings.Repeat("y", maxLen+1)); unsafe.StringData(got) == unsafe.StringData(long) {
		t.Error("a string longer than the bound was kept")
	}
	for i := range 2 * maxStrings {
		tb.String(fmt.Sprint(i))
	}
	if len(tb.m) != maxStrings {
		t.Errorf("%d strings kept, at most %d", len(tb.m), maxStrings)
	}
}
