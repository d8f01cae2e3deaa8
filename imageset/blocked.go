package imageset

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/airgap-bundle/bundle/mirror"
)

// Blocked is one blockedImages entry. See the package comment for how a
// name is read.
type Blocked struct {
	// Name is the value as written.
	Name string
	// Pattern is the regular expression when Name is one (/re/ or ^re),
	// nil when Name is an image reference.
	Pattern *regexp.Regexp
	// Reference is the normalized image reference when Name is one,
	// without the ":latest" normalizing would add: a reference with
	// neither tag nor digest blocks its whole repository.
	Reference string
	Pos       Pos

	ref  mirror.Name // the parsed reference
	repo bool        // ref had neither tag nor digest: the whole repository
}

// Matches reports whether b blocks the image ref, a reference as docker
// reads it (nginx is docker.io/library/nginx:latest; a "docker://" prefix
// is allowed). A pattern is matched against the normalized reference, or
// against ref as given when ref does not parse; a reference never matches
// a ref that does not parse.
func (b Blocked) Matches(ref string) bool {
	ref = strings.TrimPrefix(ref, "docker://")
	n, err := mirror.ParseReference(ref)
	if b.Pattern != nil {
		if err != nil {
			return b.Pattern.MatchString(ref)
		}
		return b.Pattern.MatchString(n.String())
	}
	if err != nil || b.ref.Repository == "" {
		return false
	}
	if n.Registry != b.ref.Registry || n.Repository != b.ref.Repository {
		return false
	}
	switch {
	case b.repo:
		return true
	case b.ref.Digest != "":
		return n.Digest == b.ref.Digest
	default:
		return n.Tag == b.ref.Tag
	}
}

// parseBlocked reads a blockedImages name; the error says what is wrong.
func parseBlocked(s string) (Blocked, string) {
	b := Blocked{Name: s}
	expr := ""
	switch {
	case len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/"):
		expr = s[1 : len(s)-1]
		if expr == "" {
			return b, "an empty regular expression would block every image"
		}
	case strings.HasPrefix(s, "^"):
		expr = s
	}
	if expr != "" {
		re, err := regexp.Compile(expr)
		if err != nil {
			return b, "bad regular expression " + quote(expr) + ": " + err.Error()
		}
		b.Pattern = re
		return b, ""
	}
	ref := strings.TrimPrefix(s, "docker://")
	n, err := mirror.ParseReference(ref)
	if err != nil {
		return b, err.Error() + "; to give a regular expression, write it between slashes (/…/) or start it with ^"
	}
	b.repo = !hasTagOrDigest(ref)
	if b.repo {
		n.Tag = ""
	}
	b.ref = n
	b.Reference = n.String()
	return b, ""
}

// hasTagOrDigest says whether a reference names a tag or a digest.
func hasTagOrDigest(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	return strings.Contains(ref[strings.LastIndexByte(ref, '/')+1:], ":")
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// blocked reads one blockedImages entry.
func (p *parser) blocked(n *yaml.Node, path string) {
	o := p.mapping(n, path, "name")
	if o == nil {
		return
	}
	name := o.required("name")
	if name == "" {
		return
	}
	b, problem := parseBlocked(name)
	nn, npath := o.get("name")
	if problem != "" {
		p.errorf(nn, npath, "%s", problem)
		return
	}
	b.Pos = p.pos(n)
	if p.f.Kind == KindOCMirror && b.Pattern == nil {
		what := "the repository " + b.Reference
		if !b.repo {
			what = "the image " + b.Reference + " only"
		}
		p.notice(nn, npath, "%s is read as an image reference and blocks %s; oc-mirror matches it as an unanchored regular expression, which may block more: write /%s/ for that", quote(name), what, regexp.QuoteMeta(name))
	}
	p.f.BlockedImages = append(p.f.BlockedImages, b)
}
