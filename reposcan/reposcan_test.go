package reposcan

// Scan against a real docker-registry on 127.0.0.1 (internal/testregistry)
// with nested repositories, a catalog of several pages, a repository
// without tags, and credentials; compared with what skopeo sync copies.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
)

const (
	user     = "alice"
	password = "secret"
)

// fixture is a registry with the test repositories.
type fixture struct {
	reg      *testregistry.Registry
	proxy    *testregistry.Proxy
	regs     *oci.Registries // for reg.Host and proxy.Host, with credentials
	image    digest.Digest   // the manifest every tag names
	untagged digest.Digest   // the manifest of untagged/z, pushed by digest only
}

// repoTags are the repositories and their tags.
var repoTags = map[string][]string{
	"a/b":             {"1.0", "1.1", "1.10", "v1.2", "latest"},
	"a/b/c":           {"2.0.0", "2.1.0", "2.1.0-rc1", "3.0.0"},
	"opensuse/leap":   {"15.4", "15.4.27.11.21", "15.4.27.11.22", "15.5", "15.5.1.2", "15.5.1.3", "latest"},
	"kubic/x":         {"1.2.3", "1.2.3-1", "1.2.3-2", "1.2.4", "v1.3.0"},
	"other/y":         {"0.9", "latest"},
	"openshift/x":     {"1"},
	"openshift/a/b":   {"1"},
	"openshift-foo/x": {"1"},
}

var (
	fixtureOnce sync.Once
	shared      *fixture
)

func writeAuth(t testing.TB, hosts ...string) string {
	t.Helper()
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	p := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// setup starts the registry (catalog pages of 3) and fills it.
func setup(t *testing.T) *fixture {
	t.Helper()
	reg := testregistry.Start(t, testregistry.Options{Users: map[string]string{user: password}, CatalogMaxEntries: 3})
	f := &fixture{reg: reg, proxy: reg.Proxy(t)}
	push := testimages.Registry{Host: reg.Host, Username: user, Password: password}
	img := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"etc/os-release": []byte("ID=test\n")}))
	for repo, tags := range repoTags {
		f.image = push.Push(t, repo, img, tags...).Digest
	}
	other := testimages.NewImage("linux/amd64", map[string]string{"untagged": "yes"}, testimages.Files(map[string][]byte{"z": []byte("z")}))
	f.untagged = push.Push(t, "untagged/z", other).Digest
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeAuth(t, reg.Host, f.proxy.Host), Insecure: []string{reg.Host, f.proxy.Host}})
	if err != nil {
		t.Fatal(err)
	}
	f.regs = regs
	return f
}

// show renders matches as repo:tag or repo@digest, in order.
func show(ms []Match) string {
	var out []string
	for _, m := range ms {
		if m.Digest != "" {
			out = append(out, m.Repository+"@"+string(m.Digest))
		} else {
			out = append(out, m.Repository+":"+m.Tag)
		}
	}
	return strings.Join(out, " ")
}

func all(repo string) string {
	var out []string
	tags := append([]string(nil), repoTags[repo]...)
	sort.Strings(tags)
	for _, t := range tags {
		out = append(out, repo+":"+t)
	}
	return strings.Join(out, " ")
}

func TestScan(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	host := f.reg.Host
	re := regexp.MustCompile

	cases := []struct {
		name    string
		rule    Rule
		want    string
		notices []string
	}{
		{"everything", Rule{},
			strings.Join([]string{all("a/b"), all("a/b/c"), all("kubic/x"), all("openshift-foo/x"), all("openshift/a/b"), all("openshift/x"), all("opensuse/leap"), all("other/y")}, " "),
			[]string{host + "/untagged/z has no tags"}},
		{"prefix by components", Rule{Prefix: "openshift"}, "openshift/a/b:1 openshift/x:1", nil},
		{"prefix with slashes", Rule{Prefix: "/openshift/"}, "openshift/a/b:1 openshift/x:1", nil},
		{"nested prefix", Rule{Prefix: "a/b"}, all("a/b/c"), nil},
		{"repository regex as mirror-registry's example", Rule{Repositories: re(`(^kubic|^opensuse/([^/]+)$)`)}, all("kubic/x") + " " + all("opensuse/leap"), nil},
		{"prefix then regex", Rule{Prefix: "a", Repositories: re(`/c$`)}, all("a/b/c"), nil},
		{"unanchored regex", Rule{Repositories: re(`/b`)}, all("a/b") + " " + all("a/b/c") + " " + all("openshift/a/b"), nil},
		{"tags regex", Rule{Repository: "a/b", Tags: re(`^1\.`)}, "a/b:1.0 a/b:1.1 a/b:1.10", nil},
		{"tags regex unanchored, over the catalog", Rule{Prefix: "a", Tags: re(`rc`)}, "a/b/c:2.1.0-rc1",
			[]string{host + "/a/b: none of its 5 tags is selected"}},
		{"semver accepts v and partial versions", Rule{Repository: "a/b", Semver: ">= 1.1"}, "a/b:1.1 a/b:1.10 a/b:v1.2", nil},
		{"semver leaves pre-releases out", Rule{Repository: "a/b/c", Semver: ">= 2.1.0"}, "a/b/c:2.1.0 a/b/c:3.0.0", nil},
		{"semver names a pre-release", Rule{Repository: "a/b/c", Semver: ">= 2.1.0-0"}, "a/b/c:2.1.0 a/b/c:2.1.0-rc1 a/b/c:3.0.0", nil},
		{"semver: a dash is a pre-release", Rule{Repository: "kubic/x", Semver: "~1.2"}, "kubic/x:1.2.3 kubic/x:1.2.4", nil},
		{"semver skips tags of more than three numbers", Rule{Repository: "opensuse/leap", Semver: ">= 15.4"}, "opensuse/leap:15.4 opensuse/leap:15.5", nil},
		{"semver and a tags regex", Rule{Prefix: "a", Tags: re(`^v`), Semver: "1.x"}, "a/b:v1.2", []string{host + "/a/b/c: none of its 4 tags is selected"}},
		{"newest", Rule{Repository: "kubic/x", Newest: 2}, "kubic/x:1.2.4 kubic/x:v1.3.0", nil},
		{"newest: a dash is a revision", Rule{Repository: "kubic/x", Newest: 3}, "kubic/x:1.2.3-2 kubic/x:1.2.4 kubic/x:v1.3.0", nil},
		{"newest leaves non-versions out", Rule{Repository: "other/y", Newest: 5}, "other/y:0.9", nil},
		{"newest per repository", Rule{Prefix: "a", Newest: 1}, "a/b:1.10 a/b/c:3.0.0", nil},
		{"minimize", Rule{Repository: "opensuse/leap", Minimize: true},
			"opensuse/leap:15.4 opensuse/leap:15.4.27.11.22 opensuse/leap:15.5 opensuse/leap:15.5.1.3 opensuse/leap:latest", nil},
		{"minimize dashes", Rule{Repository: "kubic/x", Minimize: true}, "kubic/x:1.2.3 kubic/x:1.2.3-2 kubic/x:1.2.4 kubic/x:v1.3.0", nil},
		{"minimize sees every tag, whatever the regex keeps", Rule{Repository: "opensuse/leap", Tags: re(`^15\.4\.`), Minimize: true}, "opensuse/leap:15.4.27.11.22", nil},
		{"minimize then newest", Rule{Repository: "opensuse/leap", Minimize: true, Newest: 2}, "opensuse/leap:15.5 opensuse/leap:15.5.1.3", nil},
		{"references", Rule{Repository: "a/b", References: []string{"latest", "1.0", string(f.image), "1.0"}},
			"a/b@" + string(f.image) + " a/b:1.0 a/b:latest", nil},
		{"reference by digest in a repository without tags", Rule{Repository: "untagged/z", References: []string{string(f.untagged)}},
			"untagged/z@" + string(f.untagged), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.rule
			r.Registry = host
			res, err := Scan(ctx, f.regs, r)
			if err != nil {
				t.Fatalf("Scan(%s): %v", r, err)
			}
			if got := show(res.Matches); got != c.want {
				t.Errorf("Scan(%s) =\n  %s\nwant\n  %s", r, got, c.want)
			}
			if fmt.Sprint(res.Notices) != fmt.Sprint(c.notices) {
				t.Errorf("notices %q, want %q", res.Notices, c.notices)
			}
		})
	}

	// The same through a proxy that pages tag lists by 2 (the catalog is
	// paged by 3 already): every page is read, the selection is the same.
	f.proxy.PageTags(2)
	defer f.proxy.PageTags(0)
	for _, c := range cases {
		r := c.rule
		r.Registry = f.proxy.Host
		res, err := Scan(ctx, f.regs, r)
		if err != nil {
			t.Errorf("paged: Scan(%s): %v", r, err)
			continue
		}
		if got := show(res.Matches); got != c.want {
			t.Errorf("paged: Scan(%s) =\n  %s\nwant\n  %s", r, got, c.want)
		}
	}
	if n := f.proxy.Count(http.MethodGet, regexp.MustCompile(`/tags/list$`), http.StatusOK); n == 0 {
		t.Errorf("no tag list went through the proxy")
	}
	for _, req := range f.proxy.Requests() {
		if strings.HasSuffix(req.Path, "/tags/list") && strings.Contains(req.Query, "last=") {
			return
		}
	}
	t.Errorf("no second page of a tag list was read")
}

func TestScanFailures(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	host := f.reg.Host
	re := regexp.MustCompile

	nothing := []struct {
		name   string
		rule   Rule
		notice string
	}{
		{"repository without tags", Rule{Repository: "untagged/z"}, host + "/untagged/z has no tags, or does not exist"},
		{"repository that does not exist", Rule{Repository: "no/such"}, host + "/no/such has no tags, or does not exist"},
		{"no tag matches", Rule{Repository: "a/b", Tags: re(`^nomatch$`)}, host + "/a/b: none of its 5 tags is selected"},
		{"no repository under the prefix", Rule{Prefix: "open"}, "none of the 9 repositories in the catalog of " + host + " is selected"},
		{"prefix is no repository", Rule{Prefix: "other/y"}, "none of the 9 repositories in the catalog of " + host + " is selected"},
		{"semver over non-versions", Rule{Repository: "other/y", Semver: "> 1"}, host + "/other/y: none of its 2 tags is selected"},
	}
	for _, c := range nothing {
		t.Run(c.name, func(t *testing.T) {
			r := c.rule
			r.Registry = host
			_, err := Scan(ctx, f.regs, r)
			var ne *NothingSelectedError
			if !errors.As(err, &ne) || !errors.Is(err, ErrNothingSelected) {
				t.Fatalf("Scan(%s): %v, want a *NothingSelectedError", r, err)
			}
			if !strings.Contains(err.Error(), r.String()) || !strings.Contains(err.Error(), c.notice) {
				t.Errorf("error %q does not name the rule %q and say %q", err, r, c.notice)
			}
		})
	}

	t.Run("missing references", func(t *testing.T) {
		for _, ref := range []string{"9.9", string(digest.FromString("absent"))} {
			_, err := Scan(ctx, f.regs, Rule{Registry: host, Repository: "a/b", References: []string{"1.0", ref}})
			if !errors.Is(err, oci.ErrNotFound) || !strings.Contains(err.Error(), ref) {
				t.Errorf("reference %s: %v, want ErrNotFound naming it", ref, err)
			}
		}
	})

	invalid := []Rule{
		{},
		{Registry: host + "/a"},
		{Registry: host, Repository: "a/b", Prefix: "a"},
		{Registry: host, Repository: "a/b", Repositories: re(`x`)},
		{Registry: host, References: []string{"1.0"}},
		{Registry: host, Repository: "a/b", References: []string{"1.0"}, Tags: re(`x`)},
		{Registry: host, Repository: "a/b", References: []string{"1.0"}, Minimize: true},
		{Registry: host, Repository: "a/b", References: []string{"sha256:nothex"}},
		{Registry: host, Repository: "a/b", References: []string{"-bad"}},
		{Registry: host, Repository: "a/b", Semver: ">= x.y"},
		{Registry: host, Repository: "a/b", Newest: -1},
	}
	for _, r := range invalid {
		if _, err := Scan(ctx, f.regs, r); err == nil || errors.Is(err, ErrNothingSelected) {
			t.Errorf("Scan(%s): %v, want an invalid-rule error", r, err)
		}
	}

	t.Run("without credentials", func(t *testing.T) {
		anon, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: writeAuth(t), Insecure: []string{host}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Scan(ctx, anon, Rule{Registry: host, Prefix: "a"})
		var ae *oci.AuthError
		if !errors.As(err, &ae) {
			t.Errorf("Scan without credentials: %v (%T), want an *oci.AuthError", err, err)
		}
	})

	t.Run("tags refused in one repository", func(t *testing.T) {
		// The catalog lists kubic/x, whose tags the proxy refuses (403, as
		// Quay for a namespace the user may not read): the rule fails,
		// naming it, rather than leaving the repository out silently.
		f.proxy.AllowNamespaces("a", "opensuse", "other", "openshift", "openshift-foo", "untagged")
		defer f.proxy.AllowNamespaces()
		r := Rule{Registry: f.proxy.Host}
		_, err := Scan(ctx, f.regs, r)
		var ae *oci.AuthError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || !strings.Contains(err.Error(), "kubic/x") || !strings.Contains(err.Error(), r.String()) {
			t.Errorf("Scan(%s): %v, want a 403 *oci.AuthError naming kubic/x and the rule", r, err)
		}
	})

	t.Run("closed catalog", func(t *testing.T) {
		for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusOK} {
			f.proxy.CloseCatalog(status)
			r := Rule{Registry: f.proxy.Host, Prefix: "a"}
			_, err := Scan(ctx, f.regs, r)
			var ce *oci.CatalogClosedError
			if !errors.As(err, &ce) || ce.Status != status || ce.Registry != f.proxy.Host {
				t.Errorf("closed catalog (%d): %v (%T), want an *oci.CatalogClosedError", status, err, err)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, r.String()) || !strings.Contains(msg, "named one by one") {
				t.Errorf("closed catalog (%d): %q", status, msg)
			}
			// A repository named by path still works.
			res, err := Scan(ctx, f.regs, Rule{Registry: f.proxy.Host, Repository: "a/b", Tags: re(`^1\.0$`)})
			if err != nil || show(res.Matches) != "a/b:1.0" {
				t.Errorf("closed catalog (%d), repository by path: %v %v", status, res, err)
			}
		}
		f.proxy.CloseCatalog(0)
	})
}
