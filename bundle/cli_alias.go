package bundle

import "github.com/airgap-bundle/bundle/internal/bytesize"

// Transitional exported names: the read side (unpack.go, and the CLI's
// inspect and push output) still calls them while it is rewritten into
// one Destination walk; new code calls freeSpace and bytesize.Format.

// FreeSpace returns the bytes available to an unprivileged writer at path.
func FreeSpace(path string) (int64, error) { return freeSpace(path) }

// FormatSize prints a byte count for people.
func FormatSize(n int64) string { return bytesize.Format(n) }
