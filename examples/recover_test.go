package examples_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testkeys"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
)

// recoverScript is the tool-less recovery recipe under test.
const recoverScript = "../scripts/recover.sh"

var password = []string{"BUNDLE_PASSWORD=example-password"}

// packCLI packs the example layout with the bundle CLI into a new directory
// and returns it.
func packCLI(t *testing.T, cli, key, compress string, maxSize int, more ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "volumes")
	args := append([]string{"--quiet", "pack", "--key", key, "--compress", compress,
		"--max-size", strconv.Itoa(maxSize), "--out", out}, more...)
	run(t, password, cli, append(args, "oci:"+sourceLayout)...)
	return out
}

// packLib packs the example layout as packCLI does (uncompressed), with
// the library, into a new directory and returns it.
func packLib(t *testing.T, key string, maxSize int64) string {
	t.Helper()
	s, err := sign.LoadSignerFile(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := oci.Open(sourceLayout)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := filepath.Join(t.TempDir(), "volumes")
	_, err = bundle.Pack(context.Background(), []bundle.Source{&bundle.LayoutSource{Layout: l}}, &bundle.DirSink{Dir: out},
		bundle.PackOptions{MaxVolumeSize: maxSize, Compression: format.CompressionNone, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// header reads the header of the first volume in dir: the index says where
// every member is.
func header(t *testing.T, dir string) *format.VolumeHeader {
	t.Helper()
	f, err := os.Open(volumes(t, dir)[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := format.ReadVolumeHeader(f, f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// memberNames lists every blob member of the bundle in dir.
func memberNames(t *testing.T, dir string) []string {
	x := header(t, dir).Index
	var names []string
	for i := range x.Blobs {
		for j := range x.Blobs[i].Placements {
			names = append(names, format.MemberName(&x.Blobs[i], j))
		}
	}
	return names
}

func hasMember(names []string, pattern string) bool {
	for _, n := range names {
		if strings.Contains(n, pattern) {
			return true
		}
	}
	return false
}

// recoverTo runs the script with sh on the volumes in dir.
func recoverTo(key, dir, out string) (string, error) {
	return runErr(nil, "sh", recoverScript, key, dir, out)
}

// checkRecovered checks that out is a plain OCI layout with the source's
// blobs, that skopeo reads.
func checkRecovered(t *testing.T, out string) {
	t.Helper()
	top, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range top {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "blobs index.json oci-layout" {
		t.Errorf("%s holds %s, want blobs index.json oci-layout", out, got)
	}
	srcBlobs, err := os.ReadDir(filepath.Join(sourceLayout, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	gotBlobs, err := os.ReadDir(filepath.Join(out, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	list := func(es []os.DirEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.Name())
		}
		sort.Strings(s)
		return strings.Join(s, "\n")
	}
	if list(gotBlobs) != list(srcBlobs) {
		t.Errorf("recovered blobs:\n%s\nsource blobs:\n%s", list(gotBlobs), list(srcBlobs))
	}
	for _, e := range srcBlobs {
		want, err := os.ReadFile(filepath.Join(sourceLayout, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, "blobs", "sha256", e.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("blob %s: recovered bytes differ from the source's (%v)", e.Name(), err)
		}
	}
	checkSkopeoReads(t, out)
	run(t, nil, "skopeo", "--insecure-policy", "copy", "--quiet", "--all", "oci:"+out+":multi:latest", "dir:"+filepath.Join(t.TempDir(), "multi"))
}

// copyDir copies the volumes in dir into a new directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range volumes(t, dir) {
		b, err := os.ReadFile(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(v)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// editVolume changes volume n (1-based) of the bundle in dir in place.
func editVolume(t *testing.T, dir string, n int, edit func([]byte)) {
	t.Helper()
	v := volumes(t, dir)[n-1]
	b, err := os.ReadFile(v)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	if err := os.WriteFile(v, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectFailure runs the script on dir and checks it fails saying want,
// leaving no index.json behind.
func expectFailure(t *testing.T, key, dir, want string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	got, err := recoverTo(key, dir, out)
	if err == nil {
		t.Fatalf("recover.sh succeeded, want a failure saying %q:\n%s", want, got)
	}
	if !strings.Contains(got, want) {
		t.Errorf("recover.sh failed without saying %q:\n%s", want, got)
	} else {
		t.Logf("recover.sh failed as it should:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); err == nil {
		t.Errorf("a failed recovery left %s/index.json: it looks like a usable layout", out)
	}
}

func TestRecoverScript(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: the shell script against skopeo, openssl and zstd on many packs; TestRecoverScriptScreensMembers keeps the script in -short, skipped by -short")
	}
	need(t, "skopeo", "zstd", "openssl", "tar", "sha256sum")
	cli := build(t, "../cmd/bundle")
	keys := t.TempDir()
	key := filepath.Join(keys, "signer")
	run(t, password, cli, "--quiet", "keygen", "--out", key)
	other := filepath.Join(keys, "other")
	run(t, password, cli, "--quiet", "keygen", "--out", other)

	plain := packCLI(t, cli, key+".key", "none", 40000)
	if n := len(volumes(t, plain)); n < 3 || !hasMember(memberNames(t, plain), ".part0002") {
		t.Fatalf("packing with --max-size 40000 gave %d volumes and no split blob; the test needs both", n)
	}
	zstd := packCLI(t, cli, key+".key", "zstd", 40000)
	if !hasMember(memberNames(t, zstd), ".zst") {
		t.Fatal("packing with --compress zstd stored no blob compressed; the test needs one")
	}
	// A compressed blob split across volumes: the smallest sizes the index
	// leaves room for; which of them splits one depends on the layout.
	var zstdSplit string
	for _, size := range []int{26000, 28000, 24000, 30000, 32000, 36000} {
		d := packCLI(t, cli, key+".key", "zstd", size)
		if hasMember(memberNames(t, d), ".zst.part0002") {
			zstdSplit = d
			break
		}
	}
	if zstdSplit == "" {
		t.Fatal("found no volume size that splits a compressed blob")
	}

	for _, c := range []struct{ name, dir string }{{"plain", plain}, {"zstd", zstd}, {"zstd-split", zstdSplit}} {
		dir := c.dir
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if got, err := recoverTo(key+".pub", dir, out); err != nil {
				t.Fatalf("recover.sh: %v\n%s", err, got)
			}
			checkRecovered(t, out)

			// A flipped byte in the stored bytes of a blob, in the last
			// segment of the largest blob and of the largest compressed one.
			x := header(t, dir).Index
			var largest, compressed *format.Blob
			for i := range x.Blobs {
				b := &x.Blobs[i]
				if largest == nil || b.StoredSize > largest.StoredSize {
					largest = b
				}
				if b.Encoding == format.CompressionZstd && (compressed == nil || b.StoredSize > compressed.StoredSize) {
					compressed = b
				}
			}
			targets := map[*format.Blob]string{largest: "a blob does not match its digest"}
			if compressed != nil {
				targets[compressed] = "cannot decompress"
			}
			for b, want := range targets {
				p := b.Placements[len(b.Placements)-1]
				bad := copyDir(t, dir)
				editVolume(t, bad, p.Volume, func(v []byte) { v[p.Offset+p.Length/2] ^= 0x40 })
				expectFailure(t, key+".pub", bad, want)
			}
		})
	}

	t.Run("tampered bundle.json", func(t *testing.T) {
		bad := copyDir(t, plain)
		editVolume(t, bad, 1, func(b []byte) {
			i := bytes.Index(b, []byte(`"packer":"`))
			if i < 0 {
				t.Fatal("no packer in volume 1")
			}
			b[i+len(`"packer":"`)] ^= 0x20 // "bundle ..." becomes "Bundle ..."
		})
		expectFailure(t, key+".pub", bad, "signature over bundle.json does not verify")
	})

	t.Run("wrong key", func(t *testing.T) {
		expectFailure(t, other+".pub", plain, "signature over bundle.json does not verify")
	})

	t.Run("tampered index.json", func(t *testing.T) {
		// index.json is not signed itself: the signed index holds its
		// digest. Retag app:v1 as app:v9 in every volume.
		bad := copyDir(t, plain)
		h := header(t, bad)
		start := int64(3 * 512) // oci-layout header and data, index.json header
		for n := range h.Index.Volumes {
			editVolume(t, bad, n+1, func(b []byte) {
				member := b[start : start+h.Index.LayoutIndex.Size]
				i := bytes.Index(member, []byte(`"app:v1"`))
				if i < 0 {
					t.Fatal("no app:v1 in index.json")
				}
				member[i+len(`"app:v`)] = '9'
			})
		}
		expectFailure(t, key+".pub", bad, "index.json is not the one bundle.json names")
	})

	t.Run("missing volume", func(t *testing.T) {
		bad := copyDir(t, plain)
		if err := os.Remove(volumes(t, bad)[1]); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, key+".pub", bad, "is missing")
	})

	// Format version 2: the blobs are listed in each volume's table.
	t.Run("format version 2", func(t *testing.T) {
		v2 := packCLI(t, cli, key+".key", "zstd", 30000, "--format-version", "2")
		if n := len(volumes(t, v2)); n < 3 {
			t.Fatalf("%d volumes, want several", n)
		}
		out := filepath.Join(t.TempDir(), "out")
		if got, err := recoverTo(key+".pub", v2, out); err != nil {
			t.Fatalf("recover.sh: %v\n%s", err, got)
		}
		checkRecovered(t, out)

		bad := copyDir(t, v2)
		editVolume(t, bad, 2, func(b []byte) {
			i := bytes.Index(b, []byte(`{"volume":2,"blobs":[`))
			if i < 0 {
				t.Fatal("no blob table in volume 2")
			}
			b[i+len(`{"volume":2,"blobs":[{"digest":"sha256:`)] ^= 1
		})
		expectFailure(t, key+".pub", bad, "blobs.json is not the one bundle.json names")

		missing := copyDir(t, v2)
		if err := os.Remove(volumes(t, missing)[1]); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, key+".pub", missing, "missing")
	})

	t.Run("incremental bundle", func(t *testing.T) {
		delta := filepath.Join(t.TempDir(), "delta")
		run(t, password, cli, "--quiet", "pack", "--key", key+".key", "--base", plain, "--base-key", key+".pub",
			"--out", delta, "oci:"+sourceLayout)
		expectFailure(t, key+".pub", delta, "incremental bundle")
	})
}

func TestRecoverScriptScreensMembers(t *testing.T) {
	t.Parallel()
	need(t, "openssl", "tar", "sha256sum")
	key := filepath.Join(t.TempDir(), "signer")
	var plain string
	if testing.Short() {
		// No CLI to build, no scrypt: an unencrypted key and the
		// library's Pack. TestRecoverScript packs with the CLI and a
		// keygen key.
		testkeys.WriteUnencrypted(t, key, false)
		plain = packLib(t, key+".key", 40000)
	} else {
		cli := build(t, "../cmd/bundle")
		run(t, password, cli, "--quiet", "keygen", "--out", key)
		plain = packCLI(t, cli, key+".key", "none", 40000)
	}
	h := header(t, plain)
	for _, c := range []struct {
		name string
		hdr  tar.Header
		want string
	}{
		{"symlink", tar.Header{Typeflag: tar.TypeSymlink, Name: "blobs/sha256/" + strings.Repeat("0", 64), Linkname: "/etc/passwd"}, "holds links or directories"},
		{"outside", tar.Header{Typeflag: tar.TypeReg, Name: "../escaped", Mode: 0o644}, "holds unexpected files"},
		{"extra", tar.Header{Typeflag: tar.TypeReg, Name: "run-me.sh", Mode: 0o644}, "holds unexpected files"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A volume 1 with the genuine signed index, and one more member.
			bad := copyDir(t, plain)
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, m := range []struct {
				name string
				data []byte
			}{{format.MemberIndex, h.IndexBytes}, {format.MemberSignature, h.Signature}} {
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: m.name, Mode: 0o644, Size: int64(len(m.data))})
				tw.Write(m.data)
			}
			if err := tw.WriteHeader(&c.hdr); err != nil {
				t.Fatal(err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(volumes(t, bad)[0], buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			expectFailure(t, key+".pub", bad, c.want)
		})
	}
}

// The README points to the script (it no longer shows it whole: issue 14).
func TestReadmeLinksRecoverScript(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("[scripts/recover.sh](scripts/recover.sh)")) {
		t.Errorf("README.md does not link %s", recoverScript)
	}
}
