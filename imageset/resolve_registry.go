package imageset

import (
	"fmt"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/location"
	"github.com/airgap-bundle/bundle/mirror"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/reposcan"
)

// registries wants what each registry rule of the file selects.
func (r *resolver) registries() error {
	for _, rule := range r.f.Registries {
		rs := reposcan.Rule{Registry: rule.Registry, Prefix: rule.Prefix, Repository: rule.Repository, Repositories: rule.Repositories,
			Tags: rule.Tags, References: rule.References, Semver: rule.Semver, Newest: rule.Newest, Minimize: rule.Minimize}
		if err := r.scan(rs, format.Selection{By: format.SelectedByRegistry, Rule: rule.Pos.String()}); err != nil {
			return fmt.Errorf("%s: %w", rule.Pos, err)
		}
	}
	return nil
}

// scope wants what a scope named directly selects: every repository under
// a path, or every tag of a repository.
func (r *resolver) scope(l Located) error {
	rs := reposcan.Rule{Registry: l.Location.Host}
	if l.Location.Scope == location.Tags {
		rs.Repository = l.Location.Prefix
	} else {
		rs.Prefix = l.Location.Prefix
	}
	sel := l.Selection
	if sel.Rule == "" {
		sel.Rule = l.Location.String()
	}
	if err := r.scan(rs, sel); err != nil {
		return fmt.Errorf("%s: %w", l.Location, err)
	}
	return nil
}

// scan lists what rule selects and wants each image for reason sel.
func (r *resolver) scan(rule reposcan.Rule, sel format.Selection) error {
	regs, err := r.registry()
	if err != nil {
		return err
	}
	res, err := reposcan.Scan(r.ctx, regs, rule)
	if err != nil {
		return err
	}
	for _, n := range res.Notices {
		r.o.Notice(n)
	}
	for _, m := range res.Matches {
		n := mirror.Name{Registry: rule.Registry, Repository: m.Repository, Tag: m.Tag, Digest: m.Digest}
		r.add(n, sel)
	}
	return nil
}

// HostOptions are the registry settings the file gives per registry (a
// skopeo sync file's tls-verify, cert-dir and credentials), for
// oci.RegistryOptions.Hosts.
func (f *File) HostOptions() map[string]oci.HostOptions {
	var hosts map[string]oci.HostOptions
	for _, rule := range f.Registries {
		if rule.TLSVerify == nil && rule.CertDir == "" && rule.Username == "" {
			continue
		}
		if hosts == nil {
			hosts = map[string]oci.HostOptions{}
		}
		h := hosts[rule.Registry]
		if rule.TLSVerify != nil && !*rule.TLSVerify {
			h.Insecure = true
		}
		if rule.CertDir != "" {
			h.CertDir = rule.CertDir
		}
		if rule.Username != "" {
			h.Username, h.Password = rule.Username, rule.Password
		}
		hosts[rule.Registry] = h
	}
	return hosts
}
