package bundle

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// gatedSigner is a sign.PendingSigner whose opening waits for open to be
// closed (or 10 s), then gives signer or err; opens counts how often
// the opening ran.
type gatedSigner struct {
	*sign.PendingSigner
	open  chan struct{}
	once  sync.Once
	opens atomic.Int32
	// byGate is set when the gate, not the 10 s, let it open.
	byGate atomic.Bool
}

func newGatedSigner(signer sign.Signer, err error) *gatedSigner {
	g := &gatedSigner{open: make(chan struct{})}
	g.PendingSigner = sign.Async(func() (sign.Signer, error) {
		g.opens.Add(1)
		select {
		case <-g.open:
			g.byGate.Store(true)
		case <-time.After(10 * time.Second):
		}
		if err != nil {
			return nil, err
		}
		return signer, nil
	})
	return g
}

func (g *gatedSigner) release() { g.once.Do(func() { close(g.open) }) }

// volumeBytes reads dir's volume files, by name, each with its signature
// member (header and data) zeroed: ECDSA signs with a random nonce, so no
// two packs' signatures are the same.
func volumeBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, p := range volumeFiles(t, dir) {
		b := mustRead(t, p)
		members, _ := scanVolume(t, b)
		sig := findMember(t, members, format.MemberSignature)
		clear(b[sig.HdrOff:sig.End()])
		m[filepath.Base(p)] = b
	}
	return m
}

// A signer still opening (a key file being decrypted) is waited for only
// to seal the index: into files, the blobs are written first. The bundle
// is the one a signer open from the start makes, byte for byte, for a
// key whose algorithm name is as long as the placeholder's (ECDSA) and
// for one whose is not (Ed25519); Pack opens it once.
func TestPackPendingSigner(t *testing.T) {
	t.Parallel()
	ecdsa, _ := fastKey(t, false)
	ed, _ := fastKey(t, true)
	for _, c := range []struct {
		name    string
		signer  *sign.KeySigner
		max     int64
		version int
		stream  bool // a sink that is not a FileSink: nothing is written before the seal
	}{
		{name: "ecdsa, one volume", signer: ecdsa},
		{name: "ecdsa, volumes", signer: ecdsa, max: 40 << 10},
		{name: "ed25519, volumes", signer: ed, max: 40 << 10},
		{name: "ed25519, version 2", signer: ed, max: 40 << 10, version: format.VersionV2},
		{name: "ecdsa, version 2", signer: ecdsa, max: 40 << 10, version: format.VersionV2},
		{name: "ed25519, stream", signer: ed, max: 40 << 10, stream: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := PackOptions{MaxVolumeSize: c.max, FormatVersion: c.version, Created: testCreated, Packer: "bundle-test"}
			o.Signer = c.signer
			want, wantX := packLayout(t, o)

			g := newGatedSigner(c.signer, nil)
			o.Signer = g.PendingSigner
			var written atomic.Bool
			o.Progress = func(p Progress) {
				if p.Done > 0 {
					written.Store(true)
					g.release() // the key opens once blobs are being written
				}
			}
			if c.stream {
				go func() { time.Sleep(20 * time.Millisecond); g.release() }()
			}
			dir := t.TempDir()
			var sink Sink = &DirSink{Dir: dir}
			if c.stream {
				sink = streamSink{&DirSink{Dir: dir}}
			}
			x, err := Pack(context.Background(), []Source{layoutSource(t, exampleLayout, "")}, sink, o)
			if err != nil {
				t.Fatalf("pack: %v", err)
			}
			if !g.byGate.Load() {
				t.Fatal("the key was opened by the test's timeout: pack waited for it before writing")
			}
			if n := g.opens.Load(); n != 1 {
				t.Errorf("the key was opened %d times, want 1", n)
			}
			if x.BundleID != wantX.BundleID || *x.Signer != *wantX.Signer {
				t.Errorf("index: bundle %s signer %+v, want %s %+v", x.BundleID, *x.Signer, wantX.BundleID, *wantX.Signer)
			}
			got, exp := volumeBytes(t, dir), volumeBytes(t, want)
			if len(got) != len(exp) {
				t.Fatalf("%d volumes, want %d", len(got), len(exp))
			}
			for name, b := range exp {
				if !bytes.Equal(got[name], b) {
					t.Errorf("%s differs from the pack with the key open from the start", name)
				}
			}
			if _, err := verifyFiles(context.Background(), []string{dir}, verifyOpts{Key: c.signer.Verifier()}); err != nil {
				t.Fatalf("verify with the key: %v", err)
			}
		})
	}
}

// A key that cannot be opened fails the pack at once, with the error
// opening it gave (not a cancellation), whether that comes before the
// sources are read or while the blobs are written; and the directory is
// left as it was, an earlier bundle in it untouched. So does a pack whose
// caller gives up while the key is opening.
func TestPackPendingSignerFails(t *testing.T) {
	t.Parallel()
	keyErr := errors.New("private key k.key: decrypting ENCRYPTED SIGSTORE PRIVATE KEY: wrong password: check the password")
	for _, c := range []struct {
		name   string
		when   string // "start": the error at once; "writing": once blobs are written; "cancel": the caller cancels then
		stream bool
	}{
		{name: "at once", when: "start"},
		{name: "while writing", when: "writing"},
		{name: "at once, stream", when: "start", stream: true},
		{name: "caller cancels while writing", when: "cancel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := packLayout(t, PackOptions{Signer: testSigner(t), MaxVolumeSize: 40 << 10})
			before := treeHash(t, dir)

			g := newGatedSigner(nil, keyErr)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := PackOptions{Signer: g.PendingSigner, MaxVolumeSize: 40 << 10, Created: testCreated.Add(time.Hour)}
			o.Progress = func(p Progress) {
				if p.Done > 0 && c.when == "writing" {
					g.release()
				}
				if p.Done > 0 && c.when == "cancel" {
					cancel()
				}
			}
			if c.when == "start" {
				g.release()
			}
			var sink Sink = &DirSink{Dir: dir}
			if c.stream {
				sink = streamSink{&DirSink{Dir: dir}}
			}
			start := time.Now()
			_, err := Pack(ctx, []Source{layoutSource(t, exampleLayout, "")}, sink, o)
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("pack took %v to fail", took)
			}
			want := keyErr
			if c.when == "cancel" {
				want = context.Canceled
			}
			if err == nil || !errors.Is(err, want) || (want == keyErr && err.Error() != keyErr.Error()) {
				t.Fatalf("pack: %v, want %v", err, want)
			}
			if after := treeHash(t, dir); !maps.Equal(after, before) {
				t.Errorf("the directory changed:\nbefore %v\nafter  %v", before, after)
			}
			g.release()
		})
	}
}

// signerLayout says a provisional plan holds for every key only when it
// does: over index lengths that cross a 512-byte block (the packer's name
// grows a byte at a time), planning with each algorithm's length gives
// the same layout wherever signerLayout says so, and where it does not,
// Pack waits for the key and still makes the bundle a key open from the
// start makes.
func TestSignerLayout(t *testing.T) {
	t.Parallel()
	src := layoutSource(t, exampleLayout, "")
	// The layout is read once; each case plans its index afresh.
	pl, err := plan(context.Background(), []Source{src}, PackOptions{MaxVolumeSize: 40 << 10, Created: testCreated}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	planWith := func(packer, alg string) *format.Index {
		o := pl.o
		o.Packer = packer
		// planned with a placeholder signer of alg.
		x, _, err := planIndex(o, &format.Signer{KeyID: provisionalKeyID, Algorithm: alg}, nil, pl.g, pl.layoutIndex)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	var holds, not int
	var notPacker string
	for n := 0; n < 520; n++ {
		packer := "p" + strings.Repeat("x", n)
		x := planWith(packer, algorithmsByLength[0])
		ok := signerLayout(x, 40<<10)
		want, err := layoutPrint(x)
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for _, alg := range algorithmsByLength[1:] {
			if got, _ := layoutPrint(planWith(packer, alg)); got != want {
				same = false
			}
		}
		if ok && !same {
			t.Fatalf("packer of %d bytes: signerLayout says the layout holds for every key, and it does not", len(packer))
		}
		if ok {
			holds++
		} else {
			not++
			notPacker = packer
		}
	}
	t.Logf("layout the same for every key at %d index lengths, not at %d", holds, not)
	if not == 0 || holds < 400 {
		t.Fatalf("layout the same for every key at %d of %d index lengths: the test wants some of each, most the same", holds, holds+not)
	}

	// Where it does not hold, Pack waits for the key, and packs as if it
	// had been open.
	ed, _ := fastKey(t, true)
	o := PackOptions{Signer: ed, MaxVolumeSize: 40 << 10, Created: testCreated, Packer: notPacker}
	want, _ := packLayout(t, o)
	g := newGatedSigner(ed, nil)
	o.Signer = g.PendingSigner
	var wroteFirst atomic.Bool
	o.Progress = func(p Progress) {
		if p.Done > 0 && !g.byGate.Load() {
			wroteFirst.Store(true)
		}
	}
	go func() { time.Sleep(20 * time.Millisecond); g.release() }()
	dir := t.TempDir()
	if _, err := Pack(context.Background(), []Source{src}, &DirSink{Dir: dir}, o); err != nil {
		t.Fatalf("pack: %v", err)
	}
	if wroteFirst.Load() {
		t.Error("pack wrote blobs before the key was open, with a layout that depends on it")
	}
	got, exp := volumeBytes(t, dir), volumeBytes(t, want)
	for name, b := range exp {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs from the pack with the key open from the start", name)
		}
	}
}
