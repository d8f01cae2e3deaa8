// Package iocount counts the bytes written through a writer: the size of
// what is streamed to a file or a hash without holding it.
package iocount

import "io"

// Writer passes what is written to W (when not nil) and counts in N the
// bytes W took.
type Writer struct {
	W io.Writer
	N int64
}

func (c *Writer) Write(p []byte) (int, error) {
	if c.W == nil {
		c.N += int64(len(p))
		return len(p), nil
	}
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
