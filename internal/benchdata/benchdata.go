// Package benchdata generates large, realistic OCI image layouts for the
// benchmark driver (scripts/bench.sh, `make bench`).
//
// Two shapes are made, both deterministic from a seed (the same Options give
// byte-identical blobs and index.json):
//
//   - Size mode (Options.Size): about Size bytes of blobs. Gzip layers of
//     real tar archives range from a few KiB to several hundred MiB (log-
//     uniform sizes, plus three large base layers and one filler layer that
//     brings the total to Size). Images share their base and runtime layers,
//     app versions share the layers of earlier versions, one image index
//     holds four platforms, and every image carries a tag
//     (org.opencontainers.image.ref.name).
//   - Split shape (Options.Split, with Size): a few images over one large
//     layer, as a real Debian-based set (417 MB in 23 blobs, one layer of
//     227 MB): about 54 % of Size in one gzip layer shared by every image,
//     six smaller layers, a four-platform index; 24 blobs in all. Packed
//     into volumes of about a quarter of Size (100 MB for 417 MB), its large
//     layers are split across volumes, which the size mode's spread of
//     layers rarely does.
//   - Scale mode (Options.Blobs): about Blobs tiny blobs, as in a large
//     operator catalog: many small images (a shared base layer, a layer
//     shared by the versions of one operator, one layer of its own, config,
//     manifest), each tagged, plus the same four-platform index.
//
// File content is random (ChaCha8) with some log-like text, compressed with
// klauspost/compress gzip at its fastest level, so a 2 GiB set takes seconds
// to write. Tar headers have fixed times and owners; gzip headers have no
// name or time.
package benchdata

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airgap-bundle/bundle/internal/iocount"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Version changes whenever the generator's output for the same Options
// changes, so that cached data sets are regenerated.
const Version = 1

// Options choose the data set. Exactly one of Size and Blobs is set.
type Options struct {
	Size    int64  // size mode: about this many bytes of blobs
	Blobs   int    // scale mode: about this many (tiny) blobs
	Split   bool   // with Size: the split shape (one large layer, few blobs)
	Seed    uint64 // everything is derived from it
	Workers int    // layers written at once in size mode; 0: GOMAXPROCS
}

// Info describes a generated layout; it is what the driver reads.
type Info struct {
	Version        int      `json:"version"`
	Mode           string   `json:"mode"` // "size", "split" or "blobs"
	Seed           uint64   `json:"seed"`
	RequestedSize  int64    `json:"requestedSize,omitempty"`
	RequestedBlobs int      `json:"requestedBlobs,omitempty"`
	Blobs          int      `json:"blobs"` // distinct blobs in blobs/sha256
	Bytes          int64    `json:"bytes"` // their total size
	Layers         int      `json:"layers"`
	Configs        int      `json:"configs"`
	Manifests      int      `json:"manifests"`
	Indexes        int      `json:"indexes"`
	SharedLayers   int      `json:"sharedLayers"` // layers listed by more than one manifest
	SmallestLayer  int64    `json:"smallestLayer"`
	LargestLayer   int64    `json:"largestLayer"`
	Tags           []string `json:"tags"` // ref names in index.json, in its order
}

// Matches reports whether i was generated with o (and this Version).
func (o Options) Matches(i *Info) bool {
	if i == nil || i.Version != Version || i.Seed != o.Seed {
		return false
	}
	if o.Blobs > 0 {
		return i.Mode == "blobs" && i.RequestedBlobs == o.Blobs
	}
	return i.Mode == o.sizeMode() && i.RequestedSize == o.Size
}

// sizeMode is Info.Mode for o's size: "size" or "split".
func (o Options) sizeMode() string {
	if o.Split {
		return "split"
	}
	return "size"
}

// ParseSize reads a size such as 2G, 512M, 4GiB, 100K or 1048576. The
// suffixes K, M, G, T (with or without "i", "B", "iB") are powers of 1024.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "B")
	u = strings.TrimSuffix(u, "I")
	mult := int64(1)
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			u = u[:n-1]
		}
	}
	v, err := strconv.ParseFloat(u, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M, G or T suffix (powers of 1024), e.g. 2G", s)
	}
	return int64(v * float64(mult)), nil
}

// epoch is every mtime and creation time.
var epoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// platforms of the multi-platform index.
var platforms = []ocispec.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64", Variant: "v8"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
}

// Generate writes the layout (oci-layout, index.json, blobs/sha256/...)
// into dir, which must be empty or absent.
func Generate(dir string, o Options) (*Info, error) {
	switch {
	case o.Size > 0 && o.Blobs > 0:
		return nil, errors.New("benchdata: set Size or Blobs, not both")
	case o.Blobs > 0 && o.Blobs < 32:
		return nil, fmt.Errorf("benchdata: %d blobs: want at least 32", o.Blobs)
	case o.Split && o.Blobs > 0:
		return nil, errors.New("benchdata: the split shape is a size mode: set Size, not Blobs")
	case o.Blobs == 0 && o.Size < 1<<20:
		return nil, fmt.Errorf("benchdata: size %d: want at least 1 MiB", o.Size)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return nil, err
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("benchdata: %s is not empty", dir)
	}
	g := &gen{
		o:       o,
		dir:     dir,
		blobDir: filepath.Join(dir, "blobs", "sha256"),
		blobs:   map[digest.Digest]int64{},
		kinds:   map[digest.Digest]string{},
		uses:    map[digest.Digest]int{},
	}
	if err := os.MkdirAll(g.blobDir, 0o755); err != nil {
		return nil, err
	}
	var err error
	switch {
	case o.Blobs > 0:
		err = g.scale()
	case o.Split:
		err = g.splitShape()
	default:
		err = g.sized()
	}
	if err != nil {
		return nil, err
	}
	return g.finish()
}

type gen struct {
	o       Options
	dir     string
	blobDir string

	mu    sync.Mutex
	blobs map[digest.Digest]int64  // every blob written
	kinds map[digest.Digest]string // "layer", "config", "manifest", "index"
	uses  map[digest.Digest]int    // layer -> manifests listing it
	top   []ocispec.Descriptor     // index.json entries
}

// layer is a written layer blob and the digest of its uncompressed tar.
type layer struct {
	desc   ocispec.Descriptor
	diffID digest.Digest
	what   string
}

// record notes a blob; it reports whether it was new.
func (g *gen) record(d digest.Digest, size int64, kind string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.blobs[d]; ok {
		return false
	}
	g.blobs[d] = size
	g.kinds[d] = kind
	return true
}

func (g *gen) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.blobs)
}

// writeBlob stores a small blob held in memory.
func (g *gen) writeBlob(mediaType, kind string, data []byte) (ocispec.Descriptor, error) {
	d := digest.FromBytes(data)
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	if !g.record(d, desc.Size, kind) {
		return desc, nil
	}
	return desc, os.WriteFile(filepath.Join(g.blobDir, d.Encoded()), data, 0o644)
}

func (g *gen) writeJSON(mediaType, kind string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return g.writeBlob(mediaType, kind, b)
}

// seed32 derives the key of one random stream.
func (g *gen) seed32(stream string) [32]byte {
	h := sha256.New()
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], g.o.Seed)
	h.Write(s[:])
	h.Write([]byte(stream))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// rng is a small PRNG for one stream (sizes, choices).
func (g *gen) rng(stream string) *rand.Rand {
	k := g.seed32("pcg/" + stream)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:16])))
}

// logUniform draws from [lo, hi] with a uniform logarithm.
func logUniform(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
	return min(hi, max(lo, int64(v)))
}

var (
	corpusOnce sync.Once
	corpus     []byte
)

var words = strings.Fields(`the image layer bundle registry digest manifest index
config platform signature mirror offline transfer archive blob tag reference
artifact descriptor annotation compress verify checksum operator catalog
channel package install upgrade replace deployment service account role
binding namespace cluster controller reconcile status condition ready`)

// textCorpus is 1 MiB of log-like text (compresses about 3:1), the same for
// every seed.
func textCorpus() []byte {
	corpusOnce.Do(func() {
		r := rand.New(rand.NewPCG(1, 2))
		var b bytes.Buffer
		levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
		for line := 1; b.Len() < 1<<20; line++ {
			fmt.Fprintf(&b, "2024-01-01T%02d:%02d:%02d.%03dZ %s ", line/3600%24, line/60%60, line%60, r.IntN(1000), levels[r.IntN(len(levels))])
			for w, n := 0, 4+r.IntN(10); w < n; w++ {
				if w > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[r.IntN(len(words))])
			}
			fmt.Fprintf(&b, " id=%x\n", r.Uint32())
		}
		corpus = b.Bytes()[:1<<20]
	})
	return corpus
}

// fillText fills p with text from the corpus, from random places.
func fillText(r *rand.Rand, p []byte) {
	c := textCorpus()
	for len(p) > 0 {
		at := r.IntN(len(c))
		n := copy(p, c[at:min(len(c), at+64<<10)])
		p = p[n:]
	}
}

// layerJob is a layer to stream: files of log-uniform sizes up to maxFile,
// about size bytes of content, a textShare of the files being text.
type layerJob struct {
	name      string
	size      int64
	maxFile   int64
	textShare float64
}

// streamLayer writes a gzip'd tar layer straight to disk, hashing both the
// compressed blob and the tar (the diff id) on the way.
func (g *gen) streamLayer(j layerJob) (l layer, err error) {
	f, err := os.CreateTemp(g.blobDir, ".tmp-")
	if err != nil {
		return layer{}, err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return layer{}, err
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bh := sha256.New()
	cw := &iocount.Writer{W: io.MultiWriter(f, bh)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		return layer{}, err
	}
	dh := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, dh))
	r := g.rng("layer/" + j.name)
	cc := rand.NewChaCha8(g.seed32("chacha/layer/" + j.name))
	buf := make([]byte, 256<<10)
	hdr := func(name string, typ byte, mode, size int64) error {
		return tw.WriteHeader(&tar.Header{
			Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: epoch,
			Uname: "root", Gname: "root", Format: tar.FormatUSTAR,
		})
	}
	base := "opt/" + j.name + "/"
	if err := hdr("opt/", tar.TypeDir, 0o755, 0); err != nil {
		return layer{}, err
	}
	if err := hdr(base, tar.TypeDir, 0o755, 0); err != nil {
		return layer{}, err
	}
	var done int64
	for i := 0; done < j.size; i++ {
		if i%64 == 0 {
			if err := hdr(fmt.Sprintf("%sd%03d/", base, i/64), tar.TypeDir, 0o755, 0); err != nil {
				return layer{}, err
			}
		}
		n := min(logUniform(r, 256, max(256, min(j.maxFile, j.size))), j.size-done)
		text := r.Float64() < j.textShare
		name, mode := fmt.Sprintf("%sd%03d/f%05d.so", base, i/64, i), int64(0o755)
		if text {
			name, mode = fmt.Sprintf("%sd%03d/f%05d.log", base, i/64, i), 0o644
		}
		if err := hdr(name, tar.TypeReg, mode, n); err != nil {
			return layer{}, err
		}
		for left := n; left > 0; {
			p := buf[:min(left, int64(len(buf)))]
			if text {
				fillText(r, p)
			} else {
				cc.Read(p)
			}
			if _, err := tw.Write(p); err != nil {
				return layer{}, err
			}
			left -= int64(len(p))
		}
		done += n
	}
	if err := tw.Close(); err != nil {
		return layer{}, err
	}
	if err := zw.Close(); err != nil {
		return layer{}, err
	}
	if err := bw.Flush(); err != nil {
		return layer{}, err
	}
	if err := f.Close(); err != nil {
		return layer{}, err
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(bh.Sum(nil)))
	tmp := f.Name()
	f = nil
	if !g.record(d, cw.N, "layer") {
		return layer{}, os.Remove(tmp) // the same bytes twice: keep one
	}
	if err := os.Rename(tmp, filepath.Join(g.blobDir, d.Encoded())); err != nil {
		os.Remove(tmp)
		return layer{}, err
	}
	return layer{
		desc:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: cw.N},
		diffID: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(dh.Sum(nil))),
		what:   j.name,
	}, nil
}

// streamLayers writes jobs with o.Workers goroutines; results keep the
// order of jobs.
func (g *gen) streamLayers(jobs []layerJob) ([]layer, error) {
	out := make([]layer, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	var failed sync.Once
	stop := make(chan struct{})
	for w := 0; w < g.o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = g.streamLayer(jobs[i])
				if errs[i] != nil {
					failed.Do(func() { close(stop) })
				}
			}
		}()
	}
	// Biggest first, so that the workers finish together.
	order := make([]int, len(jobs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return jobs[order[a]].size > jobs[order[b]].size })
feed:
	for _, i := range order {
		select {
		case next <- i:
		case <-stop:
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("benchdata: layer %s: %w", jobs[i].name, err)
		}
	}
	return out, nil
}

// image writes a config and a manifest and returns the manifest's
// descriptor (with its platform).
func (g *gen) image(name, version string, p ocispec.Platform, layers []layer) (ocispec.Descriptor, error) {
	created := epoch
	cfg := ocispec.Image{
		Created:  &created,
		Author:   "airgap-bundle benchdata",
		Platform: p,
		Config: ocispec.ImageConfig{
			User:       "1001",
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP=" + name, "VERSION=" + version},
			Entrypoint: []string{"/opt/" + name + "/bin/" + name},
			Cmd:        []string{"-c", "/etc/" + name + "/config.yaml"},
			WorkingDir: "/opt/" + name,
			Labels: map[string]string{
				"org.opencontainers.image.title":   name,
				"org.opencontainers.image.version": version,
				"org.opencontainers.image.vendor":  "benchdata",
			},
		},
		RootFS: ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Annotations: map[string]string{
			ocispec.AnnotationCreated: epoch.Format(time.RFC3339),
			ocispec.AnnotationTitle:   name,
			ocispec.AnnotationVersion: version,
		},
	}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		h := created
		cfg.History = append(cfg.History, ocispec.History{Created: &h, CreatedBy: "benchdata: add " + l.what})
		m.Layers = append(m.Layers, l.desc)
	}
	cd, err := g.writeJSON(ocispec.MediaTypeImageConfig, "config", cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m.Config = cd
	md, err := g.writeJSON(ocispec.MediaTypeImageManifest, "manifest", m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	g.mu.Lock()
	for _, l := range layers {
		g.uses[l.desc.Digest]++
	}
	g.mu.Unlock()
	pp := p
	md.Platform = &pp
	return md, nil
}

// multi writes the four-platform index over base plus one layer per
// platform.
func (g *gen) multi(base layer, arch []layer) (ocispec.Descriptor, error) {
	var descs []ocispec.Descriptor
	for i, p := range platforms {
		d, err := g.image("multi", "1.0-"+p.Architecture, p, []layer{base, arch[i%len(arch)]})
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		descs = append(descs, d)
	}
	return g.writeJSON(ocispec.MediaTypeImageIndex, "index", ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   descs,
		Annotations: map[string]string{ocispec.AnnotationCreated: epoch.Format(time.RFC3339)},
	})
}

// tag adds a tagged entry to index.json.
func (g *gen) tag(ref string, d ocispec.Descriptor) {
	d.Annotations = map[string]string{ocispec.AnnotationRefName: ref}
	d.Platform = nil
	g.top = append(g.top, d)
}

// sized makes the size-mode layout.
func (g *gen) sized() error {
	S := g.o.Size
	r := g.rng("plan")
	// Planned in uncompressed bytes; text compresses, so the total falls
	// short, and a filler layer of random bytes makes up the rest.
	jobs := []layerJob{
		{name: "base-0", size: S * 17 / 100, maxFile: 32 << 20, textShare: 0.1},
		{name: "base-1", size: S * 10 / 100, maxFile: 32 << 20, textShare: 0.1},
		{name: "base-2", size: S * 6 / 100, maxFile: 32 << 20, textShare: 0.1},
	}
	maxSmall := max(64<<10, S/25)
	for budget, i := S*60/100, 0; budget >= 1024; i++ {
		n := min(budget, logUniform(r, 4<<10, maxSmall))
		jobs = append(jobs, layerJob{name: fmt.Sprintf("layer-%03d", i), size: n, maxFile: 16 << 20, textShare: 0.15})
		budget -= n
	}
	layers, err := g.streamLayers(jobs)
	if err != nil {
		return err
	}
	bases, drawn := layers[:3], layers[3:]
	pick := func(i int) layer { return drawn[i%len(drawn)] }
	arch := []layer{pick(0), pick(1), pick(2), pick(3)}
	runtimes := []layer{pick(4), pick(5), pick(6), pick(7)}
	rest := append([]layer(nil), drawn[min(8, len(drawn)):]...)

	// The filler: what is left of S, less about 3 KiB of JSON per image.
	var total int64
	for _, l := range layers {
		total += l.desc.Size
	}
	images := int64(len(bases) + len(platforms) + len(rest)/2 + 2)
	if left := S - total - images*3<<10; left > 64<<10 {
		fill, err := g.streamLayers([]layerJob{{name: "filler", size: left - 8<<10, maxFile: 64 << 20}})
		if err != nil {
			return err
		}
		rest = append(rest, fill[0])
	}

	for i, b := range bases {
		d, err := g.image(fmt.Sprintf("base-%d", i), "1", platforms[0], []layer{b})
		if err != nil {
			return err
		}
		g.tag(fmt.Sprintf("base-%d:1", i), d)
	}
	idx, err := g.multi(bases[0], arch)
	if err != nil {
		return err
	}
	g.tag("multi:latest", idx)
	for app := 0; len(rest) > 0; app++ {
		name := fmt.Sprintf("app-%03d", app)
		ls := []layer{bases[app%len(bases)], runtimes[app%len(runtimes)]}
		for v, nv := 1, 1+r.IntN(3); v <= nv && len(rest) > 0; v++ {
			k := min(len(rest), 1+r.IntN(3))
			ls = append(ls[:len(ls):len(ls)], rest[:k]...)
			rest = rest[k:]
			d, err := g.image(name, fmt.Sprintf("v%d", v), platforms[0], ls)
			if err != nil {
				return err
			}
			g.tag(fmt.Sprintf("%s:v%d", name, v), d)
		}
	}
	return nil
}

// splitShape makes the split shape: one large layer that every image
// shares (a distribution's base), six smaller ones, and eight images. Most
// content is random bytes, so the gzip layers come out close to the sizes
// planned and the set close to Size.
func (g *gen) splitShape() error {
	S := g.o.Size
	share := []int64{54, 18, 11, 7, 5, 3, 2} // percent of S, layer by layer
	var jobs []layerJob
	for i, pc := range share {
		name := fmt.Sprintf("layer-%d", i)
		if i == 0 {
			name = "base"
		}
		jobs = append(jobs, layerJob{name: name, size: max(4<<10, S*pc/100-8<<10), maxFile: 32 << 20, textShare: 0.02})
	}
	layers, err := g.streamLayers(jobs)
	if err != nil {
		return err
	}
	base, l := layers[0], layers[1:]
	d, err := g.image("debian", "12", platforms[0], []layer{base})
	if err != nil {
		return err
	}
	g.tag("debian:12", d)
	idx, err := g.multi(base, []layer{l[4], l[5]})
	if err != nil {
		return err
	}
	g.tag("multi:latest", idx)
	for i, ls := range [][]layer{{base, l[0]}, {base, l[1], l[2]}, {base, l[3]}} {
		name := fmt.Sprintf("app-%c", 'a'+i)
		d, err := g.image(name, "1", platforms[0], ls)
		if err != nil {
			return err
		}
		g.tag(name+":1", d)
	}
	return nil
}

// tinyWriter makes small gzip'd tar layers in memory.
type tinyWriter struct {
	g   *gen
	r   *rand.Rand
	cc  *rand.ChaCha8
	raw bytes.Buffer
	gz  bytes.Buffer
	zw  *gzip.Writer
	dh  hash.Hash
}

func (t *tinyWriter) layer(what string, files map[string][]byte) (layer, error) {
	t.raw.Reset()
	tw := tar.NewWriter(&t.raw)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: epoch,
			Uname: "root", Gname: "root", Format: tar.FormatUSTAR,
		}); err != nil {
			return layer{}, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return layer{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return layer{}, err
	}
	t.gz.Reset()
	t.zw.Reset(&t.gz)
	if _, err := t.zw.Write(t.raw.Bytes()); err != nil {
		return layer{}, err
	}
	if err := t.zw.Close(); err != nil {
		return layer{}, err
	}
	desc, err := t.g.writeBlob(ocispec.MediaTypeImageLayerGzip, "layer", t.gz.Bytes())
	if err != nil {
		return layer{}, err
	}
	return layer{desc: desc, diffID: digest.FromBytes(t.raw.Bytes()), what: what}, nil
}

func (t *tinyWriter) text(lo, hi int) []byte {
	p := make([]byte, lo+t.r.IntN(hi-lo+1))
	fillText(t.r, p)
	return p
}

func (t *tinyWriter) random(lo, hi int) []byte {
	p := make([]byte, lo+t.r.IntN(hi-lo+1))
	t.cc.Read(p)
	return p
}

// scale makes the scale-mode layout: a catalog of small operator images.
func (g *gen) scale() error {
	N := g.o.Blobs
	zw, err := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	if err != nil {
		return err
	}
	t := &tinyWriter{g: g, r: g.rng("scale"), cc: rand.NewChaCha8(g.seed32("chacha/scale")), zw: zw}
	nb := min(50, max(1, N/200))
	var bases []layer
	for i := 0; i < nb; i++ {
		l, err := t.layer(fmt.Sprintf("base-%02d", i), map[string][]byte{
			"etc/os-release":                fmt.Appendf(nil, "NAME=benchdata\nID=base-%02d\nVERSION_ID=%d\n", i, i),
			fmt.Sprintf("usr/bin/b%02d", i): t.random(1024, 8192),
		})
		if err != nil {
			return err
		}
		bases = append(bases, l)
	}
	var arch []layer
	for _, p := range platforms {
		l, err := t.layer("arch-"+p.Architecture, map[string][]byte{
			"etc/arch":                  []byte(p.OS + "/" + p.Architecture + "\n"),
			"usr/lib/" + p.Architecture: t.random(512, 4096),
		})
		if err != nil {
			return err
		}
		arch = append(arch, l)
	}
	idx, err := g.multi(bases[0], arch)
	if err != nil {
		return err
	}
	g.tag("multi:latest", idx)
	for op := 0; g.count() < N; op++ {
		name := fmt.Sprintf("op-%05d", op)
		shared, err := t.layer(name+" operator", map[string][]byte{
			"bin/" + name:                  t.random(256, 4096),
			"etc/" + name + "/config.yaml": fmt.Appendf(nil, "operator: %s\nwatchNamespace: \"\"\nlogLevel: info\n", name),
		})
		if err != nil {
			return err
		}
		for v, nv := 0, 1+t.r.IntN(5); v < nv && g.count() < N; v++ {
			ver := fmt.Sprintf("v1.%d.0", v)
			own, err := t.layer(name+" "+ver+" bundle", map[string][]byte{
				"manifests/" + name + ".clusterserviceversion.yaml": append(fmt.Appendf(nil, "# %s %s\n", name, ver), t.text(200, 3000)...),
				"metadata/annotations.yaml":                         fmt.Appendf(nil, "annotations:\n  operators.operatorframework.io.bundle.package.v1: %s\n  operators.operatorframework.io.bundle.channels.v1: stable\n  version: %s\n", name, ver),
			})
			if err != nil {
				return err
			}
			d, err := g.image(name, ver, platforms[0], []layer{bases[op%nb], shared, own})
			if err != nil {
				return err
			}
			g.tag(name+":"+ver, d)
		}
	}
	return nil
}

// finish writes index.json and oci-layout and sums up.
func (g *gen) finish() (*Info, error) {
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: g.top,
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(g.dir, ocispec.ImageIndexFile), idx, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(g.dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return nil, err
	}
	info := &Info{Version: Version, Seed: g.o.Seed, Mode: g.o.sizeMode(), RequestedSize: g.o.Size}
	if g.o.Blobs > 0 {
		info.Mode, info.RequestedSize, info.RequestedBlobs = "blobs", 0, g.o.Blobs
	}
	info.SmallestLayer = math.MaxInt64
	for d, n := range g.blobs {
		info.Blobs++
		info.Bytes += n
		switch g.kinds[d] {
		case "layer":
			info.Layers++
			info.SmallestLayer = min(info.SmallestLayer, n)
			info.LargestLayer = max(info.LargestLayer, n)
			if g.uses[d] > 1 {
				info.SharedLayers++
			}
		case "config":
			info.Configs++
		case "manifest":
			info.Manifests++
		case "index":
			info.Indexes++
		}
	}
	for _, d := range g.top {
		info.Tags = append(info.Tags, d.Annotations[ocispec.AnnotationRefName])
	}
	return info, nil
}
