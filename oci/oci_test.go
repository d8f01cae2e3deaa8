package oci_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const example = "../testdata/example-layout"

// TestPlatforms: what users type is normalized as containerd does, and
// matched against index entries as registries write them (raw).
func TestPlatforms(t *testing.T) {
	t.Parallel()
	raw := func(s string) *ocispec.Platform {
		parts := append(strings.Split(s, "/"), "")
		return &ocispec.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]}
	}
	for _, tc := range []struct {
		in      string
		ok      bool
		matches []string
		misses  []string
	}{
		{"linux/amd64", true, []string{"linux/amd64", "linux/amd64/v2", "linux/x86_64"}, []string{"linux/arm64", "windows/amd64"}},
		{"linux/x86_64", true, []string{"linux/amd64"}, []string{"linux/arm64"}},
		{"linux/arm64/v8", true, []string{"linux/arm64/v8", "linux/arm64", "linux/aarch64"}, []string{"linux/arm64/v9", "linux/arm/v7"}},
		{"linux/aarch64", true, []string{"linux/arm64", "linux/arm64/v8"}, []string{"linux/amd64"}},
		{"linux/arm", true, []string{"linux/arm/v6", "linux/arm/v7", "linux/armhf"}, []string{"linux/arm64"}},
		{"linux/arm/v7", true, []string{"linux/arm/v7", "linux/armhf", "linux/arm"}, []string{"linux/arm/v6"}},
		{"linux", false, nil, nil},
		{"linux/", false, nil, nil},
		{"linux/arm/", false, nil, nil},
		{"a/b/c/d", false, nil, nil},
	} {
		p, err := oci.ParsePlatform(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("ParsePlatform(%q): %v", tc.in, err)
		}
		if !tc.ok {
			if !strings.Contains(err.Error(), tc.in) {
				t.Errorf("error %q does not name %q", err, tc.in)
			}
			continue
		}
		for _, m := range tc.matches {
			if !oci.MatchPlatform(raw(m), []ocispec.Platform{p}) {
				t.Errorf("%s should match %s", m, tc.in)
			}
		}
		for _, m := range tc.misses {
			if oci.MatchPlatform(raw(m), []ocispec.Platform{p}) {
				t.Errorf("%s should not match %s", m, tc.in)
			}
		}
	}
	if oci.MatchPlatform(nil, []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}) {
		t.Error("a descriptor without platform matched")
	}
}

func TestWalkExampleWithPlatformFilter(t *testing.T) {
	t.Parallel()
	l, err := oci.Open(example)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	roots, err := l.Tagged("multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	var all, arm []digest.Digest
	visit := func(out *[]digest.Digest) func(ocispec.Descriptor, []byte) error {
		return func(d ocispec.Descriptor, _ []byte) error { *out = append(*out, d.Digest); return nil }
	}
	if err := oci.Walk(context.Background(), l, roots[0], oci.WalkOptions{}, nil, visit(&all)); err != nil {
		t.Fatal(err)
	}
	var dropped []string
	opts := oci.WalkOptions{Platforms: []ocispec.Platform{{OS: "linux", Architecture: "arm64"}},
		Dropped: func(_, c ocispec.Descriptor) { dropped = append(dropped, oci.FormatPlatform(c.Platform)) }}
	if err := oci.Walk(context.Background(), l, roots[0], opts, nil, visit(&arm)); err != nil {
		t.Fatal(err)
	}
	if len(arm) >= len(all) || len(dropped) != 1 || dropped[0] != "linux/amd64" {
		t.Fatalf("all %d, arm %d, dropped %v", len(all), len(arm), dropped)
	}
	if all[0] != roots[0].Digest {
		t.Fatal("walk does not visit the root first")
	}
}

func TestReferrers(t *testing.T) {
	t.Parallel()
	l, err := oci.Open(example)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	app, _ := l.Tagged("app:v1")
	rs, err := l.Referrers(context.Background(), app[0].Digest)
	if err != nil || len(rs) != 1 || rs[0].ArtifactType != "application/spdx+json" {
		t.Fatalf("referrers of app:v1: %v %v", rs, err)
	}
	base, _ := l.Tagged("base:1")
	if rs, _ := l.Referrers(context.Background(), base[0].Digest); len(rs) != 0 {
		t.Fatalf("base:1 has no referrers, got %v", rs)
	}
	if _, err := l.Tagged("nope"); !errors.Is(err, oci.ErrNotFound) || !strings.Contains(err.Error(), "app:v1") {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestBlobWriterKeepsOnlyVerifiedBlobs(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "l")
	l, err := oci.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := []byte("hello")
	good := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: 5}
	for _, tc := range []struct {
		name  string
		write []byte
		ok    bool
	}{
		{"right bytes", data, true},
		{"other bytes", []byte("jello"), false},
		{"short", data[:4], false},
	} {
		w, err := l.NewBlobWriter(good)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(tc.write)
		err = w.Commit()
		if (err == nil) != tc.ok {
			t.Fatalf("%s: commit %v", tc.name, err)
		}
		if !tc.ok && l.HasBlob(good.Digest, good.Size) {
			t.Fatalf("%s: bad bytes landed", tc.name)
		}
		os.Remove(filepath.Join(dir, "blobs", "sha256", good.Digest.Encoded()))
	}
	w, _ := l.NewBlobWriter(good)
	if _, err := w.Write([]byte("hello, more")); err == nil {
		t.Fatal("writer accepted more bytes than the descriptor says")
	}
	w.Abort()
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		t.Fatal("index.json written before any manifest")
	}
}

func TestAddManifests(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "l")
	l, err := oci.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	put := func(s string) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(s), Size: int64(len(s))}
		w, _ := l.NewBlobWriter(d)
		w.Write([]byte(s))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	tag := func(d ocispec.Descriptor, ref string) ocispec.Descriptor {
		d.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
		return d
	}
	a, b := put(`{"a":1}`), put(`{"b":2}`)
	missing := ocispec.Descriptor{Digest: digest.FromString("x"), Size: 1}
	if _, err := l.AddManifests([]ocispec.Descriptor{missing}); err == nil {
		t.Fatal("listed a manifest that is not in the layout")
	}
	ch, err := l.AddManifests([]ocispec.Descriptor{tag(a, "app:1"), a})
	if err != nil || len(ch) != 2 {
		t.Fatalf("%v %v", ch, err)
	}
	if _, err := oci.Open(dir); err != nil {
		t.Fatalf("no valid oci-layout written: %v", err)
	}
	ch, err = l.AddManifests([]ocispec.Descriptor{tag(b, "app:1"), a})
	if err != nil || len(ch) != 1 || ch[0].Old != a.Digest || ch[0].New != b.Digest {
		t.Fatalf("tag move: %v %v", ch, err)
	}
	idx, _ := l.Index()
	if len(idx.Manifests) != 2 {
		t.Fatalf("index.json: %+v", idx.Manifests)
	}
}

func TestCreateRefusesAForeignDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	if _, err := oci.Create(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Create on a directory with other files: %v", err)
	}
	if _, err := oci.Open(dir); err == nil {
		t.Fatal("opened a directory without oci-layout")
	}
}

func TestChildrenOfDockerTypes(t *testing.T) {
	t.Parallel()
	list := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":3}]}`
	kids, err := oci.Children(ocispec.Descriptor{MediaType: oci.MediaTypeDockerManifestList}, []byte(list))
	if err != nil || len(kids) != 1 {
		t.Fatalf("%v %v", kids, err)
	}
	bad := strings.Replace(list, strings.Repeat("a", 64), "zz", 1)
	if _, err := oci.Children(ocispec.Descriptor{MediaType: oci.MediaTypeDockerManifestList}, []byte(bad)); err == nil {
		t.Fatal("accepted an invalid child digest")
	}
}

// With BatchCommits, a committed blob reaches its name only when the batch
// is flushed (after one sync), and Close without a flush leaves nothing.
func TestBatchCommits(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "l")
	l, err := oci.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.BatchCommits()
	put := func(s string) ocispec.Descriptor {
		t.Helper()
		d := ocispec.Descriptor{Digest: digest.FromString(s), Size: int64(len(s))}
		w, err := l.NewBlobWriter(d)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(s))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := put("a"), put("b")
	if l.HasBlob(a.Digest, a.Size) || l.HasBlob(b.Digest, b.Size) {
		t.Fatal("a batched blob is in place before the flush")
	}
	// A wrong blob is refused at Commit, as without batching.
	w, _ := l.NewBlobWriter(ocispec.Descriptor{Digest: digest.FromString("c"), Size: 1})
	w.Write([]byte("x"))
	if err := w.Commit(); err == nil {
		t.Fatal("batched commit of wrong bytes succeeded")
	}
	if err := l.FlushCommits(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{a, b} {
		rc, err := l.Fetch(context.Background(), d)
		if err != nil {
			t.Fatalf("after the flush: %v", err)
		}
		rc.Close()
	}
	put("d")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 || !strings.Contains(strings.Join(names, " "), a.Digest.Encoded()) {
		t.Errorf("after Close without a flush: %v, want only the two flushed blobs", names)
	}
}

// CopyFrom appends a file's bytes without hashing them, for a caller that
// reads them back with ReadAt to check them: it refuses more bytes than the
// descriptor's size, reports a source that ends early, and Commit still
// refuses a blob of the wrong size.
func TestBlobWriterCopyFrom(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "l")
	l, err := oci.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 70000) // 1.1 MB
	desc := ocispec.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	srcPath := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(srcPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}

	t.Run("in pieces, read back, committed", func(t *testing.T) {
		w, err := l.NewBlobWriter(desc)
		if err != nil {
			t.Fatal(err)
		}
		src := open()
		w.Write(data[:100]) // what a caller had buffered already
		src.Seek(100, io.SeekStart)
		for _, n := range []int64{1 << 20, int64(len(data)) - 100 - 1<<20} {
			off, err := w.CopyFrom(src, n)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, n)
			if _, err := w.ReadAt(got, off); err != nil || !bytes.Equal(got, data[off:off+n]) {
				t.Fatalf("read back at %d: %v, bytes equal %v", off, err, bytes.Equal(got, data[off:off+n]))
			}
		}
		if w.Written() != desc.Size {
			t.Fatalf("written %d, want %d", w.Written(), desc.Size)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if !l.HasBlob(desc.Digest, desc.Size) {
			t.Fatal("blob not in place after Commit")
		}
		os.Remove(filepath.Join(dir, "blobs", "sha256", desc.Digest.Encoded()))
	})
	t.Run("more than the size", func(t *testing.T) {
		w, _ := l.NewBlobWriter(desc)
		defer w.Abort()
		if _, err := w.CopyFrom(open(), desc.Size+1); err == nil {
			t.Fatal("CopyFrom accepted more bytes than the descriptor says")
		}
	})
	t.Run("source ends early", func(t *testing.T) {
		w, _ := l.NewBlobWriter(desc)
		src := open()
		src.Seek(10, io.SeekStart)
		if _, err := w.CopyFrom(src, desc.Size); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("CopyFrom of a short source: %v, want io.ErrUnexpectedEOF", err)
		}
		if err := w.Commit(); err == nil {
			t.Fatal("Commit accepted a blob of the wrong size")
		}
		if l.HasBlob(desc.Digest, desc.Size) {
			t.Fatal("a short blob landed")
		}
	})
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}

// TestHasBlobs: a layout has no blob directory until a blob is written
// into it, and HasBlob tells the digests it holds from those of other
// forms (its quick check of the common form agrees with go-digest's).
func TestHasBlobs(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "l")
	l, err := oci.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := []byte("hello")
	d := digest.FromBytes(data)
	if l.HasBlobs(digest.SHA256) || l.HasBlob(d, 5) {
		t.Fatal("a new layout has blobs")
	}
	w, err := l.NewBlobWriter(ocispec.Descriptor{Digest: d, Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := l.FlushCommits(); err != nil {
		t.Fatal(err)
	}
	if !l.HasBlobs(digest.SHA256) || l.HasBlobs(digest.SHA512) {
		t.Error("blob directories: want sha256's only")
	}
	for _, c := range []struct {
		d    digest.Digest
		size int64
		want bool
	}{
		{d, 5, true},
		{d, 4, false},
		{digest.Digest(strings.ToUpper(string(d))), 5, false},
		{digest.Digest("sha256:" + strings.ToUpper(d.Encoded())), 5, false},
		{d[:len(d)-1], 5, false},
		{"sha256:../../oci-layout", 5, false},
		{digest.FromString("other"), 5, false},
	} {
		if got := l.HasBlob(c.d, c.size); got != c.want {
			t.Errorf("HasBlob(%q, %d) = %v", c.d, c.size, got)
		}
	}
}

// TestWalkNoPlatformSelected: an index with manifests for platforms, none
// of them selected, is an error naming it and what it offers (carried, it
// would be an index of nothing); an index whose children have no platform
// at all (a referrers list) is only thinned, as before.
func TestWalkNoPlatformSelected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := oci.Open(example)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	roots, err := l.Tagged("multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	none := func(ocispec.Descriptor, []byte) error { return nil }
	windows := oci.WalkOptions{Platforms: []ocispec.Platform{{OS: "windows", Architecture: "amd64"}}}
	err = oci.Walk(ctx, l, roots[0], windows, nil, none)
	var npe *oci.NoPlatformError
	if !errors.As(err, &npe) || npe.Index != roots[0].Digest || strings.Join(npe.Offered, " ") != "linux/amd64 linux/arm64/v8" {
		t.Fatalf("walk of multi:latest for windows/amd64: %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, roots[0].Digest.String()) || !strings.Contains(msg, "(windows/amd64), only for linux/amd64, linux/arm64/v8") {
		t.Errorf("message: %s", msg)
	}

	// An index of artifacts without platforms, in a layout of its own.
	dir := filepath.Join(t.TempDir(), "l")
	w, err := oci.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	put := func(mediaType string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		bw, err := w.NewBlobWriter(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := bw.Commit(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	empty := put("application/vnd.oci.empty.v1+json", []byte("{}"))
	art := put(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"`+empty.Digest.String()+`","size":2},"layers":[]}`))
	idx := put(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+art.Digest.String()+`","size":`+strconv.FormatInt(art.Size, 10)+`}]}`))
	var visited int
	if err := oci.Walk(ctx, w, idx, windows, nil, func(ocispec.Descriptor, []byte) error { visited++; return nil }); err != nil || visited != 1 {
		t.Fatalf("walk of an index of artifacts: %v, %d visited (want the index alone)", err, visited)
	}
}
