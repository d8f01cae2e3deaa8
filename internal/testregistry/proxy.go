package testregistry

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Convenience patterns for Proxy.Count, matched against Request.Path.
var (
	// BlobUploadDone matches the URL of an upload session; a PUT answered
	// 201 completes a blob upload. (A monolithic POST ...?digest= or a
	// cross-repository mount POST ...?mount= goes to .../blobs/uploads/,
	// which it does not match.)
	BlobUploadDone = regexp.MustCompile(`^/v2/.+/blobs/uploads/[^/]+$`)
	// ManifestPut matches a manifest URL (by tag or digest); use it with
	// method PUT and status 201 to count pushed manifests.
	ManifestPut = regexp.MustCompile(`^/v2/.+/manifests/[^/]+$`)
)

// Request is one request that went through a Proxy.
type Request struct {
	Method string
	Path   string // URL path, e.g. /v2/ns/app/blobs/uploads/<uuid>
	Query  string // raw query, without "?"
	Status int    // status relayed to the client; 502 if the registry could not be reached or the exchange failed (e.g. the client vanished mid-upload); 0 if the proxy dropped the connection (DropNthUpload, UploadFaults)
}

// Proxy is an HTTP reverse proxy on 127.0.0.1 in front of a Registry that
// records every request, so tests can count what a client did (e.g.
// completed blob uploads) and act mid-way (e.g. kill a client process after
// N uploads).
//
// The proxy keeps the client's Host header and sets X-Forwarded-Host and
// X-Forwarded-Proto, so the URLs the registry builds (upload Location
// headers, manifest Location headers) already name the proxy; in addition,
// any absolute Location header that still names the registry's host is
// rewritten to the proxy's host. Either way clients keep talking through
// the proxy.
type Proxy struct {
	Host string // "127.0.0.1:PORT"

	backend string    // registry host
	reg     *Registry // the registry behind, for CollectUntagged

	mu   sync.Mutex
	reqs []Request

	fnMu sync.Mutex // serialises fn calls, and guards fn
	fn   func(Request)

	policyMu sync.Mutex // guards the policies below
	policies

	upMu        sync.Mutex // guards the upload counters and the gate
	uploadsSeen int        // blob upload requests so far (PUT/PATCH of a session)
	inFlight    int        // blob upload requests being served
	maxInFlight int        // the most served at once
	gate        *uploadGate
}

// Fault is what the proxy does to a blob upload request instead of
// passing it on (UploadFaults): answer Status (after reading the whole
// body, as a registry that fails at the end does), or, with Drop, read
// DropAfter bytes of the body and close the connection without an
// answer. The zero Fault passes the request on.
type Fault struct {
	Status    int
	Drop      bool
	DropAfter int64
}

// uploadGate holds blob upload requests until n are served at once.
type uploadGate struct {
	n        int
	patience time.Duration
	open     chan struct{}
	opened   bool
}

// policies make the proxy refuse what some registries refuse, answering
// as they do, before the registry sees the request.
type policies struct {
	refuseDigestManifests bool
	maxPathComponents     int
	namespaces            []string // nil: every namespace exists
	catalogStatus         int      // 0: the catalog is served
	tagsPage              int      // 0: tags/list is passed through
	faults                func(n int, r Request) Fault
}

// RefuseManifestPushByDigest makes the proxy answer a PUT of a manifest by
// digest (…/manifests/sha256:…) with 400 "pushing a manifest without a tag
// is not supported", as OpenShift's integrated registry does.
func (p *Proxy) RefuseManifestPushByDigest() {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.refuseDigestManifests = true
}

// LimitPathComponents makes the proxy answer every request about a
// repository of more than n path components with 400 NAME_INVALID, as
// OpenShift's integrated registry (n = 2) and Quay without nested
// repositories do; 0 lifts the limit.
func (p *Proxy) LimitPathComponents(n int) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.maxPathComponents = n
}

// AllowNamespaces makes the proxy answer every request about a repository
// whose first path component is not one of ns with 403 DENIED, as Quay
// does for an organization that does not exist. Without ns, every
// namespace exists again.
func (p *Proxy) AllowNamespaces(ns ...string) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.namespaces = nil
	if len(ns) > 0 {
		p.namespaces = append([]string{}, ns...)
	}
}

// CloseCatalog makes the proxy answer GET /v2/_catalog itself, as
// registries that keep their catalog to administrators do:
//
//   - 401: UNAUTHORIZED with a Basic challenge, also to requests that
//     carry valid credentials (Docker Hub; the OpenShift registry without
//     the registry-viewer role);
//   - 403: DENIED (the OpenShift registry, Harbor for non-admins);
//   - 404: a plain-text "404 page not found" (registries without the
//     endpoint, e.g. behind a path-routing gateway);
//   - 405: UNSUPPORTED (registries that disable the endpoint);
//   - 200: an empty list, {"repositories":[]} (Quay for a user who sees
//     no repository).
//
// 0 serves the catalog again.
func (p *Proxy) CloseCatalog(status int) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.catalogStatus = status
}

// closedCatalog answers /v2/_catalog as CloseCatalog says, and reports
// whether it did.
func (p *Proxy) closedCatalog(w http.ResponseWriter, req *http.Request) bool {
	if req.URL.Path != "/v2/_catalog" {
		return false
	}
	p.policyMu.Lock()
	status := p.catalogStatus
	p.policyMu.Unlock()
	if status == 0 {
		return false
	}
	body := func(code, message string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": code, "message": message, "detail": nil}}})
	}
	switch status {
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"repositories":[]}`+"\n")
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="testregistry"`)
		body("UNAUTHORIZED", "authentication required")
	case http.StatusForbidden:
		body("DENIED", "requested access to the resource is denied")
	case http.StatusNotFound:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, "404 page not found\n")
	case http.StatusMethodNotAllowed:
		body("UNSUPPORTED", "The operation is unsupported.")
	default:
		w.WriteHeader(status)
	}
	return true
}

// PageTags makes the proxy answer GET /v2/<name>/tags/list itself, in
// pages of at most n tags in byte order, as the distribution
// specification allows and registries other than docker-registry 2.8
// (which ignores n) do: it honours the client's n (up to n) and last, and
// links the next page with a Link header (rel="next"). It reads the whole
// list from the registry with the client's credentials; a refusal is
// relayed. 0 passes tags/list through again.
func (p *Proxy) PageTags(n int) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.tagsPage = n
}

var tagsListPath = regexp.MustCompile(`^/v2/(.+)/tags/list$`)

// pagedTags answers tags/list as PageTags says, and reports whether it did.
func (p *Proxy) pagedTags(w http.ResponseWriter, req *http.Request, transport http.RoundTripper) bool {
	p.policyMu.Lock()
	size := p.tagsPage
	p.policyMu.Unlock()
	m := tagsListPath.FindStringSubmatch(req.URL.Path)
	if size <= 0 || m == nil || req.Method != http.MethodGet {
		return false
	}
	out, err := http.NewRequestWithContext(req.Context(), http.MethodGet, "http://"+p.backend+req.URL.Path, nil)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
	if a := req.Header.Get("Authorization"); a != "" {
		out.Header.Set("Authorization", a)
	}
	resp, err := (&http.Client{Transport: transport}).Do(out)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return true
	}
	var list struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return true
	}
	slices.Sort(list.Tags)
	q := req.URL.Query()
	n := size
	if v, err := strconv.Atoi(q.Get("n")); err == nil && v > 0 && v < n {
		n = v
	}
	if last := q.Get("last"); last != "" {
		i, _ := slices.BinarySearch(list.Tags, last)
		for i < len(list.Tags) && list.Tags[i] <= last {
			i++
		}
		list.Tags = list.Tags[i:]
	}
	if len(list.Tags) > n {
		list.Tags = list.Tags[:n]
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {list.Tags[n-1]}}
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, req.URL.Path, next.Encode()))
	}
	if list.Tags == nil {
		list.Tags = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(list)
	return true
}

// UploadFaults sets fn to decide, for every blob upload request (a PUT
// or PATCH of an upload session, which carries the bytes), whether the
// proxy fails it: n counts those requests from 1, in arrival order, and
// r is the request (r.Query holds digest= on a PUT). nil clears it.
func (p *Proxy) UploadFaults(fn func(n int, r Request) Fault) {
	p.policyMu.Lock()
	defer p.policyMu.Unlock()
	p.faults = fn
}

// FailNthUpload makes the proxy answer the nth blob upload request with
// status (after reading its body), as a registry whose backend fails.
func (p *Proxy) FailNthUpload(nth, status int) {
	p.UploadFaults(func(n int, _ Request) Fault {
		if n == nth {
			return Fault{Status: status}
		}
		return Fault{}
	})
}

// DropNthUpload makes the proxy close the connection of the nth blob
// upload request after reading after bytes of its body, as a network
// that breaks mid-upload.
func (p *Proxy) DropNthUpload(nth int, after int64) {
	p.UploadFaults(func(n int, _ Request) Fault {
		if n == nth {
			return Fault{Drop: true, DropAfter: after}
		}
		return Fault{}
	})
}

// MaxUploadsInFlight is the most blob upload requests (PUT or PATCH of an
// upload session) the proxy served at once since it started or was Reset.
func (p *Proxy) MaxUploadsInFlight() int {
	p.upMu.Lock()
	defer p.upMu.Unlock()
	return p.maxInFlight
}

// GateUploads holds every blob upload request, before the registry sees
// it, until n are held at once, or for patience at most; once n have
// been, the gate stays open. It lets a test see uploads overlap however
// fast the registry serves each one; a client that never has n in flight
// waits patience per request.
func (p *Proxy) GateUploads(n int, patience time.Duration) {
	p.upMu.Lock()
	defer p.upMu.Unlock()
	p.gate = &uploadGate{n: n, patience: patience, open: make(chan struct{})}
}

// isUpload: a request that carries a blob upload's bytes.
func isUpload(req *http.Request) bool {
	return (req.Method == http.MethodPut || req.Method == http.MethodPatch) && BlobUploadDone.MatchString(req.URL.Path)
}

// uploadStarts counts an upload request in, waits at the gate, and
// returns its number and the fault to apply.
func (p *Proxy) uploadStarts(r Request) (int, Fault) {
	p.upMu.Lock()
	p.uploadsSeen++
	n := p.uploadsSeen
	p.inFlight++
	p.maxInFlight = max(p.maxInFlight, p.inFlight)
	g := p.gate
	if g != nil && !g.opened && p.inFlight >= g.n {
		g.opened = true
		close(g.open)
	}
	p.upMu.Unlock()
	if g != nil {
		select {
		case <-g.open:
		case <-time.After(g.patience):
		}
	}
	p.policyMu.Lock()
	fn := p.faults
	p.policyMu.Unlock()
	if fn == nil {
		return n, Fault{}
	}
	return n, fn(n, r)
}

func (p *Proxy) uploadEnds() {
	p.upMu.Lock()
	p.inFlight--
	p.upMu.Unlock()
}

// fault applies f to an upload request, and reports whether it did.
func (p *Proxy) fault(f Fault, w *recordingWriter, req *http.Request) bool {
	switch {
	case f.Drop:
		io.CopyN(io.Discard, req.Body, f.DropAfter)
		// Recorded (and OnResponse told) before the client sees the
		// connection close, as for an answer.
		w.finish(0)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	case f.Status != 0:
		io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNKNOWN", "message": "injected failure", "detail": "testregistry.Proxy fault"}}})
		return true
	}
	return false
}

// repositoryPath finds the repository in a /v2/ API path.
var repositoryPath = regexp.MustCompile(`^/v2/(.+?)/(manifests|blobs|tags|referrers)/(.*)$`)

// refuse answers req as the policies say, and reports whether it did.
func (p *Proxy) refuse(w http.ResponseWriter, req *http.Request) bool {
	m := repositoryPath.FindStringSubmatch(req.URL.Path)
	if m == nil {
		return false
	}
	repo, kind, rest := m[1], m[2], m[3]
	p.policyMu.Lock()
	pol := p.policies
	p.policyMu.Unlock()
	answer := func(status int, code, message, detail string) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if req.Method != http.MethodHead {
			json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message, "detail": detail}}})
		}
		return true
	}
	ns, _, _ := strings.Cut(repo, "/")
	if pol.namespaces != nil && !slices.Contains(pol.namespaces, ns) {
		return answer(http.StatusForbidden, "DENIED", "requested access to the resource is denied", "namespace "+ns+" does not exist")
	}
	if n := strings.Count(repo, "/") + 1; pol.maxPathComponents > 0 && n > pol.maxPathComponents {
		return answer(http.StatusBadRequest, "NAME_INVALID", "invalid repository name",
			fmt.Sprintf("repository name %q has %d path components; at most %d are supported", repo, n, pol.maxPathComponents))
	}
	if pol.refuseDigestManifests && req.Method == http.MethodPut && kind == "manifests" && strings.HasPrefix(rest, "sha256:") {
		return answer(http.StatusBadRequest, "UNSUPPORTED", "The operation is unsupported.", "pushing a manifest without a tag is not supported")
	}
	return false
}

// Proxy starts a recording reverse proxy in front of r, stopped by
// t.Cleanup. It keeps working (answering 502) after r is stopped.
func (r *Registry) Proxy(t testing.TB) *Proxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: r.Host}
	p := &Proxy{backend: r.Host, reg: r}
	transport := &http.Transport{
		Proxy:               nil, // never an HTTP_PROXY from the environment
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: transport,
		ModifyResponse: func(resp *http.Response) error {
			p.rewriteLocation(resp.Header)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rw := &recordingWriter{ResponseWriter: w, p: p, req: Request{
			Method: req.Method,
			Path:   req.URL.Path,
			Query:  req.URL.RawQuery,
		}}
		if isUpload(req) {
			_, f := p.uploadStarts(rw.req)
			defer p.uploadEnds()
			if p.fault(f, rw, req) {
				return
			}
		}
		if !p.closedCatalog(rw, req) && !p.refuse(rw, req) && !p.pagedTags(rw, req, transport) {
			rp.ServeHTTP(rw, req)
		}
		rw.finish(http.StatusOK) // if the handler never called WriteHeader
	}))
	srv.Start()
	p.Host = srv.Listener.Addr().String()
	t.Cleanup(func() {
		srv.Close()
		transport.CloseIdleConnections()
	})
	return p
}

// rewriteLocation points an absolute Location naming the backend at the proxy.
func (p *Proxy) rewriteLocation(h http.Header) {
	loc := h.Get("Location")
	if loc == "" {
		return
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host != p.backend {
		return
	}
	u.Host = p.Host
	h.Set("Location", u.String())
}

// Requests returns a copy of the recorded requests, in the order their
// responses were recorded (see OnResponse).
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}

// Count returns how many recorded requests have the method (any if ""),
// a path matching path (any if nil) and the status (any if 0).
func (p *Proxy) Count(method string, path *regexp.Regexp, status int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.reqs {
		if (method == "" || r.Method == method) &&
			(path == nil || path.MatchString(r.Path)) &&
			(status == 0 || r.Status == status) {
			n++
		}
	}
	return n
}

// OnResponse sets fn to be called for every request, replacing the previous
// fn; nil clears it.
//
// fn is called synchronously, once the registry's status is known and the
// request has been recorded (Requests and Count include it), but BEFORE the
// response status line, headers and body are relayed to the client. So when
// fn sees the Nth completed upload, the client has not yet learnt that it
// succeeded; killing the client from fn stops it before it can send
// anything else. Calls are serialised (fn never runs concurrently with
// itself) and the client's request waits while fn runs. fn must not call
// OnResponse.
//
// It follows that by the time a client has received a response, the
// request is recorded: after a client process exits, Requests and Count are
// complete for everything it did.
func (p *Proxy) OnResponse(fn func(Request)) {
	p.fnMu.Lock()
	defer p.fnMu.Unlock()
	p.fn = fn
}

// Reset forgets the recorded requests.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.reqs = nil
	p.mu.Unlock()
	p.upMu.Lock()
	p.maxInFlight = 0
	p.upMu.Unlock()
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.mu.Unlock()

	p.fnMu.Lock()
	defer p.fnMu.Unlock()
	if p.fn != nil {
		p.fn(r)
	}
}

// recordingWriter records the request when the final status is written,
// just before it is passed on to the client.
type recordingWriter struct {
	http.ResponseWriter
	p    *Proxy
	req  Request
	done bool
}

func (w *recordingWriter) finish(status int) {
	if w.done {
		return
	}
	w.done = true
	w.req.Status = status
	w.p.record(w.req)
}

func (w *recordingWriter) WriteHeader(status int) {
	if status >= 200 { // 1xx responses are interim
		w.finish(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.finish(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush etc. of the real writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
