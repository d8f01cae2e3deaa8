package bundle

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/sign"
)

// Set is the volumes found in a list of paths, grouped into one bundle.
type Set struct {
	Index      *Index
	IndexBytes []byte
	Signature  []byte
	// Volumes present, by number.
	Volumes map[int]*VolumeHeader
	// Problems found while gathering: foreign, stale and duplicate volumes,
	// unreadable or corrupt headers.
	Problems []error

	signatures [][]byte // distinct signatures of the volumes present
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// Missing lists the volume numbers not found.
func (s *Set) Missing() []int {
	var out []int
	for _, v := range s.Index.Volumes {
		if s.Volumes[v.Number] == nil {
			out = append(out, v.Number)
		}
	}
	return out
}

// CheckSignature checks the index signature: with key set, the bundle must
// be signed by that key; unsigned bundles pass only with allowUnsigned.
func (s *Set) CheckSignature(key *sign.Verifier, allowUnsigned bool) error {
	if s.Signature == nil {
		if allowUnsigned {
			return nil
		}
		return fmt.Errorf("bundle %s: %w", s.Index.BundleID, ErrUnsigned)
	}
	if key == nil {
		if allowUnsigned {
			return nil
		}
		return fmt.Errorf("bundle %s is signed by %s: give its public key with --key to check it", s.Index.BundleID, s.Index.Signer.KeyID)
	}
	if s.Index.Signer.KeyID != key.KeyID() || s.Index.Signer.Algorithm != key.Algorithm() {
		return fmt.Errorf("bundle %s is signed by key %s (%s), not by %s (%s): %w", s.Index.BundleID,
			s.Index.Signer.KeyID, s.Index.Signer.Algorithm, key.KeyID(), key.Algorithm(), ErrWrongKey)
	}
	sigs := s.signatures
	if len(sigs) == 0 {
		sigs = [][]byte{s.Signature}
	}
	for _, sig := range sigs {
		if err := key.Verify(s.IndexBytes, sig); err != nil {
			for _, v := range s.Volumes {
				if bytes.Equal(v.Signature, sig) {
					return fmt.Errorf("bundle %s, %s: %w", s.Index.BundleID, v.Path, ErrBadSignature)
				}
			}
			return fmt.Errorf("bundle %s: %w", s.Index.BundleID, ErrBadSignature)
		}
	}
	return nil
}

// OpenSet finds the volumes in paths (volume files, or directories whose
// files are looked at; files that are not volumes are skipped there) and
// reads their headers. When volumes of several bundles are found, the most
// recently created bundle is chosen and the other volumes are reported as
// problems.
func OpenSet(ctx context.Context, paths []string) (*Set, error) {
	type candidate struct {
		path     string
		explicit bool
	}
	var cands []candidate
	var infos []os.FileInfo
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w; give the directory or the volume files of the bundle", err)
		}
		if !st.IsDir() {
			cands = append(cands, candidate{p, true})
			infos = append(infos, st)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			// Hidden files are temporary files of writers (pack's
			// .vol-*.partial-*), never volumes handed over.
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			fp := filepath.Join(p, e.Name())
			st, err := os.Stat(fp)
			if err != nil {
				return nil, err
			}
			cands = append(cands, candidate{fp, false})
			infos = append(infos, st)
		}
	}
	var headers []*VolumeHeader
	var problems []error
	cache := &format.HeaderReader{}
	for i, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dup := false
		for j := 0; j < i; j++ {
			if os.SameFile(infos[i], infos[j]) {
				dup = true
			}
		}
		if dup {
			continue
		}
		h, err := readHeaderFileCached(c.path, cache)
		switch {
		case errors.Is(err, ErrNotVolume) && !c.explicit && !IsVolumeFileName(filepath.Base(c.path)):
			continue
		case errors.Is(err, ErrNotVolume) && IsVolumeFileName(filepath.Base(c.path)):
			// Named like a volume but its first header is damaged: report it
			// as a corrupt volume, not as a stranger (nor as missing).
			var n int
			fmt.Sscanf(filepath.Base(c.path), "vol-%d-", &n)
			problems = append(problems, &CorruptError{Path: c.path, Volume: n, Reason: "its first tar header is not the " + MemberLayout + " member every volume starts with"})
			continue
		case err != nil:
			problems = append(problems, err)
			continue
		}
		headers = append(headers, h)
	}
	if len(headers) == 0 {
		if len(problems) > 0 {
			return nil, errors.Join(problems...)
		}
		return nil, fmt.Errorf("%w in %v; give the directories or files that hold the vol-NNNN-of-NNNN.tar volumes", ErrNoVolumes, paths)
	}
	// The newest bundle wins; ties go to the one with more volumes here.
	count := map[string]int{}
	for _, h := range headers {
		count[h.Index.BundleID]++
	}
	sort.SliceStable(headers, func(i, j int) bool {
		a, b := headers[i].Index, headers[j].Index
		if a.Created != b.Created {
			return a.Created > b.Created
		}
		if count[a.BundleID] != count[b.BundleID] {
			return count[a.BundleID] > count[b.BundleID]
		}
		return a.BundleID < b.BundleID
	})
	main := headers[0]
	s := &Set{Index: main.Index, IndexBytes: main.IndexBytes, Signature: main.Signature, Volumes: map[int]*VolumeHeader{}}
	dups := map[int][]string{}
	for _, h := range headers {
		switch {
		case h.Index.BundleID != main.Index.BundleID:
			problems = append(problems, &ForeignVolumeError{Path: h.Path, BundleID: h.Index.BundleID, Created: h.Index.Created,
				Want: main.Index.BundleID, Stale: h.Index.Created < main.Index.Created, Number: h.Number, Total: h.Total()})
		case !bytes.Equal(h.IndexBytes, main.IndexBytes):
			problems = append(problems, &CorruptError{Path: h.Path, Volume: h.Number, Offset: h.Index.IndexOffset(), Member: MemberIndex,
				Reason: fmt.Sprintf("its bundle index or signature differs from that of %s, another volume of the same bundle", main.Path)})
		case s.Volumes[h.Number] != nil:
			if dups[h.Number] == nil {
				dups[h.Number] = []string{s.Volumes[h.Number].Path}
			}
			dups[h.Number] = append(dups[h.Number], h.Path)
		default:
			s.Volumes[h.Number] = h
			// ECDSA signatures differ from one signing to the next: volumes
			// of two reproducible packs carry the same index with other
			// signatures. Each one is checked.
			if h.Signature != nil && !containsBytes(s.signatures, h.Signature) {
				s.signatures = append(s.signatures, h.Signature)
			}
		}
	}
	var dn []int
	for n := range dups {
		dn = append(dn, n)
	}
	sort.Ints(dn)
	for _, n := range dn {
		problems = append(problems, &DuplicateVolumeError{BundleID: main.Index.BundleID, Number: n, Paths: dups[n]})
	}
	s.Problems = problems
	return s, nil
}

func readHeaderFile(path string) (*VolumeHeader, error) {
	return readHeaderFileCached(path, nil)
}

func readHeaderFileCached(path string, cache *format.HeaderReader) (*VolumeHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return cache.Read(bufio.NewReaderSize(f, 64<<10), path)
}

// headerPieces is what volume n of the set starts with, in order: the
// header members the set was read from, with that volume's own signature
// and marker. They add up to the prefix size.
func (s *Set) headerPieces(n int) [][]byte {
	h := s.Volumes[n]
	return format.Prefix(s.Index, s.IndexBytes, h.LayoutIndex, h.Signature, n)
}

// reheader reads the header members of volume n again from r (at the start
// of the file) to say what is wrong with them, after they did not read as
// those the set was built from.
func (s *Set) reheader(r io.Reader, n int) error {
	path := s.Volumes[n].Path
	_, err := ReadVolumeHeader(bufio.NewReaderSize(r, 64<<10), path)
	if err == nil {
		err = &CorruptError{Path: path, Volume: n, Reason: "the file changed while it was being read"}
	}
	return err
}

// openVolume opens a volume file and reads its header again, checking that
// the file still holds the volume the set was built from: its header
// members are compared byte for byte with those read before (so the index
// is not parsed again).
func (s *Set) openVolume(n int) (*os.File, *bufio.Reader, *VolumeHeader, error) {
	want := s.Volumes[n]
	f, err := os.Open(want.Path)
	if err != nil {
		return nil, nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	same := true
	for _, p := range s.headerPieces(n) {
		for len(p) > 0 && same {
			b, err := br.Peek(min(len(p), br.Size()))
			if err != nil && len(b) == 0 {
				same = false
				break
			}
			same = bytes.Equal(b, p[:len(b)])
			br.Discard(len(b))
			p = p[len(b):]
		}
	}
	if !same {
		err := errors.New("internal error: seek")
		if _, serr := f.Seek(0, io.SeekStart); serr == nil {
			err = s.reheader(f, n)
		}
		f.Close()
		return nil, nil, nil, err
	}
	h := *want
	h.Index, h.IndexBytes = s.Index, s.IndexBytes
	return f, br, &h, nil
}
