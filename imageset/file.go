package imageset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/airgap-bundle/bundle/mirror"
)

// Kind says which of the three kinds of file was read.
type Kind string

// The kinds of image set file read.
const (
	KindOCMirror   Kind = "ImageSetConfiguration"
	KindImageSet   Kind = "ImageSet"
	KindSkopeoSync Kind = "skopeo sync"
)

// The apiVersions read, with their kinds.
const (
	APIVersionOCMirror = "mirror.openshift.io/v2alpha1"
	APIVersionImageSet = "airgap-bundle.github.io/v1alpha1"
)

// kindsRead names the three kinds in "none of the kinds" errors.
const kindsRead = "bundle reads three kinds of image set file: apiVersion " + APIVersionOCMirror + " kind ImageSetConfiguration (oc-mirror v2), apiVersion " + APIVersionImageSet + " kind ImageSet (bundle), and skopeo sync's YAML source file (registry hosts as top-level keys)"

// MaxFileSize is the largest file Load reads.
const MaxFileSize = 16 << 20

// maxNodes bounds the YAML nodes a file may make the reader visit, counting
// an alias each time it is used, so that a small file of aliases cannot
// make it work for ever.
const maxNodes = 1 << 18

// Pos is where a value was written.
type Pos struct {
	File string
	Line int
}

// String returns "file:line".
func (p Pos) String() string { return p.File + ":" + strconv.Itoa(p.Line) }

// File is an image set file as read.
type File struct {
	Path string
	Kind Kind
	// Releases is mirror.platform, nil when absent.
	Releases         *Releases
	Operators        []Operator
	AdditionalImages []Image
	BlockedImages    []Blocked
	// Registries holds ImageSet's mirror.registries and every skopeo sync
	// entry, in file order.
	Registries []RegistryRule
	// Platforms is ImageSet's mirror.platforms: os/arch[/variant], for
	// everything the file selects.
	Platforms []string
	// Destination is ImageSet's destination section, nil when absent.
	Destination *Destination
	// Notices are keys read and not acted on, each naming file:line and
	// the key.
	Notices []string
}

// Releases is mirror.platform: OpenShift or OKD release channels.
type Releases struct {
	Channels      []Channel
	Architectures []string
	// Platforms is mirror.platform.platforms, os/architecture pairs, the
	// field that replaces Architectures in oc-mirror.
	Platforms []string
	Graph     bool
	Pos       Pos
}

// Channel is one release channel.
type Channel struct {
	Name string
	// Type is "ocp" (also when not written) or "okd".
	Type                   string
	MinVersion, MaxVersion string
	Full, ShortestPath     bool
	Pos                    Pos
}

// Operator is one operator catalog.
type Operator struct {
	// Catalog is the catalog image as written: a reference, or oci://PATH.
	Catalog       string
	Full          bool
	TargetCatalog string
	TargetTag     string
	Packages      []Package
	// Platforms is operators[].platforms, os/architecture pairs; empty
	// means all.
	Platforms []string
	Pos       Pos
}

// Package is one operator package of a catalog.
type Package struct {
	Name                   string
	DefaultChannel         string
	MinVersion, MaxVersion string
	Channels               []PackageChannel
	// Bundles are bundle names (bundles[].name).
	Bundles []string
	Pos     Pos
}

// PackageChannel is one channel of an operator package.
type PackageChannel struct {
	Name, MinVersion, MaxVersion string
	Pos                          Pos
}

// Image is one additional image.
type Image struct {
	// Name is the reference as written.
	Name string
	// TargetRepo and TargetTag are oc-mirror's overrides of where the
	// image goes; "" when not written.
	TargetRepo, TargetTag string
	// Platforms is os/architecture pairs; empty means all.
	Platforms []string
	Pos       Pos
}

// Reference returns the image's reference normalized as docker does
// (nginx is docker.io/library/nginx:latest); a "docker://" prefix is
// allowed. Parse has checked that it parses.
func (i Image) Reference() (mirror.Name, error) {
	return mirror.ParseReference(strings.TrimPrefix(i.Name, "docker://"))
}

// Load reads and parses the image set file at path.
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not an image set file", path, MaxFileSize)
	}
	return Parse(data, path)
}

// Parse parses an image set file's content; name is the file's name in
// errors and positions.
func Parse(data []byte, name string) (*File, error) {
	root, err := decode(data, name)
	if err != nil {
		return nil, err
	}
	p := &parser{name: name, f: &File{Path: name}}
	p.file(root)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	// Notices in file order, as errors are.
	idx := make([]int, len(p.f.Notices))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return p.lines[idx[i]] < p.lines[idx[j]] })
	notices := make([]string, len(idx))
	for i, k := range idx {
		notices[i] = p.f.Notices[k]
	}
	p.f.Notices = notices
	if len(notices) == 0 {
		p.f.Notices = nil
	}
	return p.f, nil
}

// decode reads the one YAML document of data.
func decode(data []byte, name string) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; a file is
		// untrusted input and gets an error instead.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("%s: not YAML: %v", name, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file: %s", name, kindsRead)
		}
		return nil, yamlError(name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("%s:%d: a second YAML document: an image set file is one document", name, next.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: %s", name, kindsRead)
	}
	return doc.Content[0], nil
}

// yamlLineRE finds the line in yaml.v3's syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line ([0-9]+): `)

// yamlError says where the file is not YAML, as name:line: message.
func yamlError(name string, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: not YAML: %s", name, m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("%s: not YAML: %s", name, strings.TrimPrefix(msg, "yaml: "))
}

// parser walks the YAML tree, collecting errors and notices.
type parser struct {
	name  string
	f     *File
	errs  []error
	nodes int
	lines []int // the line of each notice
}

// maxErrors bounds the errors reported for one file.
const maxErrors = 20

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.name, Line: n.Line} }

// errorf records an error at n about the value at path.
func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	if len(p.errs) == maxErrors {
		p.errs = append(p.errs, fmt.Errorf("%s: more errors not shown", p.name))
	}
	if len(p.errs) > maxErrors {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", p.name, n.Line, msg))
}

// notice records a key read and not acted on.
func (p *parser) notice(n *yaml.Node, path, format string, args ...any) {
	p.lines = append(p.lines, n.Line)
	p.f.Notices = append(p.f.Notices, fmt.Sprintf("%s:%d: %s: %s", p.name, n.Line, path, fmt.Sprintf(format, args...)))
}

// resolve follows an alias, counting nodes visited.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	p.nodes++
	if p.nodes == maxNodes {
		// Past the cap on errors too: it says why reading stopped.
		p.errs = append(p.errs, fmt.Errorf("%s:%d: too many values (aliases used too often?): not an image set file", p.name, n.Line))
	}
	return n
}

// tooBig says whether the node budget is spent.
func (p *parser) tooBig() bool { return p.nodes >= maxNodes }

// kindName names a node's kind in type errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "an unexpected YAML node"
}

// field is one key of a mapping.
type field struct {
	key, val *yaml.Node
}

// object is a mapping read against its known keys.
type object struct {
	p      *parser
	path   string
	node   *yaml.Node
	fields map[string]field
}

// join makes the path of a key below path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping reads n as a mapping whose keys must be among known. It returns
// nil (after recording an error) when n is not a mapping; unknown and
// repeated keys are errors.
func (p *parser) mapping(n *yaml.Node, path string, known ...string) *object {
	if p.tooBig() {
		return nil
	}
	n = p.resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping, found %s", kindName(n))
		return nil
	}
	o := &object{p: p, path: path, node: n, fields: map[string]field{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "a key must be a string, found %s", kindName(k))
			continue
		}
		if _, dup := o.fields[k.Value]; dup {
			p.errorf(k, join(path, k.Value), "given twice")
			continue
		}
		if !contains(known, k.Value) {
			p.errorf(k, join(path, k.Value), "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		o.fields[k.Value] = field{k, v}
	}
	return o
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// has says whether key was given.
func (o *object) has(key string) bool {
	_, ok := o.fields[key]
	return ok
}

// get returns key's value node (aliases followed) and its path, or nil.
func (o *object) get(key string) (*yaml.Node, string) {
	f, ok := o.fields[key]
	if !ok {
		return nil, ""
	}
	return o.p.resolve(f.val), join(o.path, key)
}

// keyNode returns the node of key itself, for positions.
func (o *object) keyNode(key string) *yaml.Node { return o.fields[key].key }

// isNull says whether n is YAML null (also "~" and an empty value).
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// str reads key as a string; missing or null is "". Numbers are taken as
// written (a tag 1.0, a version 4.18).
func (o *object) str(key string) string {
	n, path := o.get(key)
	if n == nil || isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!bool" || n.Tag == "!!binary" {
		o.p.errorf(n, path, "expected a string, found %s", kindName(n))
		return ""
	}
	return n.Value
}

// required reads key as a non-empty string; its absence is an error.
func (o *object) required(key string) string {
	if !o.has(key) {
		o.p.errorf(o.node, o.path, "%s is required", key)
		return ""
	}
	s := o.str(key)
	if s == "" {
		n, path := o.get(key)
		if n.Kind == yaml.ScalarNode {
			o.p.errorf(n, path, "must not be empty")
		}
	}
	return s
}

// boolean reads key as a boolean; missing or null is false.
func (o *object) boolean(key string) bool {
	b, _ := o.optBool(key)
	return b
}

// optBool reads key as a boolean and says whether it was given.
func (o *object) optBool(key string) (value, given bool) {
	n, path := o.get(key)
	if n == nil || isNull(n) {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	}
	o.p.errorf(n, path, "expected true or false, found %s", kindName(n))
	return false, false
}

// integer reads key as an int; missing or null is 0.
func (o *object) integer(key string) int {
	n, path := o.get(key)
	if n == nil || isNull(n) {
		return 0
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int
		if err := n.Decode(&i); err == nil {
			return i
		}
	}
	o.p.errorf(n, path, "expected a whole number, found %s", kindName(n))
	return 0
}

// list reads key as a sequence and calls each with every item (aliases
// followed) and its path. Missing or null is an empty list.
func (o *object) list(key string, each func(item *yaml.Node, path string)) {
	n, path := o.get(key)
	if n == nil {
		return
	}
	o.p.seq(n, path, each)
}

// seq calls each with every item of the sequence n.
func (p *parser) seq(n *yaml.Node, path string, each func(item *yaml.Node, path string)) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "expected a list, found %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		if p.tooBig() {
			return
		}
		each(p.resolve(item), fmt.Sprintf("%s[%d]", path, i))
	}
}

// strings reads key as a list of non-empty strings.
func (o *object) strings(key string) []string {
	var out []string
	o.list(key, func(item *yaml.Node, path string) {
		if item.Kind != yaml.ScalarNode || isNull(item) || item.Tag == "!!bool" {
			o.p.errorf(item, path, "expected a string, found %s", kindName(item))
			return
		}
		if item.Value == "" {
			o.p.errorf(item, path, "must not be empty")
			return
		}
		out = append(out, item.Value)
	})
	return out
}

// regexp reads key as a Go regular expression; missing or empty is nil.
func (o *object) regexp(key, what string) *regexp.Regexp {
	s := o.str(key)
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		n, path := o.get(key)
		o.p.errorf(n, path, "%s: bad regular expression %q: %v", what, s, err)
		return nil
	}
	return re
}

// file reads the top level and dispatches on the kind.
func (p *parser) file(root *yaml.Node) {
	root = p.resolve(root)
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "expected a mapping at the top, found %s: %s", kindName(root), kindsRead)
		return
	}
	var apiVersion, kind *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "apiVersion":
			apiVersion = p.resolve(root.Content[i+1])
		case "kind":
			kind = p.resolve(root.Content[i+1])
		}
	}
	if apiVersion == nil && kind == nil {
		p.skopeo(root)
		return
	}
	if apiVersion == nil {
		p.errorf(root, "apiVersion", "missing (with kind %q): %s", kind.Value, kindsRead)
		return
	}
	if kind == nil {
		p.errorf(root, "kind", "missing (with apiVersion %q): %s", apiVersion.Value, kindsRead)
		return
	}
	switch {
	case apiVersion.Value == APIVersionOCMirror && kind.Value == string(KindOCMirror):
		p.f.Kind = KindOCMirror
	case apiVersion.Value == APIVersionImageSet && kind.Value == string(KindImageSet):
		p.f.Kind = KindImageSet
	case apiVersion.Value == "mirror.openshift.io/v1alpha2" || apiVersion.Value == "mirror.openshift.io/v1alpha1":
		p.errorf(apiVersion, "apiVersion", "%q is oc-mirror v1's file, which bundle does not read: convert it to %s (oc-mirror v2), whose keys are close; %s", apiVersion.Value, APIVersionOCMirror, kindsRead)
		return
	case kind.Value == "DeleteImageSetConfiguration":
		p.errorf(kind, "kind", "%q says what to delete from a mirror, not what to carry; %s", kind.Value, kindsRead)
		return
	default:
		p.errorf(kind, "", "unknown apiVersion %q with kind %q: %s", apiVersion.Value, kind.Value, kindsRead)
		return
	}
	p.mirrorFile(root)
}

// Merge adds other's selection to f, for several files given at once:
// lists are appended in order (f's first), Releases are joined (channels,
// architectures and platforms appended, Graph if either asks for it), and
// Notices appended. f keeps its Path and Kind; every value keeps the Pos
// of the file it came from. Merge does not check for repeats across
// files; the resolver takes the union.
func (f *File) Merge(other *File) {
	if other == nil {
		return
	}
	if other.Releases != nil {
		if f.Releases == nil {
			r := *other.Releases
			r.Channels = append([]Channel(nil), r.Channels...)
			r.Architectures = append([]string(nil), r.Architectures...)
			r.Platforms = append([]string(nil), r.Platforms...)
			f.Releases = &r
		} else {
			f.Releases.Channels = append(f.Releases.Channels, other.Releases.Channels...)
			f.Releases.Architectures = appendNew(f.Releases.Architectures, other.Releases.Architectures)
			f.Releases.Platforms = appendNew(f.Releases.Platforms, other.Releases.Platforms)
			f.Releases.Graph = f.Releases.Graph || other.Releases.Graph
		}
	}
	f.Operators = append(f.Operators, other.Operators...)
	f.AdditionalImages = append(f.AdditionalImages, other.AdditionalImages...)
	f.BlockedImages = append(f.BlockedImages, other.BlockedImages...)
	f.Registries = append(f.Registries, other.Registries...)
	f.Platforms = appendNew(f.Platforms, other.Platforms)
	f.Destination = mergeDestination(f.Destination, other.Destination)
	f.Notices = append(f.Notices, other.Notices...)
}

// appendNew appends the elements of add not already in list.
func appendNew(list, add []string) []string {
	for _, s := range add {
		if !contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}
