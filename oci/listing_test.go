package oci

// The catalog and tag listings against real docker-registry servers on
// 127.0.0.1 (internal/testregistry), paged and closed.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// TestCatalogPages: a catalog of several pages (catalog.maxentries 2) is
// read whole, through the Link headers, with credentials.
func TestCatalogPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t, testregistry.Options{Users: map[string]string{"alice": "secret"}, CatalogMaxEntries: 2})
	p := reg.Proxy(t)
	img := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"f": []byte("x")}))
	push := testimages.Registry{Host: reg.Host, Username: "alice", Password: "secret"}
	want := []string{"a/b", "a/b/c", "kubic/x", "opensuse/leap", "other/y"}
	for _, r := range want {
		push.Push(t, r, img, "1", "2", "3")
	}

	regs, err := NewRegistries(RegistryOptions{AuthFile: writeAuths(t, map[string]string{p.Host: "alice:secret"}), Insecure: []string{p.Host}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := regs.Catalog(ctx, p.Host)
	if err != nil {
		t.Fatalf("Catalog: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Catalog = %v, want %v", got, want)
	}
	if n := p.Count(http.MethodGet, nil, http.StatusOK); n < 3 {
		t.Errorf("%d successful GETs; a catalog of 5 in pages of 2 takes 3", n)
	}
	pages := 0
	for _, r := range p.Requests() {
		if r.Path == "/v2/_catalog" && r.Status == http.StatusOK {
			pages++
			if strings.Contains(r.Query, "n=") && !strings.Contains(r.Query, "last=") {
				t.Errorf("first catalog request sent a page size (%q): docker-registry refuses n above maxentries", r.Query)
			}
		}
	}
	if pages != 3 {
		t.Errorf("%d catalog pages read, want 3\n%v", pages, p.Requests())
	}

	repo, err := regs.Repository(ctx, p.Host, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := sortedTags(ctx, repo)
	if err != nil || fmt.Sprint(tags) != "[1 2 3]" {
		t.Errorf("Tags = %v, %v; want [1 2 3]", tags, err)
	}

	// Tag lists in pages (docker-registry 2.8 ignores n; the proxy pages
	// them as other registries do): every page is read.
	p.PageTags(1)
	defer p.PageTags(0)
	p.Reset()
	repo, err = regs.Repository(ctx, p.Host, "a/b/c")
	if err != nil {
		t.Fatal(err)
	}
	tags, err = sortedTags(ctx, repo)
	if err != nil || fmt.Sprint(tags) != "[1 2 3]" {
		t.Errorf("Tags in pages of 1 = %v, %v; want [1 2 3]", tags, err)
	}
	pages = 0
	for _, r := range p.Requests() {
		if r.Path == "/v2/a/b/c/tags/list" && r.Status == http.StatusOK {
			pages++
		}
	}
	if pages != 3 {
		t.Errorf("%d tag pages read, want 3\n%v", pages, p.Requests())
	}

	// Without credentials: an AuthError (the credentials), not a closed catalog.
	anon, err := NewRegistries(RegistryOptions{AuthFile: writeAuths(t, map[string]string{}), Insecure: []string{p.Host}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = anon.Catalog(ctx, p.Host)
	var ae *AuthError
	var ce *CatalogClosedError
	if !errors.As(err, &ae) || errors.As(err, &ce) {
		t.Errorf("Catalog without credentials: %v (%T), want an *AuthError", err, err)
	}
	// Wrong credentials: also an AuthError.
	bad, err := NewRegistries(RegistryOptions{AuthFile: writeAuths(t, map[string]string{p.Host: "alice:wrong"}), Insecure: []string{p.Host}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Catalog(ctx, p.Host)
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || errors.As(err, &ce) {
		t.Errorf("Catalog with a wrong password: %v (%T), want an *AuthError with status 401", err, err)
	}
}

// TestCatalogClosed: each way registries close their catalog gives a
// *CatalogClosedError naming the registry and the status, and saying that
// repositories must be named one by one; the repositories stay readable.
func TestCatalogClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t, testregistry.Options{Users: map[string]string{"alice": "secret"}})
	p := reg.Proxy(t)
	img := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"f": []byte("x")}))
	testimages.Registry{Host: reg.Host, Username: "alice", Password: "secret"}.Push(t, "ns/app", img, "v1")
	regs, err := NewRegistries(RegistryOptions{AuthFile: writeAuths(t, map[string]string{p.Host: "alice:secret"}), Insecure: []string{p.Host}})
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{401, 403, 404, 405} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			p.CloseCatalog(status)
			defer p.CloseCatalog(0)
			_, err := regs.Catalog(ctx, p.Host)
			var ce *CatalogClosedError
			if !errors.As(err, &ce) || ce.Status != status || ce.Registry != p.Host || !errors.Is(err, ErrCatalogClosed) {
				t.Fatalf("Catalog: %v (%T), want a *CatalogClosedError for %s with status %d", err, err, p.Host, status)
			}
			msg := err.Error()
			for _, s := range []string{p.Host, "does not list its repositories", fmt.Sprintf("HTTP %d", status), "named one by one"} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
			if strings.Contains(msg, "--") {
				t.Errorf("message %q names a command-line flag", msg)
			}
			repo, err := regs.Repository(ctx, p.Host, "ns/app")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Resolve(ctx, "v1"); err != nil {
				t.Errorf("ns/app:v1 with the catalog closed: %v", err)
			}
		})
	}
	// An empty answer is a registry's right: no error from Catalog.
	p.CloseCatalog(http.StatusOK)
	got, err := regs.Catalog(ctx, p.Host)
	if err != nil || len(got) != 0 {
		t.Errorf("Catalog of an empty answer = %v, %v; want none, no error", got, err)
	}
	if msg := (&CatalogClosedError{Registry: "r.example", Status: http.StatusOK}).Error(); !strings.Contains(msg, "named one by one") || !strings.Contains(msg, "r.example") {
		t.Errorf("empty-catalog message %q", msg)
	}
}

// sortedTags lists a repository's tags in byte order.
func sortedTags(ctx context.Context, repo *Repository) ([]string, error) {
	m, err := repo.Tags(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for t := range m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}
