// Package location parses the text that says where images are and where
// they go, so that one string means the same thing wherever it is given
// (pack sources, image lists, unpack and inventory destinations, inventory
// files):
//
//	oci:PATH                     an OCI image layout: every tagged entry, or the layout itself
//	oci:PATH:TAG                 the entry with ref name TAG in that layout
//	oci:PATH@sha256:HEX          the entry with that digest, tagged or not (sources only)
//	docker://REFERENCE           an image in a registry: [REGISTRY/]REPOSITORY[:TAG][@DIGEST]
//	docker://HOST[:PORT]/[PATH/]* every repository of a registry, or under PATH, with every tag (sources only)
//	docker://REPOSITORY:*        every tag of a repository (sources only)
//	docker://HOST[:PORT][/PREFIX] a mirror registry and a repository prefix in it (destinations only)
//
// As in containers/image, a location is TRANSPORT:REFERENCE and the
// transport alone decides how the rest is read. Unlike there, the docker
// transport is read two ways: docker://quay.io/ns/app is an image where
// images come from (Parse) and a registry with the prefix ns/app where
// images go (ParseDestination). The text cannot tell them apart, so the
// caller says which, by the function it calls.
//
// How oci: splits PATH from TAG: at the first ':', as skopeo does on
// Linux (containers/image oci/internal.SplitPathAndImage). PATH therefore
// never contains ':', and TAG may: oci:/srv/layout:quay.io/ns/app:v1 is the
// ref name quay.io/ns/app:v1 in /srv/layout. A layout in a directory whose
// name has a ':' cannot be named; give it through a symbolic link. The
// digest form is recognized by PATH ending in "@sha256" (or another
// algorithm name) right before the first ':'.
package location

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/airgap-bundle/bundle/mirror"
	"github.com/opencontainers/go-digest"
)

// Transport says how a location is reached.
type Transport string

const (
	// Layout is an OCI image layout on a file system ("oci:").
	Layout Transport = "oci"
	// Registry is a registry spoken to over the distribution API
	// ("docker://").
	Registry Transport = "docker"
)

// The transport prefixes, as users type them.
const (
	layoutPrefix   = string(Layout) + ":"
	registryPrefix = string(Registry) + "://"
)

// The shapes named in errors, one list per role.
const (
	sourceShapes      = "oci:PATH, oci:PATH:TAG, oci:PATH@sha256:HEX, docker://[REGISTRY/]REPOSITORY[:TAG][@DIGEST], docker://REGISTRY/[PATH/]* or docker://[REGISTRY/]REPOSITORY:*"
	destinationShapes = "oci:PATH, oci:PATH:TAG or docker://HOST[:PORT][/PREFIX]"
)

// Location is a parsed location. Which fields are set depends on
// Transport and, for Registry, on whether it was parsed as a source (Image)
// or as a destination (Host and Prefix).
type Location struct {
	Transport Transport

	// Path is the layout's directory (Layout), as given: never empty and
	// never containing ':'.
	Path string
	// Ref is a ref name in the layout (the TAG of oci:PATH:TAG, an
	// org.opencontainers.image.ref.name value); "" for none.
	Ref string
	// Digest picks the layout's index.json entry with that digest
	// (oci:PATH@DIGEST); "" for none. Ref and Digest are never both set.
	Digest digest.Digest

	// Image is an image in a registry (Registry, from Parse or
	// ParseImage), normalized as docker normalizes references: nginx is
	// docker.io/library/nginx:latest.
	Image mirror.Name

	// Host is HOST[:PORT] of a mirror registry (Registry, from
	// ParseDestination), or of the registry a Scope reads.
	Host string
	// Prefix is the repository path under Host that images go below,
	// without leading or trailing "/"; "" for none. With Scope
	// Repositories, the path the repositories are taken under; with Scope
	// Tags, the one repository.
	Prefix string
	// Scope, on a source, says that the location names many images: every
	// repository under Prefix (Repositories) or every tag of one
	// repository (Tags). Both are sources only; the asterisk cannot be
	// part of an image reference, so they are never mistaken for one.
	Scope Scope
}

// Scope is how many images a registry source location names.
type Scope int

const (
	// One image (the zero value).
	One Scope = iota
	// Repositories: every repository under a path, every tag of each
	// (docker://HOST/PATH/*, docker://HOST/*).
	Repositories
	// Tags: every tag of one repository (docker://REPOSITORY:*).
	Tags
)

// Error says why a text is not a location. It names the text and the
// shapes that would have been accepted.
type Error struct {
	// Input is the text that did not parse.
	Input string
	// Expected lists the accepted shapes.
	Expected string
	// Err is what is wrong with Input.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("location %q: %v; expected %s", e.Input, e.Err, e.Expected)
}

func (e *Error) Unwrap() error { return e.Err }

// Parse parses a place images come from: oci:PATH, oci:PATH:TAG,
// oci:PATH@sha256:HEX, or docker://REFERENCE. A text without transport is
// an error: a bare "nginx" might be a directory.
func Parse(s string) (Location, error) {
	l, err := parse(s, false)
	if err != nil {
		return Location{}, &Error{Input: s, Expected: sourceShapes, Err: err}
	}
	return l, nil
}

// ParseImage parses a line of an image list: as Parse, except that text
// without a transport is an image reference, read as docker://REFERENCE.
// Only "docker://" marks the transport here: "docker:24-dind" is the image
// named docker, tag 24-dind.
func ParseImage(s string) (Location, error) {
	if !strings.HasPrefix(s, layoutPrefix) && !strings.HasPrefix(s, registryPrefix) {
		l, err := parseImage(s)
		if err != nil {
			return Location{}, &Error{Input: s, Expected: "[REGISTRY/]REPOSITORY[:TAG][@DIGEST] or " + sourceShapes, Err: err}
		}
		return l, nil
	}
	return Parse(s)
}

// ParseDestination parses a place images go to: oci:PATH, oci:PATH:TAG
// (the layout, and the ref name to give the one image written) or
// docker://HOST[:PORT][/PREFIX] (a mirror registry; images keep their own
// names below PREFIX). One trailing "/" is ignored, as users often type
// it. A digest is refused: it names content already somewhere, and cannot
// say where new content goes.
func ParseDestination(s string) (Location, error) {
	l, err := parse(s, true)
	if err != nil {
		return Location{}, &Error{Input: s, Expected: destinationShapes, Err: err}
	}
	return l, nil
}

// HasTransport reports whether s begins with a transport name and ':', for
// callers that also take a plain directory path: such text is a location
// (and must parse as one), any other text is a path.
func HasTransport(s string) bool {
	return strings.HasPrefix(s, layoutPrefix) || strings.HasPrefix(s, string(Registry)+":")
}

func parse(s string, destination bool) (Location, error) {
	if rest, ok := strings.CutPrefix(s, layoutPrefix); ok {
		l, err := parseLayout(rest)
		if err == nil && destination && l.Digest != "" {
			return Location{}, errors.New("a digest picks content already in a layout; a destination is a layout path, with a tag to name the image written")
		}
		return l, err
	}
	if rest, ok := strings.CutPrefix(s, registryPrefix); ok {
		if destination {
			return parseMirror(rest)
		}
		return parseSource(rest)
	}
	if strings.HasPrefix(s, string(Registry)+":") {
		return Location{}, errors.New(`the docker transport is written docker:// (two slashes)`)
	}
	if s == "" {
		return Location{}, errors.New("empty")
	}
	if t, _, ok := strings.Cut(s, ":"); ok && slices.Contains(otherTransports, t) {
		return Location{}, fmt.Errorf("transport %q is not supported", t)
	}
	return Location{}, errors.New("no transport (oci: or docker://)")
}

// otherTransports are the transports of containers/image (skopeo) that
// this tool does not speak, named so that they get a better message than
// "no transport".
var otherTransports = []string{"containers-storage", "dir", "docker-archive", "docker-daemon", "oci-archive", "ostree", "sif", "tarball"}

// refNameRE is the grammar of org.opencontainers.image.ref.name (OCI image
// spec, annotations): "/"-separated components, each alphanumeric runs
// joined by one of - . _ : @ + or by "--".
var refNameRE = regexp.MustCompile(`^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$`)

// digestAlgorithms are the algorithm names that, right after an "@" at the
// end of PATH, make oci:PATH@ALG:HEX the digest form. Only sha256 is
// accepted afterwards; the others are known so that they get that message
// instead of being read as a directory named "x@sha512" and a tag.
var digestAlgorithms = []string{"sha256", "sha384", "sha512"}

// parseLayout parses what follows "oci:".
func parseLayout(rest string) (Location, error) {
	l := Location{Transport: Layout}
	path, ref, hasRef := strings.Cut(rest, ":")
	if at := strings.LastIndexByte(path, '@'); hasRef && at >= 0 && slices.Contains(digestAlgorithms, path[at+1:]) {
		d, err := mirror.ParseDigest(path[at+1:] + ":" + ref)
		if err != nil {
			return Location{}, err
		}
		path, ref, hasRef, l.Digest = path[:at], "", false, d
	}
	if path == "" {
		return Location{}, errors.New("no layout path after oci:")
	}
	l.Path = path
	if hasRef {
		if ref == "" {
			return Location{}, errors.New("empty tag after the path's ':'")
		}
		if !refNameRE.MatchString(ref) {
			return Location{}, fmt.Errorf("tag %q is not a valid ref name: letters and digits joined by one of - . _ : @ + or a doubled -, in components separated by /", ref)
		}
		l.Ref = ref
	}
	return l, nil
}

// parseImage parses an image reference (what follows "docker://").
func parseImage(ref string) (Location, error) {
	n, err := mirror.ParseReference(ref)
	if err != nil {
		return Location{}, err
	}
	return Location{Transport: Registry, Image: n}, nil
}

// parseSource parses what follows "docker://" in a source: an image
// reference, or one of the scopes.
func parseSource(rest string) (Location, error) {
	if path, ok := strings.CutSuffix(rest, "/*"); ok {
		host, prefix, _ := strings.Cut(path, "/")
		if !looksLikeHost(host) {
			return Location{}, fmt.Errorf("%q is not a registry host: write docker://HOST[:PORT]/[PATH/]* to take every repository of a registry (or under PATH)", host)
		}
		l, err := parseMirror(path)
		if err != nil {
			return Location{}, err
		}
		l.Prefix = prefix
		l.Scope = Repositories
		return l, nil
	}
	if repo, ok := strings.CutSuffix(rest, ":*"); ok {
		n, err := mirror.ParseReference(repo)
		if err != nil {
			return Location{}, err
		}
		if n.Digest != "" || strings.Contains(strings.TrimPrefix(repo, n.Registry), ":") {
			return Location{}, fmt.Errorf("%q: write REPOSITORY:* without a tag or digest to take every tag of a repository", rest)
		}
		return Location{Transport: Registry, Host: n.Registry, Prefix: n.Repository, Scope: Tags}, nil
	}
	if strings.Contains(rest, "*") {
		return Location{}, errors.New("'*' is only read at the end: HOST/PATH/* (every repository under PATH) or REPOSITORY:* (every tag)")
	}
	if !strings.ContainsAny(rest, "/@") {
		// docker would read quay.io or 127.0.0.1:5000 as an image of
		// Docker Hub's library (docker.io/library/127.0.0.1, tag 5000);
		// none of its names has a '.'.
		if name, _, _ := strings.Cut(rest, ":"); strings.Contains(name, ".") || name == "localhost" {
			return Location{}, fmt.Errorf("%q names a registry, not an image: give docker://%s/REPOSITORY[:TAG], or docker://%s/* for every repository", rest, rest, rest)
		}
	}
	return parseImage(rest)
}

// looksLikeHost is docker's rule for the first component of a name being
// a registry host: it has a '.' or a ':' or is localhost.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// parseMirror parses HOST[:PORT][/PREFIX] (what follows "docker://" in a
// destination).
func parseMirror(rest string) (Location, error) {
	rest = strings.TrimSuffix(rest, "/")
	host, prefix, _ := strings.Cut(rest, "/")
	if host == "" {
		return Location{}, errors.New("no registry host after docker://")
	}
	if err := mirror.CheckRegistry(host); err != nil {
		return Location{}, err
	}
	if prefix != "" {
		if strings.ContainsAny(prefix, ":@") {
			return Location{}, fmt.Errorf("prefix %q has a tag or digest: a destination is a registry and a repository prefix, and images keep their own names and tags below it", prefix)
		}
		if err := mirror.CheckRepository(prefix); err != nil {
			return Location{}, fmt.Errorf("prefix: %w", err)
		}
	}
	return Location{Transport: Registry, Host: host, Prefix: prefix}, nil
}

// String returns the location as users write it; Parse (for sources) or
// ParseDestination (for destinations) of the result gives l back. A
// registry image prints normalized (docker://docker.io/library/nginx:latest).
// The zero Location prints as "".
func (l Location) String() string {
	switch l.Transport {
	case Layout:
		switch {
		case l.Digest != "":
			return layoutPrefix + l.Path + "@" + string(l.Digest)
		case l.Ref != "":
			return layoutPrefix + l.Path + ":" + l.Ref
		}
		return layoutPrefix + l.Path
	case Registry:
		switch l.Scope {
		case Repositories:
			if l.Prefix != "" {
				return registryPrefix + l.Host + "/" + l.Prefix + "/*"
			}
			return registryPrefix + l.Host + "/*"
		case Tags:
			return registryPrefix + l.Host + "/" + l.Prefix + ":*"
		}
		if l.Host != "" {
			if l.Prefix != "" {
				return registryPrefix + l.Host + "/" + l.Prefix
			}
			return registryPrefix + l.Host
		}
		return registryPrefix + l.Image.String()
	}
	return ""
}

// Mapping returns where images go in the mirror registry of a destination
// (Host and Prefix), with the other settings left to the caller.
func (l Location) Mapping() mirror.Mapping {
	return mirror.Mapping{Mirror: l.Host, Prefix: l.Prefix}
}

// Hostname returns the host of HOST[:PORT], without the port.
func Hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// InsecureHost reports whether host (HOST[:PORT], as a location names a
// registry) is one of the hosts listed as insecure: those spoken to over
// plain HTTP, or over TLS without certificate checks. A listed HOST covers
// every port of HOST, as with docker's and podman's insecure registries; a
// listed HOST:PORT covers that port only.
func InsecureHost(listed []string, host string) bool {
	bare := Hostname(host)
	for _, h := range listed {
		if h == host || h == bare {
			return true
		}
	}
	return false
}
