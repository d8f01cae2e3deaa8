package oci

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Registries refuse some repositories and some pushes for reasons of their
// own rather than for want of credentials: OpenShift's integrated
// registry and Quay without nested repositories want namespace/name, Quay
// answers 403 for a namespace (organization) that does not exist, and
// OpenShift refuses a manifest pushed by digest only. The errors here tell
// those apart, so that a caller can map repositories differently or push
// by tag.

// PathRefusedError is a registry refusing a repository path, as registries
// that limit how deeply repositories nest do (400 NAME_INVALID).
type PathRefusedError struct {
	Registry   string
	Repository string // the path refused, without host
	Components int    // its number of path components
	Err        error  // the registry's answer
}

func (e *PathRefusedError) Error() string {
	return fmt.Sprintf("the registry refuses repository path %s (%d path components) of %s: it may allow fewer nested path components; map the images into repositories with fewer: %v",
		e.Repository, e.Components, e.Registry, e.Err)
}

func (e *PathRefusedError) Unwrap() error { return e.Err }

// RepositoryForbiddenError is a registry answering 403 for a repository:
// the credentials were accepted, but not for this repository, which is
// also what registries answer when the repository's namespace does not
// exist and the account may not create it. It is still ErrUnauthorized.
type RepositoryForbiddenError struct {
	Registry   string
	Repository string // without host
	Err        error  // an *AuthError
}

func (e *RepositoryForbiddenError) Error() string {
	ns, _, _ := strings.Cut(e.Repository, "/")
	return fmt.Sprintf("the registry refuses repository %s/%s: forbidden — the namespace %s may not exist or the credentials lack the right to create it: %v",
		e.Registry, e.Repository, ns, e.Err)
}

func (e *RepositoryForbiddenError) Unwrap() error { return e.Err }

// Refusal is err, an error of an operation on r, as a *PathRefusedError
// or a *RepositoryForbiddenError when it is one of those refusals; other
// errors are returned as they are. (A function, not a method: every
// method of Repository translates its own errors, and callers choose
// where a refusal needs telling apart.)
func Refusal(r *Repository, err error) error {
	if err == nil {
		return nil
	}
	var pe *PathRefusedError
	var fe *RepositoryForbiddenError
	if errors.As(err, &pe) || errors.As(err, &fe) {
		return err
	}
	var ae *AuthError
	if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
		return &RepositoryForbiddenError{Registry: r.host, Repository: r.repo.Reference.Repository, Err: err}
	}
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusBadRequest {
		return err
	}
	// A HEAD has no body; a 400 to a read can only be about the name.
	nameRefused := len(resp.Errors) == 0 && (resp.Method == http.MethodHead || resp.Method == http.MethodGet)
	for _, e := range resp.Errors {
		nameRefused = nameRefused || e.Code == errcode.ErrorCodeNameInvalid
	}
	if !nameRefused {
		return err
	}
	path := r.repo.Reference.Repository
	return &PathRefusedError{Registry: r.host, Repository: path, Components: strings.Count(path, "/") + 1, Err: err}
}

// RefusesDigestPush reports whether err is a registry refusing a manifest
// pushed by digest only, wanting a tag (OpenShift's integrated registry:
// 400 "pushing a manifest without a tag is not supported").
func RefusesDigestPush(err error) bool {
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusBadRequest || resp.Method != http.MethodPut {
		return false
	}
	for _, e := range resp.Errors {
		text := strings.ToLower(e.Message + " " + fmt.Sprint(e.Detail))
		if e.Code == errcode.ErrorCodeUnsupported || strings.Contains(text, "without a tag") {
			return true
		}
	}
	return false
}
