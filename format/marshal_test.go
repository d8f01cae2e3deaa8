package format

import (
	"encoding/json"
	"testing"
)

func TestDecimalLen(t *testing.T) {
	for _, v := range []int64{0, 9, 10, 99, 100, 1<<40 + 7, -5} {
		b, _ := json.Marshal(v)
		if decimalLen(v) != len(b) {
			t.Errorf("decimalLen(%d) = %d, want %d", v, decimalLen(v), len(b))
		}
	}
}
