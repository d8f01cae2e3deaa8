//go:build windows

package bundle

import "golang.org/x/sys/windows"

// freeSpace returns the bytes available to an unprivileged writer at path.
// GetDiskFreeSpaceEx reports the caller's quota-limited free bytes, the
// Windows counterpart of statfs's Bavail.
func freeSpace(path string) (int64, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	var avail uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, nil, nil); err != nil {
		return 0, err
	}
	return int64(avail), nil
}
