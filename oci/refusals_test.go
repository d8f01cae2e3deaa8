package oci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"oras.land/oras-go/v2/registry/remote/errcode"
)

func TestRefusal(t *testing.T) {
	t.Parallel()
	regs, err := NewRegistries(RegistryOptions{Credential: noCredentials})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := regs.Repository(context.Background(), "mirror.example", "ns/quay.io/app")
	if err != nil {
		t.Fatal(err)
	}
	nameInvalid := &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: 400, Errors: errcode.Errors{{Code: errcode.ErrorCodeNameInvalid, Message: "invalid repository name"}}}
	var pe *PathRefusedError
	if err := Refusal(repo, fmt.Errorf("push: %w", nameInvalid)); !errors.As(err, &pe) || pe.Repository != "ns/quay.io/app" || pe.Components != 3 || !errors.Is(err, nameInvalid) {
		t.Errorf("400 NAME_INVALID: %v", err)
	}
	headOnly := &errcode.ErrorResponse{Method: http.MethodHead, StatusCode: 400}
	if err := Refusal(repo, headOnly); !errors.As(err, &pe) {
		t.Errorf("400 to a HEAD: %v", err)
	}
	manifestInvalid := &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: 400, Errors: errcode.Errors{{Code: errcode.ErrorCodeManifestInvalid}}}
	if err := Refusal(repo, manifestInvalid); err != error(manifestInvalid) {
		t.Errorf("400 MANIFEST_INVALID became %v", err)
	}
	forbidden := &AuthError{Op: "push", Registry: "mirror.example", Status: 403, Err: errors.New("denied")}
	var fe *RepositoryForbiddenError
	err = Refusal(repo, forbidden)
	if !errors.As(err, &fe) || !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "forbidden — the namespace ns may not exist or the credentials lack the right to create it") {
		t.Errorf("403: %v", err)
	}
	if err := Refusal(repo, &AuthError{Status: 401, Err: errors.New("no")}); errors.As(err, &fe) {
		t.Errorf("401 taken for a missing namespace: %v", err)
	}
}

func TestRefusesDigestPush(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"OpenShift", &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: 400, Errors: errcode.Errors{{Code: errcode.ErrorCodeManifestInvalid, Message: "manifest invalid", Detail: "pushing a manifest without a tag is not supported"}}}, true},
		{"unsupported", fmt.Errorf("push: %w", &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: 400, Errors: errcode.Errors{{Code: errcode.ErrorCodeUnsupported}}}), true},
		{"blob unknown", &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: 400, Errors: errcode.Errors{{Code: errcode.ErrorCodeManifestBlobUnknown}}}, false},
		{"a read", &errcode.ErrorResponse{Method: http.MethodGet, StatusCode: 400, Errors: errcode.Errors{{Code: errcode.ErrorCodeUnsupported}}}, false},
		{"nil", nil, false},
	} {
		if got := RefusesDigestPush(c.err); got != c.want {
			t.Errorf("%s: RefusesDigestPush = %v, want %v", c.name, got, c.want)
		}
	}
}
