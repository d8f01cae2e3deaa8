//go:build unix

package main_test

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
)

// mirrorState is what a mirror holds under prefix: each tag of tags with
// the digest of its manifest, and the blobs the tagged images reference
// (bundle inventory, which checks each is there).
func mirrorState(t *testing.T, host, prefix string, tags []string) string {
	t.Helper()
	inv := mustRun(t, 0, nil, "--quiet", "inventory", "--insecure-registry", host, "--to", "docker://"+host+"/"+prefix, "--out", "-")
	var v struct {
		Blobs []struct {
			Digest string `json:"digest"`
		} `json:"blobs"`
	}
	if err := json.Unmarshal([]byte(inv), &v); err != nil {
		t.Fatalf("inventory: %v\n%s", err, inv)
	}
	var lines []string
	for _, b := range v.Blobs {
		lines = append(lines, "blob "+b.Digest)
	}
	for _, tag := range tags {
		lines = append(lines, tag+" "+rawDigest(t, host+"/"+prefix+"/"+tag).String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestKillUnpackRegistry kills unpack into a mirror registry at many
// points; a re-run leaves the mirror holding what an uninterrupted push
// leaves, and a repository that was there before is untouched.
func TestKillUnpackRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes at many points")
	}
	dir := t.TempDir()
	// Few blobs, some large: a push's time goes in round trips per blob.
	l, err := testlayout.Build(filepath.Join(dir, "src"), testlayout.Options{LayerSize: 2 << 20, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	tags := slices.Sorted(maps.Keys(l.Refs))
	vols := filepath.Join(dir, "vols")
	mustRun(t, 0, killEnv, "--quiet", "pack", "--unsigned", "--max-size", "2M", "--out", vols, "oci:"+l.Dir)
	r := testregistry.Start(t, testregistry.Options{})
	args := func(prefix string) []string {
		return []string{"--quiet", "unpack", "--allow-unsigned", "--insecure-registry", r.Host, "--to", "docker://" + r.Host + "/" + prefix, vols}
	}
	// Something already in the mirror, which no run may change.
	mustRun(t, 0, nil, "--quiet", "unpack", "--allow-unsigned", "--insecure-registry", r.Host, "--to", "docker://"+r.Host+"/other", vols)
	other := mirrorState(t, r.Host, "other", tags)

	full := timedRun(t, args("warm"), args("ref")...)
	want := strings.ReplaceAll(mirrorState(t, r.Host, "ref", tags), "/ref/", "/")
	killed := 0
	for i := 0; morePoints(i, killed); i++ {
		f := killFraction(i)
		prefix := "k" + strconv.Itoa(i)
		if killAfter(t, time.Duration(f*float64(full)), args(prefix)...) {
			killed++
		}
		mustRun(t, 0, killEnv, args(prefix)...)
		got := strings.ReplaceAll(mirrorState(t, r.Host, prefix, tags), "/"+prefix+"/", "/")
		if got == want {
			continue
		}
		// Killed between the push of a referrer (the SBOM) and the update
		// of its subject's referrers tag (sha256-<digest>, the OCI
		// referrers tag schema, for registries without the referrers
		// API), a re-run used to find the referrer there, skip it, and
		// never make the tag; say so if it comes back.
		subject := l.Refs["app:v1"]
		refTag := r.Host + "/" + prefix + "/app:" + subject.Algorithm().String() + "-" + subject.Encoded()
		if code, _ := runSkopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+refTag); code != 0 {
			t.Errorf("killed at %.2f, then re-run: the referrers tag %s was never made; the SBOM of app:v1 cannot be found through it", f, refTag)
		}
		t.Fatalf("killed at %.2f, then re-run: the mirror holds\n%s\nwant, as after an uninterrupted push,\n%s", f, got, want)
	}
	if got := mirrorState(t, r.Host, "other", tags); got != other {
		t.Errorf("a repository already in the mirror changed:\n%s\nwant\n%s", got, other)
	}
	if killed < minKilled {
		t.Errorf("only %d runs were killed before they ended", killed)
	}
	t.Logf("%d pushes killed, an uninterrupted one took %v", killed, full)
}
