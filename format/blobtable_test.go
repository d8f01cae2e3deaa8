package format

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/airgap-bundle/bundle/internal/intern"
	"github.com/opencontainers/go-digest"
)

// FuzzBlobTable: whatever a table holds, checking it neither panics nor
// accepts one whose members do not tile its volume (the digest check,
// which no mutation passes, is skipped).
func FuzzBlobTable(f *testing.F) {
	x, tables := planV2Index(f, 16384, nil)
	for n, tb := range tables {
		f.Add(n+1, tb)
	}
	f.Fuzz(func(t *testing.T, n int, b []byte) {
		if n < 1 || n > len(x.BlobTables) || len(b) > 1<<16 {
			return
		}
		blobs, err := decodeBlobTableBytes(x, n, b)
		// The stream decoder accepts what the whole document, checked
		// and decoded at once, makes an acceptable table, and decodes
		// the same blobs.
		whole, werr := decodeWholeBlobTable(x, n, b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("read as a stream: %v; read whole: %v\n%q", err, werr, b)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(blobs, whole) {
			t.Fatalf("read as a stream and whole, the blobs differ\n%q", b)
		}
		off := x.VolumePrefixSize(n, x.indexLen)
		for _, m := range tableMembers(blobs, n) {
			if m.Placement().Offset != off+BlockSize {
				t.Fatalf("accepted a table whose members do not tile volume %d", n)
			}
			off += MemberSize(m.Placement().Length)
		}
	})
}

// planV2Index is testIndex in format version 2, planned into volumes of
// limit bytes, with segment digests filled in, edited by edit (when not
// nil) and the tables sealed; it returns the index parsed back from its
// bytes and each volume's table.
func planV2Index(t testing.TB, limit int64, edit func(x *Index)) (*Index, [][]byte) {
	t.Helper()
	_, b, tables := buildV2Index(t, limit, edit)
	px, err := ParseIndex(b)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b)
	}
	return px, tables
}

// planV2IndexUnchecked is planV2Index for edits that may make bundle.json
// itself refuse to parse: the index is used as built.
func planV2IndexUnchecked(t testing.TB, limit int64, edit func(x *Index)) (*Index, [][]byte) {
	t.Helper()
	x, _, tables := buildV2Index(t, limit, edit)
	return x, tables
}

// buildV2Index builds what planV2Index parses: the index, its bytes and
// each volume's table.
func buildV2Index(t testing.TB, limit int64, edit func(x *Index)) (*Index, []byte, [][]byte) {
	t.Helper()
	x := testIndex()
	x.FormatVersion, x.MediaType = VersionV2, MediaTypeIndexV2
	x.Blobs[1].Size, x.Blobs[1].StoredSize = 20000, 20000 // split over volumes
	if err := Plan(x, limit); err != nil {
		t.Fatal(err)
	}
	fillSegmentDigests(x)
	if edit != nil {
		edit(x)
		x.BlobTables = nil // sealed again, from the edited blobs
	}
	if err := SealBlobTables(x); err != nil {
		t.Fatal(err)
	}
	b, err := MarshalIndex(x)
	if err != nil {
		t.Fatal(err)
	}
	var tables [][]byte
	for n := 1; n <= len(x.Volumes); n++ {
		tb, err := MarshalBlobTable(x, n)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	return x, b, tables
}

// fillSegmentDigests gives x's planned placements digests, as a writer
// does once it has written them: a single segment's is the stored digest.
func fillSegmentDigests(x *Index) {
	for i := range x.Blobs {
		b := &x.Blobs[i]
		for j := range b.Placements {
			b.Placements[j].Digest = dg(string(b.Digest) + string(rune('a'+j)))
		}
		if len(b.Placements) == 1 {
			b.Placements[0].Digest = b.StoredDigest
		}
	}
}

func TestBlobTables(t *testing.T) {
	x, tables := planV2Index(t, 16384, nil)
	if len(tables) < 2 {
		t.Fatalf("%d volumes, want the layer split", len(tables))
	}
	read := map[int][]Blob{}
	for n, tb := range tables {
		blobs, err := ParseBlobTable(x, n+1, tb)
		if err != nil {
			t.Fatalf("volume %d: %v\n%s", n+1, err, tb)
		}
		read[n+1] = blobs
		// The placements of a table's blobs lie in one array, one after
		// another, each blob's full (an append copies).
		for i := 1; i < len(blobs); i++ {
			a, b := blobs[i-1].Placements, blobs[i].Placements
			if len(a) > 0 && len(b) > 0 && (cap(a) != len(a) ||
				uintptr(unsafe.Pointer(&a[len(a)-1]))+unsafe.Sizeof(a[0]) != uintptr(unsafe.Pointer(&b[0]))) {
				t.Errorf("volume %d: the placements of blobs %d and %d are apart", n+1, i-1, i)
			}
		}
		if x.VolumePrefixSize(n+1, x.indexLen)+2*BlockSize > x.Volumes[n].Size || x.Volumes[n].Size > 16384 {
			t.Errorf("volume %d: size %d", n+1, x.Volumes[n].Size)
		}
	}
	kept := map[int][]Blob{1: slices.Clone(read[1]), 2: slices.Clone(read[2])}
	all, err := MergeBlobTables(x, read)
	if err != nil || len(all) != 3 {
		t.Fatalf("merge: %v, %d blobs", err, len(all))
	}
	if all[len(all)-1].Base == "" {
		t.Error("blobs from bases are not last")
	}
	// A manifest's blob holds the manifest's digest string, not the
	// table's copy of it (memory at a million blobs).
	shared := 0
	for _, m := range x.Manifests {
		for i := range all {
			if b := &all[i]; b.Digest == m.Digest {
				if !sameString(b.Digest.String(), m.Digest.String()) || !sameString(b.Placements[0].Digest.String(), m.Digest.String()) {
					t.Errorf("manifest %s: its blob entry holds a copy of its digest", m.Digest)
				}
				shared++
			}
		}
	}
	if shared == 0 {
		t.Error("no manifest among the merged blobs")
	}
	// Only volume 1 carries index.json.
	if p1, p2 := x.VolumePrefixSize(1, 100), x.VolumePrefixSize(2, 100); p1-p2 != MemberSize(x.LayoutIndex.Size)+MemberSize(x.BlobTables[0].Size)-MemberSize(x.BlobTables[1].Size) {
		t.Errorf("prefixes %d and %d", p1, p2)
	}

	// Refused tables, each named by what is wrong.
	for _, c := range []struct {
		name  string
		table func(tb []byte) []byte
		vol   int
		want  string
	}{
		{"another volume's", func([]byte) []byte { return tables[1] }, 1, "differs"},
		{"a byte changed", func(tb []byte) []byte {
			c := bytes.Clone(tb)
			c[len(c)-3] ^= 1
			return c
		}, 1, "differs"},
	} {
		if _, err := ParseBlobTable(x, c.vol, c.table(tables[c.vol-1])); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}

	// Tables that match their digests but break a rule (a writer's
	// mistakes, signed).
	for _, c := range []struct {
		name string
		edit func(x *Index)
		want string
	}{
		{"a blob moved out of its volume", func(x *Index) { x.Blobs[0].Placements[0].Offset += BlockSize }, "offset"},
		{"segments out of stream order", func(x *Index) {
			p := x.Blobs[1].Placements
			p[0].Volume, p[1].Volume = p[1].Volume, p[0].Volume
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			bx, btables := planV2IndexUnchecked(t, 16384, c.edit)
			failed := false
			for n, tb := range btables {
				if _, err := ParseBlobTable(bx, n+1, tb); err != nil {
					failed = true
					if c.want != "" && !strings.Contains(err.Error(), c.want) {
						t.Errorf("volume %d: %v, want %q", n+1, err, c.want)
					}
				}
			}
			if !failed {
				t.Error("every table accepted")
			}
		})
	}

	// Two tables that list a split blob differently.
	if read[1] != nil {
		t.Error("the merge kept the tables given")
	}
	read2 := map[int][]Blob{1: kept[1], 2: kept[2]}
	for i := range read2[2] {
		if len(read2[2][i].Placements) > 1 {
			read2[2][i].MediaType = "application/x-other"
		}
	}
	if _, err := MergeBlobTables(x, read2); err == nil || !strings.Contains(err.Error(), "differently") {
		t.Errorf("tables that disagree merged: %v", err)
	}
}

// Each version has its own members: a version 2 index with blobs, or
// a version 1 index with blobTables, is refused.
func TestVersionMembers(t *testing.T) {
	x, _ := planV2Index(t, 16384, nil)
	b, err := MarshalIndex(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to string }{
		{"blobs in version 2", `"manifests":`, `"blobs":[],"manifests":`},
		{"blobTables in version 1", `"formatVersion":2`, `"formatVersion":1`},
	} {
		bad := bytes.Replace(b, []byte(c.from), []byte(c.to), 1)
		if c.name == "blobTables in version 1" {
			bad = bytes.Replace(bad, []byte(MediaTypeIndexV2), []byte(MediaTypeIndex), 1)
		}
		if _, err := ParseIndex(bad); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// A table is cut before it passes the limit readers accept: the planner
// starts a new volume, even without a volume size limit.
func TestBlobTableCut(t *testing.T) {
	defer func(l int64) { writerTableLimit = l }(writerTableLimit)
	writerTableLimit = 2000
	x := testIndex()
	x.FormatVersion, x.MediaType = VersionV2, MediaTypeIndexV2
	for i := range 20 {
		d := dg("blob" + string(rune('a'+i)))
		x.Blobs = append(x.Blobs, Blob{Digest: d, Size: 10, MediaType: "application/octet-stream", Encoding: CompressionNone,
			StoredSize: 10, StoredDigest: d})
	}
	if err := Plan(x, 0); err != nil {
		t.Fatal(err)
	}
	if len(x.Volumes) < 3 {
		t.Fatalf("%d volumes, want the tables cut into several", len(x.Volumes))
	}
	for n := 1; n <= len(x.Volumes); n++ {
		b, err := MarshalBlobTable(x, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 2000 || int64(len(b)) != x.BlobTables[n-1].Size {
			t.Errorf("volume %d: table of %d bytes, planned %d, limit 2000", n, len(b), x.BlobTables[n-1].Size)
		}
	}
}

// What the digest check cannot catch in a table the signer's tool wrote:
// unknown members, duplicate members, data after the object.
func TestBlobTableStrictJSON(t *testing.T) {
	x, tables := planV2Index(t, 16384, nil)
	good := tables[0]
	if _, err := decodeBlobTableBytes(x, 1, good); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"unknown member":   bytes.Replace(good, []byte(`{"volume":1,`), []byte(`{"extra":1,"volume":1,`), 1),
		"duplicate member": bytes.Replace(good, []byte(`{"volume":1,`), []byte(`{"volume":1,"volume":1,`), 1),
		"data after":       append(bytes.Clone(good), []byte(` {}`)...),
		"case variant":     bytes.Replace(good, []byte(`"blobs":`), []byte(`"Blobs":`), 1),
	} {
		if _, err := decodeBlobTableBytes(x, 1, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMarshalBlobTableSized: a table is made into a buffer of the size
// sealed, not one grown by doubling (a 130 MB table at a million blobs),
// and hashes to the digest sealed, which was hashed as it was encoded.
func TestMarshalBlobTableSized(t *testing.T) {
	x, _, tables := buildV2Index(t, 16384, nil)
	for i, tb := range tables {
		want := x.BlobTables[i]
		if int64(len(tb)) != want.Size || digest.FromBytes(tb) != want.Digest {
			t.Errorf("table %d: %d bytes, %s; sealed %d bytes, %s", i+1, len(tb), digest.FromBytes(tb), want.Size, want.Digest)
		}
		if cap(tb) > len(tb)+len(tb)/8+64 {
			t.Errorf("table %d: %d bytes in a buffer of %d", i+1, len(tb), cap(tb))
		}
	}
}

// TestWriteBlobTableMember: the member a writer streams is the table
// MarshalBlobTable makes, framed as a tar member; a table the index was
// not sealed with, or one that breaks a rule, is refused, and never with
// more bytes written than the room sealed for it.
func TestWriteBlobTableMember(t *testing.T) {
	x, _, tables := buildV2Index(t, 16384, nil)
	for i, tb := range tables {
		n := i + 1
		var out bytes.Buffer
		if err := WriteBlobTableMember(&out, x, n); err != nil {
			t.Fatalf("volume %d: %v", n, err)
		}
		var want bytes.Buffer
		if err := WriteMember(&want, MemberBlobTable, tb, x.Mtime()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Errorf("volume %d: member of %d bytes differs from the table marshalled (%d bytes)", n, out.Len(), want.Len())
		}
	}

	for _, tc := range []struct {
		name string
		edit func(x *Index)
		// wrote: how many bytes may be written before the refusal (the
		// tar header, and at most the sealed size of the table).
		wrote func(x *Index) int64
	}{
		{"digest not sealed", func(x *Index) { x.BlobTables[0].Digest = dg("other") },
			func(x *Index) int64 { return BlockSize + x.BlobTables[0].Size }},
		{"shorter than sealed", func(x *Index) { x.BlobTables[0].Size -= 10 },
			func(x *Index) int64 { return BlockSize + x.BlobTables[0].Size }},
		{"longer than sealed", func(x *Index) { x.BlobTables[0].Size += 10 },
			func(x *Index) int64 { return BlockSize + x.BlobTables[0].Size }},
		{"a blob out of place", func(x *Index) {
			for i := range x.Blobs {
				if p := &x.Blobs[i].Placements; len(*p) > 0 && (*p)[0].Volume == 1 {
					(*p)[0].Offset += BlockSize
					return
				}
			}
		}, func(*Index) int64 { return 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, _, _ := buildV2Index(t, 16384, nil)
			tc.edit(x)
			var out bytes.Buffer
			err := WriteBlobTableMember(&out, x, 1)
			if err == nil {
				t.Fatal("written")
			}
			if max := tc.wrote(x); int64(out.Len()) > max {
				t.Errorf("%d bytes written, at most %d may be: %v", out.Len(), max, err)
			}
			t.Log(err)
		})
	}
}

// decodeBlobTableBytes decodes the table b and checks it against x,
// without its digest (what FuzzBlobTable reaches): ParseBlobTable's rules
// but the first.
func decodeBlobTableBytes(x *Index, n int, b []byte) ([]Blob, error) {
	d, err := streamBlobTable(x, n, bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, err
	}
	return d.finish(x, n)
}

// decodeWholeBlobTable is what the stream decoder must agree with: the
// document checked (CheckStrictJSON) and decoded (encoding/json) whole,
// then checked against x.
func decodeWholeBlobTable(x *Index, n int, b []byte) ([]Blob, error) {
	if err := CheckStrictJSON(b, reflectBlobTable); err != nil {
		return nil, err
	}
	var t blobTableJSON
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	for i := range t.Blobs {
		t.Blobs[i].share(intern.New())
	}
	return x.finishBlobTable(n, t.Volume, t.Blobs)
}

// TestBlobTableStream: tables that a decoder splitting the document as it
// reads could take differently from one reading it whole: it must accept
// and refuse as that one does. And ReadBlobTable tells a table that is
// not the one signed, and one cut short, from a bad one.
func TestBlobTableStream(t *testing.T) {
	x, tables := planV2Index(t, 16384, nil)
	good := tables[0]
	body := bytes.TrimSuffix(bytes.TrimPrefix(good, []byte(`{"volume":1,"blobs":[`)), []byte(`]}`))
	if len(body) == len(good) || bytes.HasPrefix(body, []byte(`{"volume"`)) {
		t.Fatalf("table not as expected: %s", good)
	}
	first, _, _ := bytes.Cut(body, []byte(`},{"digest"`))
	first = append(first, '}')
	for _, tc := range []struct {
		name   string
		doc    string
		accept bool
	}{
		{"as written", string(good), true},
		{"white space everywhere", " {\n \"volume\" : 1 ,\t\"blobs\" : [ " + strings.ReplaceAll(string(body), "},{", "} ,\r\n{") + " ] } \n", true},
		{"members the other way round", `{"blobs":[` + string(body) + `],"volume":1}`, true},
		{"two numbers made one", `{"volume":1 1,"blobs":[` + string(body) + `]}`, false},
		{"blobs named with an escape", `{"volume":1,"bl\u006fbs":[` + string(body) + `]}`, true},
		{"blobs twice, once escaped", `{"volume":1,"blobs":[` + string(body) + `],"bl\u006fbs":[]}`, false},
		{"blobs twice", `{"volume":1,"blobs":[` + string(body) + `],"blobs":[` + string(body) + `]}`, false},
		{"comma after the last blob", `{"volume":1,"blobs":[` + string(body) + `,]}`, false},
		{"no comma between blobs", `{"volume":1,"blobs":[` + strings.Replace(string(body), "},{", "} {", 1) + `]}`, false},
		{"a blob twice", `{"volume":1,"blobs":[` + string(first) + "," + string(body) + `]}`, false},
		{"data after", string(good) + ` 1`, false},
		{"a second object after", string(good) + `{}`, false},
		{"cut short", string(good[:len(good)-2]), false},
		{"cut inside a blob", string(good[:len(good)/2]), false},
		{"blobs null", `{"volume":1,"blobs":null}`, false},
		{"an array", `[` + string(good) + `]`, false},
		{"unknown member in a blob", `{"volume":1,"blobs":[` + strings.Replace(string(body), `{"digest"`, `{"x":{},"digest"`, 1) + `]}`, false},
		{"a brace in a string", `{"volume":1,"blobs":[` + strings.Replace(string(body), `"encoding":"`, `"encoding":"{{{{{{`, 1) + `]}`, false},
		{"empty", ``, false},
		{"empty object", `{}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(tc.doc)
			got, err := decodeBlobTableBytes(x, 1, doc)
			whole, werr := decodeWholeBlobTable(x, 1, doc)
			if (err == nil) != tc.accept || (werr == nil) != tc.accept {
				t.Fatalf("read as a stream: %v; read whole: %v; want accepted %v", err, werr, tc.accept)
			}
			if err == nil && !reflect.DeepEqual(got, whole) {
				t.Fatal("read as a stream and whole, the blobs differ")
			}
			t.Log(err)
		})
	}

	// More blobs than the index counts are refused as they come.
	y := *x
	y.BlobTables = slices.Clone(x.BlobTables)
	y.BlobTables[0].Count = 1
	if _, err := decodeBlobTableBytes(&y, 1, good); err == nil || !strings.Contains(err.Error(), "more blobs listed than the 1") {
		t.Errorf("a table of more blobs than counted: %v", err)
	}
	// An entry of more objects than a blob holds is refused before it is
	// decoded.
	many := `{"volume":1,"blobs":[` + strings.Replace(string(body), `"placements":[`, `"placements":[`+strings.Repeat(`{},`, 10), 1) + `]}`
	if _, err := decodeBlobTableBytes(x, 1, []byte(many)); err == nil || !strings.Contains(err.Error(), "objects, more than a blob") {
		t.Errorf("an entry of many objects: %v", err)
	}

	// Not the table signed, cut short, unreadable.
	if _, err := ReadBlobTable(x, 1, bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	if _, err := ReadBlobTable(x, 1, bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrTableDiffers) {
		t.Errorf("a damaged table: %v, want ErrTableDiffers", err)
	}
	if _, err := ReadBlobTable(x, 1, bytes.NewReader(good[:len(good)-5]), int64(len(good))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a table cut short: %v, want io.ErrUnexpectedEOF", err)
	}
	failing := io.MultiReader(bytes.NewReader(good[:100]), iotest.ErrReader(errors.New("disc read error")))
	if _, err := ReadBlobTable(x, 1, failing, int64(len(good))); err == nil || !strings.Contains(err.Error(), "disc read error") {
		t.Errorf("a table that cannot be read: %v", err)
	}
}

// TestMergeBlobTablesInPlace: tables that lie one after another in one
// array, as HeaderReader decodes them, merge into that array (no second
// array of every blob), to the same blobs as tables apart; tables with a
// gap between them, or in arrays of their own, are copied.
func TestMergeBlobTablesInPlace(t *testing.T) {
	x, tables := planV2Index(t, 16384, nil)
	parse := func() map[int][]Blob {
		out := map[int][]Blob{}
		for n, tb := range tables {
			blobs, err := ParseBlobTable(x, n+1, tb)
			if err != nil {
				t.Fatal(err)
			}
			out[n+1] = blobs
		}
		return out
	}
	want, err := MergeBlobTables(x, parse())
	if err != nil {
		t.Fatal(err)
	}
	// The tables decoded into their places in one array, as a header
	// reader does.
	e := &cachedIndex{x: x, size: 1 << 20}
	arena := map[int][]Blob{}
	for n, tb := range tables {
		room := e.tableRoom(n + 1)
		if room == nil || len(room) != 0 {
			t.Fatalf("volume %d: no room in the array (%d)", n+1, len(room))
		}
		blobs, err := readBlobTable(x, n+1, bytes.NewReader(tb), int64(len(tb)), room)
		if err != nil {
			t.Fatal(err)
		}
		if len(blobs) > 0 && &blobs[0] != &e.tables[0 : 1+len(e.tables)-cap(room)][len(e.tables)-cap(room)] {
			t.Fatalf("volume %d: decoded outside its room", n+1)
		}
		arena[n+1] = blobs
	}
	if e.tableRoom(1) != nil {
		t.Error("volume 1's room given twice")
	}
	got, err := MergeBlobTables(x, arena)
	if err != nil {
		t.Fatal(err)
	}
	if &got[:1][0] != &e.tables[0] {
		t.Error("the tables were merged into another array")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged in place:\n%+v\nwant\n%+v", got, want)
	}

	// Not adjoining: volume 2's table left out (a volume missing), or in
	// an array of its own.
	for name, edit := range map[string]func(m map[int][]Blob){
		"a gap":          func(m map[int][]Blob) { delete(m, 2) },
		"an array apart": func(m map[int][]Blob) { m[2] = slices.Clone(m[2]) },
	} {
		if len(tables) < 3 && name == "a gap" {
			continue
		}
		e := &cachedIndex{x: x, size: 1 << 20}
		m := map[int][]Blob{}
		for n, tb := range tables {
			blobs, err := readBlobTable(x, n+1, bytes.NewReader(tb), int64(len(tb)), e.tableRoom(n+1))
			if err != nil {
				t.Fatal(err)
			}
			m[n+1] = blobs
		}
		edit(m)
		order := slices.Sorted(maps.Keys(m))
		if _, in := adjoining(order, m); in {
			t.Errorf("%s: taken as adjoining", name)
		}
		if _, err := MergeBlobTables(x, m); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Counts the index's length does not allow: no array made up front.
	y := *x
	y.BlobTables = slices.Clone(x.BlobTables)
	y.BlobTables[0].Count = 1 << 30
	if room := (&cachedIndex{x: &y, size: 1 << 20}).tableRoom(1); room != nil {
		t.Errorf("an array of %d blobs made for an index of 1 MiB", cap(room))
	}
}
