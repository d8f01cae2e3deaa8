//go:build !unix

package format

import "testing"

// untouched returns b followed by zeros up to n bytes (see the unix one).
func untouched(t testing.TB, b []byte, n int) []byte {
	m := make([]byte, n)
	copy(m, b)
	return m
}
