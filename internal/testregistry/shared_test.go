package testregistry

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/internal/testimages"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestShared: every caller gets the same running registry and a namespace
// of its own; without Main, Shared fails the test instead of starting a
// registry nothing would stop.
func TestShared(t *testing.T) {
	t.Run("without Main", func(t *testing.T) {
		shared.Lock()
		shared.main = false
		shared.Unlock()
		defer func() {
			shared.Lock()
			shared.main = true
			shared.Unlock()
		}()
		f := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Shared(f)
			f.msg = "Shared returned"
		}()
		<-done
		if !strings.Contains(f.msg, "testregistry.Main") {
			t.Errorf("Fatalf(%q), want it to name testregistry.Main", f.msg)
		}
	})
	r1, ns1 := Shared(t)
	r2, ns2 := Shared(t)
	if r1 != r2 || ns1 == ns2 || ns1 == "" || strings.Contains(ns1, "/") {
		t.Fatalf("Shared: %p %q, then %p %q; want one registry and two namespaces", r1, ns1, r2, ns2)
	}
	resp, err := http.Get(r1.URL() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %s", resp.Status)
	}
	// A repository in the namespace takes a push and is read back.
	img := testimages.NewImage("linux/amd64", nil, testimages.Files(map[string][]byte{"a": []byte("a")}))
	d := testimages.Registry{Host: r1.Host}.Push(t, ns1+"/app", img, "v1")
	if got := rawDigest(t, r1.Host+"/"+ns1+"/app:v1"); got != d.Digest {
		t.Errorf("pushed %s, skopeo reads %s", d.Digest, got)
	}
}
