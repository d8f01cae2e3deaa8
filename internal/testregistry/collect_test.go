package testregistry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushByDigest uploads the layout's manifest d (an image manifest), its
// config and layers into repo of the registry at host, the manifest by
// digest only, with no tag.
func pushByDigest(t *testing.T, host, repo, layout string, d digest.Digest) {
	t.Helper()
	blob := func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", d.Algorithm().String(), d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	do := func(method, url, contentType string, body []byte, want int) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
		}
		return resp
	}
	raw := blob(d)
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		// docker-registry 2.8 has no monolithic POST: open, then PUT.
		loc, err := do("POST", "http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted).Location()
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		q.Set("digest", b.Digest.String())
		loc.RawQuery = q.Encode()
		do("PUT", loc.String(), "application/octet-stream", blob(b.Digest), http.StatusCreated)
	}
	do("PUT", "http://"+host+"/v2/"+repo+"/manifests/"+d.String(), m.MediaType, raw, http.StatusCreated)
}

// TestCollectUntagged: the Quay-like collection deletes the manifests no
// tag reaches (one whose tag moved, an image pushed by digest, a referrer
// pushed by digest whose subject is tagged) and keeps the tagged ones and
// the children of a tagged index; deleted ones no longer read.
func TestCollectUntagged(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("six skopeo copies and fourteen inspects, skipped by -short: bundle's TestPushByTagOwnTaggedIndexChild collects through it in -short")
	}
	l := buildLayout(t)
	r := Start(t, Options{})
	p := r.Proxy(t)
	if got := p.CollectUntagged(t); got != nil {
		t.Fatalf("an empty registry: collected %v", got)
	}
	CopyToRegistry(t, l.Dir, "app:v1", r.Host+"/ns/app:v1", "")
	CopyToRegistry(t, l.Dir, "app:v1", r.Host+"/ns/app:keep", "")
	CopyToRegistry(t, l.Dir, "app:v2", r.Host+"/ns/app:v2", "")
	CopyToRegistry(t, l.Dir, "app:v2", r.Host+"/ns/old:v1", "")
	CopyToRegistry(t, l.Dir, "app:v1", r.Host+"/ns/old:v1", "") // the tag moves: app:v2 is left untagged in ns/old
	CopyToRegistry(t, l.Dir, "multi:latest", r.Host+"/ns/multi:latest", "")
	pushByDigest(t, r.Host, "ns/app", l.Dir, l.Refs["base:1"])
	pushByDigest(t, r.Host, "ns/app", l.Dir, l.Referrer) // subject: app:v1, tagged

	got := p.CollectUntagged(t)
	want := []string{"ns/app@" + l.Referrer.String(), "ns/app@" + l.Refs["base:1"].String(), "ns/old@" + l.Refs["app:v2"].String()}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("collected %v, want %v", got, want)
	}
	for _, ref := range want {
		if _, out, err := RunSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+p.Host+"/"+ref); err == nil {
			t.Errorf("%s still reads after the collection", ref)
		} else if !bytes.Contains([]byte(out), []byte("manifest unknown")) {
			t.Errorf("%s: %s", ref, out)
		}
	}
	read := []string{"ns/app:v1", "ns/app:keep", "ns/app:v2", "ns/old:v1", "ns/multi:latest", "ns/app@" + l.Refs["app:v1"].String()}
	var idx ocispec.Index
	json.Unmarshal([]byte(Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+p.Host+"/ns/multi:latest")), &idx)
	if len(idx.Manifests) == 0 {
		t.Fatal("multi:latest lists no manifests")
	}
	for _, m := range idx.Manifests {
		read = append(read, "ns/multi@"+m.Digest.String())
	}
	for _, ref := range read {
		if _, out, err := RunSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+p.Host+"/"+ref); err != nil {
			t.Errorf("%s was collected: %s", ref, out)
		}
	}
	if got := p.CollectUntagged(t); got != nil {
		t.Errorf("a second collection deleted %v", got)
	}
}
