//go:build !linux

package oci

import "os"

// syncFiles makes the pending blobs durable, one fsync each.
func syncFiles(_ *os.Root, blobs []pendingBlob) error {
	for _, b := range blobs {
		f, err := b.dir.OpenFile(b.tmp, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
