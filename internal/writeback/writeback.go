// Package writeback asks the kernel to start writing a file's new bytes to
// disk while more are still being written, so that the fsync that makes
// them durable at the end finds little left to do.
package writeback

import "os"

// Start begins writing n bytes of f from off to disk, without waiting for
// them. It is a hint: where the system has no such call, or the call fails,
// nothing happens and a later fsync does all the work, as it would anyway.
func Start(f *os.File, off, n int64) { start(f, off, n) }
