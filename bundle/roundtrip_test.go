package bundle_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/testlayout"
	"github.com/airgap-bundle/bundle/internal/testregistry"
	"github.com/airgap-bundle/bundle/oci"
	"github.com/airgap-bundle/bundle/sign"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type rtKey struct {
	signer  *sign.KeySigner
	pubPath string
	pub     *sign.Verifier
}

var (
	keyOnce sync.Once
	theKey  rtKey
)

// keyDir holds the public key file of rtKeyPair, removed by TestMain.
var keyDir string

func TestMain(m *testing.M) {
	code := testregistry.Main(m) // the push tests share a registry
	if keyDir != "" {
		os.RemoveAll(keyDir)
	}
	os.Exit(code)
}

// rtKeyPair returns one ECDSA key for the whole test binary (scrypt is slow;
// -short loads an unencrypted key: these tests sign and verify, the
// encrypted format is sign's to test).
func rtKeyPair(t *testing.T) rtKey {
	t.Helper()
	keyOnce.Do(func() {
		var priv, pub []byte
		var err error
		if testing.Short() {
			priv, pub, err = plainKey()
		} else {
			priv, pub, err = sign.GenerateKey(sign.ECDSAP256, []byte("pw"))
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := sign.LoadSigner(priv, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "bundle-key")
		if err != nil {
			t.Fatal(err)
		}
		keyDir = dir
		p := filepath.Join(dir, "release.pub")
		if err := os.WriteFile(p, pub, 0o644); err != nil {
			t.Fatal(err)
		}
		theKey = rtKey{signer: s, pubPath: p, pub: s.Verifier()}
	})
	if theKey.signer == nil {
		t.Fatal("no key")
	}
	return theKey
}

// plainKey makes an ECDSA P-256 key pair as unencrypted PKCS#8 and PKIX
// PEM.
func plainKey() (priv, pub []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	pder, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), nil
}

// rtLayout builds a real layout whose layers are big enough to span volumes.
func rtLayout(t *testing.T, layerSize int) *testlayout.Layout {
	t.Helper()
	l, err := testlayout.Build(filepath.Join(t.TempDir(), "src"), testlayout.Options{LayerSize: layerSize})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rtPack(t *testing.T, out string, o bundle.PackOptions, srcs ...bundle.Source) *format.Index {
	t.Helper()
	if o.Created.IsZero() {
		o.Created = epoch
	}
	x, err := bundle.Pack(context.Background(), srcs, &bundle.DirSink{Dir: out}, o)
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return x
}

func layoutSource(t *testing.T, dir, tag string) bundle.Source {
	t.Helper()
	l, err := oci.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &bundle.LayoutSource{Layout: l, Tag: tag}
}

func volumeFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "vol-*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// sameBlobs checks that every blob of the source layout is in dest with the
// same bytes.
func sameBlobs(t *testing.T, src *testlayout.Layout, dest string) {
	t.Helper()
	for d := range src.Blobs {
		b, err := os.ReadFile(filepath.Join(dest, "blobs", "sha256", d.Encoded()))
		if err != nil {
			t.Fatalf("blob %s missing from %s: %v", d, dest, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != d.Encoded() {
			t.Fatalf("blob %s in %s has other bytes", d, dest)
		}
	}
}

func TestRoundTripManyVolumesReadBySkopeo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: skopeo and umoci read the unpacked layout; TestVolumesInMemory and the hostile tests keep many-volume round trips in -short, skipped by -short")
	}
	key := rtKeyPair(t)
	src := rtLayout(t, 48<<10)
	out := filepath.Join(t.TempDir(), "vols")
	const max = 64 << 10
	var notices []string
	x := rtPack(t, out, bundle.PackOptions{MaxVolumeSize: max, Signer: key.signer, Packer: "test",
		Notice: func(s string) { notices = append(notices, s) }}, layoutSource(t, src.Dir, ""))

	vols := volumeFiles(t, out)
	if len(vols) != len(x.Volumes) || len(vols) < 4 {
		t.Fatalf("%d volume files, index lists %d; want several", len(vols), len(x.Volumes))
	}
	for i, v := range vols {
		st, _ := os.Stat(v)
		if st.Size() > max || st.Size() != x.Volumes[i].Size {
			t.Fatalf("%s is %d bytes: limit %d, index says %d", v, st.Size(), max, x.Volumes[i].Size)
		}
		// Full volumes are filled to within a few blocks of the limit.
		if i < len(vols)-1 && st.Size() < max-8*1024 {
			t.Errorf("%s is %d bytes: volume not filled (limit %d)", v, st.Size(), max)
		}
		// Each volume is a tar archive on its own.
		run(t, "tar", "-tf", v)
	}
	split := 0
	for _, b := range x.Blobs {
		if len(b.Placements) > 1 {
			split++
			if b.Placements[0].Volume == b.Placements[len(b.Placements)-1].Volume {
				t.Errorf("blob %s split within one volume", b.Digest)
			}
		}
	}
	if split == 0 {
		t.Fatal("no blob spans volumes")
	}
	if len(x.Blobs) != len(src.Blobs) {
		t.Fatalf("bundle has %d blobs, layout %d: deduplication broken", len(x.Blobs), len(src.Blobs))
	}
	if !strings.Contains(strings.Join(notices, "\n"), "referrer "+src.Referrer.String()) {
		t.Errorf("no notice about the referrer: %q", notices)
	}

	// Verify: all at once, shuffled, and one at a time.
	ctx := context.Background()
	rep, err := verifyWith(ctx, []string{out}, bundle.TrustPolicy{Key: key.pub}, bundle.VerifyOptions{})
	if err != nil || len(rep.Verified) != len(vols) {
		t.Fatalf("verify: %v (%v verified)", err, rep)
	}
	shuffled := append([]string(nil), vols...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if _, err := verifyWith(ctx, shuffled, bundle.TrustPolicy{Key: key.pub}, bundle.VerifyOptions{}); err != nil {
		t.Fatalf("verify shuffled: %v", err)
	}
	for i, v := range vols {
		rep, err := verifyWith(ctx, []string{v}, bundle.TrustPolicy{Key: key.pub}, bundle.VerifyOptions{})
		var missing *bundle.MissingVolumesError
		if !errors.As(err, &missing) || len(missing.Missing) != len(vols)-1 {
			t.Fatalf("verify %s alone: %v, want the other volumes listed missing", v, err)
		}
		if _, err := verifyWith(ctx, []string{v}, bundle.TrustPolicy{Key: key.pub}, bundle.VerifyOptions{Partial: true}); err != nil {
			t.Fatalf("verify --partial %s: %v", v, err)
		}
		if len(rep.Verified) != 1 || rep.Verified[0] != i+1 {
			t.Fatalf("verify %s: verified %v", v, rep.Verified)
		}
	}

	// Unpack and read back with skopeo and umoci.
	dest := filepath.Join(t.TempDir(), "mirror")
	if _, err := unpackWith(ctx, shuffled, dest, bundle.TrustPolicy{Key: key.pub}, bundle.UnpackOptions{}); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	sameBlobs(t, src, dest)
	for ref, d := range src.Refs {
		raw := run(t, "skopeo", "inspect", "--raw", "oci:"+dest+":"+ref)
		if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != d.String() {
			t.Errorf("skopeo reads %s as another manifest", ref)
		}
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	run(t, "skopeo", "copy", "--insecure-policy", "--all", "oci:"+dest+":multi:latest", "dir:"+copyDir)
	entries, _ := os.ReadDir(copyDir)
	for _, e := range entries {
		if len(e.Name()) == 64 {
			if _, ok := src.Blobs[digest.Digest("sha256:"+e.Name())]; !ok {
				t.Errorf("skopeo copied a blob %s that is not in the source", e.Name())
			}
		}
	}
	run(t, "skopeo", "copy", "--insecure-policy", "oci:"+dest+":app:v2", "dir:"+filepath.Join(t.TempDir(), "v2"))
	run(t, "umoci", "stat", "--image", dest+":app:v1")
	// index.json lists the same entries as the source.
	sameIndexEntries(t, src.Dir, dest)
}

func sameIndexEntries(t *testing.T, a, b string) {
	t.Helper()
	read := func(dir string) []string {
		var idx ocispec.Index
		raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &idx); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range idx.Manifests {
			out = append(out, m.Annotations[ocispec.AnnotationRefName]+"@"+m.Digest.String())
		}
		sort.Strings(out)
		return out
	}
	if x, y := read(a), read(b); strings.Join(x, " ") != strings.Join(y, " ") {
		t.Fatalf("index.json entries differ:\n%v\n%v", x, y)
	}
}

func TestSignatureCheckedByOpenSSL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: tar and openssl on a packed volume; sign's TestOpenSSLVerifiesOurSignatures keeps openssl checking our signatures in -short, skipped by -short")
	}
	key := rtKeyPair(t)
	out := filepath.Join(t.TempDir(), "vols")
	rtPack(t, out, bundle.PackOptions{Signer: key.signer}, layoutSource(t, "../testdata/example-layout", "app:v1"))
	work := t.TempDir()
	run(t, "tar", "-xf", volumeFiles(t, out)[0], "-C", work, "bundle.json", "bundle.json.sig")
	got := run(t, "openssl", "dgst", "-sha256", "-verify", key.pubPath, "-signature",
		filepath.Join(work, "bundle.json.sig"), filepath.Join(work, "bundle.json"))
	if !strings.Contains(string(got), "Verified OK") {
		t.Fatalf("openssl: %s", got)
	}
	// And openssl refuses an altered index.
	p := filepath.Join(work, "bundle.json")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte(`"packer":"`), []byte(`"packer":"x`), 1), 0o644)
	if err := exec.Command("openssl", "dgst", "-sha256", "-verify", key.pubPath, "-signature",
		filepath.Join(work, "bundle.json.sig"), p).Run(); err == nil {
		t.Fatal("openssl accepted an altered index")
	}
}

func TestReproduciblePacks(t *testing.T) {
	t.Parallel()
	key := rtKeyPair(t)
	src := "../testdata/example-layout"
	for _, signed := range []bool{false, true} {
		o := bundle.PackOptions{MaxVolumeSize: 40000, Compression: format.CompressionZstd, Packer: "test"}
		if signed {
			o.Signer = key.signer
		}
		a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
		xa := rtPack(t, a, o, layoutSource(t, src, ""))
		xb := rtPack(t, b, o, layoutSource(t, src, ""))
		ja, _ := json.Marshal(xa)
		jb, _ := json.Marshal(xb)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("signed=%v: indexes differ", signed)
		}
		va, vb := volumeFiles(t, a), volumeFiles(t, b)
		if len(va) != len(vb) {
			t.Fatal("volume counts differ")
		}
		for i := range va {
			ba, _ := os.ReadFile(va[i])
			bb, _ := os.ReadFile(vb[i])
			if signed {
				// Only the signature bytes may differ (ECDSA signatures are randomised).
				ba, bb = blankMember(t, ba, "bundle.json.sig"), blankMember(t, bb, "bundle.json.sig")
			}
			if !bytes.Equal(ba, bb) {
				t.Fatalf("signed=%v: %s and %s differ", signed, va[i], vb[i])
			}
		}
	}
}

// blankMember zeroes the data of the named member of a tar archive.
func blankMember(t *testing.T, vol []byte, name string) []byte {
	t.Helper()
	out := append([]byte(nil), vol...)
	for off := 0; off+512 <= len(out); {
		hdr := out[off : off+512]
		n := string(bytes.TrimRight(hdr[:100], "\x00"))
		var size int64
		for _, c := range bytes.TrimRight(hdr[124:135], "\x00") {
			size = size*8 + int64(c-'0')
		}
		if n == name {
			for i := off + 512; i < off+512+int(size); i++ {
				out[i] = 0
			}
			// the header's size field may differ too (70-72 bytes)
			copy(hdr[124:136], make([]byte, 12))
			copy(hdr[148:156], make([]byte, 8))
			return out
		}
		if n == "" {
			break
		}
		off += 512 + int((size+511)/512*512)
	}
	t.Fatalf("no member %s", name)
	return nil
}

func TestCompressionRoundTrip(t *testing.T) {
	t.Parallel()
	src := rtLayout(t, 32<<10)
	out := filepath.Join(t.TempDir(), "vols")
	x := rtPack(t, out, bundle.PackOptions{MaxVolumeSize: 48 << 10, Compression: format.CompressionZstd}, layoutSource(t, src.Dir, ""))
	zst := 0
	for _, b := range x.Blobs {
		if b.Encoding == format.CompressionZstd {
			zst++
			if b.StoredSize >= b.Size {
				t.Errorf("blob %s stored compressed but not smaller", b.Digest)
			}
			if strings.HasSuffix(b.MediaType, "gzip") {
				t.Errorf("gzip blob %s compressed again", b.Digest)
			}
		}
	}
	if zst == 0 {
		t.Fatal("no blob compressed (app:v2 has an uncompressed text layer)")
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if _, err := unpackWith(context.Background(), []string{out}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	sameBlobs(t, src, dest)
	run(t, "skopeo", "copy", "--insecure-policy", "oci:"+dest+":app:v2", "dir:"+filepath.Join(t.TempDir(), "v2"))
}

func TestPlatformFilter(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "vols")
	var notices []string
	x := rtPack(t, out, bundle.PackOptions{Platforms: []ocispec.Platform{{OS: "linux", Architecture: "arm64"}},
		Notice: func(s string) { notices = append(notices, s) }}, layoutSource(t, "../testdata/example-layout", "multi:latest"))
	if len(x.Images) != 1 || strings.Join(x.Images[0].Platforms, ",") != "linux/arm64/v8" {
		t.Fatalf("images %+v", x.Images)
	}
	if !strings.Contains(strings.Join(notices, "\n"), "linux/amd64") {
		t.Fatalf("no notice of the dropped platform: %q", notices)
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if _, err := unpackWith(context.Background(), []string{out}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	run(t, "skopeo", "inspect", "--override-arch", "arm64", "--override-variant", "v8", "oci:"+dest+":multi:latest")
	if err := exec.Command("skopeo", "inspect", "--override-arch", "amd64", "oci:"+dest+":multi:latest").Run(); err == nil {
		t.Fatal("the amd64 image was packed although only arm64 was asked for")
	}
}

// TestPlatformFilterLeavesNothing: a platform filter that leaves an
// index none of its manifests refuses the pack, naming the image, what was
// asked and what it offers, and writes nothing; before, the bundle carried
// an index of nothing, which no platform could pull.
func TestPlatformFilterLeavesNothing(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "vols")
	_, err := bundle.Pack(context.Background(), []bundle.Source{layoutSource(t, "../testdata/example-layout", "multi:latest")},
		&bundle.DirSink{Dir: out}, bundle.PackOptions{Created: epoch, Platforms: []ocispec.Platform{{OS: "windows", Architecture: "amd64"}}})
	var npe *oci.NoPlatformError
	if !errors.As(err, &npe) || !strings.Contains(err.Error(), "image multi:latest: index ") || !strings.Contains(err.Error(), "only for linux/amd64, linux/arm64/v8") {
		t.Fatalf("pack of multi:latest for windows/amd64: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused pack made %s (%v)", out, err)
	}
	// The layout given whole brings every tagged entry, as a rule brings
	// many: multi:latest is carried as it is, with a notice, and the rest
	// with it.
	var notices []string
	x := rtPack(t, out, bundle.PackOptions{Platforms: []ocispec.Platform{{OS: "windows", Architecture: "amd64"}},
		Notice: func(s string) { notices = append(notices, s) }}, layoutSource(t, "../testdata/example-layout", ""))
	if len(x.Images) < 4 || !slices.ContainsFunc(notices, func(s string) bool {
		return strings.Contains(s, "image multi:latest: index ") && strings.Contains(s, "not named on its own")
	}) {
		t.Errorf("the whole layout for windows/amd64: %d images, notices %q", len(x.Images), notices)
	}
}

func TestConflictingRefNamesRefused(t *testing.T) {
	t.Parallel()
	a := rtLayout(t, 0)
	b, err := testlayout.Build(filepath.Join(t.TempDir(), "other"), testlayout.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bundle.Pack(context.Background(), []bundle.Source{layoutSource(t, a.Dir, "app:v1"), layoutSource(t, b.Dir, "app:v1")},
		&bundle.DirSink{Dir: filepath.Join(t.TempDir(), "v")}, bundle.PackOptions{Created: epoch})
	if err == nil || !strings.Contains(err.Error(), a.Dir) || !strings.Contains(err.Error(), b.Dir) || !strings.Contains(err.Error(), "app:v1") {
		t.Fatalf("want an error naming both layouts and the ref, got %v", err)
	}
	// The same content under the same name from two sources is fine and stored once.
	x := rtPack(t, filepath.Join(t.TempDir(), "v2"), bundle.PackOptions{}, layoutSource(t, a.Dir, ""), layoutSource(t, "../testdata/example-layout", ""))
	if len(x.Blobs) != len(a.Blobs) {
		t.Fatalf("%d blobs from two equal layouts, want %d", len(x.Blobs), len(a.Blobs))
	}
}

func TestRepackLeavesNoStaleVolumes(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "vols")
	rtPack(t, out, bundle.PackOptions{MaxVolumeSize: 30000}, layoutSource(t, "../testdata/example-layout", ""))
	before := volumeFiles(t, out)
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	x := rtPack(t, out, bundle.PackOptions{MaxVolumeSize: 1 << 20, Created: epoch.Add(time.Hour)}, layoutSource(t, "../testdata/example-layout", ""))
	after := volumeFiles(t, out)
	if len(before) < 2 || len(after) != 1 || len(x.Volumes) != 1 {
		t.Fatalf("before %v, after %v", before, after)
	}
	if _, err := os.Stat(filepath.Join(out, "notes.txt")); err != nil {
		t.Fatal("pack removed a file that is not a volume")
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestUnpackMergesAndMovesTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "dest")
	v1 := filepath.Join(t.TempDir(), "v1")
	rtPack(t, v1, bundle.PackOptions{}, layoutSource(t, "../testdata/example-layout", "app:v1"))
	if _, err := unpackWith(ctx, []string{v1}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another layout whose app:v1 is other content, plus a new tag.
	other, err := testlayout.Build(filepath.Join(t.TempDir(), "other"), testlayout.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	v2 := filepath.Join(t.TempDir(), "v2")
	rtPack(t, v2, bundle.PackOptions{}, layoutSource(t, other.Dir, "app:v1"), layoutSource(t, other.Dir, "base:1"))
	var notices []string
	if _, err := unpackWith(ctx, []string{v2}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{
		Notice: func(s string) { notices = append(notices, s) }}); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(notices, "\n")
	if !strings.Contains(joined, "moved tag app:v1") || strings.Contains(joined, "base:1") {
		t.Fatalf("notices: %s (a moved tag is told, a new one counted)", joined)
	}
	l, err := oci.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tagged, _ := l.Tagged("")
	if len(tagged) != 2 {
		t.Fatalf("want 2 tags, got %v", tagged)
	}
	got, _ := l.Tagged("app:v1")
	if got[0].Digest != other.Refs["app:v1"] {
		t.Fatal("app:v1 did not move")
	}
	// Re-running the same unpack changes nothing, index.json stays byte-identical.
	before, _ := os.ReadFile(filepath.Join(dest, "index.json"))
	if _, err := unpackWith(ctx, []string{v2}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dest, "index.json"))
	if !bytes.Equal(before, after) {
		t.Fatal("a repeated unpack rewrote index.json")
	}
}

func TestConcurrentUnpacksKeepEveryTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "dest")
	var dirs []string
	tags := []string{"base:1", "app:v1", "app:v2", "multi:latest"}
	for _, tag := range tags {
		d := filepath.Join(t.TempDir(), "v")
		rtPack(t, d, bundle.PackOptions{}, layoutSource(t, "../testdata/example-layout", tag))
		dirs = append(dirs, d)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = unpackWith(ctx, []string{d}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := oci.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, _ := l.Tagged("")
	if len(got) != len(tags) {
		t.Fatalf("after concurrent unpacks index.json has %d tags, want %d", len(got), len(tags))
	}
}

func TestVolumeTooSmall(t *testing.T) {
	t.Parallel()
	_, err := bundle.Pack(context.Background(), []bundle.Source{layoutSource(t, "../testdata/example-layout", "")},
		&bundle.DirSink{Dir: filepath.Join(t.TempDir(), "v")}, bundle.PackOptions{MaxVolumeSize: 4096})
	if !errors.Is(err, format.ErrTooSmall) {
		t.Fatalf("want ErrTooSmall, got %v", err)
	}
}

// Layouts written by the real tools, packed together.
func TestLayoutsMadeBySkopeoAndUmoci(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("integration: layouts written by skopeo and umoci, skipped by -short")
	}
	dir := t.TempDir()
	sk := filepath.Join(dir, "skopeo-layout")
	run(t, "skopeo", "copy", "--insecure-policy", "--all", "oci:../testdata/example-layout:multi:latest", "oci:"+sk+":multi:copied")
	run(t, "skopeo", "copy", "--insecure-policy", "oci:../testdata/example-layout:app:v2", "oci:"+sk+":app:copied")
	um := filepath.Join(dir, "umoci-layout")
	run(t, "umoci", "init", "--layout", um)
	run(t, "umoci", "new", "--image", um+":fresh")
	bundleDir := filepath.Join(t.TempDir(), "rootfs")
	run(t, "umoci", "unpack", "--rootless", "--image", um+":fresh", bundleDir)
	os.WriteFile(filepath.Join(bundleDir, "rootfs", "hello.txt"), []byte("hello from umoci\n"), 0o644)
	run(t, "umoci", "repack", "--image", um+":fresh", bundleDir)

	out := filepath.Join(t.TempDir(), "vols")
	x := rtPack(t, out, bundle.PackOptions{MaxVolumeSize: 40000}, layoutSource(t, sk, ""), layoutSource(t, um, "fresh"))
	if len(x.Manifests) != 3 {
		t.Fatalf("want 3 entries, got %d", len(x.Manifests))
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if _, err := unpackWith(context.Background(), []string{out}, dest, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []struct{ layout, tag string }{{sk, "multi:copied"}, {sk, "app:copied"}, {um, "fresh"}} {
		want := run(t, "skopeo", "inspect", "--raw", "oci:"+ref.layout+":"+ref.tag)
		got := run(t, "skopeo", "inspect", "--raw", "oci:"+dest+":"+ref.tag)
		if !bytes.Equal(want, got) {
			t.Errorf("%s: manifest differs after the trip", ref.tag)
		}
	}
	run(t, "umoci", "stat", "--image", dest+":fresh")
}

// verifyWith opens the volumes in paths, trusts them by policy and
// verifies them, as a program using the library does.
func verifyWith(ctx context.Context, paths []string, policy bundle.TrustPolicy, o bundle.VerifyOptions) (*bundle.Report, error) {
	s, err := bundle.OpenFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	if err := s.Trust(policy); err != nil {
		return nil, err
	}
	return s.Verify(ctx, o)
}

// unpackWith opens the volumes in paths, trusts them by policy and
// unpacks them into the layout at dest.
func unpackWith(ctx context.Context, paths []string, dest string, policy bundle.TrustPolicy, o bundle.UnpackOptions) (*format.Index, error) {
	s, err := bundle.OpenFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	if err := s.Trust(policy); err != nil {
		return nil, err
	}
	d := bundle.NewLayoutDestination(dest, bundle.LayoutOptions{})
	defer d.Close()
	res, err := s.Unpack(ctx, d, o)
	if err != nil {
		return nil, err
	}
	return res.Index, nil
}

// TestVolumesInMemory reads a split, compressed bundle whose volumes are
// not files (bundle.Open over ReaderAtVolume): nothing is read before
// Trust, then it verifies, a damaged byte names its volume, and it unpacks
// to the same layout as the files do.
func TestVolumesInMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := rtLayout(t, 32<<10)
	out := filepath.Join(t.TempDir(), "vols")
	rtPack(t, out, bundle.PackOptions{MaxVolumeSize: 48 << 10, Compression: format.CompressionZstd}, layoutSource(t, src.Dir, ""))
	files, err := filepath.Glob(filepath.Join(out, "vol-*.tar"))
	if err != nil || len(files) < 2 {
		t.Fatalf("want several volumes: %v %v", files, err)
	}
	datas := map[string][]byte{}
	open := func() *bundle.Set {
		var vols []bundle.VolumeOpener
		for i, f := range files {
			b, ok := datas[f]
			if !ok {
				if b, err = os.ReadFile(f); err != nil {
					t.Fatal(err)
				}
				datas[f] = b
			}
			vols = append(vols, bundle.ReaderAtVolume(fmt.Sprintf("memory:%d", i+1), bytes.NewReader(b), int64(len(b))))
		}
		s, err := bundle.Open(ctx, vols)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if _, err := s.Verify(ctx, bundle.VerifyOptions{}); !errors.Is(err, bundle.ErrNotTrusted) {
		t.Fatalf("Verify before Trust: %v, want ErrNotTrusted", err)
	}
	if _, err := s.Unpack(ctx, bundle.NewLayoutDestination(filepath.Join(t.TempDir(), "never"), bundle.LayoutOptions{}), bundle.UnpackOptions{}); !errors.Is(err, bundle.ErrNotTrusted) {
		t.Fatalf("Unpack before Trust: %v, want ErrNotTrusted", err)
	}
	if err := s.Trust(bundle.TrustPolicy{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Verify(ctx, bundle.VerifyOptions{}); err != nil || len(r.Verified) != len(files) {
		t.Fatalf("Verify: %v, verified %v", err, r)
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if _, err := s.Unpack(ctx, bundle.NewLayoutDestination(dest, bundle.LayoutOptions{}), bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	sameBlobs(t, src, dest)
	fromFiles := filepath.Join(t.TempDir(), "files")
	if _, err := unpackWith(ctx, []string{out}, fromFiles, bundle.TrustPolicy{AllowUnsigned: true}, bundle.UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	if a, b := readFile(t, filepath.Join(dest, "index.json")), readFile(t, filepath.Join(fromFiles, "index.json")); !bytes.Equal(a, b) {
		t.Errorf("index.json from memory differs from the one from files:\n%s\n%s", a, b)
	}

	// The last volume's last member damaged in memory.
	last := files[len(files)-1]
	datas[last][len(datas[last])-1024-1] ^= 1
	s = open()
	if err := s.Trust(bundle.TrustPolicy{AllowUnsigned: true}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(ctx, bundle.VerifyOptions{})
	var ce *format.CorruptError
	if !errors.As(err, &ce) || ce.Path != fmt.Sprintf("memory:%d", len(files)) {
		t.Fatalf("a damaged volume in memory: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if _, err := s.Unpack(ctx, bundle.NewLayoutDestination(bad, bundle.LayoutOptions{}), bundle.UnpackOptions{}); !errors.As(err, &ce) {
		t.Fatalf("unpack of a damaged volume in memory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bad, "index.json")); err == nil {
		t.Error("a refused unpack wrote index.json")
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
