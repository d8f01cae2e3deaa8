//go:build !windows

package oci

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f, waiting for any other holder.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
}

// unlockFile releases the flock that lockFile took.
func unlockFile(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
