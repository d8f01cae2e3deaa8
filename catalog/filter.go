package catalog

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
)

// Filter selects bundles of a catalog (oc-mirror's ImageSetConfiguration
// operators entry). See the package documentation for its semantics.
type Filter struct {
	// Full keeps every bundle of the kept channels.
	Full bool
	// Packages, when set, are the only packages kept.
	Packages []PackageFilter
}

// PackageFilter selects within one package.
type PackageFilter struct {
	Name string
	// DefaultChannel overrides the package's default channel in the
	// filtered catalog.
	DefaultChannel string
	// MinVersion and MaxVersion bound the bundles of each kept channel.
	MinVersion, MaxVersion string
	// Channels, when set, are the only channels kept.
	Channels []ChannelFilter
	// Bundles, when set, are the only bundles kept (by name).
	Bundles []string
}

// ChannelFilter selects within one channel.
type ChannelFilter struct {
	Name                   string
	MinVersion, MaxVersion string
}

// Selected is a bundle the filter kept, with what selected it.
type Selected struct {
	Package string
	Bundle  string
	Version string
	// Image is the bundle image.
	Image string
	// Channels are the kept channels listing the bundle, sorted.
	Channels      []string
	RelatedImages []RelatedImage
}

// Selection is the result of a filter: the kept bundles and what the
// filtered catalog keeps.
type Selection struct {
	Catalog *Catalog
	// Bundles are the kept bundles, by package then bundle name.
	Bundles []Selected

	packages map[string]*keptPackage
}

type keptPackage struct {
	defaultChannel string
	// channels maps each kept channel to its kept entries.
	channels map[string]map[string]bool
	bundles  map[string]bool
}

// Describe says what selected a bundle: "package P, channel(s) C, bundle B".
func (s Selected) Describe() string {
	return fmt.Sprintf("catalog package %s, channel %s, bundle %s", s.Package, strings.Join(s.Channels, ","), s.Bundle)
}

// Packages lists the kept packages, sorted.
func (s *Selection) Packages() []string { return sortedKeys(s.packages) }

// DefaultChannel is the default channel of a kept package in the filtered
// catalog.
func (s *Selection) DefaultChannel(pkg string) string {
	if k := s.packages[pkg]; k != nil {
		return k.defaultChannel
	}
	return ""
}

// Channels lists the kept channels of a kept package, sorted.
func (s *Selection) Channels(pkg string) []string {
	if k := s.packages[pkg]; k != nil {
		return sortedKeys(k.channels)
	}
	return nil
}

type versionRange struct {
	min, max *semver.Version
	text     string
}

func (r *versionRange) contains(v string) bool {
	if r == nil {
		return true
	}
	sv, err := semver.ParseTolerant(v)
	if err != nil {
		return false
	}
	// As Masterminds/semver constraints (which oc-mirror uses): a
	// pre-release is in range only when every bound has a pre-release.
	if len(sv.Pre) > 0 && ((r.min != nil && len(r.min.Pre) == 0) || (r.max != nil && len(r.max.Pre) == 0)) {
		return false
	}
	if r.min != nil && sv.LT(*r.min) {
		return false
	}
	if r.max != nil && sv.GT(*r.max) {
		return false
	}
	return true
}

func parseRange(min, max string) (*versionRange, error) {
	if min == "" && max == "" {
		return nil, nil
	}
	r := &versionRange{}
	var parts []string
	if min != "" {
		v, err := semver.ParseTolerant(min)
		if err != nil {
			return nil, fmt.Errorf("minVersion %q: %v", min, err)
		}
		r.min = &v
		parts = append(parts, ">="+min)
	}
	if max != "" {
		v, err := semver.ParseTolerant(max)
		if err != nil {
			return nil, fmt.Errorf("maxVersion %q: %v", max, err)
		}
		r.max = &v
		parts = append(parts, "<="+max)
	}
	if r.min != nil && r.max != nil && r.min.GT(*r.max) {
		return nil, fmt.Errorf("minVersion %s is above maxVersion %s", min, max)
	}
	r.text = strings.Join(parts, " ")
	return r, nil
}

// Filter selects bundles. Errors name what is wrong in the filter or what
// makes the filtered catalog invalid.
func (c *Catalog) Filter(f Filter) (*Selection, error) {
	s := &Selection{Catalog: c, packages: map[string]*keptPackage{}}
	var pfs []PackageFilter
	if len(f.Packages) == 0 {
		for _, n := range c.packageNames() {
			pfs = append(pfs, PackageFilter{Name: n})
		}
	} else {
		seen := map[string]bool{}
		for _, pf := range f.Packages {
			if pf.Name == "" {
				return nil, errors.New("a package filter without a name")
			}
			if seen[pf.Name] {
				return nil, fmt.Errorf("package %q is listed twice", pf.Name)
			}
			seen[pf.Name] = true
			if c.packages[pf.Name] == nil {
				return nil, fmt.Errorf("package %q is not in the catalog; it has %s", pf.Name, listNames(c.packageNames()))
			}
		}
		pfs = f.Packages
	}
	for _, pf := range pfs {
		if err := s.filterPackage(c.packages[pf.Name], pf, f.Full); err != nil {
			return nil, fmt.Errorf("package %q: %w", pf.Name, err)
		}
	}
	for _, pn := range s.Packages() {
		k := s.packages[pn]
		pkg := c.packages[pn]
		for _, bn := range sortedKeys(k.bundles) {
			b := pkg.Bundles[bn]
			sel := Selected{Package: pn, Bundle: bn, Version: b.Version, Image: b.Image, RelatedImages: b.RelatedImages}
			for _, cn := range sortedKeys(k.channels) {
				if k.channels[cn][bn] {
					sel.Channels = append(sel.Channels, cn)
				}
			}
			s.Bundles = append(s.Bundles, sel)
		}
	}
	return s, nil
}

func (s *Selection) filterPackage(pkg *Package, pf PackageFilter, full bool) error {
	pkgRange, err := parseRange(pf.MinVersion, pf.MaxVersion)
	if err != nil {
		return err
	}
	hasChannelRange := false
	for _, cf := range pf.Channels {
		if cf.MinVersion != "" || cf.MaxVersion != "" {
			hasChannelRange = true
		}
	}
	switch {
	case full && (pkgRange != nil || hasChannelRange):
		return errors.New("full cannot be combined with minVersion or maxVersion")
	case full && len(pf.Bundles) > 0:
		return errors.New("full cannot be combined with a bundle list")
	case len(pf.Bundles) > 0 && (pkgRange != nil || hasChannelRange):
		return errors.New("a bundle list cannot be combined with minVersion or maxVersion")
	case pkgRange != nil && hasChannelRange:
		return errors.New("a version range on the package and one on a channel cannot be combined")
	}
	selected := map[string]bool{}
	for _, bn := range pf.Bundles {
		if pkg.Bundles[bn] == nil {
			return fmt.Errorf("bundle %q is not in the package; it has %s", bn, listNames(sortedKeys(pkg.Bundles)))
		}
		selected[bn] = true
	}

	// The channels to consider, each with its range.
	ranges := map[string]*versionRange{}
	if len(pf.Channels) == 0 {
		for n := range pkg.Channels {
			ranges[n] = pkgRange
		}
	}
	for _, cf := range pf.Channels {
		if pkg.Channels[cf.Name] == nil {
			return fmt.Errorf("channel %q is not in the package; it has %s", cf.Name, listNames(pkg.ChannelNames()))
		}
		if _, dup := ranges[cf.Name]; dup {
			return fmt.Errorf("channel %q is listed twice", cf.Name)
		}
		r, err := parseRange(cf.MinVersion, cf.MaxVersion)
		if err != nil {
			return fmt.Errorf("channel %q: %v", cf.Name, err)
		}
		if r == nil {
			r = pkgRange
		}
		ranges[cf.Name] = r
	}

	def := pkg.DefaultChannel
	if pf.DefaultChannel != "" {
		def = pf.DefaultChannel
		if _, ok := ranges[def]; !ok {
			return fmt.Errorf("default channel %q is not among the kept channels (%s)", def, listNames(sortedKeys(ranges)))
		}
	} else if _, ok := ranges[def]; !ok && def != "" {
		return fmt.Errorf("the default channel %q is filtered out: set defaultChannel to one of the kept channels (%s)", def, listNames(sortedKeys(ranges)))
	}

	k := &keptPackage{defaultChannel: def, channels: map[string]map[string]bool{}, bundles: map[string]bool{}}
	for _, cn := range sortedKeys(ranges) {
		ch := pkg.Channels[cn]
		r := ranges[cn]
		var keep map[string]bool
		switch {
		case len(selected) > 0:
			keep = map[string]bool{}
			for _, e := range ch.Entries {
				if selected[e.Name] {
					keep[e.Name] = true
				}
			}
		case full:
			keep = map[string]bool{}
			for _, e := range ch.Entries {
				keep[e.Name] = true
			}
		default:
			g, err := newGraph(ch.Entries)
			if err != nil {
				return fmt.Errorf("channel %q: %v", cn, err)
			}
			if r == nil {
				keep = map[string]bool{g.head.Name: true}
			} else {
				keep = g.inRange(r, pkg.Bundles)
			}
		}
		if len(keep) == 0 {
			if cn == def {
				if r != nil {
					return fmt.Errorf("the version range %s leaves the default channel %q empty", r.text, cn)
				}
				return fmt.Errorf("none of the bundles listed is in the default channel %q", cn)
			}
			continue
		}
		var kept []Entry
		for _, e := range ch.Entries {
			if keep[e.Name] {
				kept = append(kept, e)
			}
		}
		if _, err := newGraph(kept); err != nil {
			return fmt.Errorf("channel %q: the filtered channel would be invalid: %v", cn, err)
		}
		k.channels[cn] = keep
		for n := range keep {
			k.bundles[n] = true
		}
	}
	for _, bn := range pf.Bundles {
		if !k.bundles[bn] {
			return fmt.Errorf("bundle %q is in none of the kept channels", bn)
		}
	}
	if len(k.channels) == 0 {
		return errors.New("no channel is left")
	}
	s.packages[pkg.Name] = k
	return nil
}

// node is a channel entry in the upgrade graph.
type node struct {
	Entry
	replaces *node
	skips    []*node
}

// graph is a channel's upgrade graph, checked as OLM does: one head (the
// entry that no other replaces or skips), no cycle, and every entry on the
// replaces chain from the head or skipped by a member of that chain.
// Replaces and skips naming bundles outside the channel are ignored.
type graph struct {
	head  *node
	nodes map[string]*node
}

func newGraph(entries []Entry) (*graph, error) {
	if len(entries) == 0 {
		return nil, errors.New("no entries")
	}
	g := &graph{nodes: map[string]*node{}}
	for _, e := range entries {
		if g.nodes[e.Name] != nil {
			return nil, fmt.Errorf("entry %q listed twice", e.Name)
		}
		g.nodes[e.Name] = &node{Entry: e}
	}
	incoming := map[string]int{}
	for _, e := range entries {
		n := g.nodes[e.Name]
		if e.Replaces == e.Name {
			return nil, fmt.Errorf("entry %q replaces itself", e.Name)
		}
		if r := g.nodes[e.Replaces]; r != nil {
			n.replaces = r
			incoming[r.Name]++
		}
		seen := map[string]bool{}
		for _, sk := range e.Skips {
			if sk == e.Name {
				return nil, fmt.Errorf("entry %q skips itself", e.Name)
			}
			if t := g.nodes[sk]; t != nil && !seen[sk] {
				seen[sk] = true
				n.skips = append(n.skips, t)
				if n.replaces != t {
					incoming[sk]++
				}
			}
		}
	}
	var heads []string
	for _, e := range entries {
		if incoming[e.Name] == 0 {
			heads = append(heads, e.Name)
		}
	}
	sort.Strings(heads)
	switch {
	case len(heads) == 0:
		return nil, errors.New("no channel head (the upgrade graph has a cycle)")
	case len(heads) > 1:
		return nil, fmt.Errorf("several channel heads: %s", strings.Join(heads, ", "))
	}
	g.head = g.nodes[heads[0]]

	// Kahn's walk from the head over replaces and skips: entries left with
	// incoming edges are on a cycle.
	queue := []*node{g.head}
	visited := map[string]bool{g.head.Name: true}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		next := n.skips
		if n.replaces != nil && !contains(n.skips, n.replaces) {
			next = append(append([]*node(nil), n.skips...), n.replaces)
		}
		for _, t := range next {
			incoming[t.Name]--
			if incoming[t.Name] == 0 && !visited[t.Name] {
				visited[t.Name] = true
				queue = append(queue, t)
			}
		}
	}
	var cyclic []string
	for name, in := range incoming {
		if in > 0 {
			cyclic = append(cyclic, name)
		}
	}
	if len(cyclic) > 0 {
		sort.Strings(cyclic)
		return nil, fmt.Errorf("the upgrade graph has a cycle through %s", strings.Join(cyclic, ", "))
	}

	// Stranded entries: neither on the replaces chain nor skipped by it.
	covered := map[string]bool{}
	for n := g.head; n != nil; n = n.replaces {
		covered[n.Name] = true
		for _, t := range n.skips {
			covered[t.Name] = true
		}
	}
	var stranded []string
	for _, e := range entries {
		if !covered[e.Name] {
			stranded = append(stranded, e.Name)
		}
	}
	if len(stranded) > 0 {
		sort.Strings(stranded)
		return nil, fmt.Errorf("entries %s are neither on the replaces chain from the head %q nor skipped by it", strings.Join(stranded, ", "), g.head.Name)
	}
	return g, nil
}

func contains(ns []*node, n *node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// inRange selects the entries of a version range (see the package
// documentation).
func (g *graph) inRange(r *versionRange, bundles map[string]*Bundle) map[string]bool {
	in := func(n *node) bool {
		b := bundles[n.Name]
		return b != nil && b.Version != "" && r.contains(b.Version)
	}
	var chain []*node
	for n := g.head; n != nil; n = n.replaces {
		chain = append(chain, n)
	}
	// Count from the bottom of the chain up, each bundle once.
	seen := map[string]bool{}
	counts := make([]int, len(chain))
	for i := len(chain) - 1; i >= 0; i-- {
		n := chain[i]
		if i+1 < len(chain) {
			counts[i] = counts[i+1]
		}
		if !seen[n.Name] && in(n) {
			seen[n.Name] = true
			counts[i]++
		}
		for _, t := range n.skips {
			if !seen[t.Name] && in(t) {
				seen[t.Name] = true
				counts[i]++
			}
		}
	}
	headIdx, tailIdx, max := -1, len(chain), -1
	for i := range chain {
		if counts[i] >= max {
			headIdx, max = i, counts[i]
		}
		if counts[i] == 0 {
			tailIdx = i
			break
		}
	}
	keep := map[string]bool{}
	for i := headIdx; i >= 0 && i < tailIdx; i++ {
		n := chain[i]
		keep[n.Name] = true
		for _, t := range n.skips {
			if in(t) {
				keep[t.Name] = true
			}
		}
	}
	return keep
}

// SelectedImage is an image the selection needs, with the bundle that
// needs it.
type SelectedImage struct {
	// Image is the pull spec, as the catalog gives it.
	Image string
	// Name is the related image's name; "" for the bundle image itself.
	Name string
	// Bundle is the selected bundle (package, channels, bundle name).
	Bundle *Selected
}

// Images lists the images of the selected bundles: each bundle image then
// its related images, in the order of Bundles. An image several bundles
// need is listed once per bundle.
func (s *Selection) Images() []SelectedImage {
	var out []SelectedImage
	for i := range s.Bundles {
		b := &s.Bundles[i]
		if b.Image != "" {
			out = append(out, SelectedImage{Image: b.Image, Bundle: b})
		}
		for _, r := range b.RelatedImages {
			if r.Image != "" {
				out = append(out, SelectedImage{Image: r.Image, Name: r.Name, Bundle: b})
			}
		}
	}
	return out
}
