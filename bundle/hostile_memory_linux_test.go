package bundle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airgap-bundle/bundle/format"
)

// Memory before trust (SPEC 15, issue 13). Each case builds volumes whose
// bundle.json nobody signed, or signed with a key the reader was not
// given, and opens them in a child process (a fresh heap, so that the
// peak is this reading's alone), which samples the heap while it reads
// and reports the peak. Only memory is asserted: time is logged.

// hostileMemBudget is the peak heap SPEC 15 allows for reading the header
// members of the volumes given, before trust, for a bundle.json of n
// bytes (the index.json here is tiny): with a key, the raw bytes once;
// without, 6 times them for the decode (format.DecodeRatio), which
// measures 4.9 at its limit.
func hostileMemBudget(n int64, key bool) int64 {
	if key {
		return n + 32<<20
	}
	return 6*n + 32<<20
}

// memChild is what the parent asks the child to open.
type memChild struct {
	Paths         []string
	Key           bool // check signatures before decoding (OpenOptions.VerifyIndex)
	AllowUnsigned bool
}

// memResult is what the child reports.
type memResult struct {
	PeakHeap int64
	MaxRSS   int64
	Seconds  float64
	Err      string
	Volumes  int
	Problems []string
	Class    string // "wrong-key", "corrupt", "" ...
}

const memChildEnv = "BUNDLE_TEST_MEM_CHILD"

// TestHostileMemoryChild is the child: it does nothing unless the parent
// runs it.
func TestHostileMemoryChild(t *testing.T) {
	spec := os.Getenv(memChildEnv)
	if spec == "" {
		t.Skip("run by TestHostileIndexMemory in a process of its own")
	}
	var c memChild
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		t.Fatal(err)
	}
	var o OpenOptions
	if c.Key {
		o.VerifyIndex = TrustPolicy{Key: testSigner(t).Verifier(), AllowUnsigned: c.AllowUnsigned}.IndexVerifier()
	}
	runtime.GC()
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The heap's live and not yet swept objects: what the process
		// holds. Sampled often: a buffer of 256 MiB shows at once.
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := int64(s[0].Value.Uint64()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	start := time.Now()
	set, err := OpenFilesWith(context.Background(), c.Paths, o)
	secs := time.Since(start).Seconds()
	close(stop)
	<-done
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	peak.Store(max(peak.Load(), int64(s[0].Value.Uint64())))
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	r := memResult{PeakHeap: peak.Load(), MaxRSS: ru.Maxrss << 10, Seconds: secs}
	if err != nil {
		r.Err = err.Error()
		r.Class = errClass(err)
	} else {
		r.Volumes = len(set.Volumes)
		for _, p := range set.Problems {
			r.Problems = append(r.Problems, p.Error())
			if r.Class == "" {
				r.Class = errClass(p)
			}
		}
	}
	b, _ := json.Marshal(r)
	fmt.Printf("MEMRESULT %s\n", b)
}

func errClass(err error) string {
	var ce *format.CorruptError
	switch {
	case errors.Is(err, ErrWrongKey):
		return "wrong-key"
	case errors.Is(err, ErrBadSignature):
		return "bad-signature"
	case errors.Is(err, ErrUnsigned):
		return "unsigned"
	case errors.As(err, &ce):
		return "corrupt"
	case errors.Is(err, format.ErrNotVolume):
		return "not-a-volume"
	}
	return "other"
}

func runMemChild(t *testing.T, c memChild) memResult {
	t.Helper()
	spec, _ := json.Marshal(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostileMemoryChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), memChildEnv+"="+string(spec))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "MEMRESULT "); ok {
			var r memResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("child said nothing:\n%s", out)
	return memResult{}
}

// writeHostileVolume writes at path a file that starts as a volume does
// and whose bundle.json is size bytes: one blob with as many placements
// elem as fit ("{}" decoded to 45 bytes of heap per byte). signerKeyID "" makes it unsigned; otherwise its signer names
// that key and a made-up signature follows. Written as it is made: the
// parent never holds it.
func writeHostileVolume(t *testing.T, path string, size int64, signerKeyID, elem string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const id = "0123456789abcdef0123456789abcdef"
	mtime := testCreated.Unix()
	layoutIndex := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	signer := "null"
	if signerKeyID != "" {
		signer = fmt.Sprintf(`{"keyId":%q,"algorithm":"ecdsa-p256-sha256"}`, signerKeyID)
	}
	d := "sha256:" + strings.Repeat("ab", 32)
	head := fmt.Sprintf(`{"mediaType":%q,"formatVersion":1,"bundleId":%q,"created":%q,"packer":"hostile","signer":%s,"bases":[],"compression":"none","maxVolumeSize":0,"layoutIndex":{"digest":%q,"size":%d},"manifests":[],"images":[],"volumes":[{"number":1,"size":4096}],"blobs":[{"digest":%q,"size":0,"mediaType":"x","encoding":"none","storedSize":0,"storedDigest":%q,"placements":[%s`,
		format.MediaTypeIndex, id, testCreated.Format(time.RFC3339), signer, d, len(layoutIndex), d, d, elem)
	tail := `]}]}`
	fill := size - int64(len(head)) - int64(len(tail))
	if fill < 0 {
		t.Fatal("size too small")
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(format.WriteMember(w, format.MemberLayout, []byte(format.OCILayoutFile), mtime))
	must(format.WriteMember(w, format.MemberOCIIndex, layoutIndex, mtime))
	_, err = w.Write(format.TarHeader(format.MemberIndex, size, mtime))
	must(err)
	w.WriteString(head)
	e := int64(len(elem)) + 1
	chunk := bytes.Repeat([]byte(","+elem), 1<<16)
	for fill >= e {
		n := min(fill/e*e, int64(len(chunk)))
		w.Write(chunk[:n])
		fill -= n
	}
	w.Write(bytes.Repeat([]byte(" "), int(fill)))
	w.WriteString(tail)
	w.Write(format.Zeros(format.Padding(size)))
	if signerKeyID != "" {
		must(format.WriteMember(w, format.MemberSignature, bytes.Repeat([]byte{0x30}, 70), mtime))
	}
	must(format.WriteMember(w, format.MemberVolume, format.VolumeMarker(id, 1, 1), mtime))
	w.Write(format.Zeros(2 * format.BlockSize))
	must(w.Flush())
	must(f.Close())
}

// TestHostileLayoutIndexMemory: index.json is compared with bundle.json's
// manifests as JSON values, which decodes both; 64 MiB of "[[],[],…]" in
// an index.json that bundle.json (unsigned) names by digest is told apart
// by its structure, unread (SPEC 5.2, 15).
func TestHostileLayoutIndexMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a file of 64 MiB")
	}
	if os.Getenv(memChildEnv) != "" {
		t.Skip("in the child")
	}
	good, _ := packLayout(t, PackOptions{})
	pb := readBundle(t, good)
	const size = format.MaxOCIIndexSize - 1024
	head := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[[]`
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(head)
	for b.Len() < size-5 {
		b.WriteString(",[]")
	}
	b.WriteString("]}")
	x := *pb.Index
	x.MaxVolumeSize = 0
	dir, _, _ := writeBundle(t, &x, b.Bytes(), pb.Stored, nil)
	r := runMemChild(t, memChild{Paths: volumeFiles(t, dir)})
	t.Logf("peak heap %d MiB, %.1f s; %s %q", r.PeakHeap>>20, r.Seconds, r.Err, r.Problems)
	if r.Class != "corrupt" {
		t.Errorf("class %q (%s %q), want corrupt", r.Class, r.Err, r.Problems)
	}
	if budget := int64(size + 32<<20); r.PeakHeap > budget {
		t.Errorf("peak heap %d MiB, more than the %d MiB budget", r.PeakHeap>>20, budget>>20)
	}
}

func TestHostileIndexMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes files of up to 256 MiB")
	}
	if os.Getenv(memChildEnv) != "" {
		t.Skip("in the child")
	}
	good, _ := packLayout(t, PackOptions{MaxVolumeSize: hostileVolumeSize})
	cases := []struct {
		name      string
		size      int64
		signer    string
		key       bool
		inDir     bool // beside a good bundle, named notes.tar
		wantClass string
		elem      string // "" for {}
	}{
		// The index names a key not trusted, or none: countersignatures
		// beside the volumes might still make it trusted (SPEC 10.6), so
		// the early check lets it through, and the decode budget refuses
		// these bytes. (A claim of a trusted key is checked before
		// decoding: TestIndexVerifierEarly.)
		{"256 MiB index signed by another key, key given", format.MaxIndexSize, "sha256:" + strings.Repeat("0", 64), true, false, "corrupt", ""},
		{"256 MiB unsigned index, key given", format.MaxIndexSize, "", true, false, "corrupt", ""},
		// No key (inspect, --allow-unsigned): decoded within its budget,
		// which these bytes exceed.
		{"64 MiB unsigned index, no key", 64 << 20, "", false, false, "corrupt", ""},
		{"256 MiB unsigned index, no key", format.MaxIndexSize, "", false, false, "corrupt", ""},
		// Placements just dense enough to pass the decode budget (a
		// 40-byte Placement per 40 bytes): decoded, then refused by
		// validation (more than 9999 placements).
		{"256 MiB unsigned index at the decode budget, no key", format.MaxIndexSize, "", false, false, "corrupt",
			`{"digest":"` + strings.Repeat("a", 26) + `"}`},
		// A directory is read for its volumes only.
		{"64 MiB notes.tar beside a good bundle", 64 << 20, "", false, true, "", ""},
		// Named explicitly: the second header is not index.json.
		{"64 MiB notes.tar named explicitly", 64 << 20, "", false, false, "corrupt", "notes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.elem == "" {
				c.elem = "{}"
			}
			var paths []string
			if c.elem == "notes" {
				// An ordinary tar that happens to start with an oci-layout
				// member: read up to the next header, no further.
				p := filepath.Join(t.TempDir(), "notes.tar")
				f, err := os.Create(p)
				if err != nil {
					t.Fatal(err)
				}
				w := bufio.NewWriter(f)
				format.WriteMember(w, format.MemberLayout, []byte(format.OCILayoutFile), 0)
				w.Write(format.TarHeader("notes.txt", c.size, 0))
				w.Write(bytes.Repeat([]byte("n"), int(c.size)))
				w.Write(format.Zeros(format.Padding(c.size)))
				w.Write(format.Zeros(2 * format.BlockSize))
				if err := errors.Join(w.Flush(), f.Close()); err != nil {
					t.Fatal(err)
				}
				paths = []string{p}
			} else if c.inDir {
				dir := copyBundle(t, good)
				writeHostileVolume(t, filepath.Join(dir, "notes.tar"), c.size, c.signer, c.elem)
				paths = []string{dir}
			} else {
				p := filepath.Join(t.TempDir(), "vol-0001-of-0001.tar")
				writeHostileVolume(t, p, c.size, c.signer, c.elem)
				paths = []string{p}
			}
			r := runMemChild(t, memChild{Paths: paths, Key: c.key})
			t.Logf("peak heap %d MiB, max RSS %d MiB, %.1f s; %s", r.PeakHeap>>20, r.MaxRSS>>20, r.Seconds, r.Err)
			budget := hostileMemBudget(c.size, c.key)
			if c.inDir || c.elem == "notes" {
				budget = 32 << 20 // notes.tar is not read, or only its first members
			}
			if c.inDir {
				if r.Err != "" || r.Volumes == 0 || len(r.Problems) > 0 {
					t.Errorf("the good bundle beside notes.tar: %d volumes, error %q, problems %q", r.Volumes, r.Err, r.Problems)
				}
			} else if r.Class != c.wantClass {
				t.Errorf("class %q (%s %q), want %q", r.Class, r.Err, r.Problems, c.wantClass)
			}
			if r.PeakHeap > budget {
				t.Errorf("peak heap %d MiB, more than the %d MiB budget", r.PeakHeap>>20, budget>>20)
			}
		})
	}
}
