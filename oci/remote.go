package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/airgap-bundle/bundle/location"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Errors a caller can tell apart when talking to registries.
var (
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("access denied")
	// ErrUnreachable: no connection to the registry.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrForbidden: the registry answered 403. It is also ErrUnauthorized,
	// but need not be about credentials: registries answer 403 for a
	// namespace that does not exist as well as for a right the user lacks.
	ErrForbidden = errors.New("forbidden: the credentials lack the right, or the namespace does not exist")
)

// AuthError is a registry refusing access: to the credentials sent, or for
// want of any. It is ErrUnauthorized (errors.Is), and says where
// credentials were looked for, so that a caller can say where to put them.
type AuthError struct {
	Op       string // what was refused, naming the reference
	Registry string // registry host, as users write it
	// Status is the HTTP status (401 or 403), or 0 when the registry asked
	// for a user name and password and none was found for it.
	Status int
	// Credentials says where credentials were looked for, for messages:
	// the file the caller named, or the files read in the order searched,
	// or that none of the default files exists (naming them).
	Credentials string
	// Searched lists the credentials files read, in the order searched
	// (the first with an entry for the repository wins).
	Searched []string
	// AuthFile: Credentials is the file the caller named
	// (RegistryOptions.AuthFile), the only one read.
	AuthFile bool
	Err      error // the registry's answer
}

func (e *AuthError) Error() string {
	switch e.Status {
	case 0:
		return fmt.Sprintf("%s: %v: %s asks for a user name and password, and none was found for it in %s: log in with podman login or docker login",
			e.Op, ErrUnauthorized, e.Registry, e.Credentials)
	case http.StatusForbidden:
		return fmt.Sprintf("%s: %v (HTTP 403): %v (credentials for %s from %s): %v", e.Op, ErrUnauthorized, ErrForbidden, e.Registry, e.Credentials, e.Err)
	}
	return fmt.Sprintf("%s: %v (HTTP %d): check the credentials for %s in %s: %v", e.Op, ErrUnauthorized, e.Status, e.Registry, e.Credentials, e.Err)
}

func (e *AuthError) Unwrap() []error {
	if e.Status == http.StatusForbidden {
		return []error{ErrUnauthorized, ErrForbidden, e.Err}
	}
	return []error{ErrUnauthorized, e.Err}
}

// TLSError is a TLS handshake with a registry that failed: the registry
// speaks plain HTTP, or its certificate is not trusted. A registry whose
// certificate a private CA signed is reached with that CA in CADir; one
// that speaks plain HTTP only when named in RegistryOptions.Insecure.
type TLSError struct {
	Op       string // what failed, naming the reference
	Registry string // registry host, as users write it
	// Verify: the certificate did not verify (rather than the registry not
	// speaking TLS at all).
	Verify bool
	// CertsDir is the certificates directory whose CAs were trusted besides
	// the system's ("" for none).
	CertsDir string
	// CADir is where the registry's CA certificate belongs (CADir/ca.crt).
	CADir string
	Err   error
}

func (e *TLSError) Error() string {
	switch {
	case !e.Verify:
		return fmt.Sprintf("%s: TLS with %s failed (does it speak plain HTTP?): %v", e.Op, e.Registry, e.Err)
	case e.CertsDir != "":
		return fmt.Sprintf("%s: TLS with %s failed: its certificate does not verify with the system's CAs and those in %s: %v", e.Op, e.Registry, e.CertsDir, e.Err)
	}
	return fmt.Sprintf("%s: TLS with %s failed: its certificate does not verify with the system's CAs (a private CA belongs in %s): %v",
		e.Op, e.Registry, filepath.Join(e.CADir, "ca.crt"), e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// UnreachableError is a registry that could not be connected to. It is
// ErrUnreachable (errors.Is).
type UnreachableError struct {
	Op       string // what failed, naming the reference
	Registry string // registry host, as users write it
	// Insecure: the registry is named in RegistryOptions.Insecure (so TLS
	// is not what kept it away).
	Insecure bool
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: %v: %v: is %s running, and reachable from here?", e.Op, ErrUnreachable, e.Err, e.Registry)
}

func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

// RegistryOptions configure access to registries.
type RegistryOptions struct {
	// AuthFile, when set, is the only credentials file read (Docker
	// config.json or containers auth.json format). Otherwise the files are
	// those of containers-auth.json(5), then Docker's, searched in this
	// order: $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json
	// (/run/containers/UID/auth.json without XDG_RUNTIME_DIR),
	// ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json,
	// ${DOCKER_CONFIG:-~/.docker}/config.json and ~/.dockercfg. The first
	// file with an entry for the repository wins; within a file, the
	// credential helper named for the host (credHelpers), else the auths
	// entry with the longest key matching host/path (host/ns/repo, host/ns,
	// host), else the credsStore helper.
	AuthFile string
	// Credential, when set, replaces the lookup above (library callers).
	// It is asked per registry, not per repository.
	Credential auth.CredentialFunc
	// Insecure lists hosts (host or host:port) reached over plain HTTP, or
	// over TLS without certificate verification when they speak TLS.
	Insecure []string
	// CertDir, when set, holds the certificates for every registry (as
	// podman's --cert-dir): CAs *.crt, client certificates *.cert with
	// their keys *.key. Otherwise a registry's come from
	// CertsDirs/HOST:PORT (or CertsDirs/HOST), first found.
	CertDir string
	// CertsDirs are the roots of per-registry certificates directories
	// (containers-certs.d(5)); nil: ~/.config/containers/certs.d (not for
	// root), /etc/containers/certs.d and /etc/docker/certs.d.
	CertsDirs []string
	// UserAgent is sent with every request.
	UserAgent string
	// Retries bounds retries of a request or of an interrupted blob
	// download (default 5, with exponential backoff from 250 ms).
	Retries int
	// Hosts are settings of single registries (HOST[:PORT]) that win over
	// the ones above for that registry, as a skopeo sync file gives them
	// per registry.
	Hosts map[string]HostOptions
}

// HostOptions are the settings of one registry.
type HostOptions struct {
	// Insecure: plain HTTP, or TLS without certificate checks (skopeo's
	// tls-verify: false).
	Insecure bool
	// CertDir is the registry's certificates directory (CAs *.crt,
	// client *.cert with *.key).
	CertDir string
	// Username and Password, when Username is set, are the registry's
	// credentials; the credentials files are not asked.
	Username, Password string
}

// Registries opens repositories on registries with shared credentials,
// connections and TLS settings.
type Registries struct {
	// client serves requests that need no credentials of a repository
	// (probes), and all of them when RegistryOptions.Credential is set.
	client *auth.Client
	// files, when not nil, hold credentials per repository: each
	// repository then has an auth.Client of its own (see clientFor).
	files     *authFiles
	transport *hostTransport
	insecure  []string
	retries   int
	credFile  string // where credentials came from, for messages
	// fromAuthFile: credFile was named by the caller.
	fromAuthFile bool
	userAgent    string

	hosts map[string]HostOptions

	mu    sync.Mutex
	plain map[string]bool // insecure host → speaks plain HTTP
	repos map[string]*Repository
}

// NewRegistries prepares registry access. It reads no network.
func NewRegistries(o RegistryOptions) (*Registries, error) {
	r := &Registries{insecure: append([]string(nil), o.Insecure...), plain: map[string]bool{}, repos: map[string]*Repository{}, retries: o.Retries, hosts: o.Hosts}
	hostCertDirs := map[string]string{}
	for h, ho := range o.Hosts {
		if ho.Insecure {
			r.insecure = append(r.insecure, h)
		}
		if ho.CertDir != "" {
			hostCertDirs[h] = ho.CertDir
		}
	}
	if r.retries <= 0 {
		r.retries = 5
	}
	cred := o.Credential
	if cred == nil {
		files, err := openAuthFiles(o.AuthFile)
		if err != nil {
			return nil, err
		}
		r.files = files
		r.credFile = files.describe()
		r.fromAuthFile = files.named
		cred = func(ctx context.Context, _ string) (auth.Credential, error) { return auth.EmptyCredential, nil }
	}
	secure := http.DefaultTransport.(*http.Transport).Clone()
	loose := secure.Clone()
	loose.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // only for hosts the user named insecure
	certsDirs := o.CertsDirs
	if certsDirs == nil {
		certsDirs = defaultCertsDirs()
	}
	r.transport = &hostTransport{secure: secure, loose: loose, insecure: r.insecure, certDir: o.CertDir, certsDirs: certsDirs, hostCertDirs: hostCertDirs}
	policy := &retry.GenericPolicy{
		Retryable: retry.DefaultPredicate,
		Backoff:   retry.DefaultBackoff,
		MinWait:   200 * time.Millisecond,
		MaxWait:   10 * time.Second,
		MaxRetry:  r.retries,
	}
	rt := &retry.Transport{
		Base:   r.transport,
		Policy: func() retry.Policy { return policy },
	}
	r.client = &auth.Client{
		Client:     &http.Client{Transport: rt},
		Cache:      auth.NewCache(),
		Credential: cred,
	}
	r.userAgent = o.UserAgent
	if r.userAgent == "" {
		r.userAgent = "bundle"
	}
	r.client.SetUserAgent(r.userAgent)
	return r, nil
}

// clientFor is the client for repository path on host ("" for the
// registry as a whole). oras asks a client's Credential for a registry
// host only, and caches a Basic credential per host; credentials files
// hold them per repository (host/ns beats host). So each repository gets
// a client whose Credential knows its path, with a cache of its own: one
// repository's credentials never answer for another's.
func (r *Registries) clientFor(host, path string) *auth.Client {
	if ho := r.hosts[host]; ho.Username != "" {
		c := &auth.Client{Client: r.client.Client, Cache: auth.NewCache(),
			Credential: auth.StaticCredential(connectHost(host), auth.Credential{Username: ho.Username, Password: ho.Password})}
		c.SetUserAgent(r.userAgent)
		return c
	}
	if r.files == nil {
		return r.client
	}
	c := &auth.Client{
		Client: r.client.Client,
		Cache:  auth.NewCache(),
		Credential: func(ctx context.Context, _ string) (auth.Credential, error) {
			return r.files.credential(ctx, host, path)
		},
	}
	c.SetUserAgent(r.userAgent)
	return c
}

// Repository is one repository on a registry.
type Repository struct {
	// repo is held, not embedded: every method of Repository translates
	// oras errors (describe), and an embedded oras repository would offer
	// its own methods beside them, untranslated.
	repo *remote.Repository
	// Name is host/path, as users write it.
	Name string
	host string // registry as users write it (docker.io, not its API host)
	regs *Registries

	tagsOnce sync.Once
	tags     map[string]bool
	tagsErr  error
}

// Registry is the registry host (and port) of the repository, as users
// write it: docker.io, not the API host Docker Hub is reached at.
func (r *Repository) Registry() string { return r.host }

// connectHost is the host to dial for a registry name: Docker Hub's name is
// not its API host.
func connectHost(host string) string {
	if host == "docker.io" {
		return "registry-1.docker.io"
	}
	return host
}

// Repository opens host/path. For insecure hosts it asks the registry once
// whether it speaks TLS.
func (r *Registries) Repository(ctx context.Context, host, path string) (*Repository, error) {
	name := host + "/" + path
	r.mu.Lock()
	defer r.mu.Unlock()
	if repo, ok := r.repos[name]; ok {
		return repo, nil
	}
	rr, err := remote.NewRepository(connectHost(host) + "/" + path)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	rr.Client = r.clientFor(host, path)
	// On registries without the referrers API, pushing a referrer rewrites
	// the sha256-<hex> index tag; do not also delete the old index: many
	// mirrors forbid deletes, and an orphaned index is harmless.
	rr.SkipReferrersGC = true
	if r.Insecure(host) {
		plain, ok := r.plain[host]
		if !ok {
			plain = speaksPlainHTTP(ctx, r.client, connectHost(host))
			r.plain[host] = plain
		}
		rr.PlainHTTP = plain
	}
	repo := &Repository{repo: rr, Name: name, host: host, regs: r}
	r.repos[name] = repo
	return repo, nil
}

// Insecure reports whether host (HOST[:PORT]) is one of
// RegistryOptions.Insecure, spoken to over plain HTTP or TLS without
// certificate checks (location.InsecureHost says how hosts match).
func (r *Registries) Insecure(host string) bool {
	return location.InsecureHost(r.insecure, host)
}

// speaksPlainHTTP tries TLS first, as docker and podman do, and falls back
// to plain HTTP when the server answers TLS with HTTP.
func speaksPlainHTTP(ctx context.Context, c *auth.Client, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err != nil {
		return false
	}
	// A bare client: no credentials go out on this probe, and no retries.
	resp, err := (&http.Client{Transport: c.Client.Transport.(*retry.Transport).Base}).Do(req)
	if err == nil {
		resp.Body.Close()
		return false
	}
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// describe turns registry errors into ones that name the reference and say
// what to do.
func (r *Repository) describe(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var searched []string
	if r.regs.files != nil {
		searched = r.regs.files.read()
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return &AuthError{Op: what, Registry: r.host, Credentials: r.regs.credFile, Searched: searched, AuthFile: r.regs.fromAuthFile, Err: err}
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return &AuthError{Op: what, Registry: r.host, Status: resp.StatusCode, Credentials: r.regs.credFile, Searched: searched, AuthFile: r.regs.fromAuthFile, Err: err}
	}
	if errors.Is(err, errdef.ErrNotFound) || (errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound) {
		return fmt.Errorf("%s: %w in the registry (check the repository, tag or digest)", what, ErrNotFound)
	}
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	// A registry that answers HTTPS in plain HTTP is reachable: what
	// failed is TLS (net/http says so with ErrSchemeMismatch).
	if errors.As(err, &rh) || errors.As(err, &cv) || errors.Is(err, http.ErrSchemeMismatch) {
		h := connectHost(r.host)
		return &TLSError{Op: what, Registry: r.host, Verify: cv != nil, CertsDir: r.regs.transport.certsDirUsed(h), CADir: r.regs.transport.caDirFor(h), Err: err}
	}
	var netErr net.Error
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.As(err, &netErr) {
		return &UnreachableError{Op: what, Registry: r.host, Insecure: r.regs.Insecure(r.host), Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Resolve finds the descriptor a tag or digest names.
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	sep := ":"
	if strings.Contains(reference, ":") {
		sep = "@"
	}
	d, err := r.repo.Resolve(ctx, reference)
	return d, r.describe(r.Name+sep+reference, err)
}

// Tags lists the repository's tags once and remembers them.
func (r *Repository) Tags(ctx context.Context) (map[string]bool, error) {
	r.tagsOnce.Do(func() {
		r.tags = map[string]bool{}
		err := r.repo.Tags(ctx, "", func(tags []string) error {
			for _, t := range tags {
				r.tags[t] = true
			}
			return nil
		})
		r.tagsErr = r.describe("list tags of "+r.Name, err)
	})
	return r.tags, r.tagsErr
}

// Referrers lists the manifests whose subject is d, through the referrers
// API or, on registries without it, the sha256-<hex> tag schema.
func (r *Repository) Referrers(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	err := r.repo.Referrers(ctx, d, "", func(rs []ocispec.Descriptor) error {
		out = append(out, rs...)
		return nil
	})
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	return out, r.describe("referrers of "+r.Name+"@"+d.Digest.String(), err)
}

// Fetch opens a manifest or blob. Interrupted blob downloads resume where
// they stopped (with a range request when the registry allows), with the
// same retry budget as requests.
func (r *Repository) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := r.repo.Fetch(ctx, desc)
	if err != nil {
		return nil, r.describe(r.Name+"@"+desc.Digest.String(), err)
	}
	if IsIndex(desc.MediaType) || IsManifest(desc.MediaType) {
		return rc, nil
	}
	return &resumingReader{ctx: ctx, repo: r, desc: desc, rc: rc}, nil
}

// resumingReader re-opens a blob after a transient failure and continues
// at the offset reached. The caller checks the digest of what it reads.
type resumingReader struct {
	ctx     context.Context
	repo    *Repository
	desc    ocispec.Descriptor
	rc      io.ReadCloser
	off     int64
	retries int
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		n, err := r.rc.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF || n > 0 {
			if err != nil && err != io.EOF {
				// Report the bytes now; the error comes back on the next call.
				err = nil
			}
			return n, err
		}
		if r.ctx.Err() != nil || r.retries >= r.repo.regs.retries {
			return 0, r.repo.describe(fmt.Sprintf("read %s@%s at byte %d", r.repo.Name, r.desc.Digest, r.off), err)
		}
		r.retries++
		wait := retry.DefaultBackoff(r.retries-1, nil)
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-time.After(wait):
		}
		if rerr := r.reopen(); rerr != nil {
			return 0, rerr
		}
	}
}

func (r *resumingReader) reopen() error {
	r.rc.Close()
	rc, err := r.repo.repo.Fetch(r.ctx, r.desc)
	if err != nil {
		r.rc = io.NopCloser(strings.NewReader(""))
		return r.repo.describe(fmt.Sprintf("resume %s@%s", r.repo.Name, r.desc.Digest), err)
	}
	r.rc = rc
	if r.off == 0 {
		return nil
	}
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(r.off, io.SeekStart); err == nil {
			return nil
		}
		// The range request failed: start over below on a fresh stream.
		rc.Close()
		if rc, err = r.repo.repo.Fetch(r.ctx, r.desc); err != nil {
			r.rc = io.NopCloser(strings.NewReader(""))
			return r.repo.describe(fmt.Sprintf("resume %s@%s", r.repo.Name, r.desc.Digest), err)
		}
		r.rc = rc
	}
	if _, err := io.CopyN(io.Discard, rc, r.off); err != nil {
		return r.repo.describe(fmt.Sprintf("resume %s@%s", r.repo.Name, r.desc.Digest), err)
	}
	return nil
}

func (r *resumingReader) Close() error { return r.rc.Close() }

// Exists reports whether the repository holds desc (a blob, or a manifest
// for manifest media types).
func (r *Repository) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	ok, err := r.repo.Exists(ctx, desc)
	return ok, r.describe("check "+r.Name+"@"+desc.Digest.String(), err)
}

// Push uploads content by digest: a blob, or a manifest for manifest media
// types (a manifest with a subject is also indexed as a referrer).
func (r *Repository) Push(ctx context.Context, desc ocispec.Descriptor, content io.Reader) error {
	return r.describe("push "+r.Name+"@"+desc.Digest.String(), r.repo.Push(ctx, desc, content))
}

// PushTag uploads a manifest under a tag.
func (r *Repository) PushTag(ctx context.Context, desc ocispec.Descriptor, content io.Reader, tag string) error {
	return r.describe("tag "+r.Name+":"+tag, r.repo.PushReference(ctx, desc, content, tag))
}

// Mount makes a blob that another repository of the same registry holds
// available in this one, without uploading it (registries that cannot
// mount get the content from getContent).
func (r *Repository) Mount(ctx context.Context, desc ocispec.Descriptor, from *Repository, getContent func() (io.ReadCloser, error)) error {
	return r.describe("mount "+desc.Digest.String()+" from "+from.Name+" into "+r.Name,
		r.repo.Mount(ctx, desc, from.repo.Reference.Repository, getContent))
}

// Ping checks that the registry answers and accepts the credentials for
// this repository, so that errors come before any work.
func (r *Repository) Ping(ctx context.Context) error {
	_, err := r.repo.Resolve(ctx, "sha256:"+strings.Repeat("0", 64))
	if err == nil || errors.Is(err, errdef.ErrNotFound) {
		return nil
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return r.describe("registry "+r.host+" (repository "+r.Name+")", err)
}

// Transient reports whether err is a failure that another attempt of the
// same request may not meet: a connection that could not be made or that
// broke, a registry answering 5xx (an overloaded or restarting backend),
// 429 or 408 (those the request retries retry too). A registry's refusal
// (401, 403, 400 and the other 4xx), a TLS failure and a cancelled context
// are not: trying again gets the same answer, or is not wanted.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae *AuthError
	var te *TLSError
	var pe *PathRefusedError
	var fe *RepositoryForbiddenError
	if errors.As(err, &ae) || errors.As(err, &te) || errors.As(err, &pe) || errors.As(err, &fe) {
		return false
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		return resp.StatusCode >= http.StatusInternalServerError || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout
	}
	if errors.Is(err, ErrUnreachable) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
