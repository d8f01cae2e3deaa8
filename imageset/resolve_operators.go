package imageset

import (
	"fmt"
	"strings"

	"github.com/airgap-bundle/bundle/catalog"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// operators wants, for each catalog of the file, the bundle image and
// every related image of each bundle its filter keeps, and a filtered
// catalog image built on the original, holding only those bundles (and,
// when asked, the original catalog by digest).
func (r *resolver) operators() error {
	for _, op := range r.f.Operators {
		if err := r.operator(op); err != nil {
			return fmt.Errorf("%s: catalog %s: %w", op.Pos, op.Catalog, err)
		}
	}
	return nil
}

func (r *resolver) operator(op Operator) error {
	if len(op.Platforms) > 0 {
		r.o.Notice(fmt.Sprintf("%s: platforms of catalog %s are not applied to it alone: platforms apply to the whole pack (mirror.platforms)", op.Pos, op.Catalog))
	}
	if strings.HasPrefix(op.Catalog, "oci:") {
		// oc-mirror reads catalogs from OCI layouts on disk; the filtered
		// catalog would have no registry name to go to.
		return fmt.Errorf("catalogs from OCI layouts are not read: push the catalog into a registry and name it there")
	}
	name, err := mirror.ParseReference(strings.TrimPrefix(op.Catalog, "docker://"))
	if err != nil {
		return err
	}
	regs, err := r.registry()
	if err != nil {
		return err
	}
	repo, err := regs.Repository(r.ctx, name.Registry, name.Repository)
	if err != nil {
		return err
	}
	ref := name.Tag
	if name.Digest != "" {
		ref = name.Digest.String()
	}
	root, err := repo.Resolve(r.ctx, ref)
	if err != nil {
		return err
	}
	cat, err := catalog.Read(r.ctx, repo, root)
	if err != nil {
		return err
	}
	sel, err := cat.Filter(catalogFilter(op))
	if err != nil {
		return err
	}
	for _, im := range sel.Images() {
		n, err := mirror.ParseReference(im.Image)
		if err != nil {
			return fmt.Errorf("package %s, bundle %s: image %q: %w", im.Bundle.Package, im.Bundle.Bundle, im.Image, err)
		}
		r.add(n, format.Selection{By: format.SelectedByOperator, Rule: op.Pos.String(), Catalog: op.Catalog,
			Package: im.Bundle.Package, Channel: strings.Join(im.Bundle.Channels, ","), Bundle: im.Bundle.Bundle})
	}
	built, err := sel.Build(r.ctx, catalog.BuildOptions{})
	if err != nil {
		return err
	}
	r.out.closers = append(r.out.closers, built)
	target := filteredName(name, op, root)
	r.out.Sources = append(r.out.Sources, &builtCatalog{fetcher: built, root: built.Root, name: target,
		sel: format.Selection{By: format.SelectedByCatalog, Rule: op.Pos.String(), Catalog: op.Catalog, Filtered: true}})
	r.o.Notice(fmt.Sprintf("%s: catalog %s filtered to %d packages, %d bundles: %s", op.Pos, op.Catalog, len(sel.Packages()), len(sel.Bundles), target))
	if r.o.KeepOriginalCatalogs {
		orig := mirror.Name{Registry: name.Registry, Repository: name.Repository, Digest: root.Digest}
		r.add(orig, format.Selection{By: format.SelectedByCatalog, Rule: op.Pos.String(), Catalog: op.Catalog})
	}
	return nil
}

// filteredName is where the filtered catalog goes: the original's
// registry, with oc-mirror's targetCatalog (a repository path) and
// targetTag replacing its repository and tag. A catalog named by digest
// alone gets the tag filtered-<first 12 hex digits of its digest> unless
// targetTag gives one: the filtered image has another digest, and a
// CatalogSource is best pointed at a name that stays.
func filteredName(orig mirror.Name, op Operator, root ocispec.Descriptor) mirror.Name {
	n := mirror.Name{Registry: orig.Registry, Repository: orig.Repository, Tag: orig.Tag}
	if op.TargetCatalog != "" {
		n.Repository = strings.Trim(op.TargetCatalog, "/")
	}
	if op.TargetTag != "" {
		n.Tag = op.TargetTag
	}
	if n.Tag == "" {
		n.Tag = "filtered-" + root.Digest.Encoded()[:12]
	}
	return n
}

// catalogFilter is the catalog package's filter for an operators entry.
func catalogFilter(op Operator) catalog.Filter {
	f := catalog.Filter{Full: op.Full}
	for _, p := range op.Packages {
		pf := catalog.PackageFilter{Name: p.Name, DefaultChannel: p.DefaultChannel, MinVersion: p.MinVersion, MaxVersion: p.MaxVersion, Bundles: p.Bundles}
		for _, c := range p.Channels {
			pf.Channels = append(pf.Channels, catalog.ChannelFilter{Name: c.Name, MinVersion: c.MinVersion, MaxVersion: c.MaxVersion})
		}
		f.Packages = append(f.Packages, pf)
	}
	return f
}

var _ oci.Fetcher = (*catalog.Built)(nil)
