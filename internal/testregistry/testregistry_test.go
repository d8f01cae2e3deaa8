package testregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/airgap-bundle/bundle/internal/testlayout"
)

func buildLayout(t *testing.T) *testlayout.Layout {
	t.Helper()
	l, err := testlayout.Build(filepath.Join(t.TempDir(), "layout"), testlayout.Options{})
	if err != nil {
		t.Fatalf("testlayout.Build: %v", err)
	}
	return l
}

// rawDigest returns the digest of the manifest skopeo fetches for ref.
func rawDigest(t *testing.T, ref string, extra ...string) digest.Digest {
	t.Helper()
	args := append([]string{"inspect", "--raw", "--tls-verify=false"}, extra...)
	raw := Skopeo(t, append(args, "docker://"+ref)...)
	return digest.FromString(raw)
}

func TestOpenRegistry(t *testing.T) {
	t.Parallel()
	l := buildLayout(t)
	r := Start(t, Options{})
	p := r.Proxy(t)

	var uploads atomic.Int32
	p.OnResponse(func(req Request) {
		if req.Method == http.MethodPut && req.Status == http.StatusCreated && BlobUploadDone.MatchString(req.Path) {
			uploads.Add(1)
		}
	})

	// First push, through the proxy: config + 2 layers are uploaded.
	CopyToRegistry(t, l.Dir, "app:v1", p.Host+"/app:v1", "")
	if got := p.Count(http.MethodPut, BlobUploadDone, http.StatusCreated); got != 3 {
		t.Errorf("first push: %d completed blob uploads, want 3 (config + 2 layers)\n%v", got, p.Requests())
	}
	if got := uploads.Load(); got != 3 {
		t.Errorf("OnResponse saw %d completed uploads, want 3", got)
	}
	if got := p.Count(http.MethodPut, ManifestPut, http.StatusCreated); got != 1 {
		t.Errorf("first push: %d manifest PUTs, want 1", got)
	}
	if got := p.Count("", nil, http.StatusBadGateway); got != 0 {
		t.Errorf("%d requests got 502 from the proxy", got)
	}

	// The digest is kept, seen directly and through the proxy.
	want := l.Refs["app:v1"]
	if got := rawDigest(t, r.Host+"/app:v1"); got != want {
		t.Errorf("registry has app:v1 = %s, layout has %s", got, want)
	}
	if got := rawDigest(t, p.Host+"/app:v1"); got != want {
		t.Errorf("through proxy: app:v1 = %s, layout has %s", got, want)
	}

	// Second identical push: every blob exists, nothing is uploaded.
	p.Reset()
	p.OnResponse(nil)
	CopyToRegistry(t, l.Dir, "app:v1", p.Host+"/app:v1", "")
	if got := p.Count(http.MethodPut, BlobUploadDone, http.StatusCreated); got != 0 {
		t.Errorf("second push: %d completed blob uploads, want 0\n%v", got, p.Requests())
	}
	if got := p.Count(http.MethodHead, nil, 0); got == 0 {
		t.Errorf("second push: no HEAD requests recorded: %v", p.Requests())
	}
	if got := uploads.Load(); got != 3 {
		t.Errorf("OnResponse(nil) did not clear fn: %d uploads seen", got)
	}

	// An index with --all: index and child manifests keep their digests.
	CopyToRegistry(t, l.Dir, "multi:latest", r.Host+"/multi:latest", "")
	if got, want := rawDigest(t, r.Host+"/multi:latest"), l.Refs["multi:latest"]; got != want {
		t.Errorf("registry has multi:latest = %s, layout has %s", got, want)
	}

	if logs := r.Logs(); !strings.Contains(logs, `"PUT /v2/app/manifests/v1 HTTP/1.1" 201`) {
		t.Errorf("access log lacks the manifest PUT:\n%s", logs)
	}
}

func TestAuthRegistry(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: a real docker-registry with htpasswd (bcrypt per request); TestOpenRegistry keeps the harness in -short, skipped by -short")
	}
	l := buildLayout(t)
	r := Start(t, Options{Users: map[string]string{"alice": "s3cret"}})

	resp, err := http.Get("http://" + r.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("GET /v2/: %s, WWW-Authenticate %q; want 401 Basic", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}

	CopyToRegistry(t, l.Dir, "app:v1", r.Host+"/app:v1", "alice:s3cret")

	ref := "docker://" + r.Host + "/app:v1"
	authErr := regexp.MustCompile(`(?i)unauthorized|authentication required`)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"anonymous", []string{"--no-creds"}},
		{"wrong password", []string{"--creds", "alice:wrong"}},
		{"unknown user", []string{"--creds", "bob:s3cret"}},
	} {
		args := append([]string{"inspect", "--raw", "--tls-verify=false"}, c.args...)
		_, out, err := RunSkopeo(t, append(args, ref)...)
		if err == nil {
			t.Errorf("%s: skopeo inspect succeeded", c.name)
		} else if !authErr.MatchString(out) {
			t.Errorf("%s: skopeo inspect failed without an auth error: %v\n%s", c.name, err, out)
		} else {
			t.Logf("%s: %s", c.name, strings.TrimSpace(out))
		}
	}

	if got, want := rawDigest(t, r.Host+"/app:v1", "--creds", "alice:s3cret"), l.Refs["app:v1"]; got != want {
		t.Errorf("registry has app:v1 = %s, layout has %s", got, want)
	}
}

func TestStop(t *testing.T) {
	r := Start(t, Options{})
	p := r.Proxy(t)
	if !strings.Contains(r.Logs(), "listening on "+r.Host) {
		t.Errorf("log lacks the listening line:\n%s", r.Logs())
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(r.Stop) // idempotent and concurrency-safe
	}
	wg.Wait()
	t.Logf("Stop took %v", time.Since(start))
	if c, err := net.DialTimeout("tcp", r.Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", r.Host)
	}
	r.Stop()

	// The proxy answers 502 and records it.
	resp, err := http.Get("http://" + p.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("proxy after Stop: %s, want 502", resp.Status)
	}
	if got := p.Requests(); len(got) != 1 || got[0] != (Request{Method: "GET", Path: "/v2/", Status: http.StatusBadGateway}) {
		t.Errorf("recorded %v", got)
	}
}

// TestProxyLocation checks the proxy against a fake backend: Host and
// X-Forwarded-* reach the backend, absolute Locations naming the backend are
// rewritten, and requests are recorded before the client sees the response.
func TestProxyLocation(t *testing.T) {
	t.Parallel()
	var backendHost string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("X-Seen-Host", req.Host)
		w.Header().Set("X-Seen-Forwarded-Host", req.Header.Get("X-Forwarded-Host"))
		switch req.URL.Path {
		case "/abs":
			w.Header().Set("Location", "http://"+backendHost+"/v2/a/blobs/uploads/u1?_state=x")
			w.WriteHeader(http.StatusAccepted)
		case "/rel":
			w.Header().Set("Location", "/v2/a/blobs/uploads/u2")
			w.WriteHeader(http.StatusAccepted)
		case "/other":
			w.Header().Set("Location", "http://example.invalid/x")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			fmt.Fprint(w, "hello") // implicit 200
		}
	}))
	defer backend.Close()
	backendHost = backend.Listener.Addr().String()

	p := (&Registry{Host: backendHost}).Proxy(t)
	var (
		mu   sync.Mutex
		seen []int
	)
	p.OnResponse(func(r Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, len(p.Requests()))
	})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ path, loc string }{
		{"/abs", "http://" + p.Host + "/v2/a/blobs/uploads/u1?_state=x"},
		{"/rel", "/v2/a/blobs/uploads/u2"},
		{"/other", "http://example.invalid/x"},
		{"/plain?q=1", ""},
	} {
		resp, err := client.Get("http://" + p.Host + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); got != c.loc {
			t.Errorf("%s: Location %q, want %q", c.path, got, c.loc)
		}
		if got := resp.Header.Get("X-Seen-Host"); got != p.Host {
			t.Errorf("%s: backend saw Host %q, want %q", c.path, got, p.Host)
		}
		if got := resp.Header.Get("X-Seen-Forwarded-Host"); got != p.Host {
			t.Errorf("%s: backend saw X-Forwarded-Host %q, want %q", c.path, got, p.Host)
		}
	}
	want := []Request{
		{"GET", "/abs", "", 202},
		{"GET", "/rel", "", 202},
		{"GET", "/other", "", 307},
		{"GET", "/plain", "q=1", 200},
	}
	got := p.Requests()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Requests() = %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen) != "[1 2 3 4]" {
		t.Errorf("OnResponse saw %v requests recorded, want [1 2 3 4]", seen)
	}
	if n := p.Count("GET", regexp.MustCompile(`^/(abs|rel)$`), 202); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// startFatal runs Start with a fake docker-registry script (or none, if
// script is "") first in PATH and returns the Fatalf message.
func startFatal(t *testing.T, script string) string {
	bin := t.TempDir()
	if script != "" {
		if err := os.WriteFile(filepath.Join(bin, "docker-registry"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f, Options{})
		f.msg = "Start returned"
	}()
	<-done
	return f.msg
}

func TestStartFailures(t *testing.T) {
	t.Run("not installed", func(t *testing.T) {
		if got, want := startFatal(t, ""), "docker-registry is required for this test but not installed (apt-get install docker-registry)"; got != want {
			t.Errorf("Fatalf(%q), want %q", got, want)
		}
	})
	t.Run("exits early", func(t *testing.T) {
		got := startFatal(t, "echo \"boom: $*\" >&2; exit 3\n")
		for _, want := range []string{"exited before it was ready", "boom: serve ", "exit status 3"} {
			if !strings.Contains(got, want) {
				t.Errorf("Fatalf message lacks %q:\n%s", want, got)
			}
		}
	})
	t.Run("port taken", func(t *testing.T) {
		counter := filepath.Join(t.TempDir(), "n")
		got := startFatal(t, "echo x >> "+counter+"; echo 'listen tcp 127.0.0.1:1: bind: address already in use' >&2; exit 1\n")
		if !strings.Contains(got, "could not bind a port in 5 attempts") {
			t.Errorf("Fatalf message: %s", got)
		}
		if b, _ := os.ReadFile(counter); strings.Count(string(b), "x") != 5 {
			t.Errorf("docker-registry started %d times, want 5", strings.Count(string(b), "x"))
		}
	})
}

// TestOCI11 pins down what the package documentation says about
// docker-registry 2.8 and OCI 1.1: a manifest with subject and artifactType
// is accepted and served byte for byte, there is no referrers API, and
// manifests are only served to clients that accept their media type.
func TestOCI11(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: records which OCI 1.1 features docker-registry has, skipped by -short")
	}
	l := buildLayout(t)
	r := Start(t, Options{})
	CopyToRegistry(t, l.Dir, "app:v1", r.Host+"/app:v1", "")

	blob := func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(l.Dir, "blobs", d.Algorithm().String(), d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	do := func(method, path, contentType, accept string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+r.Host+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	raw := blob(l.Referrer)
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Subject == nil || m.ArtifactType == "" {
		t.Fatalf("testlayout referrer has no subject or artifactType: %s", raw)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		resp, _ := do("POST", "/v2/app/blobs/uploads/", "", "", nil)
		loc, err := resp.Location()
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST upload: %s, %v", resp.Status, err)
		}
		q := loc.Query()
		q.Set("digest", d.Digest.String())
		loc.RawQuery = q.Encode()
		if resp, b := do("PUT", loc.RequestURI(), "application/octet-stream", "", blob(d.Digest)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT blob %s: %s %s", d.Digest, resp.Status, b)
		}
	}
	resp, b := do("PUT", "/v2/app/manifests/"+l.Referrer.String(), ocispec.MediaTypeImageManifest, "", raw)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != l.Referrer.String() {
		t.Fatalf("PUT manifest with subject: %s %s %s", resp.Status, resp.Header.Get("Docker-Content-Digest"), b)
	}
	if h := resp.Header.Get("OCI-Subject"); h != "" {
		t.Errorf("registry now sends OCI-Subject %q: update the package doc", h)
	}
	if resp, b := do("GET", "/v2/app/manifests/"+l.Referrer.String(), "", ocispec.MediaTypeImageManifest, nil); resp.StatusCode != http.StatusOK || !bytes.Equal(b, raw) {
		t.Errorf("GET referrer: %s, identical %v", resp.Status, bytes.Equal(b, raw))
	}
	if resp, b := do("GET", "/v2/app/referrers/"+m.Subject.Digest.String(), "", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET referrers: %s %s; the registry has a referrers API now: update the package doc", resp.Status, b)
	}
	for _, accept := range []string{"", "*/*", "application/vnd.docker.distribution.manifest.v2+json"} {
		if resp, b := do("GET", "/v2/app/manifests/v1", "", accept, nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "accept header does not support OCI manifests") {
			t.Errorf("GET OCI manifest with Accept %q: %s %s", accept, resp.Status, b)
		}
	}
}

func TestProxyPolicies(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()
	p := (&Registry{Host: backend.Listener.Addr().String()}).Proxy(t)
	p.RefuseManifestPushByDigest()
	p.LimitPathComponents(2)
	p.AllowNamespaces("ocp")
	hex := strings.Repeat("a", 64)
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"PUT", "/v2/ocp/app/manifests/sha256:" + hex, 400, "pushing a manifest without a tag is not supported"},
		{"PUT", "/v2/ocp/app/manifests/v1", 201, ""},
		{"PUT", "/v2/ocp/app/manifests/sha256-" + hex[:32], 201, ""},
		{"GET", "/v2/ocp/app/manifests/sha256:" + hex, 201, ""},
		{"HEAD", "/v2/ocp/a/b/blobs/sha256:" + hex, 400, ""},
		{"POST", "/v2/ocp/a/b/blobs/uploads/", 400, "NAME_INVALID"},
		{"GET", "/v2/nope/app/tags/list", 403, "DENIED"},
		{"GET", "/v2/", 201, ""},
	} {
		req, _ := http.NewRequest(c.method, "http://"+p.Host+c.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.body) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.path, resp.StatusCode, body, c.status, c.body)
		}
	}
	if n := p.Count("PUT", ManifestPut, 400); n != 1 {
		t.Errorf("%d refused manifest PUTs recorded, want 1", n)
	}
}

// TestProxyUploadFaults: the Nth blob upload request is failed or its
// connection dropped, other requests pass; the gate holds uploads until
// two overlap, and the proxy tells the most in flight.
func TestProxyUploadFaults(t *testing.T) {
	var backendUploads atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		if req.Method == http.MethodPut {
			backendUploads.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer backend.Close()
	p := (&Registry{Host: backend.Listener.Addr().String()}).Proxy(t)
	put := func(path string, n int) (int, error) {
		req, _ := http.NewRequest(http.MethodPut, "http://"+p.Host+path, bytes.NewReader(make([]byte, n)))
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	upload := "/v2/ns/app/blobs/uploads/u1"

	p.FailNthUpload(2, http.StatusInternalServerError)
	for i, want := range []int{201, 500, 201} {
		if got, err := put(upload, 1000); err != nil || got != want {
			t.Errorf("upload %d: %d %v, want %d", i+1, got, err, want)
		}
	}
	if got, err := put("/v2/ns/app/manifests/v1", 10); err != nil || got != 201 {
		t.Errorf("manifest PUT: %d %v: not an upload, it passes", got, err)
	}

	p.DropNthUpload(4, 64<<10)
	if got, err := put(upload, 1<<20); err == nil {
		t.Errorf("upload 4 answered %d: its connection was to be dropped", got)
	}
	var dropped int
	for _, r := range p.Requests() {
		if r.Status == 0 && BlobUploadDone.MatchString(r.Path) {
			dropped++
		}
	}
	if dropped != 1 || backendUploads.Load() != 3 {
		t.Errorf("%d uploads recorded as dropped, %d reached the registry; want 1 and 3", dropped, backendUploads.Load())
	}
	p.UploadFaults(nil)

	// A client sees an answer (or a dropped connection) before the
	// proxy's handler returns: wait until no upload above is still
	// counted in flight, or the gated ones below would find it there.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.upMu.Lock()
		n := p.inFlight
		p.upMu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d uploads still in flight", n)
		}
	}
	p.Reset()
	p.GateUploads(2, 10*time.Second)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := put(upload, 1000); err != nil || got != 201 {
				t.Errorf("gated upload: %d %v", got, err)
			}
		}()
	}
	wg.Wait()
	if n := p.MaxUploadsInFlight(); n != 2 {
		t.Errorf("%d uploads in flight at most, want 2 (the gate holds the first until the second comes)", n)
	}
}
