package oci

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// authFile is one parsed credentials file: containers auth.json or Docker
// config.json (the same "auths" format; Docker adds credential helpers).
type authFile struct {
	path        string
	auths       map[string]authEntry // by normalized key: host, host/ns, host/ns/repo
	credHelpers map[string]string    // host → helper suffix (docker-credential-SUFFIX)
	credsStore  string
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// credential decodes the entry; an entry without credentials (Docker
// writes `{}` placeholders when a helper holds them) is EmptyCredential.
func (e authEntry) credential() (auth.Credential, error) {
	c := auth.Credential{Username: e.Username, Password: e.Password, RefreshToken: e.IdentityToken, AccessToken: e.RegistryToken}
	if e.Auth != "" {
		b, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return auth.EmptyCredential, fmt.Errorf("auth is not base64: %w", err)
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok {
			return auth.EmptyCredential, errors.New(`auth is not "user:password"`)
		}
		c.Username, c.Password = user, pass
	}
	return c, nil
}

// readAuthFile parses path. Its auths keys are normalized as podman does:
// a scheme and, after one, the path (Docker's legacy
// "https://index.docker.io/v1/") are dropped, and index.docker.io is
// docker.io.
func readAuthFile(path string) (*authFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	var raw struct {
		Auths       map[string]authEntry `json:"auths"`
		CredHelpers map[string]string    `json:"credHelpers"`
		CredsStore  string               `json:"credsStore"`
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("credentials file %s: %w", path, err)
		}
	}
	f := &authFile{path: path, auths: map[string]authEntry{}, credHelpers: map[string]string{}, credsStore: raw.CredsStore}
	for k, e := range raw.Auths {
		k = normalizeAuthKey(k)
		// Two spellings of one key (https://host and host): keep the one
		// with credentials, so that the result does not depend on map order.
		if old, ok := f.auths[k]; ok && old != (authEntry{}) {
			continue
		}
		f.auths[k] = e
	}
	for k, h := range raw.CredHelpers {
		f.credHelpers[normalizeAuthKey(k)] = h
	}
	return f, nil
}

func normalizeAuthKey(k string) string {
	for _, scheme := range []string{"https://", "http://"} {
		if rest, ok := strings.CutPrefix(k, scheme); ok {
			k, _, _ = strings.Cut(rest, "/")
			break
		}
	}
	k = strings.TrimSuffix(k, "/")
	if k == "index.docker.io" || strings.HasPrefix(k, "index.docker.io/") {
		k = "docker.io" + strings.TrimPrefix(k, "index.docker.io")
	}
	return k
}

// lookup finds the credentials for repository path on host in this file:
// a credential helper named for the host, else the auths entry with the
// longest key that is host/path or a parent of it (host/ns/repo, then
// host/ns, then host), else the credsStore helper. found is false when the
// file has nothing for it.
func (f *authFile) lookup(ctx context.Context, host, path string) (c auth.Credential, found bool, err error) {
	if h, ok := f.credHelpers[host]; ok {
		if c, err = helperGet(ctx, h, host); err != nil {
			return c, false, fmt.Errorf("credentials file %s: credential helper docker-credential-%s for %s: %w", f.path, h, host, err)
		}
		if c != auth.EmptyCredential {
			return c, true, nil
		}
	}
	key := host
	if path != "" {
		key = host + "/" + path
	}
	for {
		if e, ok := f.auths[key]; ok {
			c, err := e.credential()
			if err != nil {
				return c, false, fmt.Errorf("credentials file %s: entry %s: %w", f.path, key, err)
			}
			if c != auth.EmptyCredential {
				return c, true, nil
			}
		}
		i := strings.LastIndex(key, "/")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	if f.credsStore != "" {
		if c, err = helperGet(ctx, f.credsStore, host); err != nil {
			return c, false, fmt.Errorf("credentials file %s: credential helper docker-credential-%s for %s: %w", f.path, f.credsStore, host, err)
		}
		if c != auth.EmptyCredential {
			return c, true, nil
		}
	}
	return auth.EmptyCredential, false, nil
}

// helperGet asks docker-credential-SUFFIX for host's credentials (none
// when it has none). Docker stores Docker Hub's under its legacy address.
func helperGet(ctx context.Context, suffix, host string) (auth.Credential, error) {
	addr := host
	if host == "docker.io" {
		addr = "https://index.docker.io/v1/"
	}
	return credentials.NewNativeStore(suffix).Get(ctx, addr)
}

// authFiles is the ordered list of credentials files; the first with
// credentials for a repository wins, as with podman: a stale Docker login
// must not beat a podman login, nor a host entry a repository's own.
type authFiles struct {
	files    []*authFile
	searched []string // every path considered, in order, present or not
	named    bool     // the caller named the only file
}

// defaultAuthFiles lists the files podman reads (containers-auth.json(5)),
// then Docker's: $REGISTRY_AUTH_FILE; ${XDG_RUNTIME_DIR}/containers/auth.json
// (/run/containers/UID/auth.json without XDG_RUNTIME_DIR);
// ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json;
// ${DOCKER_CONFIG:-~/.docker}/config.json; ~/.dockercfg.
func defaultAuthFiles() []string {
	home, _ := os.UserHomeDir()
	var paths []string
	add := func(p string) {
		if p != "" {
			paths = append(paths, p)
		}
	}
	add(os.Getenv("REGISTRY_AUTH_FILE"))
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		add(filepath.Join(d, "containers", "auth.json"))
	} else {
		add(filepath.Join("/run/containers", fmt.Sprint(os.Getuid()), "auth.json"))
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		add(filepath.Join(d, "containers", "auth.json"))
	} else if home != "" {
		add(filepath.Join(home, ".config", "containers", "auth.json"))
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		add(filepath.Join(d, "config.json"))
	} else if home != "" {
		add(filepath.Join(home, ".docker", "config.json"))
	}
	if home != "" {
		add(filepath.Join(home, ".dockercfg"))
	}
	return paths
}

// openAuthFiles reads the file named alone when given (it must exist), else the
// default files that exist.
func openAuthFiles(named string) (*authFiles, error) {
	if named != "" {
		f, err := readAuthFile(named)
		if err != nil {
			return nil, err
		}
		return &authFiles{files: []*authFile{f}, searched: []string{named}, named: true}, nil
	}
	a := &authFiles{}
	for _, p := range defaultAuthFiles() {
		a.searched = append(a.searched, p)
		if _, err := os.Stat(p); err != nil {
			continue // a default file that is missing (or unreadable) is no error
		}
		var f *authFile
		var err error
		if filepath.Base(p) == ".dockercfg" {
			f, err = readDockercfg(p)
		} else {
			f, err = readAuthFile(p)
		}
		if err != nil {
			return nil, err
		}
		a.files = append(a.files, f)
	}
	return a, nil
}

// readDockercfg reads Docker's legacy file: the auths map without the
// "auths" wrapper.
func readDockercfg(path string) (*authFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	var auths map[string]authEntry
	if err := json.Unmarshal(b, &auths); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	f := &authFile{path: path, auths: map[string]authEntry{}, credHelpers: map[string]string{}}
	for k, e := range auths {
		f.auths[normalizeAuthKey(k)] = e
	}
	return f, nil
}

// credential is the credential for repository path on host ("" for the
// registry as a whole): from the first file that has one.
func (a *authFiles) credential(ctx context.Context, host, path string) (auth.Credential, error) {
	for _, f := range a.files {
		c, found, err := f.lookup(ctx, host, path)
		if err != nil || found {
			return c, err
		}
	}
	return auth.EmptyCredential, nil
}

// describe says where credentials were looked for, for AuthError.
func (a *authFiles) describe() string {
	if a.named {
		return a.searched[0]
	}
	read := a.read()
	if len(read) == 0 {
		return "no credentials file (none of " + strings.Join(a.searched, ", ") + " exists)"
	}
	return "the credentials files, searched in this order: " + strings.Join(read, ", ")
}

// read lists the files read, in the order searched.
func (a *authFiles) read() []string {
	var read []string
	for _, f := range a.files {
		read = append(read, f.path)
	}
	return read
}
