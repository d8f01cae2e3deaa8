package imageset

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/release"
)

// releases wants every release of every channel of the file's platform
// section, with each component: the channel and version range picked from
// the update service, the components from each payload's image-references.
func (r *resolver) releases() error {
	rel := r.f.Releases
	if rel == nil || len(rel.Channels) == 0 {
		return nil
	}
	// graph: true asks for oc-mirror's graph-data image, which is built,
	// not mirrored: the file reader gave a notice that it is not carried,
	// and the releases still are.
	archs := rel.Architectures
	for _, p := range rel.Platforms {
		// oc-mirror's newer spelling: os/architecture.
		_, arch, _ := strings.Cut(p, "/")
		archs = append(archs, arch)
	}
	if len(archs) == 0 {
		archs = []string{"amd64"}
	}
	client := r.o.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	regs, err := r.registry()
	if err != nil {
		return err
	}
	open := func(ctx context.Context, host, path string) (release.Source, error) {
		return regs.Repository(ctx, host, path)
	}
	for _, ch := range rel.Channels {
		sel := release.Selection{Channel: ch.Name, Type: release.Type(strings.ToLower(ch.Type)), MinVersion: ch.MinVersion, MaxVersion: ch.MaxVersion,
			Full: ch.Full, ShortestPath: ch.ShortestPath}
		url := sel.UpdateURL(r.o.UpdateURL)
		for _, arch := range archs {
			graphArch := arch
			if strings.EqualFold(arch, "multi") {
				graphArch = "multi"
			}
			g, err := release.FetchGraph(r.ctx, client, url, ch.Name, graphArch)
			if err != nil {
				return fmt.Errorf("%s: %w", ch.Pos, err)
			}
			nodes, err := g.Select(sel)
			if err != nil {
				return fmt.Errorf("%s: %w", ch.Pos, err)
			}
			rels, err := release.Load(r.ctx, open, ch.Name, nodes, []string{arch})
			if err != nil {
				return fmt.Errorf("%s: %w", ch.Pos, err)
			}
			for _, rl := range rels {
				for _, im := range rl.Images() {
					n, err := mirror.ParseReference(im.Ref)
					if err != nil {
						return fmt.Errorf("%s: release %s: %w", ch.Pos, rl.Version, err)
					}
					r.add(n, format.Selection{By: format.SelectedByRelease, Rule: ch.Pos.String(), Release: rl.Version, Channel: ch.Name, Component: im.Component})
				}
			}
		}
	}
	return nil
}
