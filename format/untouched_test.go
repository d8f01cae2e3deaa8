//go:build unix

package format

import (
	"syscall"
	"testing"
)

// untouched returns n bytes of b's copy followed by zeros, in memory the
// kernel hands out only when touched: a test of a length limit of 256 MiB
// then costs neither the time to clear it nor the pages, as long as the
// code under test looks at the length first (which is what it tests).
func untouched(t testing.TB, b []byte, n int) []byte {
	t.Helper()
	m, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap of %d bytes: %v", n, err)
	}
	t.Cleanup(func() { syscall.Munmap(m) })
	copy(m, b)
	return m
}
