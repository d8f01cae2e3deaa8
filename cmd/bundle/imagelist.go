package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/airgap-bundle/bundle/location"
)

// readImageList reads the --images file.
func readImageList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--images: %w", err)
	}
	defer f.Close()
	list, err := parseImageList(f, path)
	var le *location.Error
	if errors.As(err, &le) {
		// A line that is no source is what a bad SOURCE argument is.
		return nil, usageError{err}
	}
	return list, err
}

// parseImageList reads an image list: one source per line (docker://REF,
// oci:PATH[:TAG|@DIGEST], or a bare image reference, read as docker://REF:
// location.ParseImage), with blank lines and # comments (whole lines, or
// after a reference). It returns the sources as location.Location.String
// prints them (registry images normalized); a line that is not a source
// is an error naming the file and line, wrapping a *location.Error.
func parseImageList(r io.Reader, name string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i == 0 || (i > 0 && (line[i-1] == ' ' || line[i-1] == '\t')) {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: %q: want one image reference per line", name, n, line)
		}
		l, err := location.ParseImage(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		out = append(out, l.String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
