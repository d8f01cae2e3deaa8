package testimages

import (
	"testing"

	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// TestPushReadBack pushes an untagged image and a tagged index into a real
// registry and reads them back with skopeo, by digest and by tag.
func TestPushReadBack(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	r := Registry{Host: reg.Host}
	a := NewImage("linux/amd64", map[string]string{"x": "y"}, Files(map[string][]byte{"etc/a/b": []byte("hello")}))
	d := r.Push(t, "ns/untagged", a)
	out := testregistry.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+reg.Host+"/ns/untagged@"+d.Digest.String())
	if out != string(a.Manifest.Data) {
		t.Fatalf("read back %q, want %q", out, a.Manifest.Data)
	}
	again := NewImage("linux/amd64", map[string]string{"x": "y"}, Files(map[string][]byte{"etc/a/b": []byte("hello")}))
	if again.Manifest.Desc.Digest != d.Digest {
		t.Fatalf("same inputs gave %s and %s", again.Manifest.Desc.Digest, d.Digest)
	}
	idx, ims := Index(a, NewImage("linux/arm64", nil, Files(map[string][]byte{"f": []byte("arm")})))
	r.PushIndex(t, "ns/multi", idx, ims, "v1")
	testregistry.Skopeo(t, "inspect", "--tls-verify=false", "--override-arch=arm64", "docker://"+reg.Host+"/ns/multi:v1")
}
