package imageset

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"

	"github.com/airgap-bundle/bundle/mirror"
)

// RegistryRule selects repositories and tags of one registry: an ImageSet
// mirror.registries entry, or one repository of a skopeo sync entry.
type RegistryRule struct {
	// Registry is HOST[:PORT], lowercased; index.docker.io is docker.io.
	Registry string
	// Prefix selects only repositories under this path ("" for all),
	// without leading or trailing "/".
	Prefix string
	// Repository is one repository by exact path (skopeo sync entries);
	// "" for none.
	Repository string
	// Repositories is matched against the repository path without the
	// host; nil for all.
	Repositories *regexp.Regexp
	// Tags is matched against each tag; nil for all.
	Tags *regexp.Regexp
	// References are exact tags or digests (skopeo sync
	// `images: repo: [...]`); empty is every tag.
	References []string
	// Semver is skopeo's images-by-semver constraint, checked at load;
	// tags that are not versions are not selected.
	Semver string
	// Newest keeps the N newest tags by semantic version; 0 for all.
	Newest int
	// Minimize asks for as little as the rule allows (ImageSet).
	Minimize bool
	// TLSVerify is skopeo's tls-verify; nil when not given.
	TLSVerify          *bool
	CertDir            string
	Username, Password string
	Pos                Pos
}

// String describes the rule briefly, naming file:line, for "selected by"
// notes. It never shows the password.
func (r RegistryRule) String() string {
	var b strings.Builder
	b.WriteString(r.Registry)
	if r.Repository != "" {
		b.WriteString("/" + r.Repository)
	} else if r.Prefix != "" {
		b.WriteString("/" + r.Prefix + "/…")
	}
	var parts []string
	if r.Repositories != nil {
		parts = append(parts, "repositories "+r.Repositories.String())
	}
	if len(r.References) > 0 {
		parts = append(parts, strings.Join(r.References, ", "))
	}
	if r.Tags != nil {
		parts = append(parts, "tags "+r.Tags.String())
	}
	if r.Semver != "" {
		parts = append(parts, "semver "+r.Semver)
	}
	if r.Newest > 0 {
		parts = append(parts, "newest "+strconv.Itoa(r.Newest))
	}
	if r.Minimize {
		parts = append(parts, "minimize")
	}
	if len(parts) > 0 {
		b.WriteString(" (" + strings.Join(parts, "; ") + ")")
	}
	b.WriteString(" at " + r.Pos.String())
	return b.String()
}

// isHost is docker's rule for a first path component that names a
// registry.
func isHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// skopeo reads a file without apiVersion and kind: a skopeo sync source
// file when it has that shape.
func (p *parser) skopeo(root *yaml.Node) {
	if len(root.Content) == 0 {
		p.errorf(root, "", "empty mapping: %s", kindsRead)
		return
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := p.resolve(root.Content[i])
		host, _, _ := strings.Cut(k.Value, "/")
		if k.Kind != yaml.ScalarNode || !isHost(host) {
			hint := ""
			if k.Value == "mirror" {
				hint = "; a mirror: file needs apiVersion and kind"
			}
			p.errorf(k, "", "no apiVersion or kind, and %s is not a registry host as skopeo sync files have at the top%s: %s", quote(k.Value), hint, kindsRead)
			return
		}
	}
	p.f.Kind = KindSkopeoSync
	for i := 0; i+1 < len(root.Content); i += 2 {
		if p.tooBig() {
			return
		}
		p.skopeoRegistry(p.resolve(root.Content[i]), root.Content[i+1])
	}
	p.nonEmpty(root)
}

// skopeoRegistry reads one registry entry of a skopeo sync file.
func (p *parser) skopeoRegistry(k, v *yaml.Node) {
	key := k.Value
	o := p.mapping(v, key, "images", "images-by-tag-regex", "images-by-semver", "tls-verify", "cert-dir", "credentials")
	if o == nil {
		return
	}
	host, prefix, _ := strings.Cut(key, "/")
	if err := mirror.CheckRegistry(host); err != nil {
		p.errorf(k, key, "%v", err)
		return
	}
	if prefix != "" {
		if err := mirror.CheckRepository(prefix); err != nil {
			p.errorf(k, key, "%v", err)
			return
		}
	}
	base := RegistryRule{Registry: normalizeHost(host), CertDir: o.str("cert-dir")}
	if tls, given := o.optBool("tls-verify"); given {
		base.TLSVerify = &tls
	}
	if cn, cpath := o.get("credentials"); cn != nil && !isNull(cn) {
		if c := p.mapping(cn, cpath, "username", "password", "identitytoken"); c != nil {
			base.Username, base.Password = c.str("username"), c.str("password")
			if c.has("identitytoken") {
				p.errorf(c.keyNode("identitytoken"), join(cpath, "identitytoken"), "refused: bundle does not log in with identity tokens; give username and password, or log in (bundle reads the containers auth file)")
			}
		}
	}
	count := 0
	repository := func(repoKey *yaml.Node, path string) (string, bool) {
		repo := repoKey.Value
		if prefix != "" {
			repo = prefix + "/" + repo
		}
		if err := mirror.CheckRepository(repo); err != nil || repo == "" {
			if err == nil {
				err = fmt.Errorf("empty repository")
			}
			p.errorf(repoKey, path, "%v", err)
			return "", false
		}
		if base.Registry == "docker.io" && !strings.Contains(repo, "/") {
			repo = "library/" + repo
		}
		return repo, true
	}
	p.pairs(o, "images", func(rk, rv *yaml.Node, path string) {
		repo, ok := repository(rk, path)
		if !ok {
			return
		}
		r := base
		r.Repository, r.Pos = repo, p.pos(rk)
		p.seq(rv, path, func(item *yaml.Node, ipath string) {
			if item.Kind != yaml.ScalarNode || isNull(item) || item.Tag == "!!bool" {
				p.errorf(item, ipath, "expected a tag or digest, found %s", kindName(item))
				return
			}
			ref := item.Value
			if strings.Contains(ref, ":") {
				if _, err := mirror.ParseDigest(ref); err != nil {
					p.errorf(item, ipath, "%q is neither a tag nor a sha256 digest: %v", ref, err)
					return
				}
			} else if !mirror.ValidTag(ref) {
				p.errorf(item, ipath, "%q is not a valid tag", ref)
				return
			}
			r.References = append(r.References, ref)
		})
		p.f.Registries = append(p.f.Registries, r)
		count++
	})
	p.pairs(o, "images-by-tag-regex", func(rk, rv *yaml.Node, path string) {
		repo, ok := repository(rk, path)
		if !ok {
			return
		}
		r := base
		r.Repository, r.Pos = repo, p.pos(rk)
		s, ok := p.scalar(rv, path, "a regular expression")
		if !ok {
			return
		}
		re, err := regexp.Compile(s)
		if err != nil {
			p.errorf(rv, path, "rule for %s/%s: bad regular expression %q: %v", r.Registry, repo, s, err)
			return
		}
		r.Tags = re
		p.f.Registries = append(p.f.Registries, r)
		count++
	})
	p.pairs(o, "images-by-semver", func(rk, rv *yaml.Node, path string) {
		repo, ok := repository(rk, path)
		if !ok {
			return
		}
		r := base
		r.Repository, r.Pos = repo, p.pos(rk)
		s, ok := p.scalar(rv, path, "a semver constraint")
		if !ok {
			return
		}
		if _, err := semver.NewConstraint(s); err != nil {
			p.errorf(rv, path, "rule for %s/%s: bad semver constraint %q: %v", r.Registry, repo, s, err)
			return
		}
		r.Semver = s
		p.f.Registries = append(p.f.Registries, r)
		count++
	})
	if count == 0 && len(p.errs) == 0 {
		p.notice(k, key, "selects no image (no images, images-by-tag-regex or images-by-semver); skopeo skips it too")
	}
}

// scalar reads n as a non-empty string.
func (p *parser) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.Tag == "!!bool" || n.Value == "" {
		p.errorf(n, path, "expected %s, found %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// pairs calls each with every key and value of the mapping at key, whose
// keys are free (repository paths); repeated keys are errors.
func (p *parser) pairs(o *object, key string, each func(k, v *yaml.Node, path string)) {
	n, path := o.get(key)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "expected a mapping of repository to %s, found %s", map[string]string{"images": "tags or digests", "images-by-tag-regex": "regular expression", "images-by-semver": "semver constraint"}[key], kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if p.tooBig() {
			return
		}
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		kpath := path + "." + k.Value
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			p.errorf(k, path, "a repository must be a non-empty string, found %s", kindName(k))
			continue
		}
		if seen[k.Value] {
			p.errorf(k, kpath, "given twice")
			continue
		}
		seen[k.Value] = true
		each(k, v, kpath)
	}
}
