package imageset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options control Resolve.
type Options struct {
	// Registries gives the registry client (credentials, CAs), asked for
	// once, when the first registry is needed.
	Registries func() (*oci.Registries, error)
	// NoReferrers leaves out signatures and referrers of registry images.
	NoReferrers bool
	// UpdateURL is the update service that resolves release channels when
	// the environment sets none (UPDATE_URL_OVERRIDE, as oc-mirror reads
	// it, wins); "" is the public OpenShift one.
	UpdateURL string
	// HTTPClient speaks to the update service; nil is http.DefaultClient.
	HTTPClient *http.Client
	// KeepOriginalCatalogs carries each operator catalog image as it is,
	// besides the filtered one.
	KeepOriginalCatalogs bool
	// Notice is told what the user should know: keys read and not acted
	// on, repositories without tags, images blocked.
	Notice func(string)
}

// Resolved is what to pack: the sources, each knowing why it travels, and
// the platforms the set file keeps. Close it after packing: filtered
// catalogs keep their new layers in temporary files.
type Resolved struct {
	Sources   []bundle.Source
	Platforms []ocispec.Platform
	closers   []io.Closer
}

// Close releases what the sources hold (layouts, built catalogs).
func (r *Resolved) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c.Close())
	}
	for _, s := range r.Sources {
		if c, ok := s.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// wanted is one registry image to carry and every reason it was chosen.
type wanted struct {
	name mirror.Name
	sels []format.Selection
}

// resolver is Resolve's state.
type resolver struct {
	ctx     context.Context
	o       Options
	f       *File
	regs    *oci.Registries
	want    map[string]*wanted // by normalized reference
	order   []string           // references in the order first wanted
	out     *Resolved
	blocked []string // references left out, for the notice
}

// Resolve turns an image set file (nil for none) and sources named
// directly into the sources to pack: registry rules and scopes are listed
// from their registries, releases from the update service and their
// image-references, operators from their catalogs (with a filtered catalog
// image built for each); blocked images are then left out of everything.
// Every source records what selected it (SPEC 6.7). Only manifests and
// catalog and release metadata are read.
func Resolve(ctx context.Context, f *File, located []Located, o Options) (*Resolved, error) {
	if o.Notice == nil {
		o.Notice = func(string) {}
	}
	if f == nil {
		f = &File{}
	}
	r := &resolver{ctx: ctx, o: o, f: f, want: map[string]*wanted{}, out: &Resolved{}}
	ok := false
	defer func() {
		if !ok {
			r.out.Close()
		}
	}()
	for _, n := range f.Notices {
		o.Notice(n)
	}
	for _, p := range f.Platforms {
		pl, err := oci.ParsePlatform(p)
		if err != nil {
			return nil, fmt.Errorf("%s: platforms: %w", f.Path, err)
		}
		r.out.Platforms = append(r.out.Platforms, pl)
	}
	for _, l := range located {
		if err := r.located(l); err != nil {
			return nil, err
		}
	}
	for _, im := range f.AdditionalImages {
		n, err := im.Reference()
		if err != nil {
			return nil, fmt.Errorf("%s: additionalImages: %w", im.Pos, err)
		}
		if im.TargetRepo != "" || im.TargetTag != "" {
			// A bundle names each image as it was at its source; the
			// mirror side maps names by prefix (unpack's mapping rules).
			o.Notice(fmt.Sprintf("%s: targetRepo/targetTag of %s are not applied: the image keeps its name; map names at the mirror instead", im.Pos, im.Name))
		}
		if len(im.Platforms) > 0 {
			o.Notice(fmt.Sprintf("%s: platforms of %s are not applied to it alone: platforms apply to the whole pack (mirror.platforms)", im.Pos, im.Name))
		}
		r.add(n, format.Selection{By: format.SelectedByAdditional, Rule: im.Pos.String()})
	}
	if err := r.registries(); err != nil {
		return nil, err
	}
	if err := r.releases(); err != nil {
		return nil, err
	}
	if err := r.operators(); err != nil {
		return nil, err
	}
	if err := r.sources(); err != nil {
		return nil, err
	}
	if len(r.blocked) > 0 {
		o.Notice(fmt.Sprintf("left out %d blocked images: %s", len(r.blocked), strings.Join(r.blocked, ", ")))
	}
	if len(r.out.Sources) == 0 {
		return nil, errors.New("nothing selected: every image chosen is blocked, or nothing was chosen")
	}
	ok = true
	return r.out, nil
}

// registry returns the registry client, made on first use.
func (r *resolver) registry() (*oci.Registries, error) {
	if r.regs != nil {
		return r.regs, nil
	}
	if r.o.Registries == nil {
		return nil, errors.New("no registry access configured")
	}
	regs, err := r.o.Registries()
	if err != nil {
		return nil, err
	}
	r.regs = regs
	return regs, nil
}

// located takes a source named directly: a layout is opened now, a
// registry image wanted, a scope listed from its registry.
func (r *resolver) located(l Located) error {
	switch {
	case l.Location.Transport == location.Layout:
		src, err := bundle.OpenLocation(r.ctx, nil, l.Location, r.o.NoReferrers)
		if err != nil && l.Selection.Rule != "" {
			// A line of a list (or of an image set file): named, so the
			// user finds which of many.
			return fmt.Errorf("%s: %w", l.Selection.Rule, err)
		}
		if err != nil {
			return err
		}
		ls := src.(*bundle.LayoutSource)
		if l.Selection.By != "" {
			ls.Selected = []format.Selection{l.Selection}
		}
		r.out.Sources = append(r.out.Sources, ls)
	case l.Location.Scope != location.One:
		return r.scope(l)
	default:
		r.add(l.Location.Image, l.Selection)
	}
	return nil
}

// add wants the registry image n for reason sel, unless it is blocked.
func (r *resolver) add(n mirror.Name, sel format.Selection) {
	ref := n.String()
	for _, b := range r.f.BlockedImages {
		if b.Matches(ref) {
			r.blocked = append(r.blocked, ref+" ("+b.Pos.String()+")")
			return
		}
	}
	w := r.want[ref]
	if w == nil {
		w = &wanted{name: n}
		r.want[ref] = w
		r.order = append(r.order, ref)
	}
	if sel.By != "" {
		w.sels = append(w.sels, sel)
	}
}

// sources opens a registry source for every image wanted, in a stable
// order (by reference), so that the same selection packs the same way.
func (r *resolver) sources() error {
	refs := slices.Clone(r.order)
	slices.SortFunc(refs, func(a, b string) int { return cmp.Compare(a, b) })
	if len(refs) == 0 {
		return nil
	}
	regs, err := r.registry()
	if err != nil {
		return err
	}
	for _, ref := range refs {
		w := r.want[ref]
		src, err := bundle.OpenRegistryImage(r.ctx, regs, w.name, r.o.NoReferrers)
		if err != nil {
			return err
		}
		src.Selected = w.sels
		r.out.Sources = append(r.out.Sources, src)
	}
	return nil
}
