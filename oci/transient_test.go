package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"oras.land/oras-go/v2/registry/remote/errcode"
)

func TestTransient(t *testing.T) {
	t.Parallel()
	status := func(code int) error {
		return fmt.Errorf("push: %w", &errcode.ErrorResponse{Method: http.MethodPut, StatusCode: code})
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"500", status(500), true},
		{"503", status(503), true},
		{"429", status(429), true},
		{"408", status(408), true},
		{"400", status(400), false},
		{"404", status(404), false},
		{"403 as AuthError", &AuthError{Status: 403, Err: status(403)}, false},
		{"forbidden repository", &RepositoryForbiddenError{Err: &AuthError{Status: 403}}, false},
		{"path refused", &PathRefusedError{Err: status(400)}, false},
		{"TLS", &TLSError{Err: errors.New("bad certificate")}, false},
		{"unreachable", &UnreachableError{Err: errors.New("connection refused")}, true},
		{"connection reset", fmt.Errorf("put: %w", &net.OpError{Op: "write", Err: errors.New("connection reset by peer")}), true},
		{"unexpected EOF", fmt.Errorf("put: %w", io.ErrUnexpectedEOF), true},
		{"cancelled", fmt.Errorf("put: %w", context.Canceled), false},
		{"other", errors.New("blob is longer than its size"), false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
