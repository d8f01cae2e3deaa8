package testregistry

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// CollectUntagged deletes from the registry behind the proxy every
// manifest that no tag reaches, as Quay's garbage collection does once the
// temporary tag of a manifest pushed by digest alone has expired; call it
// after a push to see what a Quay mirror keeps. It returns what it
// deleted, as REPOSITORY@DIGEST, sorted.
//
// A manifest is reached, in its repository, when a tag names it or an
// index reached lists it (recursively). A subject does not reach its
// referrers: Quay keeps a referrer only if a tag reaches it, so a
// signature or SBOM pushed by digest alone is collected even while its
// subject is tagged. On this registry (no referrers API) a client keeps
// the sha256-<hex> tag of the referrers tag schema, an index that lists
// the referrers: being tagged, it keeps those it lists, as it would on
// Quay.
//
// The registry's storage is read directly, since the distribution API
// cannot list untagged manifests; the deletions go to the registry's
// own API (DELETE by digest; storage delete is enabled here), not
// through the proxy, so they are not recorded. Blobs are left in place:
// a registry frees them later, and they are no manifest to pull.
func (p *Proxy) CollectUntagged(t testing.TB) []string {
	t.Helper()
	r := p.reg
	if r == nil || r.Dir == "" {
		t.Fatalf("testregistry: CollectUntagged: the proxy has no registry storage to read")
	}
	root := filepath.Join(r.Dir, "docker", "registry", "v2")
	repos, err := storedRepositories(filepath.Join(root, "repositories"))
	if err != nil {
		t.Fatalf("testregistry: CollectUntagged: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	var deleted []string
	for _, repo := range repos {
		dir := filepath.Join(root, "repositories", filepath.FromSlash(repo), "_manifests")
		stored, tagged, err := storedManifests(dir)
		if err != nil {
			t.Fatalf("testregistry: CollectUntagged: repository %s: %v", repo, err)
		}
		reached := map[string]bool{}
		var reach func(d string) error
		reach = func(d string) error {
			if reached[d] {
				return nil
			}
			reached[d] = true
			kids, err := indexChildren(root, d)
			if err != nil {
				return fmt.Errorf("manifest %s: %w", d, err)
			}
			for _, k := range kids {
				if err := reach(k); err != nil {
					return err
				}
			}
			return nil
		}
		for _, d := range tagged {
			if err := reach(d); err != nil {
				t.Fatalf("testregistry: CollectUntagged: repository %s: %v", repo, err)
			}
		}
		for _, d := range stored {
			if reached[d] {
				continue
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, r.URL()+"/v2/"+repo+"/manifests/"+d, nil)
			if err != nil {
				t.Fatalf("testregistry: CollectUntagged: %v", err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("testregistry: CollectUntagged: DELETE %s@%s: %v", repo, d, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("testregistry: CollectUntagged: DELETE %s@%s: %s %s", repo, d, resp.Status, body)
			}
			deleted = append(deleted, repo+"@"+d)
		}
	}
	slices.Sort(deleted)
	return deleted
}

// storedRepositories lists the repositories in the registry's storage
// (directories that hold a _manifests directory), as slash paths.
func storedRepositories(dir string) ([]string, error) {
	var repos []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return fs.SkipAll // nothing pushed yet
			}
			return err
		}
		if e.IsDir() && e.Name() == "_manifests" {
			rel, err := filepath.Rel(dir, filepath.Dir(path))
			if err != nil {
				return err
			}
			repos = append(repos, filepath.ToSlash(rel))
			return fs.SkipDir
		}
		return nil
	})
	return repos, err
}

// storedManifests lists the manifests a repository holds (a revision link
// the registry has not deleted) and the digests its tags name.
func storedManifests(dir string) (stored, tagged []string, err error) {
	revs, err := os.ReadDir(filepath.Join(dir, "revisions", "sha256"))
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	for _, e := range revs {
		// A deleted manifest leaves its directory, without the link.
		if _, err := os.Stat(filepath.Join(dir, "revisions", "sha256", e.Name(), "link")); err == nil {
			stored = append(stored, "sha256:"+e.Name())
		}
	}
	tags, err := os.ReadDir(filepath.Join(dir, "tags"))
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	for _, e := range tags {
		b, err := os.ReadFile(filepath.Join(dir, "tags", e.Name(), "current", "link"))
		if os.IsNotExist(err) {
			continue // a tag deleted
		}
		if err != nil {
			return nil, nil, err
		}
		tagged = append(tagged, strings.TrimSpace(string(b)))
	}
	return stored, tagged, nil
}

// indexChildren reads manifest d from the blob store and lists the
// manifests it lists, if it is an index (none for an image manifest,
// whose config and layers are blobs).
func indexChildren(root, d string) ([]string, error) {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) < 2 {
		return nil, fmt.Errorf("not a sha256 digest")
	}
	b, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", hex[:2], hex, "data"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	var out []string
	for _, k := range m.Manifests {
		out = append(out, k.Digest)
	}
	return out, nil
}
