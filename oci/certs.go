package oci

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/airgap-bundle/bundle/location"
)

// DefaultCertsDir is where a registry's CA certificate goes, in
// DefaultCertsDir/HOST[:PORT]/ca.crt, as for podman (containers-certs.d(5)).
const DefaultCertsDir = "/etc/containers/certs.d"

// defaultCertsDirs are the roots podman searches for a registry's
// directory, first found wins: the user's own (not for root), the system's,
// and Docker's.
func defaultCertsDirs() []string {
	var dirs []string
	if os.Geteuid() != 0 {
		if home, err := os.UserHomeDir(); err == nil {
			dirs = append(dirs, filepath.Join(home, ".config", "containers", "certs.d"))
		}
	}
	return append(dirs, DefaultCertsDir, "/etc/docker/certs.d")
}

// certsDirFor is the directory with host's certificates: certDir when
// given (for every registry, as podman's --cert-dir), else roots/HOST:PORT
// or roots/HOST, first found. "" when there is none.
func certsDirFor(certDir string, roots []string, host string) string {
	if certDir != "" {
		return certDir
	}
	names := []string{host}
	if h, _, err := net.SplitHostPort(host); err == nil {
		names = append(names, h)
	}
	for _, root := range roots {
		for _, n := range names {
			d := filepath.Join(root, n)
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
		}
	}
	return ""
}

// tlsConfigFromDir reads a certs.d directory: every *.crt is a CA (added
// to the system's), every *.cert a client certificate whose key is the
// *.key of the same name.
func tlsConfigFromDir(dir string) (*tls.Config, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("certificates directory %s: %w", dir, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	for _, e := range entries { // ReadDir sorts: the result does not depend on the file system
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".crt"):
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("CA certificate %s: %w", p, err)
			}
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", p)
			}
		case strings.HasSuffix(name, ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			c, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s with key %s: %w", p, key, err)
			}
			cfg.Certificates = append(cfg.Certificates, c)
		case strings.HasSuffix(name, ".key"):
			// A key without its certificate is a mistake the user should
			// hear of, not a silently anonymous connection.
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
				return nil, fmt.Errorf("client key %s has no certificate %s", p, strings.TrimSuffix(name, ".key")+".cert")
			}
		}
	}
	return cfg, nil
}

// hostTransport skips certificate checks for the hosts named insecure, and
// for no other; hosts with a certificates directory get its CAs and client
// certificates.
type hostTransport struct {
	secure, loose *http.Transport
	insecure      []string
	certDir       string            // RegistryOptions.CertDir
	certsDirs     []string          // roots of HOST[:PORT] directories
	hostCertDirs  map[string]string // RegistryOptions.Hosts' CertDir

	mu     sync.Mutex
	byHost map[string]hostTLS
}

type hostTLS struct {
	rt  http.RoundTripper
	dir string // certificates directory used, "" for none
	err error
}

// forHost is the transport for host, its certificates directory read once.
func (t *hostTransport) forHost(host string) hostTLS {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.byHost[host]; ok {
		return h
	}
	h := hostTLS{rt: t.secure}
	dir := t.hostCertDirs[host]
	if dir == "" {
		dir = certsDirFor(t.certDir, t.certsDirs, host)
	}
	if dir != "" {
		h.dir = dir
		cfg, err := tlsConfigFromDir(dir)
		if err != nil {
			h.err = fmt.Errorf("TLS for %s: %w", host, err)
		} else {
			tr := t.secure.Clone()
			tr.TLSClientConfig = cfg
			h.rt = tr
		}
	}
	if t.byHost == nil {
		t.byHost = map[string]hostTLS{}
	}
	t.byHost[host] = h
	return h
}

// certsDirUsed is the certificates directory read for host ("" for none).
func (t *hostTransport) certsDirUsed(host string) string {
	return t.forHost(host).dir
}

// caDirFor is where host's CA certificate should go: the directory given,
// else the system's certs.d (or the first root when the roots were
// replaced).
func (t *hostTransport) caDirFor(host string) string {
	if t.certDir != "" {
		return t.certDir
	}
	if d := t.forHost(host).dir; d != "" {
		return d
	}
	root := DefaultCertsDir
	if len(t.certsDirs) > 0 && !containsString(t.certsDirs, DefaultCertsDir) {
		root = t.certsDirs[0]
	}
	return filepath.Join(root, host)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if location.InsecureHost(t.insecure, req.URL.Host) {
		return t.loose.RoundTrip(req)
	}
	h := t.forHost(req.URL.Host)
	if h.err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, h.err
	}
	return h.rt.RoundTrip(req)
}
