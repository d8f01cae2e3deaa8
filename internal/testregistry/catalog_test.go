package testregistry

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
)

// get fetches url with basic credentials (when user is set) and returns
// the status, the Link header and the body.
func get(t *testing.T, url, user, pass string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Link"), string(b)
}

// TestCatalogMaxEntries checks that catalog.maxentries pages the catalog
// with a Link header, and records what docker-registry 2.8 does with n on
// tags/list.
func TestCatalogMaxEntries(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: records what docker-registry does with catalog paging; TestPageTags keeps paging in -short, skipped by -short")
	}
	r := Start(t, Options{CatalogMaxEntries: 2})
	img := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"a": []byte("a")}))
	reg := testimages.Registry{Host: r.Host}
	for _, repo := range []string{"a", "b", "c", "d", "e"} {
		reg.Push(t, repo, img, "1", "2", "3")
	}

	status, link, body := get(t, r.URL()+"/v2/_catalog", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /v2/_catalog: %d %s", status, body)
	}
	var page struct{ Repositories []string }
	json.Unmarshal([]byte(body), &page)
	if fmt.Sprint(page.Repositories) != "[a b]" || !strings.Contains(link, `/v2/_catalog?last=b&n=2`) || !strings.Contains(link, `rel="next"`) {
		t.Errorf("first page: %v, Link %q; want [a b] and a Link to last=b&n=2", page.Repositories, link)
	}

	// n larger than maxentries is refused, not clamped: clients must not
	// ask for a page size of their own.
	status, _, body = get(t, r.URL()+"/v2/_catalog?n=10", "", "")
	if status != http.StatusBadRequest || !strings.Contains(body, "PAGINATION_NUMBER_INVALID") {
		t.Errorf("GET /v2/_catalog?n=10 with maxentries 2: %d %s, want 400 PAGINATION_NUMBER_INVALID", status, body)
	}

	// tags/list ignores n: every tag in one answer, no Link.
	status, link, body = get(t, r.URL()+"/v2/a/tags/list?n=2", "", "")
	var tags struct{ Tags []string }
	json.Unmarshal([]byte(body), &tags)
	if status != http.StatusOK || len(tags.Tags) != 3 || link != "" {
		t.Errorf("GET /v2/a/tags/list?n=2: %d Link %q %s; want all 3 tags and no Link (2.8 ignores n)", status, link, body)
	}
}

// TestCloseCatalog checks each way CloseCatalog closes the catalog, while
// the rest of the API stays open.
func TestCloseCatalog(t *testing.T) {
	t.Parallel()
	r := Start(t, Options{Users: map[string]string{"u": "p"}})
	p := r.Proxy(t)
	for _, status := range []int{401, 403, 404, 405, 200} {
		p.CloseCatalog(status)
		got, _, body := get(t, "http://"+p.Host+"/v2/_catalog", "u", "p")
		if got != status {
			t.Errorf("CloseCatalog(%d): GET /v2/_catalog answered %d %s", status, got, body)
		}
		if status == 200 && strings.TrimSpace(body) != `{"repositories":[]}` {
			t.Errorf("CloseCatalog(200): body %q", body)
		}
		if got, _, body := get(t, "http://"+p.Host+"/v2/", "u", "p"); got != http.StatusOK {
			t.Errorf("CloseCatalog(%d): GET /v2/ answered %d %s", status, got, body)
		}
	}
	p.CloseCatalog(0)
	if got, _, body := get(t, "http://"+p.Host+"/v2/_catalog", "u", "p"); got != http.StatusOK {
		t.Errorf("CloseCatalog(0): GET /v2/_catalog answered %d %s", got, body)
	}
}

// TestPageTags: the proxy pages tags/list with Link headers, honouring n
// and last, with the client's credentials.
func TestPageTags(t *testing.T) {
	t.Parallel()
	r := Start(t, Options{Users: map[string]string{"u": "p"}})
	p := r.Proxy(t)
	img := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"a": []byte("a")}))
	testimages.Registry{Host: r.Host, Username: "u", Password: "p"}.Push(t, "ns/app", img, "e", "d", "c", "b", "a")
	p.PageTags(2)

	var all []string
	url := "http://" + p.Host + "/v2/ns/app/tags/list"
	for pages := 0; url != ""; pages++ {
		if pages > 5 {
			t.Fatalf("more than 5 pages: %v", all)
		}
		status, link, body := get(t, url, "u", "p")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, status, body)
		}
		var page struct{ Tags []string }
		json.Unmarshal([]byte(body), &page)
		if len(page.Tags) > 2 {
			t.Errorf("page of %d tags, want at most 2", len(page.Tags))
		}
		all = append(all, page.Tags...)
		url = ""
		if link != "" {
			target := strings.TrimPrefix(strings.SplitN(link, ">", 2)[0], "<")
			url = "http://" + p.Host + target
		}
	}
	if fmt.Sprint(all) != "[a b c d e]" {
		t.Errorf("tags over the pages: %v", all)
	}
	// n below the page size is honoured; without credentials the
	// registry's 401 is relayed.
	if _, _, body := get(t, "http://"+p.Host+"/v2/ns/app/tags/list?n=1&last=b", "u", "p"); !strings.Contains(body, `"tags":["c"]`) {
		t.Errorf("n=1&last=b: %s", body)
	}
	if status, _, _ := get(t, "http://"+p.Host+"/v2/ns/app/tags/list", "", ""); status != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", status)
	}
}
