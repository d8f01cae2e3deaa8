package bundle

// uploadSink against a fake registry that watches the upload's body arrive.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// uplRegistry accepts monolithic blob uploads (POST, then PUT ?digest=)
// and records how much of each PUT body has arrived and how it ended.
type uplRegistry struct {
	mu       sync.Mutex
	received int64 // body bytes of the current PUT so far
	putSeen  bool  // a PUT started
	putDone  bool  // the PUT handler returned
	answered int   // status the PUT was answered with (0: none)
	stored   map[digest.Digest][]byte
	// refuse answers the upload's POST with this status, or with
	// refusePut its PUT, before reading any of the body.
	refuse    int
	refusePut bool
}

func (g *uplRegistry) state() (received int64, putSeen, putDone bool, answered int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.received, g.putSeen, g.putDone, g.answered
}

func (g *uplRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v2/":
		io.WriteString(w, "{}")
	case g.refuse != 0 && (r.Method == http.MethodPost) != g.refusePut && strings.Contains(p, "/blobs/uploads/"):
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "close")
		w.WriteHeader(g.refuse)
		io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/blobs/uploads/"):
		w.Header().Set("Location", p+"u1")
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPut && strings.HasSuffix(p, "/blobs/uploads/u1"):
		g.mu.Lock()
		g.putSeen = true
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.putDone = true
			g.mu.Unlock()
		}()
		var body bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			body.Write(buf[:n])
			g.mu.Lock()
			g.received += int64(n)
			g.mu.Unlock()
			if err == io.EOF {
				break
			}
			if err != nil {
				return // the client gave up: no answer
			}
		}
		want, err := digest.Parse(r.URL.Query().Get("digest"))
		status := http.StatusCreated
		if err != nil || digest.FromBytes(body.Bytes()) != want {
			status = http.StatusBadRequest
		}
		g.mu.Lock()
		g.answered = status
		if status == http.StatusCreated {
			g.stored[want] = body.Bytes()
		}
		g.mu.Unlock()
		w.Header().Set("Docker-Content-Digest", want.String())
		w.WriteHeader(status)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// uplRepo starts a fake registry and opens a repository on it.
func uplRepo(t *testing.T) (*uplRegistry, *oci.Repository) {
	t.Helper()
	return uplRepoWith(t, &uplRegistry{})
}

func uplRepoWith(t *testing.T, g *uplRegistry) (*uplRegistry, *oci.Repository) {
	t.Helper()
	g.stored = map[digest.Digest][]byte{}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		// A refusing handler leaves its connection lingering (net/http
		// waits before closing it); do not wait for that.
		srv.CloseClientConnections()
		srv.Close()
	})
	host := strings.TrimPrefix(srv.URL, "http://")
	authFile := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(authFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	regs, err := oci.NewRegistries(oci.RegistryOptions{AuthFile: authFile, Insecure: []string{host}, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := regs.Repository(context.Background(), host, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	return g, repo
}

func uplBlob(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// waitFor polls cond for up to a second.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func writeInPieces(t *testing.T, w io.Writer, data []byte, piece int) {
	t.Helper()
	for off := 0; off < len(data); off += piece {
		end := min(off+piece, len(data))
		if n, err := w.Write(data[off:end]); err != nil || n != end-off {
			t.Fatalf("write at %d: %d, %v", off, n, err)
		}
	}
}

func TestUploadSinkHoldsBackLastByte(t *testing.T) {
	cases := []struct{ size, piece int }{
		{256 << 10, 256 << 10}, // one write
		{256 << 10, 10000},     // the last write is short
		{256 << 10, 32 << 10},  // the last write is whole
		{3000, 1},              // byte by byte
		{1, 1},                 // nothing goes before Commit
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d bytes in pieces of %d", c.size, c.piece), func(t *testing.T) {
			blob := uplBlob(c.size)
			desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
			piece := c.piece
			g, repo := uplRepo(t)
			u := newUploadSink(context.Background(), repo, desc)
			writeInPieces(t, u, blob, piece)

			// The registry gets the bytes as they come (but for what the
			// client buffers: a few KiB), all but the last.
			if desc.Size >= 64<<10 && !waitFor(func() bool { n, seen, _, _ := g.state(); return seen && n >= desc.Size/2 }) {
				n, seen, _, _ := g.state()
				t.Fatalf("before Commit the registry has %d of %d bytes (PUT started: %v): the upload does not stream", n, desc.Size, seen)
			}
			time.Sleep(20 * time.Millisecond)
			if n, _, done, answered := g.state(); n >= desc.Size || done || answered != 0 {
				t.Fatalf("before Commit the registry has %d of %d bytes, handler done %v, answered %d: the last byte was not held back", n, desc.Size, done, answered)
			}

			if err := u.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			n, _, _, answered := g.state()
			if n != desc.Size || answered != http.StatusCreated {
				t.Errorf("after Commit the registry has %d of %d bytes and answered %d, want all and 201", n, desc.Size, answered)
			}
			g.mu.Lock()
			got := g.stored[desc.Digest]
			g.mu.Unlock()
			if !bytes.Equal(got, blob) {
				t.Errorf("the registry stored %d bytes that differ from the blob", len(got))
			}
		})
	}
}

func TestUploadSinkRefusesWrongContent(t *testing.T) {
	blob := uplBlob(128 << 10)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
	flip := func(off int) []byte {
		b := bytes.Clone(blob)
		b[off] ^= 0x20
		return b
	}
	cases := []struct {
		name    string
		content []byte
		// writeErr: the Write itself must fail (more bytes than the size).
		writeErr bool
	}{
		{name: "first byte wrong", content: flip(0)},
		{name: "middle byte wrong", content: flip(len(blob) / 2)},
		{name: "last byte wrong", content: flip(len(blob) - 1)},
		{name: "short", content: blob[:len(blob)-1]},
		{name: "long", content: append(bytes.Clone(blob), 0), writeErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, repo := uplRepo(t)
			u := newUploadSink(context.Background(), repo, desc)
			if c.writeErr {
				_, err := u.Write(c.content)
				if err == nil {
					t.Fatal("Write of more bytes than the blob's size succeeded")
				}
				u.Abort()
			} else {
				writeInPieces(t, u, c.content, 32<<10)
				err := u.Commit()
				if err == nil {
					t.Fatal("Commit accepted content that does not match the digest")
				}
				var de *destError
				if errors.As(err, &de) {
					t.Errorf("Commit error %v is a destination error; it is the content that is wrong", err)
				}
				if !strings.Contains(err.Error(), desc.Digest.String()) {
					t.Errorf("Commit error %q does not name the blob", err)
				}
			}
			// The registry must never complete the upload.
			waitFor(func() bool { _, seen, done, _ := g.state(); return !seen || done })
			n, _, _, answered := g.state()
			if answered == http.StatusCreated {
				t.Errorf("the registry completed the upload (%d bytes) of wrong content", n)
			}
			if n >= desc.Size {
				t.Errorf("the registry received %d bytes, the whole size of the blob", n)
			}
			g.mu.Lock()
			stored := len(g.stored)
			g.mu.Unlock()
			if stored != 0 {
				t.Errorf("the registry stored %d blobs", stored)
			}
		})
	}
}

func TestUploadSinkEmptyBlob(t *testing.T) {
	t.Parallel()
	g, repo := uplRepo(t)
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(nil), Size: 0}
	u := newUploadSink(context.Background(), repo, desc)
	if err := u.Commit(); err != nil {
		t.Fatalf("Commit of an empty blob: %v", err)
	}
	if _, _, _, answered := g.state(); answered != http.StatusCreated {
		t.Errorf("registry answered %d, want 201", answered)
	}
}

// TestUploadSinkReportsTheRegistrysRefusal: when the registry refuses an
// upload, the error says why (and is a destination error), whether it
// surfaces on a Write or on Commit.
func TestUploadSinkReportsTheRegistrysRefusal(t *testing.T) {
	t.Parallel()
	for _, refusePut := range []bool{false, true} {
		for _, size := range []int{1, 300, 256 << 10} {
			t.Run(fmt.Sprintf("refuse PUT %v, %d bytes", refusePut, size), func(t *testing.T) {
				g, repo := uplRepoWith(t, &uplRegistry{refuse: http.StatusForbidden, refusePut: refusePut})
				blob := uplBlob(size)
				desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
				u := newUploadSink(context.Background(), repo, desc)
				var err error
				for off := 0; off < len(blob) && err == nil; off += 32 << 10 {
					_, err = u.Write(blob[off:min(off+32<<10, len(blob))])
				}
				if err == nil {
					err = u.Commit()
				} else {
					u.Abort()
				}
				if err == nil {
					t.Fatal("upload refused by the registry succeeded")
				}
				var de *destError
				if !errors.As(err, &de) {
					t.Errorf("error %v is not a destination error", err)
				}
				if !errors.Is(err, oci.ErrUnauthorized) {
					t.Errorf("error %q does not say the registry denied access (want oci.ErrUnauthorized)", err)
				}
				if _, _, _, answered := g.state(); answered == http.StatusCreated {
					t.Errorf("registry completed the upload")
				}
			})
		}
	}
}
