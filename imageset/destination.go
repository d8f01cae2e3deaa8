package imageset

import (
	"gopkg.in/yaml.v3"

	"github.com/airgap-bundle/bundle/mirror"
)

// Destination is ImageSet's destination section: how the far side maps
// what the file selects into its mirror registry, kept in the same
// reviewable file as the selection so that the pack and the push agree
// and a review sees both. bundle unpack reads it (its flags add to it);
// pack ignores it.
type Destination struct {
	// Map is destination.map: SOURCE_PREFIX=MIRROR_REPO rules, in file
	// order (mirror.Rule).
	Map []mirror.Rule
	// StripRegistry is destination.stripRegistry.
	StripRegistry bool
	// MaxNestedPaths is destination.maxNestedPaths (0: no limit).
	MaxNestedPaths int
	Pos            Pos
}

// destination reads ImageSet's destination section.
func (p *parser) destination(n *yaml.Node, path string) {
	o := p.mapping(n, path, "map", "stripRegistry", "maxNestedPaths")
	if o == nil {
		return
	}
	d := &Destination{Pos: p.pos(n)}
	o.list("map", func(item *yaml.Node, ipath string) {
		if item.Kind != yaml.ScalarNode || isNull(item) || item.Tag == "!!bool" {
			p.errorf(item, ipath, "expected SOURCE_PREFIX=MIRROR_REPO as a string, found %s", kindName(item))
			return
		}
		r, err := mirror.ParseRule(item.Value)
		if err != nil {
			p.errorf(item, ipath, "%v", err)
			return
		}
		for _, prev := range d.Map {
			if prev.Source == r.Source {
				p.errorf(item, ipath, "a second rule for %s (the first maps it to %s): keep one", r.Source, prev.Mirror)
				return
			}
		}
		d.Map = append(d.Map, r)
	})
	d.StripRegistry = o.boolean("stripRegistry")
	d.MaxNestedPaths = o.integer("maxNestedPaths")
	if d.MaxNestedPaths < 0 {
		mn, mpath := o.get("maxNestedPaths")
		p.errorf(mn, mpath, "must be 1 or more path components, or left out for no limit")
	}
	p.f.Destination = d
}

// mergeDestination joins the destination sections of two files: rules
// appended (a source named in both with different mirrors is left to
// mirror.Mapping, which takes the first), stripRegistry if either asks,
// and the smaller nesting limit, since a registry that accepts N path
// components accepts fewer too.
func mergeDestination(f, other *Destination) *Destination {
	if other == nil {
		return f
	}
	if f == nil {
		d := *other
		d.Map = append([]mirror.Rule(nil), other.Map...)
		return &d
	}
	f.Map = append(f.Map, other.Map...)
	f.StripRegistry = f.StripRegistry || other.StripRegistry
	if other.MaxNestedPaths > 0 && (f.MaxNestedPaths == 0 || other.MaxNestedPaths < f.MaxNestedPaths) {
		f.MaxNestedPaths = other.MaxNestedPaths
	}
	return f
}
