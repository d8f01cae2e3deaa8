package imageset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
)

// Located is a source named directly (on the command line, or on a line
// of an image list) and why it travels: a Selection without By records
// nothing, as for sources named on the command line.
type Located struct {
	Location  location.Location
	Selection format.Selection
}

// ReadImageList reads the image list at path (ParseImageList).
func ReadImageList(path string) ([]Located, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image list: %w", err)
	}
	defer f.Close()
	return ParseImageList(f, path)
}

// ParseImageList reads an image list: one source per line (docker://REF,
// oci:PATH[:TAG|@DIGEST], a scope such as docker://HOST/PATH/*, or a bare
// image reference, read as docker://REF: location.ParseImage), with blank
// lines and # comments (whole lines, or after a reference). Each source
// is selected by the list at name:LINE. A line that is not a source is an
// error naming the file and line, wrapping a *location.Error.
func ParseImageList(r io.Reader, name string) ([]Located, error) {
	var out []Located
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
		out = append(out, Located{Location: l, Selection: format.Selection{By: format.SelectedByList, Rule: fmt.Sprintf("%s:%d", name, n)}})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
