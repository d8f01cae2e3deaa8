package imageset

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"

	"github.com/airgap-bundle/bundle/mirror"
)

// architectures are the release architectures oc-mirror knows.
var architectures = []string{"amd64", "arm64", "ppc64le", "s390x", "multi"}

// platformRE is os/arch[/variant].
var platformRE = regexp.MustCompile(`^[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_]+)?$`)

// mirrorFile reads an ImageSetConfiguration or an ImageSet.
func (p *parser) mirrorFile(root *yaml.Node) {
	topKeys := []string{"apiVersion", "kind", "metadata", "mirror", "archiveSize", "storageConfig"}
	if p.f.Kind == KindImageSet {
		topKeys = append(topKeys, "destination")
	}
	top := p.mapping(root, "", topKeys...)
	if top == nil {
		return
	}
	if dn, dpath := top.get("destination"); dn != nil && !isNull(dn) {
		p.destination(dn, dpath)
	}
	top.str("apiVersion")
	top.str("kind")
	if top.has("metadata") {
		p.notice(top.keyNode("metadata"), "metadata", "ignored (oc-mirror's ImageSetConfiguration has no metadata either)")
	}
	if n, path := top.get("archiveSize"); n != nil {
		top.integer("archiveSize")
		p.notice(top.keyNode("archiveSize"), path, "ignored: bundle cuts its media by its own --volume-size, not by archiveSize")
	}
	if top.has("storageConfig") {
		p.errorf(top.keyNode("storageConfig"), "storageConfig", "an oc-mirror v1 key that %s does not accept: oc-mirror v2 keeps its state in its working directory; remove it", APIVersionOCMirror)
	}
	if !top.has("mirror") {
		p.errorf(root, "", "mirror is required: it says what the file selects")
		return
	}
	n, path := top.get("mirror")
	known := []string{"platform", "operators", "additionalImages", "helm", "blockedImages", "samples"}
	if p.f.Kind == KindImageSet {
		known = append(known, "registries", "platforms")
	}
	m := p.mapping(n, path, known...)
	if m == nil {
		return
	}
	if pn, ppath := m.get("platform"); pn != nil && !isNull(pn) {
		p.platform(pn, ppath)
	}
	m.list("operators", p.operator)
	m.list("additionalImages", p.additionalImage)
	m.list("blockedImages", p.blocked)
	if hn, hpath := m.get("helm"); hn != nil {
		p.helm(hn, hpath, m.keyNode("helm"))
	}
	if sn, spath := m.get("samples"); sn != nil {
		p.seq(sn, spath, func(item *yaml.Node, path string) {
			if o := p.mapping(item, path, "name"); o != nil {
				o.str("name")
			}
		})
		p.notice(m.keyNode("samples"), spath, "ignored: oc-mirror does not implement samples either")
	}
	m.list("registries", p.registryRule)
	m.list("platforms", func(item *yaml.Node, path string) {
		if item.Kind != yaml.ScalarNode || !platformRE.MatchString(item.Value) {
			p.errorf(item, path, "%s is not os/arch[/variant] (linux/amd64, linux/arm64/v8)", kindName(item))
			return
		}
		p.f.Platforms = append(p.f.Platforms, item.Value)
	})
	p.nonEmpty(root)
}

// nonEmpty reports a file that selects no image.
func (p *parser) nonEmpty(root *yaml.Node) {
	if len(p.errs) > 0 {
		return
	}
	f := p.f
	if (f.Releases == nil || len(f.Releases.Channels) == 0) && len(f.Operators) == 0 && len(f.AdditionalImages) == 0 && len(f.Registries) == 0 {
		what := "mirror.platform.channels, mirror.operators or mirror.additionalImages"
		switch f.Kind {
		case KindImageSet:
			what = "mirror.platform.channels, mirror.operators, mirror.additionalImages or mirror.registries"
		case KindSkopeoSync:
			what = "images, images-by-tag-regex or images-by-semver under a registry"
		}
		p.errorf(root, "", "the file selects no image: give %s", what)
	}
}

// platform reads mirror.platform.
func (p *parser) platform(n *yaml.Node, path string) {
	o := p.mapping(n, path, "channels", "architectures", "platforms", "graph", "release", "kubeVirtContainer")
	if o == nil {
		return
	}
	r := &Releases{Pos: p.pos(n), Graph: o.boolean("graph")}
	if r.Graph {
		p.notice(o.keyNode("graph"), join(path, "graph"), "the graph-data image (which oc-mirror builds from the update graph's data, for an update service on the far side) is not carried; the releases are")
	}
	seen := map[[2]string]Pos{}
	o.list("channels", func(item *yaml.Node, path string) {
		c := p.channel(item, path)
		if c != nil {
			if prev, dup := seen[[2]string{c.Name, c.Type}]; dup {
				p.errorf(item, path, "channel %q given twice (first at %s)", c.Name, prev)
			}
			seen[[2]string{c.Name, c.Type}] = c.Pos
			r.Channels = append(r.Channels, *c)
		}
	})
	an, apath := o.get("architectures")
	for _, a := range o.strings("architectures") {
		if !contains(architectures, a) {
			p.errorf(an, apath, "unknown architecture %q (known: %s)", a, strings.Join(architectures, ", "))
			continue
		}
		r.Architectures = append(r.Architectures, a)
	}
	r.Platforms = p.platformFilters(o, "platforms")
	if o.has("release") {
		p.errorf(o.keyNode("release"), join(path, "release"), "refused: it copies a release from a location on disk (oc-mirror's disk-to-mirror), which bundle does not read; name the release by channels instead")
	}
	if v, given := o.optBool("kubeVirtContainer"); given {
		if v {
			p.errorf(o.keyNode("kubeVirtContainer"), join(path, "kubeVirtContainer"), "refused: bundle does not extract the KubeVirt container image from the release payload, so the file would carry less than it asks for; remove the key, or add that image to additionalImages")
		} else {
			p.notice(o.keyNode("kubeVirtContainer"), join(path, "kubeVirtContainer"), "false: nothing to do")
		}
	}
	p.f.Releases = r
}

// platformFilters reads oc-mirror's platforms: [{os, architecture}].
func (p *parser) platformFilters(o *object, key string) []string {
	var out []string
	o.list(key, func(item *yaml.Node, path string) {
		f := p.mapping(item, path, "os", "architecture")
		if f == nil {
			return
		}
		os, arch := f.required("os"), f.required("architecture")
		if os == "" || arch == "" {
			return
		}
		s := os + "/" + arch
		if !platformRE.MatchString(s) {
			p.errorf(item, path, "%q is not a valid os/architecture", s)
			return
		}
		out = append(out, s)
	})
	return out
}

// channel reads one release channel.
func (p *parser) channel(n *yaml.Node, path string) *Channel {
	o := p.mapping(n, path, "name", "type", "minVersion", "maxVersion", "shortestPath", "full")
	if o == nil {
		return nil
	}
	c := &Channel{
		Name:         o.required("name"),
		Type:         o.str("type"),
		Full:         o.boolean("full"),
		ShortestPath: o.boolean("shortestPath"),
		Pos:          p.pos(n),
	}
	if c.Type == "" {
		c.Type = "ocp"
	}
	if c.Type != "ocp" && c.Type != "okd" {
		tn, tpath := o.get("type")
		p.errorf(tn, tpath, "unknown type %q (known: ocp, okd)", c.Type)
	}
	c.MinVersion, c.MaxVersion = p.versions(o)
	return c
}

// versions reads minVersion and maxVersion, checking that they are
// versions and in order.
func (p *parser) versions(o *object) (string, string) {
	lo, min := p.version(o, "minVersion")
	hi, max := p.version(o, "maxVersion")
	if lo != nil && hi != nil && lo.GreaterThan(hi) {
		n, path := o.get("minVersion")
		p.errorf(n, path, "%s is above maxVersion %s", min, max)
	}
	return min, max
}

// version reads key as a semantic version, leniently.
func (p *parser) version(o *object, key string) (*semver.Version, string) {
	s := o.str(key)
	if s == "" {
		return nil, ""
	}
	v, err := semver.NewVersion(s)
	if err != nil {
		n, path := o.get(key)
		p.errorf(n, path, "%q is not a version (4.18, 4.18.1, v1.2.3): %v", s, err)
		return nil, s
	}
	return v, s
}

// operator reads one operator catalog.
func (p *parser) operator(n *yaml.Node, path string) {
	o := p.mapping(n, path, "catalog", "full", "targetCatalog", "targetTag", "packages", "skipDependencies", "targetCatalogSourceTemplate", "platforms", "targetName", "originalRef", "headsOnly")
	if o == nil {
		return
	}
	op := Operator{
		Catalog:       o.required("catalog"),
		Full:          o.boolean("full"),
		TargetCatalog: o.str("targetCatalog"),
		TargetTag:     o.str("targetTag"),
		Pos:           p.pos(n),
	}
	if op.Catalog != "" && !strings.HasPrefix(op.Catalog, "oci:") {
		if _, err := mirror.ParseReference(strings.TrimPrefix(op.Catalog, "docker://")); err != nil {
			cn, cpath := o.get("catalog")
			p.errorf(cn, cpath, "%v", err)
		}
	}
	if op.TargetCatalog != "" {
		if err := mirror.CheckRepository(op.TargetCatalog); err != nil {
			tn, tpath := o.get("targetCatalog")
			p.errorf(tn, tpath, "%v (a repository path, without registry, tag or digest)", err)
		}
	}
	if op.TargetTag != "" {
		if !mirror.ValidTag(op.TargetTag) {
			tn, tpath := o.get("targetTag")
			p.errorf(tn, tpath, "%q is not a valid tag", op.TargetTag)
		}
	}
	op.Platforms = p.platformFilters(o, "platforms")
	seen := map[string]Pos{}
	o.list("packages", func(item *yaml.Node, path string) {
		if pkg := p.pkg(item, path); pkg != nil {
			if prev, dup := seen[pkg.Name]; dup {
				p.errorf(item, path, "package %q given twice (first at %s)", pkg.Name, prev)
			}
			seen[pkg.Name] = pkg.Pos
			op.Packages = append(op.Packages, *pkg)
		}
	})
	if op.Full {
		for _, pkg := range op.Packages {
			if pkg.MinVersion != "" || pkg.MaxVersion != "" {
				p.errorf(n, path, "full: true cannot be combined with versions (package %q at %s), as in oc-mirror", pkg.Name, pkg.Pos)
				break
			}
		}
	}
	if _, given := o.optBool("skipDependencies"); given {
		p.notice(o.keyNode("skipDependencies"), join(path, "skipDependencies"), "not acted on here: it can only make the resolver carry fewer images, never miss one the file asks for")
	}
	if o.has("targetCatalogSourceTemplate") {
		o.str("targetCatalogSourceTemplate")
		p.notice(o.keyNode("targetCatalogSourceTemplate"), join(path, "targetCatalogSourceTemplate"), "ignored: bundle writes no CatalogSource")
	}
	if o.has("targetName") {
		p.errorf(o.keyNode("targetName"), join(path, "targetName"), "an oc-mirror v1 key that %s does not accept: use targetCatalog", APIVersionOCMirror)
	}
	if o.has("headsOnly") {
		p.errorf(o.keyNode("headsOnly"), join(path, "headsOnly"), "an oc-mirror v1 key that %s does not accept: headsOnly: false is full: true, and heads only is the default", APIVersionOCMirror)
	}
	if o.has("originalRef") {
		p.errorf(o.keyNode("originalRef"), join(path, "originalRef"), "an oc-mirror v1 key (written by oc-mirror itself) that %s does not accept: remove it", APIVersionOCMirror)
	}
	p.f.Operators = append(p.f.Operators, op)
}

// pkg reads one operator package.
func (p *parser) pkg(n *yaml.Node, path string) *Package {
	o := p.mapping(n, path, "name", "defaultChannel", "minVersion", "maxVersion", "channels", "bundles", "minBundle")
	if o == nil {
		return nil
	}
	pkg := &Package{
		Name:           o.required("name"),
		DefaultChannel: o.str("defaultChannel"),
		Pos:            p.pos(n),
	}
	pkg.MinVersion, pkg.MaxVersion = p.versions(o)
	seen := map[string]Pos{}
	o.list("channels", func(item *yaml.Node, path string) {
		co := p.mapping(item, path, "name", "minVersion", "maxVersion", "minBundle")
		if co == nil {
			return
		}
		c := PackageChannel{Name: co.required("name"), Pos: p.pos(item)}
		c.MinVersion, c.MaxVersion = p.versions(co)
		if co.has("minBundle") {
			p.refuseMinBundle(co, path)
		}
		if prev, dup := seen[c.Name]; dup {
			p.errorf(item, path, "channel %q given twice (first at %s)", c.Name, prev)
		}
		seen[c.Name] = c.Pos
		if (c.MinVersion != "" || c.MaxVersion != "") && (pkg.MinVersion != "" || pkg.MaxVersion != "") {
			p.errorf(item, path, "versions given both for the package and for its channel %q, which oc-mirror refuses too: give them in one place", c.Name)
		}
		pkg.Channels = append(pkg.Channels, c)
	})
	o.list("bundles", func(item *yaml.Node, path string) {
		bo := p.mapping(item, path, "name")
		if bo == nil {
			return
		}
		if b := bo.required("name"); b != "" {
			pkg.Bundles = append(pkg.Bundles, b)
		}
	})
	if len(pkg.Bundles) > 0 && (len(pkg.Channels) > 0 || pkg.MinVersion != "" || pkg.MaxVersion != "") {
		bn, bpath := o.get("bundles")
		p.errorf(bn, bpath, "bundles cannot be combined with channels or versions, as in oc-mirror: bundles name exactly what is carried")
	}
	if pkg.DefaultChannel != "" && len(pkg.Channels) > 0 {
		if _, found := seen[pkg.DefaultChannel]; !found {
			dn, dpath := o.get("defaultChannel")
			p.errorf(dn, dpath, "%q is not one of the package's channels", pkg.DefaultChannel)
		}
	}
	if o.has("minBundle") {
		p.refuseMinBundle(o, path)
	}
	return pkg
}

func (p *parser) refuseMinBundle(o *object, path string) {
	p.errorf(o.keyNode("minBundle"), join(path, "minBundle"), "an oc-mirror v1 key that %s does not accept (ignoring it would carry only the head): use minVersion, or bundles", APIVersionOCMirror)
}

// additionalImage reads one additional image.
func (p *parser) additionalImage(n *yaml.Node, path string) {
	o := p.mapping(n, path, "name", "targetRepo", "targetTag", "platforms")
	if o == nil {
		return
	}
	img := Image{Name: o.required("name"), TargetRepo: o.str("targetRepo"), TargetTag: o.str("targetTag"), Pos: p.pos(n)}
	if img.Name != "" {
		if _, err := mirror.ParseReference(strings.TrimPrefix(img.Name, "docker://")); err != nil {
			nn, npath := o.get("name")
			p.errorf(nn, npath, "%v", err)
		}
	}
	if img.TargetRepo != "" {
		if err := mirror.CheckRepository(img.TargetRepo); err != nil {
			tn, tpath := o.get("targetRepo")
			p.errorf(tn, tpath, "%v (a repository path, without registry, tag or digest)", err)
		}
	}
	if img.TargetTag != "" && !mirror.ValidTag(img.TargetTag) {
		tn, tpath := o.get("targetTag")
		p.errorf(tn, tpath, "%q is not a valid tag", img.TargetTag)
	}
	img.Platforms = p.platformFilters(o, "platforms")
	p.f.AdditionalImages = append(p.f.AdditionalImages, img)
}

// helm reads mirror.helm: refused when it names any chart.
func (p *parser) helm(n *yaml.Node, path string, key *yaml.Node) {
	if isNull(n) {
		p.notice(key, path, "empty: nothing to do")
		return
	}
	o := p.mapping(n, path, "repositories", "local")
	if o == nil {
		return
	}
	charts := 0
	o.list("repositories", func(item *yaml.Node, path string) { charts++ })
	o.list("local", func(item *yaml.Node, path string) { charts++ })
	if charts > 0 {
		p.errorf(key, path, "refused: bundle does not carry Helm charts or the images they name, so the file would carry less than it asks for; list the charts' images in additionalImages instead")
		return
	}
	p.notice(key, path, "empty: nothing to do")
}

// registryRule reads one ImageSet mirror.registries entry.
func (p *parser) registryRule(n *yaml.Node, path string) {
	o := p.mapping(n, path, "registry", "prefix", "repositories", "tags", "newest", "minimize")
	if o == nil {
		return
	}
	r := RegistryRule{Pos: p.pos(n)}
	r.Registry = o.required("registry")
	if r.Registry != "" {
		if err := mirror.CheckRegistry(r.Registry); err != nil {
			rn, rpath := o.get("registry")
			p.errorf(rn, rpath, "%v", err)
		}
		r.Registry = normalizeHost(r.Registry)
	}
	r.Prefix = strings.Trim(o.str("prefix"), "/")
	if r.Prefix != "" {
		if err := mirror.CheckRepository(r.Prefix); err != nil {
			pn, ppath := o.get("prefix")
			p.errorf(pn, ppath, "%v", err)
		}
	}
	what := fmt.Sprintf("rule for %s at %s", r.Registry, r.Pos)
	r.Repositories = o.regexp("repositories", what)
	r.Tags = o.regexp("tags", what)
	r.Newest = o.integer("newest")
	if r.Newest < 0 {
		nn, npath := o.get("newest")
		p.errorf(nn, npath, "must be 1 or more (the N newest tags), or left out for every tag")
	}
	r.Minimize = o.boolean("minimize")
	p.f.Registries = append(p.f.Registries, r)
}

// normalizeHost spells a registry host as image references do.
func normalizeHost(h string) string {
	h = strings.ToLower(h)
	if h == "index.docker.io" || h == "registry-1.docker.io" {
		return "docker.io"
	}
	return h
}
