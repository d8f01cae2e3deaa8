package catalog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// Schemas of the documents the filter understands. Documents of any other
// schema are kept as they are (see Selection.Build).
const (
	SchemaPackage      = "olm.package"
	SchemaChannel      = "olm.channel"
	SchemaBundle       = "olm.bundle"
	SchemaDeprecations = "olm.deprecations"
)

// maxDocument bounds one FBC document. Real bundle documents carry their
// whole CSV (base64 olm.bundle.object properties) and reach a few MB; a
// document larger than this is refused rather than read into memory.
const maxDocument = 64 << 20

// document is one FBC document of a file, as JSON (YAML documents are
// converted), with where it was found.
type document struct {
	// Index counts the documents of the file from 1.
	Index int
	// Where locates the document in its file: "byte offset N" for JSON,
	// "line N" for YAML.
	Where string
	JSON  []byte
}

// fileFormat tells how a file of the configs directory is parsed, from its
// name: JSON stream (.json), YAML documents (.yaml, .yml), or not at all
// ("": other files are ignored, as are hidden ones).
func fileFormat(name string) string {
	base := path.Base(name)
	if strings.HasPrefix(base, ".") {
		return ""
	}
	switch strings.ToLower(path.Ext(base)) {
	case ".json":
		return "json"
	case ".yaml", ".yml":
		return "yaml"
	}
	return ""
}

// parseDocuments reads the documents of one file, a JSON stream or YAML
// documents separated by "---", and calls fn for each, in order. Every
// document must be an object; empty YAML documents are skipped. Errors say
// where in the file the document that failed starts.
func parseDocuments(format string, r io.Reader, fn func(document) error) error {
	switch format {
	case "json":
		return parseJSON(r, fn)
	case "yaml":
		return parseYAML(r, fn)
	}
	return fmt.Errorf("unknown format %q", format)
}

func parseJSON(r io.Reader, fn func(document) error) error {
	// The decoder buffers one document at a time (at most maxDocument,
	// enforced by the limited reader below).
	lr := &limitedReader{r: bufio.NewReaderSize(r, 64<<10)}
	dec := json.NewDecoder(lr)
	for i := 1; ; i++ {
		start := dec.InputOffset()
		lr.n = start + maxDocument
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return fmt.Errorf("document %d: invalid JSON at byte offset %d: %v", i, se.Offset, se)
			}
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return fmt.Errorf("document %d: invalid JSON at byte offset %d: %v", i, te.Offset, te)
			}
			if lr.hit {
				return fmt.Errorf("document %d at byte offset %d is larger than %d bytes", i, start, maxDocument)
			}
			if err == io.ErrUnexpectedEOF {
				return fmt.Errorf("document %d at byte offset %d: truncated JSON", i, start)
			}
			return fmt.Errorf("document %d at byte offset %d: %w", i, start, err)
		}
		raw = bytes.TrimSpace(raw)
		where := fmt.Sprintf("byte offset %d", dec.InputOffset()-int64(len(raw)))
		if len(raw) == 0 || raw[0] != '{' {
			return fmt.Errorf("document %d at %s: not a JSON object", i, where)
		}
		if err := fn(document{Index: i, Where: where, JSON: raw}); err != nil {
			return err
		}
	}
}

// limitedReader fails reads past n (an absolute offset) so that one huge
// document cannot take all memory.
type limitedReader struct {
	r   io.Reader
	off int64
	n   int64
	hit bool
}

var errTooLarge = errors.New("document too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.off >= l.n {
		l.hit = true
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n-l.off {
		p = p[:l.n-l.off]
	}
	n, err := l.r.Read(p)
	l.off += int64(n)
	return n, err
}

func parseYAML(r io.Reader, fn func(document) error) error {
	lr := &limitedReader{r: r, n: maxDocument}
	dec := yaml.NewDecoder(lr)
	for i := 1; ; i++ {
		// yaml.v3 reads the stream as it goes; the limit bounds the file
		// as a whole, YAML catalogs being the small hand-written kind.
		var node yaml.Node
		err := dec.Decode(&node)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if lr.hit {
				return fmt.Errorf("document %d: YAML file larger than %d bytes", i, maxDocument)
			}
			return fmt.Errorf("document %d: invalid YAML: %v", i, err)
		}
		where := fmt.Sprintf("line %d", node.Line)
		if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
			where = fmt.Sprintf("line %d", node.Content[0].Line)
		}
		var v any
		if err := node.Decode(&v); err != nil {
			return fmt.Errorf("document %d at %s: invalid YAML: %v", i, where, err)
		}
		if v == nil {
			continue // an empty document, as after a trailing "---"
		}
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("document %d at %s: not a mapping with string keys", i, where)
		}
		b, err := marshal(v)
		if err != nil {
			return fmt.Errorf("document %d at %s: cannot be represented as JSON: %v", i, where, err)
		}
		if err := fn(document{Index: i, Where: where, JSON: b}); err != nil {
			return err
		}
	}
}

// meta is what the catalog keeps of a document: the fields of every
// schema it understands, decoded in one pass (unknown fields, icons and
// descriptions among them, are skipped by the decoder).
type meta struct {
	Schema         string          `json:"schema"`
	Name           string          `json:"name"`
	Package        string          `json:"package"`
	DefaultChannel string          `json:"defaultChannel"`
	Entries        json.RawMessage `json:"entries"`
	Image          string          `json:"image"`
	RelatedImages  []RelatedImage  `json:"relatedImages"`
	Properties     []property      `json:"properties"`
}

type property struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

type packageProperty struct {
	PackageName string `json:"packageName"`
	Version     string `json:"version"`
}

// decodeMeta decodes and checks the fields of a document that its schema
// requires.
func decodeMeta(doc []byte) (*meta, error) {
	var m meta
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	switch m.Schema {
	case "":
		return nil, errors.New("no schema")
	case SchemaPackage:
		if m.Name == "" {
			return nil, errors.New("olm.package without a name")
		}
		m.Package = m.Name
	case SchemaChannel:
		if m.Name == "" || m.Package == "" {
			return nil, errors.New("olm.channel without a name or a package")
		}
	case SchemaBundle:
		if m.Name == "" || m.Package == "" {
			return nil, errors.New("olm.bundle without a name or a package")
		}
	}
	return &m, nil
}

// entries decodes the entries of a channel document.
func (m *meta) entries() ([]Entry, error) {
	if len(m.Entries) == 0 || string(m.Entries) == "null" {
		return nil, nil
	}
	var es []Entry
	if err := json.Unmarshal(m.Entries, &es); err != nil {
		return nil, fmt.Errorf("entries: %v", err)
	}
	for i, e := range es {
		if e.Name == "" {
			return nil, fmt.Errorf("entry %d has no name", i+1)
		}
	}
	return es, nil
}

// version is the version of a bundle document's olm.package property.
func (m *meta) version() (string, error) {
	for _, p := range m.Properties {
		if p.Type != "olm.package" {
			continue
		}
		var pp packageProperty
		if err := json.Unmarshal(p.Value, &pp); err != nil {
			return "", fmt.Errorf("olm.package property: %v", err)
		}
		if pp.PackageName != "" && pp.PackageName != m.Package {
			return "", fmt.Errorf("olm.package property names package %q, the bundle is in %q", pp.PackageName, m.Package)
		}
		return pp.Version, nil
	}
	return "", nil
}

// marshal is json.Marshal without HTML escaping, so that documents keep
// "<" and ">" (skipRange) as they are written.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
