package oci

// Tests of the registry client against in-process fake registries that
// speak just enough of the OCI distribution API. Network only on 127.0.0.1.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// fakeRegistry is an in-memory registry: /v2/, manifests by tag and digest
// (HEAD, GET, PUT), blobs (HEAD, GET with Range), and monolithic uploads
// (POST then PUT ?digest=).
type fakeRegistry struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[digest.Digest]fakeManifest
	tags      map[string]digest.Digest // "repo:tag"
	nextID    int
	log       []string // "METHOD path [Range]" of every request that got past auth

	// Set before the server gets requests.
	user, pass string // when set, every request needs these (Basic)
	// hook sees every request first (after auth); true: it answered.
	hook func(w http.ResponseWriter, r *http.Request) bool
	// noRanges: no Accept-Ranges, Range ignored. ignoreRange: Accept-Ranges
	// advertised, yet Range answered with the whole blob (200).
	noRanges, ignoreRange bool
	// breakBlob, given the 1-based number of a blob GET, says whether to
	// send half of the body and then cut the connection.
	breakBlob func(n int) bool
	blobGets  int
}

type fakeManifest struct {
	mediaType string
	content   []byte
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{blobs: map[digest.Digest][]byte{}, manifests: map[digest.Digest]fakeManifest{}, tags: map[string]digest.Digest{}}
}

func (f *fakeRegistry) addBlob(data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	f.mu.Lock()
	f.blobs[d] = data
	f.mu.Unlock()
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: int64(len(data))}
}

// addManifest stores a small image manifest tagged repo:tag.
func (f *fakeRegistry) addManifest(t testing.TB, repo, tag string) ocispec.Descriptor {
	t.Helper()
	cfg := f.addBlob([]byte(`{"architecture":"amd64","os":"linux"}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	content, err := json.Marshal(ocispec.Manifest{
		Versioned: specsVersioned(),
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Layers:    []ocispec.Descriptor{},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(content)
	f.mu.Lock()
	f.manifests[d] = fakeManifest{mediaType: ocispec.MediaTypeImageManifest, content: content}
	if tag != "" {
		f.tags[repo+":"+tag] = d
	}
	f.mu.Unlock()
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(content))}
}

func (f *fakeRegistry) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeRegistry) count(prefix string) int {
	n := 0
	for _, l := range f.requests() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func writeRegistryError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, strings.ToLower(code))
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != f.user || p != f.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED")
			return
		}
	}
	entry := r.Method + " " + r.URL.Path
	if rg := r.Header.Get("Range"); rg != "" {
		entry += " " + rg
	}
	f.mu.Lock()
	f.log = append(f.log, entry)
	f.mu.Unlock()
	if f.hook != nil && f.hook(w, r) {
		return
	}
	p := r.URL.Path
	if p == "/v2/" || p == "/v2" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		io.WriteString(w, "{}")
		return
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if i := strings.LastIndex(rest, "/manifests/"); i > 0 {
		f.serveManifest(w, r, rest[:i], rest[i+len("/manifests/"):])
		return
	}
	if i := strings.LastIndex(rest, "/blobs/uploads/"); i > 0 {
		f.serveUpload(w, r, rest[:i], rest[i+len("/blobs/uploads/"):])
		return
	}
	if i := strings.LastIndex(rest, "/blobs/"); i > 0 {
		f.serveBlob(w, r, rest[i+len("/blobs/"):])
		return
	}
	writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN")
}

func (f *fakeRegistry) serveManifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		f.mu.Lock()
		d, err := digest.Parse(ref)
		if err != nil {
			d = f.tags[repo+":"+ref]
		}
		m, ok := f.manifests[d]
		f.mu.Unlock()
		if !ok {
			writeRegistryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN")
			return
		}
		w.Header().Set("Content-Type", m.mediaType)
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Content-Length", strconv.Itoa(len(m.content)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(m.content)
		}
	case http.MethodPut:
		content, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		d := digest.FromBytes(content)
		if want, err := digest.Parse(ref); err == nil && want != d {
			writeRegistryError(w, http.StatusBadRequest, "DIGEST_INVALID")
			return
		}
		f.mu.Lock()
		f.manifests[d] = fakeManifest{mediaType: r.Header.Get("Content-Type"), content: content}
		if _, err := digest.Parse(ref); err != nil {
			f.tags[repo+":"+ref] = d
		}
		f.mu.Unlock()
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Location", "/v2/"+repo+"/manifests/"+d.String())
		w.WriteHeader(http.StatusCreated)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (f *fakeRegistry) serveBlob(w http.ResponseWriter, r *http.Request, ref string) {
	d, err := digest.Parse(ref)
	f.mu.Lock()
	data, ok := f.blobs[d]
	f.mu.Unlock()
	if err != nil || !ok {
		writeRegistryError(w, http.StatusNotFound, "BLOB_UNKNOWN")
		return
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Type", "application/octet-stream")
	start, end, status := 0, len(data), http.StatusOK
	if !f.noRanges {
		h.Set("Accept-Ranges", "bytes")
		if rg := r.Header.Get("Range"); rg != "" && !f.ignoreRange && r.Method == http.MethodGet {
			a, b, ok := parseRange(rg, len(data))
			if !ok {
				h.Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			start, end, status = a, b, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b-1, len(data)))
		}
	}
	body := data[start:end]
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	f.mu.Lock()
	f.blobGets++
	cut := f.breakBlob != nil && f.breakBlob(f.blobGets)
	f.mu.Unlock()
	w.WriteHeader(status)
	if cut {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	w.Write(body)
}

// parseRange reads "bytes=A-" or "bytes=A-B" (B inclusive) into [a, b).
func parseRange(s string, size int) (a, b int, ok bool) {
	s, ok = strings.CutPrefix(s, "bytes=")
	if !ok {
		return 0, 0, false
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	a, err := strconv.Atoi(from)
	if err != nil || a < 0 || a >= size {
		return 0, 0, false
	}
	b = size
	if to != "" {
		last, err := strconv.Atoi(to)
		if err != nil || last < a {
			return 0, 0, false
		}
		b = min(last+1, size)
	}
	return a, b, true
}

func (f *fakeRegistry) serveUpload(w http.ResponseWriter, r *http.Request, repo, id string) {
	switch {
	case r.Method == http.MethodPost && id == "":
		f.mu.Lock()
		f.nextID++
		id = strconv.Itoa(f.nextID)
		f.mu.Unlock()
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		w.Header().Set("Docker-Upload-UUID", id)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPut && id != "":
		content, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		want, err := digest.Parse(r.URL.Query().Get("digest"))
		if err != nil || digest.FromBytes(content) != want {
			writeRegistryError(w, http.StatusBadRequest, "DIGEST_INVALID")
			return
		}
		f.mu.Lock()
		f.blobs[want] = content
		f.mu.Unlock()
		w.Header().Set("Docker-Content-Digest", want.String())
		w.Header().Set("Location", "/v2/"+repo+"/blobs/"+want.String())
		w.WriteHeader(http.StatusCreated)
	default:
		writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED")
	}
}

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// quietLog drops the log lines of servers whose failures are the point.
var quietLog = log.New(io.Discard, "", 0)

// serverHost is the host:port of a test server.
func serverHost(s *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
}

// noCredentials keeps tests away from the credential files of whoever
// runs them.
func noCredentials(context.Context, string) (auth.Credential, error) {
	return auth.EmptyCredential, nil
}

// openFake starts a plain-HTTP fake registry (named insecure) and opens
// repository path on it.
func openFake(t *testing.T, f *fakeRegistry, o RegistryOptions, path string) (*Repository, string) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	host := serverHost(srv)
	o.Insecure = append(o.Insecure, host)
	if o.Credential == nil && o.AuthFile == "" {
		o.Credential = noCredentials
	}
	regs, err := NewRegistries(o)
	if err != nil {
		t.Fatalf("NewRegistries: %v", err)
	}
	repo, err := regs.Repository(context.Background(), host, path)
	if err != nil {
		t.Fatalf("Repository: %v", err)
	}
	return repo, host
}

// testBlob is deterministic, not repetitive content.
func testBlob(n int) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestRemoteFetchResumes(t *testing.T) {
	t.Parallel()
	blob := testBlob(300 << 10)
	want := sha256.Sum256(blob)
	first := func(n int) bool { return n == 1 }
	cases := []struct {
		name                  string
		noRanges, ignoreRange bool
		// rangeFrom: a GET with this Range header must have been made.
		rangeFrom string
	}{
		{name: "range requests", rangeFrom: fmt.Sprintf("bytes=%d-%d", len(blob)/2, len(blob)-1)},
		{name: "no Accept-Ranges: re-read and discard", noRanges: true},
		{name: "Accept-Ranges but Range ignored", ignoreRange: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeRegistry()
			f.noRanges, f.ignoreRange, f.breakBlob = c.noRanges, c.ignoreRange, first
			desc := f.addBlob(blob)
			repo, _ := openFake(t, f, RegistryOptions{Retries: 2}, "team/app")
			rc, err := repo.Fetch(context.Background(), desc)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			defer rc.Close()
			h := sha256.New()
			n, err := io.Copy(h, rc)
			if err != nil {
				t.Fatalf("read after %d bytes: %v (requests %q)", n, err, f.requests())
			}
			if n != int64(len(blob)) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("read %d bytes hashing to %x, want %d bytes hashing to %x", n, h.Sum(nil), len(blob), want)
			}
			if got := f.count("GET /v2/team/app/blobs/"); got < 2 {
				t.Errorf("%d blob GETs, want a second one after the cut: %q", got, f.requests())
			}
			if c.rangeFrom != "" {
				found := false
				for _, l := range f.requests() {
					found = found || strings.HasSuffix(l, " "+c.rangeFrom)
				}
				if !found {
					t.Errorf("no request with Range %s (resume at the offset reached): %q", c.rangeFrom, f.requests())
				}
			}
		})
	}
}

func TestRemoteFetchGivesUpAfterRetries(t *testing.T) {
	blob := testBlob(64 << 10)
	for _, noRanges := range []bool{false, true} {
		t.Run(fmt.Sprintf("noRanges=%v", noRanges), func(t *testing.T) {
			t.Parallel()
			f := newFakeRegistry()
			f.noRanges = noRanges
			f.breakBlob = func(int) bool { return true }
			desc := f.addBlob(blob)
			repo, host := openFake(t, f, RegistryOptions{Retries: 1}, "team/app")
			// A bound, so that endless retries fail the test instead of hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			rc, err := repo.Fetch(ctx, desc)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			defer rc.Close()
			start := time.Now()
			n, err := io.Copy(io.Discard, rc)
			if err == nil {
				t.Fatalf("read %d bytes of a blob the server always cuts, and no error", n)
			}
			if ctx.Err() != nil {
				t.Fatalf("still retrying after %v (error %v): more retries than the 1 allowed", time.Since(start), err)
			}
			if n >= int64(len(blob)) {
				t.Errorf("read %d bytes, more than the blob's %d", n, len(blob))
			}
			for _, s := range []string{host + "/team/app", desc.Digest.String()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("gave up after %v: more retries than the 1 allowed?", d)
			}
		})
	}
}

func TestRemoteResolveErrors(t *testing.T) {
	t.Parallel(
	// status answers every manifest HEAD with this status (0: normally);
	// firstOnly: only the first one.
	)

	type tc struct {
		name      string
		status    int
		challenge string // WWW-Authenticate with the status
		firstOnly bool
		authFile  string // "wrong": a file with a wrong password; "other": one for another host
		ref       string
		wantErr   error // nil: success
		ping      bool  // call Ping instead of Resolve
	}
	cases := []tc{
		{name: "503 then OK", status: http.StatusServiceUnavailable, firstOnly: true, ref: "v1"},
		{name: "404 tag", ref: "nope", wantErr: ErrNotFound},
		{name: "404 digest", ref: "sha256:" + strings.Repeat("a", 64), wantErr: ErrNotFound},
		{name: "401 without challenge", status: http.StatusUnauthorized, ref: "v1", authFile: "wrong", wantErr: ErrUnauthorized},
		{name: "401 Basic, wrong password", status: http.StatusUnauthorized, challenge: `Basic realm="fake"`, ref: "v1", authFile: "wrong", wantErr: ErrUnauthorized},
		{name: "401 Basic, no credentials for the host", status: http.StatusUnauthorized, challenge: `Basic realm="fake"`, ref: "v1", authFile: "other", wantErr: ErrUnauthorized},
		{name: "403", status: http.StatusForbidden, ref: "v1", authFile: "wrong", wantErr: ErrUnauthorized},
		{name: "Ping 404 is fine", ping: true},
		{name: "Ping 401", status: http.StatusUnauthorized, challenge: `Basic realm="fake"`, authFile: "wrong", ping: true, wantErr: ErrUnauthorized},
	}
	const password = "s3cret-Pa55word"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeRegistry()
			want := f.addManifest(t, "team/app", "v1")
			var mu sync.Mutex
			heads := 0
			f.hook = func(w http.ResponseWriter, r *http.Request) bool {
				if c.status == 0 || !strings.Contains(r.URL.Path, "/manifests/") {
					return false
				}
				mu.Lock()
				heads++
				n := heads
				mu.Unlock()
				if c.firstOnly && n > 1 {
					return false
				}
				if c.challenge != "" {
					w.Header().Set("WWW-Authenticate", c.challenge)
				}
				writeRegistryError(w, c.status, "DENIED")
				return true
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			host := serverHost(srv)
			o := RegistryOptions{Insecure: []string{host}, Retries: 2, Credential: noCredentials}
			if c.authFile != "" {
				entryHost := host
				if c.authFile == "other" {
					entryHost = "registry.example.com"
				}
				o.Credential = nil
				o.AuthFile = writeAuthFile(t, t.TempDir(), "auth.json", entryHost, "user", password)
			}
			regs, err := NewRegistries(o)
			if err != nil {
				t.Fatal(err)
			}
			repo, err := regs.Repository(context.Background(), host, "team/app")
			if err != nil {
				t.Fatal(err)
			}
			var d ocispec.Descriptor
			if c.ping {
				err = repo.Ping(context.Background())
			} else {
				d, err = repo.Resolve(context.Background(), c.ref)
			}
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("error %v (requests %q)", err, f.requests())
				}
				if !c.ping && d.Digest != want.Digest {
					t.Errorf("resolved %s, want %s", d.Digest, want.Digest)
				}
				mu.Lock()
				n := heads
				mu.Unlock()
				if c.firstOnly && n != 2 {
					t.Errorf("%d manifest requests, want 2 (one retry)", n)
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error %v, want one that is %v", err, c.wantErr)
			}
			msg := err.Error()
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
			if !c.ping && !strings.Contains(msg, host+"/team/app") {
				t.Errorf("error %q does not name the repository", msg)
			}
			if c.wantErr == ErrUnauthorized {
				var ae *AuthError
				if !errors.As(err, &ae) || !ae.AuthFile || ae.Credentials != o.AuthFile {
					t.Errorf("error %#v: want an *AuthError naming the file given, %s", err, o.AuthFile)
				}
				if !strings.Contains(msg, host) {
					t.Errorf("error %q does not name the registry %s", msg, host)
				}
				if !strings.Contains(msg, o.AuthFile) {
					t.Errorf("error %q does not name the credentials file %s", msg, o.AuthFile)
				}
				// A 403 need not be about credentials: the namespace may
				// not exist, and the error says so.
				forbidden := c.status == http.StatusForbidden
				if errors.Is(err, ErrForbidden) != forbidden || strings.Contains(msg, "namespace does not exist") != forbidden {
					t.Errorf("error %q (HTTP %d): ErrForbidden and its words only for a 403", msg, c.status)
				}
				if c.authFile == "other" && !strings.Contains(msg, "none was found for it in "+o.AuthFile) {
					t.Errorf("error %q: want it to say plainly that %s has no entry for %s", msg, o.AuthFile, host)
				}
			}
		})
	}
}

func TestRemoteUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	for _, insecure := range []bool{false, true} {
		t.Run(fmt.Sprintf("insecure=%v", insecure), func(t *testing.T) {
			o := RegistryOptions{Credential: noCredentials, Retries: 1}
			if insecure {
				o.Insecure = []string{host}
			}
			regs, err := NewRegistries(o)
			if err != nil {
				t.Fatal(err)
			}
			repo, err := regs.Repository(context.Background(), host, "team/app")
			if err != nil {
				t.Fatal(err)
			}
			_, err = repo.Resolve(context.Background(), "v1")
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("error %v, want one that is ErrUnreachable", err)
			}
			if !strings.Contains(err.Error(), host) {
				t.Errorf("error %q does not name %s", err, host)
			}
			var ue *UnreachableError
			if !errors.As(err, &ue) || ue.Registry != host || ue.Insecure != insecure {
				t.Errorf("error %#v: want an *UnreachableError for %s with Insecure %v", err, host, insecure)
			}
			if err := repo.Ping(context.Background()); !errors.Is(err, ErrUnreachable) {
				t.Errorf("Ping: %v, want ErrUnreachable", err)
			}
		})
	}
}

// writeAuthFile writes a Docker config / containers auth file with one
// entry and returns its path.
func writeAuthFile(t testing.TB, dir, name, host, user, pass string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	b, err := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRemoteRegistryCredentials(t *testing.T) {
	const user, pass, wrongPass = "alice", "Right-Pa55", "Wrong-Pa55"
	f := newFakeRegistry()
	f.user, f.pass = user, pass
	want := f.addManifest(t, "team/app", "v1")
	srv := httptest.NewServer(f)
	defer srv.Close()
	host := serverHost(srv)

	resolve := func(t *testing.T, o RegistryOptions) error {
		t.Helper()
		o.Insecure = []string{host}
		regs, err := NewRegistries(o)
		if err != nil {
			t.Fatalf("NewRegistries: %v", err)
		}
		repo, err := regs.Repository(context.Background(), host, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		d, err := repo.Resolve(context.Background(), "v1")
		if err == nil && d.Digest != want.Digest {
			t.Errorf("resolved %s, want %s", d.Digest, want.Digest)
		}
		if err != nil {
			for _, p := range []string{pass, wrongPass} {
				if strings.Contains(err.Error(), p) {
					t.Errorf("error %q shows a password", err)
				}
			}
		}
		return err
	}

	t.Run("AuthFile", func(t *testing.T) {
		// The environment would point elsewhere, and must not count.
		env := t.TempDir()
		t.Setenv("HOME", env)
		t.Setenv("REGISTRY_AUTH_FILE", writeAuthFile(t, env, "env.json", host, user, wrongPass))
		t.Setenv("DOCKER_CONFIG", "")
		writeAuthFile(t, filepath.Join(env, "containers"), "auth.json", host, user, wrongPass)
		t.Setenv("XDG_RUNTIME_DIR", env)
		t.Setenv("XDG_CONFIG_HOME", "")
		dir := t.TempDir()
		right := writeAuthFile(t, dir, "right.json", host, user, pass)
		if err := resolve(t, RegistryOptions{AuthFile: right}); err != nil {
			t.Errorf("right credentials: %v", err)
		}
		wrong := writeAuthFile(t, dir, "wrong.json", host, user, wrongPass)
		err := resolve(t, RegistryOptions{AuthFile: wrong})
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("wrong credentials: %v, want ErrUnauthorized", err)
		}
		if !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), host) {
			t.Errorf("error %q does not name the file %s and the registry %s", err, wrong, host)
		}
		missing := filepath.Join(dir, "missing.json")
		_, err = NewRegistries(RegistryOptions{AuthFile: missing})
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("missing AuthFile: error %v, want one naming %s", err, missing)
		}
	})

	// Which file the credentials come from when no AuthFile is given: the
	// order of containers-auth.json(5), then Docker's; first entry wins.
	type files struct{ registryAuthFile, xdgRuntime, xdgConfig, dockerConfig, homeDocker, dockercfg string } // "right", "wrong", "other" (another host), "" (absent)
	cases := []struct {
		name string
		files
		ok bool
	}{
		{"REGISTRY_AUTH_FILE first", files{"right", "wrong", "wrong", "wrong", "wrong", "wrong"}, true},
		{"REGISTRY_AUTH_FILE wins even when wrong", files{"wrong", "right", "right", "right", "right", "right"}, false},
		{"XDG_RUNTIME_DIR before the rest", files{"", "right", "wrong", "wrong", "wrong", "wrong"}, true},
		{"podman login beats a stale docker login", files{"", "right", "", "wrong", "wrong", ""}, true},
		{"XDG_RUNTIME_DIR wins even when wrong", files{"", "wrong", "right", "right", "right", "right"}, false},
		{"XDG_CONFIG_HOME before Docker", files{"", "", "right", "wrong", "wrong", "wrong"}, true},
		{"DOCKER_CONFIG before ~/.dockercfg", files{"", "", "", "right", "", "wrong"}, true},
		{"DOCKER_CONFIG wins even when wrong", files{"", "", "", "wrong", "right", "right"}, false},
		{"~/.docker without DOCKER_CONFIG", files{"", "", "", "", "right", "wrong"}, true},
		{"~/.dockercfg last", files{"", "", "", "", "", "right"}, true},
		{"entry for another host falls through", files{"other", "other", "other", "other", "", "right"}, true},
		{"no file at all", files{"", "", "", "", "", ""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			write := func(kind, dir, name string) string {
				switch kind {
				case "right":
					return writeAuthFile(t, dir, name, host, user, pass)
				case "wrong":
					return writeAuthFile(t, dir, name, host, user, wrongPass)
				case "other":
					return writeAuthFile(t, dir, name, "registry.example.com", user, pass)
				}
				return ""
			}
			home := t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("REGISTRY_AUTH_FILE", write(c.registryAuthFile, t.TempDir(), "registry-auth.json"))
			xdgRuntime := t.TempDir()
			t.Setenv("XDG_RUNTIME_DIR", xdgRuntime)
			write(c.xdgRuntime, filepath.Join(xdgRuntime, "containers"), "auth.json")
			xdgConfig := t.TempDir()
			t.Setenv("XDG_CONFIG_HOME", xdgConfig)
			write(c.xdgConfig, filepath.Join(xdgConfig, "containers"), "auth.json")
			dockerConfig := ""
			if c.dockerConfig != "" {
				dockerConfig = t.TempDir()
				write(c.dockerConfig, dockerConfig, "config.json")
			}
			t.Setenv("DOCKER_CONFIG", dockerConfig)
			write(c.homeDocker, filepath.Join(home, ".docker"), "config.json")
			if p := write(c.dockercfg, t.TempDir(), "legacy.json"); p != "" {
				// ~/.dockercfg is the auths map without its wrapper.
				var f struct{ Auths json.RawMessage }
				b, _ := os.ReadFile(p)
				if err := json.Unmarshal(b, &f); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(home, ".dockercfg"), f.Auths, 0o600); err != nil {
					t.Fatal(err)
				}
			}

			err := resolve(t, RegistryOptions{})
			if c.ok {
				if err != nil {
					t.Errorf("error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("error %v, want ErrUnauthorized", err)
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *AuthError", err)
			}
			// A caller may suggest naming a credentials file: none was.
			// The files read, in the order searched, are in the message.
			if len(ae.Searched) > 0 && !strings.Contains(err.Error(), strings.Join(ae.Searched, ", ")) {
				t.Errorf("error %q does not list the files searched %q in order", err, ae.Searched)
			}
			if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" && (len(ae.Searched) == 0 || ae.Searched[0] != f) {
				t.Errorf("files searched %q, want $REGISTRY_AUTH_FILE %s first", ae.Searched, f)
			}
			if ae.AuthFile || ae.Registry != host || ae.Credentials == "" {
				t.Errorf("AuthError{Registry: %q, Credentials: %q, AuthFile: %v}, want registry %q, where credentials were looked for, and no file named",
					ae.Registry, ae.Credentials, ae.AuthFile, host)
			}
		})
	}
}

func TestRemoteInsecureRegistries(t *testing.T) {
	t.Parallel()
	type seen struct {
		mu  sync.Mutex
		tls []bool
	}
	start := func(t *testing.T, useTLS bool) (*httptest.Server, *seen, ocispec.Descriptor) {
		f := newFakeRegistry()
		d := f.addManifest(t, "team/app", "v1")
		s := &seen{}
		f.hook = func(w http.ResponseWriter, r *http.Request) bool {
			s.mu.Lock()
			s.tls = append(s.tls, r.TLS != nil)
			s.mu.Unlock()
			return false
		}
		srv := httptest.NewUnstartedServer(f)
		srv.Config.ErrorLog = quietLog // refused handshakes are expected
		if useTLS {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return srv, s, d
	}
	cases := []struct {
		name     string
		tls      bool
		insecure func(host string) []string
		ok       bool
	}{
		{"plain HTTP named host:port", false, func(h string) []string { return []string{h} }, true},
		{"plain HTTP named by host only", false, func(h string) []string { return []string{"127.0.0.1"} }, true},
		{"self-signed TLS named", true, func(h string) []string { return []string{h} }, true},
		{"self-signed TLS not named", true, func(string) []string { return nil }, false},
		{"plain HTTP not named", false, func(string) []string { return nil }, false},
		{"self-signed TLS, another host named", true, func(string) []string { return []string{"127.0.0.2", "localhost"} }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv, s, want := start(t, c.tls)
			host := serverHost(srv)
			regs, err := NewRegistries(RegistryOptions{Insecure: c.insecure(host), Credential: noCredentials, Retries: 1})
			if err != nil {
				t.Fatal(err)
			}
			repo, err := regs.Repository(context.Background(), host, "team/app")
			if err != nil {
				t.Fatal(err)
			}
			d, err := repo.Resolve(context.Background(), "v1")
			if !c.ok {
				if err == nil {
					t.Fatal("resolved through a registry not named insecure")
				}
				// Either way the caller can tell that naming the host
				// insecure would help.
				var te *TLSError
				var ue *UnreachableError
				// A plain HTTP registry answered: reachable, and what
				// failed is TLS (it was called unreachable, and asked
				// whether it runs).
				if !c.tls && (errors.Is(err, ErrUnreachable) || !errors.As(err, &te) || te.Verify) {
					t.Errorf("plain HTTP registry: %v, want a *TLSError that is not ErrUnreachable", err)
				}
				switch {
				case errors.As(err, &te):
					if te.Registry != host {
						t.Errorf("TLSError for %q, want %q", te.Registry, host)
					}
				case errors.As(err, &ue):
					if ue.Registry != host || ue.Insecure {
						t.Errorf("UnreachableError{Registry: %q, Insecure: %v}, want %q not insecure", ue.Registry, ue.Insecure, host)
					}
				default:
					t.Errorf("error %#v is neither a *TLSError nor an *UnreachableError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if d.Digest != want.Digest {
				t.Errorf("resolved %s, want %s", d.Digest, want.Digest)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.tls) == 0 {
				t.Fatal("the server saw no request")
			}
			for _, got := range s.tls {
				if got != c.tls {
					t.Errorf("requests over TLS: %v, want all %v", s.tls, c.tls)
					break
				}
			}
		})
	}
}

// TestRemoteTLSFailureIsNotUnreachable: a registry that answers, but with
// a certificate that does not verify, is not "unreachable"; the message
// should say TLS failed rather than ask whether the registry is running.
func TestRemoteTLSFailureIsNotUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	defer srv.Close()
	host := serverHost(srv)
	regs, err := NewRegistries(RegistryOptions{Credential: noCredentials, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := regs.Repository(context.Background(), host, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	_, err = repo.Resolve(context.Background(), "v1")
	if err == nil {
		t.Fatal("no error from a self-signed registry not named insecure")
	}
	var te *TLSError
	if errors.Is(err, ErrUnreachable) || !errors.As(err, &te) || te.Registry != host {
		t.Errorf("error %q: want a *TLSError for %s, not ErrUnreachable", err, host)
	}
}

func TestRemotePushThenExistsAndResolve(t *testing.T) {
	t.Parallel()
	f := newFakeRegistry()
	repo, _ := openFake(t, f, RegistryOptions{}, "team/app")
	ctx := context.Background()

	blob := testBlob(10 << 10)
	desc := ocispec.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	if ok, err := repo.Exists(ctx, desc); err != nil || ok {
		t.Fatalf("Exists before push: %v, %v; want false, nil", ok, err)
	}
	if err := repo.Push(ctx, desc, bytes.NewReader(blob)); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if ok, err := repo.Exists(ctx, desc); err != nil || !ok {
		t.Fatalf("Exists after push: %v, %v; want true, nil", ok, err)
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("fetched %d bytes (%v), want the %d pushed", len(got), err, len(blob))
	}

	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := repo.Push(ctx, cfgDesc, bytes.NewReader(cfg)); err != nil {
		t.Fatal(err)
	}
	m, err := json.Marshal(ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{desc}})
	if err != nil {
		t.Fatal(err)
	}
	mDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	if _, err := repo.Resolve(ctx, "v1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Resolve before tagging: %v, want ErrNotFound", err)
	}
	if err := repo.PushTag(ctx, mDesc, bytes.NewReader(m), "v1"); err != nil {
		t.Fatalf("PushTag: %v", err)
	}
	for _, ref := range []string{"v1", mDesc.Digest.String()} {
		d, err := repo.Resolve(ctx, ref)
		if err != nil {
			t.Fatalf("Resolve(%s): %v", ref, err)
		}
		if d.Digest != mDesc.Digest || d.Size != mDesc.Size || d.MediaType != mDesc.MediaType {
			t.Errorf("Resolve(%s) = %+v, want %+v", ref, d, mDesc)
		}
	}
	if ok, err := repo.Exists(ctx, mDesc); err != nil || !ok {
		t.Errorf("Exists(manifest) after PushTag: %v, %v", ok, err)
	}
}

// TestRepositoryMethodsAreTranslated fails when Repository offers a method
// beyond those written here, each of which passes its errors through
// describe: embedding the oras repository again would add its methods,
// which return oras errors untranslated.
func TestRepositoryMethodsAreTranslated(t *testing.T) {
	t.Parallel()
	want := []string{"Exists", "Fetch", "Mount", "Ping", "Push", "PushTag", "Referrers", "Registry", "Resolve", "Tags"}
	typ := reflect.TypeOf(&Repository{})
	var got []string
	for i := range typ.NumMethod() {
		got = append(got, typ.Method(i).Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("*Repository has methods %v, want %v", got, want)
	}
}

func TestRepositoryRegistry(t *testing.T) {
	t.Parallel()
	regs, err := NewRegistries(RegistryOptions{Credential: noCredentials})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ host, want string }{
		{"127.0.0.1:5000", "127.0.0.1:5000"},
		{"docker.io", "docker.io"}, // as users name it, not registry-1.docker.io
	} {
		repo, err := regs.Repository(context.Background(), c.host, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		if got := repo.Registry(); got != c.want {
			t.Errorf("Registry() of %s/team/app = %q, want %q", c.host, got, c.want)
		}
	}
}
