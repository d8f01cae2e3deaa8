package mirror

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/airgap-bundle/bundle/internal/atomicfile"
	"github.com/opencontainers/go-digest"
	"gopkg.in/yaml.v3"
)

// BundlesAnnotation is the metadata annotation (and, in every file, the
// comment line "# BundlesAnnotation: ID,ID") that lists the bundleIds whose
// pushes a mirror configuration file describes, sorted and comma-separated.
const BundlesAnnotation = "airgap-bundle.github.io/bundles"

// ConfigOptions say what WriteConfig writes besides the entries.
type ConfigOptions struct {
	// BundleID is the bundleId of the bundle pushed. Every file names it.
	BundleID string
	// SetName names the files and the cluster objects in them. "" means
	// "bundle-" and the first 12 characters of BundleID, and files of that
	// name are replaced. Otherwise it must be a Kubernetes object name,
	// and what files of that name already hold is merged with the new
	// entries: applying a changed mirror set makes the cluster drain every
	// node, so sites keep one object that grows from bundle to bundle.
	SetName string
	// Tags lets pulls by tag go to the mirror too: the registries.conf
	// drop-in then allows it and an ImageTagMirrorSet is written. A tag in
	// the mirror is what the source's tag was when the bundle was packed.
	Tags bool
	// Images are the images pushed, for the oc image mirror mapping file.
	Images []Image
	// Catalogs are the operator catalog images pushed: each gets a
	// CatalogSource, so that OperatorHub offers what the catalog holds.
	Catalogs []Catalog
}

// ErrNothingToRedirect: no image pushed has a registry in its source name
// (they were packed from OCI layouts, or named without one), so a cluster
// pulls none of them by a name the mirror could stand in for, and there is
// no mirror configuration to write. Files of empty mirror sets would only
// mislead.
var ErrNothingToRedirect = errors.New("no image pushed has a source registry for the mirror to stand in for (they were packed from OCI layouts): no mirror configuration to write; pull them by their names in the mirror")

// Catalog is an operator catalog image in the mirror.
type Catalog struct {
	// Source is the catalog's reference as the image set file named it
	// (registry.redhat.io/redhat/redhat-operator-index:v4.18); the
	// CatalogSource is named after it.
	Source string
	// Image is where the catalog is in the mirror (MIRROR/REPO:TAG or
	// MIRROR/REPO@DIGEST): what the CatalogSource pulls.
	Image string
}

// Image is one image pushed: the name it had at the source, where it is in
// the mirror (MIRROR/REPOSITORY:TAG or @DIGEST) and its digest.
type Image struct {
	Source, Target string
	Digest         digest.Digest
}

// route is one source repository → mirror repository pair of a file, with
// what registries.conf records of the mirror.
type route struct {
	Source, Mirror string
	Insecure, Tags bool
}

// mirrorSet is what one file describes; files with a set name are read back
// into one and merged with the new content.
type mirrorSet struct {
	name     string
	bundles  []string // sorted, distinct
	routes   []route  // sorted by Source then Mirror, each pair once
	mappings []string // SOURCE@DIGEST=MIRROR_REPO[:TAG], sorted, distinct
}

// merge adds o's content to s, keeping the orders and merging the flags of
// a pair found in both: what one push allowed stays allowed.
func (s *mirrorSet) merge(o mirrorSet) {
	s.bundles = sortedUnion(s.bundles, o.bundles)
	s.mappings = sortedUnion(s.mappings, o.mappings)
	all := append(slices.Clone(s.routes), o.routes...)
	slices.SortStableFunc(all, func(a, b route) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Mirror, b.Mirror))
	})
	var out []route
	for _, r := range all {
		if n := len(out); n > 0 && out[n-1].Source == r.Source && out[n-1].Mirror == r.Mirror {
			out[n-1].Insecure = out[n-1].Insecure || r.Insecure
			out[n-1].Tags = out[n-1].Tags || r.Tags
			continue
		}
		out = append(out, r)
	}
	s.routes = out
}

func sortedUnion(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// bySource groups the routes of s by source, in order.
func (s mirrorSet) bySource() [][]route {
	var out [][]route
	for _, r := range s.routes {
		if n := len(out); n > 0 && out[n-1][0].Source == r.Source {
			out[n-1] = append(out[n-1], r)
			continue
		}
		out = append(out, []route{r})
	}
	return out
}

func (s mirrorSet) bundleLine() string {
	return "# " + BundlesAnnotation + ": " + strings.Join(s.bundles, ",") + "\n"
}

// configFile is one kind of file WriteConfig writes: NAME + suffix.
type configFile struct {
	suffix string
	render func(mirrorSet) []byte
	// read recovers what render wrote, for merging; bundles come from the
	// comment line.
	read func(data []byte) (mirrorSet, error)
}

var (
	registriesConfFile = configFile{".conf", renderRegistriesConf, readRegistriesConf}
	idmsFile           = configFile{"-idms.yaml", renderIDMS, readMirrorObject("imageDigestMirrors")}
	itmsFile           = configFile{"-itms.yaml", renderITMS, readMirrorObject("imageTagMirrors")}
	icspFile           = configFile{"-icsp.yaml", renderICSP, readMirrorObject("repositoryDigestMirrors")}
	installConfigFile  = configFile{"-install-config.yaml", renderInstallConfig("imageDigestSources"), readInstallConfig("imageDigestSources")}
	// installConfigLegacyFile is for installers before 4.14.
	installConfigLegacyFile = configFile{"-install-config-legacy.yaml", renderInstallConfig("imageContentSources"), readInstallConfig("imageContentSources")}
	mappingFile             = configFile{"-mapping.txt", renderMapping, readMapping}
)

// WriteConfig writes, into dir (created if missing), the files that let
// clients and clusters pull the pushed images from the mirror, and returns
// their paths. With NAME the set name (ConfigOptions.SetName):
//
//   - NAME.conf: a containers-registries.conf(5) drop-in;
//   - NAME-idms.yaml: an OpenShift ImageDigestMirrorSet;
//   - NAME-itms.yaml: an ImageTagMirrorSet, with ConfigOptions.Tags only;
//   - NAME-icsp.yaml: an ImageContentSourcePolicy, for clusters before 4.13;
//   - NAME-install-config.yaml: imageDigestSources for install-config.yaml;
//   - NAME-install-config-legacy.yaml: imageContentSources, for installers
//     before 4.14;
//   - NAME-mapping.txt: oc image mirror's SOURCE=MIRROR lines, one per image
//     with a registry in its source name.
//
// With nothing to say (no entry, no image with a registry in its source
// name, no catalog) it writes nothing and returns ErrNothingToRedirect.
//
// Entries and names are checked before anything is written; an existing
// file of a set name that cannot be read back is an error, and nothing
// more is written. Each file is replaced atomically. On error the paths
// already written are returned with it.
func (m Mapping) WriteConfig(dir string, entries []Entry, o ConfigOptions) ([]string, error) {
	if !bundleIDRE.MatchString(o.BundleID) {
		return nil, fmt.Errorf("mirror configuration: bundle id %q is not 32 lowercase hex digits", o.BundleID)
	}
	name, merge := o.SetName, o.SetName != ""
	if !merge {
		name = "bundle-" + o.BundleID[:12]
	}
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	if len(name) > maxSetNameLength {
		return nil, fmt.Errorf("config name %q is longer than %d characters: file names made of it would be too long", name, maxSetNameLength)
	}
	add := mirrorSet{name: name, bundles: []string{o.BundleID}}
	for _, e := range entries {
		if err := checkEntry(e); err != nil {
			return nil, err
		}
		add.routes = append(add.routes, route{Source: e.Source, Mirror: e.Mirror, Insecure: m.Insecure, Tags: o.Tags})
	}
	for _, im := range o.Images {
		line, ok, err := mappingLine(im)
		if err != nil {
			return nil, err
		}
		if ok {
			add.mappings = append(add.mappings, line)
		}
	}
	if len(add.routes) == 0 && len(add.mappings) == 0 && len(o.Catalogs) == 0 {
		return nil, ErrNothingToRedirect
	}
	files := []configFile{registriesConfFile, idmsFile}
	if o.Tags {
		files = append(files, itmsFile)
	}
	files = append(files, icspFile, installConfigFile, installConfigLegacyFile, mappingFile)

	type output struct {
		path string
		data []byte
	}
	var outputs []output
	for _, f := range files {
		path := filepath.Join(dir, name+f.suffix)
		set := mirrorSet{name: name}
		if merge {
			old, err := readConfigFile(path, f)
			if err != nil {
				return nil, err
			}
			set.merge(old)
		}
		set.merge(add)
		outputs = append(outputs, output{path, f.render(set)})
	}
	if len(o.Catalogs) > 0 {
		data, err := renderCatalogSources(add.bundles, o.Catalogs)
		if err != nil {
			return nil, err
		}
		outputs = append(outputs, output{filepath.Join(dir, name+catalogSourcesSuffix), data})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create mirror config directory %s: %w", dir, err)
	}
	var written []string
	for _, out := range outputs {
		if err := atomicfile.Write(out.path, out.data, 0o644); err != nil {
			return written, err
		}
		written = append(written, out.path)
	}
	return written, nil
}

// catalogSourcesSuffix ends the name of the CatalogSource file. It is
// written anew for each bundle, not merged: a CatalogSource names one
// image, and the newest catalog replaces the one before.
const catalogSourcesSuffix = "-catalogsources.yaml"

// renderCatalogSources writes one CatalogSource per catalog, in the
// namespace OperatorHub reads (openshift-marketplace), named cs- and the
// catalog's repository name and tag as oc-mirror names them, so that the
// object of a catalog keeps its name from one bundle to the next.
func renderCatalogSources(bundles []string, catalogs []Catalog) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`# OpenShift CatalogSources written by the airgap bundle tool: one per
# operator catalog carried. Apply with: oc apply -f <this file>. OperatorHub
# then offers the operators of each catalog from the mirror.
`)
	seen := map[string]string{}
	sorted := slices.Clone(catalogs)
	slices.SortFunc(sorted, func(a, b Catalog) int { return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Image, b.Image)) })
	for _, c := range sorted {
		name, err := catalogSourceName(c.Source)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[name]; ok {
			if prev == c.Source {
				continue
			}
			return nil, fmt.Errorf("catalogs %s and %s would both be CatalogSource %s: carry them in separate bundles, or give one another target name", prev, c.Source, name)
		}
		seen[name] = c.Source
		fmt.Fprintf(&b, "---\napiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n  name: %s\n  namespace: openshift-marketplace\n  annotations:\n    %s: %s\n    airgap-bundle.github.io/catalog: %s\nspec:\n  sourceType: grpc\n  image: %s\n  displayName: %s\n",
			yamlString(name), BundlesAnnotation, yamlString(strings.Join(bundles, ",")), yamlString(c.Source), yamlString(c.Image), yamlString(c.Source))
	}
	return b.Bytes(), nil
}

// catalogSourceName is "cs-" and the last component of the catalog's
// repository and its tag, made a DNS-1123 label (at most 63 characters).
func catalogSourceName(ref string) (string, error) {
	n, err := ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("catalog %q: %w", ref, err)
	}
	base := n.Repository[strings.LastIndexByte(n.Repository, '/')+1:]
	if n.Tag != "" {
		base += "-" + n.Tag
	}
	var out []byte
	for _, r := range []byte(strings.ToLower("cs-" + base)) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			out = append(out, r)
		} else if len(out) > 0 && out[len(out)-1] != '-' {
			out = append(out, '-')
		}
	}
	name := strings.TrimRight(string(out[:min(len(out), 63)]), "-")
	return name, nil
}

// maxSetNameLength keeps the longest file name, with its temporary-file
// decoration (".NAME-install-config-legacy.yaml.tmp-NNNNNNNNNN"), within
// the 255 bytes file systems allow.
const maxSetNameLength = 200

var bundleIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// readConfigFile reads back what an earlier WriteConfig wrote to path; a
// missing file is an empty set.
func readConfigFile(path string, f configFile) (mirrorSet, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return mirrorSet{}, nil
	}
	if err != nil {
		return mirrorSet{}, fmt.Errorf("merge into %s: %w", path, err)
	}
	bundles, err := readBundleLine(data)
	if err == nil {
		var s mirrorSet
		if s, err = f.read(data); err == nil {
			s.bundles = bundles
			for _, r := range s.routes {
				if err = checkEntry(Entry{Source: r.Source, Mirror: r.Mirror}); err != nil {
					break
				}
			}
			if err == nil {
				return s, nil
			}
		}
	}
	return mirrorSet{}, fmt.Errorf("merge into %s: not a mirror configuration file this tool wrote, or edited since: %w", path, err)
}

func readBundleLine(data []byte) ([]string, error) {
	prefix := "# " + BundlesAnnotation + ": "
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			ids := strings.Split(strings.TrimSpace(rest), ",")
			for _, id := range ids {
				if !bundleIDRE.MatchString(id) {
					return nil, fmt.Errorf("bundle id %q in the %s comment is not 32 lowercase hex digits", id, BundlesAnnotation)
				}
			}
			return ids, nil
		}
	}
	return nil, fmt.Errorf("no %q comment line", prefix)
}

// mappingLine is im as oc image mirror reads it: the source repository by
// digest (what was packed, whatever the tag says now) = the mirror
// repository, with the source's tag if it had one. Images whose source name
// has no registry are left out (ok false): oc would read them as Docker Hub
// names.
func mappingLine(im Image) (line string, ok bool, err error) {
	src, err := ParseName(im.Source)
	if err != nil {
		return "", false, fmt.Errorf("mirror mapping for %q: %w", im.Source, err)
	}
	if src.Registry == "" || src.Repository == "" {
		return "", false, nil
	}
	dst, err := ParseName(im.Target)
	if err != nil || dst.Registry == "" {
		return "", false, fmt.Errorf("mirror mapping for %q: target %q is not host[:port]/repository: %w", im.Source, im.Target, err)
	}
	if _, err := parseDigest(im.Digest.String()); err != nil {
		return "", false, fmt.Errorf("mirror mapping for %q: %w", im.Source, err)
	}
	line = src.RepositoryName() + "@" + im.Digest.String() + "=" + dst.RepositoryName()
	if src.Tag != "" {
		line += ":" + src.Tag
	}
	return line, true, nil
}

const registriesConfHeader = `# containers-registries.conf(5) drop-in for CRI-O and podman, written by
# the airgap bundle tool. Install it in /etc/containers/registries.conf.d/.
# Pulls by digest from each source repository below try the mirror first;
# pulls by tag too where a mirror says pull-from-mirror = "all" (a tag in the
# mirror is what the source's tag was when the bundle was packed).
`

// renderRegistriesConf writes one [[registry]] table per source with its
// mirrors. A source whose mirrors all serve digests only keeps the
// registry-wide mirror-by-digest-only = true, which runtimes older than
// pull-from-mirror understand; otherwise each mirror says what it serves.
func renderRegistriesConf(s mirrorSet) []byte {
	var b bytes.Buffer
	b.WriteString(registriesConfHeader)
	b.WriteString(s.bundleLine())
	for _, group := range s.bySource() {
		tags := slices.ContainsFunc(group, func(r route) bool { return r.Tags })
		src := tomlString(group[0].Source)
		fmt.Fprintf(&b, "\n[[registry]]\nprefix = %s\nlocation = %s\n", src, src)
		if !tags {
			b.WriteString("mirror-by-digest-only = true\n")
		}
		for _, r := range group {
			fmt.Fprintf(&b, "\n[[registry.mirror]]\nlocation = %s\n", tomlString(r.Mirror))
			if r.Insecure {
				b.WriteString("insecure = true\n")
			}
			switch {
			case r.Tags:
				b.WriteString("pull-from-mirror = \"all\"\n")
			case tags:
				b.WriteString("pull-from-mirror = \"digest-only\"\n")
			}
		}
	}
	return b.Bytes()
}

func readRegistriesConf(data []byte) (mirrorSet, error) {
	var c struct {
		Registry []struct {
			Prefix             string `toml:"prefix"`
			Location           string `toml:"location"`
			MirrorByDigestOnly bool   `toml:"mirror-by-digest-only"`
			Mirror             []struct {
				Location       string `toml:"location"`
				Insecure       bool   `toml:"insecure"`
				PullFromMirror string `toml:"pull-from-mirror"`
			} `toml:"mirror"`
		} `toml:"registry"`
	}
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return mirrorSet{}, err
	}
	if u := md.Undecoded(); len(u) > 0 {
		return mirrorSet{}, fmt.Errorf("unexpected keys %v", u)
	}
	var s mirrorSet
	for _, r := range c.Registry {
		if r.Prefix != r.Location {
			return mirrorSet{}, fmt.Errorf("registry %q has location %q", r.Prefix, r.Location)
		}
		for _, m := range r.Mirror {
			tags := !r.MirrorByDigestOnly && (m.PullFromMirror == "" || m.PullFromMirror == "all")
			s.routes = append(s.routes, route{Source: r.Prefix, Mirror: m.Location, Insecure: m.Insecure, Tags: tags})
		}
	}
	return s, nil
}

// tomlString quotes s as a TOML basic string. strconv.Quote will not do:
// TOML has no \x, \a or \v escapes.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			// TOML forbids the other control characters in basic strings.
			// An invalid UTF-8 byte comes out of range as U+FFFD and is
			// written as such, keeping the file valid UTF-8 as TOML requires.
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// mirrorObject renders a cluster-scoped OpenShift object whose spec is one
// list of {source, mirrors} items.
func mirrorObject(header, apiVersion, kind, list string, s mirrorSet) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteString(s.bundleLine())
	fmt.Fprintf(&b, "apiVersion: %s\nkind: %s\nmetadata:\n  name: %s\n  annotations:\n    %s: %s\nspec:\n  %s:",
		apiVersion, kind, yamlString(s.name), BundlesAnnotation, yamlString(strings.Join(s.bundles, ",")), list)
	writeSourceList(&b, "  ", s)
	return b.Bytes()
}

// writeSourceList writes the {source, mirrors} items of s, indented, after
// a "key:" already written.
func writeSourceList(b *bytes.Buffer, indent string, s mirrorSet) {
	groups := s.bySource()
	if len(groups) == 0 {
		b.WriteString(" []\n")
		return
	}
	b.WriteString("\n")
	for _, group := range groups {
		fmt.Fprintf(b, "%s- source: %s\n%s  mirrors:\n", indent, yamlString(group[0].Source), indent)
		for _, r := range group {
			fmt.Fprintf(b, "%s  - %s\n", indent, yamlString(r.Mirror))
		}
	}
}

func renderIDMS(s mirrorSet) []byte {
	return mirrorObject(`# OpenShift ImageDigestMirrorSet written by the airgap bundle tool.
# Apply it with: oc apply -f <this file>. Pulls by digest from each source
# repository below try the mirror first.
`, "config.openshift.io/v1", "ImageDigestMirrorSet", "imageDigestMirrors", s)
}

func renderITMS(s mirrorSet) []byte {
	return mirrorObject(`# OpenShift ImageTagMirrorSet written by the airgap bundle tool.
# Apply it with: oc apply -f <this file>. Pulls by tag from each source
# repository below try the mirror first; a tag in the mirror is what the
# source's tag was when the bundle was packed.
`, "config.openshift.io/v1", "ImageTagMirrorSet", "imageTagMirrors", s)
}

func renderICSP(s mirrorSet) []byte {
	return mirrorObject(`# OpenShift ImageContentSourcePolicy written by the airgap bundle tool, for
# clusters before 4.13 (later ones take the ImageDigestMirrorSet). Apply it
# with: oc apply -f <this file>. Pulls by digest from each source repository
# below try the mirror first.
`, "operator.openshift.io/v1alpha1", "ImageContentSourcePolicy", "repositoryDigestMirrors", s)
}

// readMirrorObject reads back a mirrorObject with the list key list.
func readMirrorObject(list string) func([]byte) (mirrorSet, error) {
	return func(data []byte) (mirrorSet, error) {
		var v struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Spec map[string][]sourceMirrors `yaml:"spec"`
		}
		if err := yaml.Unmarshal(data, &v); err != nil {
			return mirrorSet{}, err
		}
		items, ok := v.Spec[list]
		if !ok {
			return mirrorSet{}, fmt.Errorf("no spec.%s", list)
		}
		return routesOf(items), nil
	}
}

// sourceMirrors is an item of every list of sources these files hold.
type sourceMirrors struct {
	Source  string   `yaml:"source"`
	Mirrors []string `yaml:"mirrors"`
}

func routesOf(items []sourceMirrors) mirrorSet {
	var s mirrorSet
	for _, it := range items {
		for _, m := range it.Mirrors {
			s.routes = append(s.routes, route{Source: it.Source, Mirror: m})
		}
	}
	return s
}

// renderInstallConfig renders the install-config.yaml key key (a list of
// {source, mirrors}) for pasting into install-config.yaml.
func renderInstallConfig(key string) func(mirrorSet) []byte {
	return func(s mirrorSet) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "# install-config.yaml snippet written by the airgap bundle tool: copy the\n# %s key into install-config.yaml (%s).\n", key, map[string]string{
			"imageDigestSources":  "OpenShift 4.14 and later",
			"imageContentSources": "installers before 4.14; deprecated since",
		}[key])
		b.WriteString(s.bundleLine())
		b.WriteString(key + ":")
		writeSourceList(&b, "", s)
		return b.Bytes()
	}
}

func readInstallConfig(key string) func([]byte) (mirrorSet, error) {
	return func(data []byte) (mirrorSet, error) {
		var v map[string][]sourceMirrors
		if err := yaml.Unmarshal(data, &v); err != nil {
			return mirrorSet{}, err
		}
		items, ok := v[key]
		if !ok {
			return mirrorSet{}, fmt.Errorf("no %s", key)
		}
		return routesOf(items), nil
	}
}

func renderMapping(s mirrorSet) []byte {
	var b bytes.Buffer
	b.WriteString("# oc image mirror mapping written by the airgap bundle tool: the source of\n# each image pushed, by digest, = where the mirror holds it.\n")
	b.WriteString(s.bundleLine())
	for _, line := range s.mappings {
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

func readMapping(data []byte) (mirrorSet, error) {
	var s mirrorSet
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") || strings.ContainsAny(line, " \t") {
			return mirrorSet{}, fmt.Errorf("line %q is not SOURCE=MIRROR", line)
		}
		s.mappings = append(s.mappings, line)
	}
	return s, nil
}

// yamlString double-quotes s for YAML. Quoting matters even for valid
// names: plain 123, true or null would be read as a number, a boolean or
// null. strconv.Quote's escapes (\" \\ \a \b \f \n \r \t \v \xNN \uNNNN
// \UNNNNNNNN) are all YAML double-quoted escapes with the same meaning for
// valid UTF-8, which is all that gets here: inputs are checked first.
func yamlString(s string) string {
	return strconv.Quote(s)
}

// dns1123SubdomainRE is the Kubernetes rule for object names.
var dns1123SubdomainRE = regexp.MustCompile(`^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$`)

func checkObjectName(name string) error {
	if len(name) > 253 || !dns1123SubdomainRE.MatchString(name) {
		return fmt.Errorf("config name %q is not a valid Kubernetes object name: use at most 253 lowercase letters, digits, - and ., starting and ending with a letter or digit, e.g. airgap-mirror", name)
	}
	return nil
}

// checkEntry checks that both sides of e are host[:port]/repository, with
// neither tag nor digest, as the mirror sets' validation requires;
// otherwise the cluster would reject the object only once applied.
func checkEntry(e Entry) error {
	for _, s := range []struct{ what, v string }{{"source", e.Source}, {"mirror", e.Mirror}} {
		n, err := ParseName(s.v)
		if err != nil {
			return fmt.Errorf("mirror entry for %q: %s: %w", e.Source, s.what, err)
		}
		if n.Registry == "" || n.Tag != "" || n.Digest != "" {
			return fmt.Errorf("mirror entry for %q: %s %q is not host[:port]/repository without tag or digest", e.Source, s.what, s.v)
		}
	}
	return nil
}
