package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// ErrCatalogClosed is wrapped by CatalogClosedError.
var ErrCatalogClosed = errors.New("the registry does not list its repositories")

// CatalogClosedError is a registry that does not list its repositories
// (GET /v2/_catalog) to the client, as many keep the catalog to
// administrators: Docker Hub answers 401 whatever the credentials, the
// OpenShift registry 401 or 403 without the registry-viewer role, Harbor
// 403 to non-admins, gateways 404, some registries 405; Quay answers an
// empty list to a user who sees no repository. Its repositories can still
// be read when named one by one. It is ErrCatalogClosed (errors.Is).
type CatalogClosedError struct {
	Registry string // registry host, as users write it
	// Status is the HTTP status of GET /v2/_catalog: 401, 403, 404 or
	// 405; or 200 when the registry answered an empty list.
	Status int
	Err    error // the registry's answer (nil for an empty list)
}

func (e *CatalogClosedError) Error() string {
	if e.Status == http.StatusOK {
		return fmt.Sprintf("registry %s listed no repositories (an empty /v2/_catalog): it does not list its repositories, or none to these credentials; repositories must be named one by one", e.Registry)
	}
	msg := fmt.Sprintf("registry %s does not list its repositories (HTTP %d on /v2/_catalog): repositories must be named one by one", e.Registry, e.Status)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CatalogClosedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCatalogClosed}
	}
	return []error{ErrCatalogClosed, e.Err}
}

// registry opens host as a whole (for its catalog), with the credentials
// and transport of its repositories.
func (r *Registries) registry(ctx context.Context, host string) (*remote.Registry, error) {
	reg, err := remote.NewRegistry(connectHost(host))
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", host, err)
	}
	reg.Client = r.clientFor(host, "")
	if r.Insecure(host) {
		r.mu.Lock()
		plain, ok := r.plain[host]
		if !ok {
			plain = speaksPlainHTTP(ctx, r.client, connectHost(host))
			r.plain[host] = plain
		}
		r.mu.Unlock()
		reg.PlainHTTP = plain
	}
	return reg, nil
}

// Catalog lists the repositories of a registry (GET /v2/_catalog), every
// page of it, sorted. The registry's page size is kept (no n is sent:
// docker-registry refuses an n above its catalog.maxentries); pages are
// followed by their Link headers.
//
// A registry that refuses the catalog gives a *CatalogClosedError: 404
// and 405 always; 401 and 403 when the registry accepts the same
// credentials (or their absence) on GET /v2/, so that the refusal is of
// the catalog, not of the credentials (those give an *AuthError). An
// empty list is no error here: a registry may be empty; callers that
// need repositories make it one (CatalogClosedError with Status 200).
func (r *Registries) Catalog(ctx context.Context, host string) ([]string, error) {
	reg, err := r.registry(ctx, host)
	if err != nil {
		return nil, err
	}
	var out []string
	err = reg.Repositories(ctx, "", func(repos []string) error {
		out = append(out, repos...)
		return nil
	})
	if err == nil {
		sort.Strings(out)
		return out, nil
	}
	// describe needs a repository; the catalog belongs to none.
	probe := &Repository{repo: &remote.Repository{Reference: reg.Reference}, Name: host, host: host, regs: r}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return nil, &CatalogClosedError{Registry: host, Status: resp.StatusCode, Err: err}
		case http.StatusUnauthorized, http.StatusForbidden:
			if reg.Ping(ctx) == nil {
				return nil, &CatalogClosedError{Registry: host, Status: resp.StatusCode, Err: err}
			}
		}
	}
	return nil, probe.describe("list the repositories of "+host+" (_catalog)", err)
}
