package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/format"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The version 2 vectors (SPEC.md 17, testdata/vectors/v2): the content,
// key and creation times of version 1's, packed as format version 2, and
// damaged in the ways version 2 adds: blob tables (blobs.json) and
// index.json in volume 1 only. Their files are under OUT/v2, with paths
// relative to it; the key is version 1's (../keys).

const v2Key = "../keys/signing.pub"

// leftOut ends the description of a vector whose damage is in the header
// members of one volume of two. Such a volume is reported corrupt and
// left out of the set (SPEC.md 11.3), and a reader may then also report
// its number missing (this repository's reader does): the vector is
// checked as a partial set, so that corrupt is its one class either way.
const leftOut = "; checked as a partial set (the damaged volume is left out of the set, SPEC.md 11.3)"

// memberBytes is the whole member name (header, data, padding) of vol.
func memberBytes(vol []byte, name string) ([]byte, member, error) {
	m, err := find(vol, name)
	if err != nil {
		return nil, m, err
	}
	return vol[m.hdr : m.data+format.MemberSize(m.sz)-blockSize], m, nil
}

// withoutMember is vol without its member name.
func withoutMember(vol []byte, name string) ([]byte, error) {
	b, m, err := memberBytes(vol, name)
	if err != nil {
		return nil, err
	}
	return append(clone(vol[:m.hdr]), vol[m.hdr+int64(len(b)):]...), nil
}

// withMemberBefore is vol with the whole member mb inserted before its
// member name.
func withMemberBefore(vol []byte, name string, mb []byte) ([]byte, error) {
	m, err := find(vol, name)
	if err != nil {
		return nil, err
	}
	out := append(clone(vol[:m.hdr]), mb...)
	return append(out, vol[m.hdr:]...), nil
}

// memberData is the data of vol's member name.
func memberData(vol []byte, name string) ([]byte, error) {
	m, err := find(vol, name)
	if err != nil {
		return nil, err
	}
	return vol[m.data : m.data+m.sz], nil
}

// replaceOnce is b with old replaced by new, old occurring exactly once.
func replaceOnce(b []byte, old, new string) ([]byte, error) {
	if n := bytes.Count(b, []byte(old)); n != 1 {
		return nil, fmt.Errorf("%q occurs %d times, want once", old, n)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1), nil
}

// reindex returns vols with bundle.json replaced by index (of the same
// length in blocks) and signed again, in every volume: what a writer that
// signs what it lists makes.
func (g *gen) reindex(x *format.Index, vols [][]byte, index []byte) ([][]byte, error) {
	if _, err := format.ParseIndex(index); err != nil {
		return nil, fmt.Errorf("reindex: the edited index does not validate: %w", err)
	}
	out := make([][]byte, len(vols))
	for i, v := range vols {
		var err error
		if out[i], err = g.resign(v, index, x.Mtime()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// retable returns vols with the blobs.json of volume n replaced by table
// (of the same length) and bundle.json naming its digest, signed again.
func (g *gen) retable(x *format.Index, vols [][]byte, n int, table []byte) ([][]byte, error) {
	old, err := memberData(vols[n-1], format.MemberBlobTable)
	if err != nil {
		return nil, err
	}
	if len(old) != len(table) {
		return nil, fmt.Errorf("retable: a table of %d bytes for one of %d", len(table), len(old))
	}
	index, err := memberData(vols[0], format.MemberIndex)
	if err != nil {
		return nil, err
	}
	index, err = replaceOnce(index, string(digest.FromBytes(old)), string(digest.FromBytes(table)))
	if err != nil {
		return nil, fmt.Errorf("retable: %w", err)
	}
	out := make([][]byte, len(vols))
	for i := range vols {
		out[i] = clone(vols[i])
	}
	m, err := find(out[n-1], format.MemberBlobTable)
	if err != nil {
		return nil, err
	}
	copy(out[n-1][m.data:], table)
	return g.reindex(x, out, index)
}

// writeVolumes stores vols as name/vol-000n-of-000N.tar and returns their
// paths.
func (g *gen) writeVolumes(name string, vols [][]byte) ([]string, error) {
	var files []string
	for i, v := range vols {
		f, err := g.write(fmt.Sprintf("%s/%s", name, format.VolumeFileName(i+1, len(vols))), v)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func (g *gen) allV2() error {
	v2 := bundle.PackOptions{FormatVersion: format.VersionV2}

	// 1. One unsigned volume: version 1's content and time.
	small := image("vectors/small:1", map[string][]byte{ocispec.MediaTypeImageLayerGzip: noise(1, 700)}, ocispec.MediaTypeImageLayerGzip)
	o := v2
	o.Created = older
	ux, uvols, err := g.pack(small, o)
	if err != nil {
		return err
	}
	if ux.FormatVersion != format.VersionV2 || len(uvols) != 1 {
		return fmt.Errorf("v2: the small bundle is version %d of %d volumes", ux.FormatVersion, len(uvols))
	}
	unsigned, err := g.write("valid-unsigned-1vol/vol-0001-of-0001.tar", uvols[0])
	if err != nil {
		return err
	}
	g.add(Vector{Name: "valid-unsigned-1vol", Description: "an unsigned version 2 bundle of one volume (index.json, bundle.json, volume.json, blobs.json, three blobs), read with unsigned bundles allowed",
		Kind: "volumes", Files: []string{unsigned}, AllowUnsigned: true, Verdict: "valid"})

	// 2. Signed, two volumes, the layer split across them: version 1's
	// layer, or more of the same noise when version 2's larger headers
	// leave no volume size at which 3000 bytes split across exactly two.
	var sx *format.Index
	var svols [][]byte
	var splitBlob format.Blob
	var split *memSource
	for n := 3000; n <= 24000 && sx == nil; n += 3000 {
		split = image("vectors/split:1", map[string][]byte{ocispec.MediaTypeImageLayerGzip: noise(2, n)}, ocispec.MediaTypeImageLayerGzip)
		for size := int64(8 << 10); size < 64<<10 && sx == nil; size += blockSize {
			o := v2
			o.Created, o.Signer, o.MaxVolumeSize = newer, g.signer, size
			x, vols, err := g.pack(split, o)
			if err != nil || len(x.Volumes) != 2 {
				continue
			}
			for _, b := range x.Blobs {
				if p := b.Placements; len(p) == 2 && p[0].Volume == 1 && p[1].Volume == 2 {
					sx, svols, splitBlob = x, vols, b
				}
			}
		}
	}
	if sx == nil {
		return errors.New("v2: found no volume size that splits the layer across two volumes")
	}
	signed, err := g.writeVolumes("valid-signed-2vol", svols)
	if err != nil {
		return err
	}
	g.add(Vector{Name: "valid-signed-2vol", Description: "a signed version 2 bundle of two volumes; the layer is split across them (.part0001 in volume 1, .part0002 in volume 2) and listed, alike, in both volumes' blobs.json",
		Kind: "volumes", Files: signed, Key: v2Key, Verdict: "valid"})
	g.add(Vector{Name: "valid-partial-vol1", Description: "volume 1 of the signed two-volume bundle alone, checked as a partial set: it verifies with its own blobs.json (the split layer's whole-blob check and the checks that need volume 2's table are not made)",
		Kind: "volumes", Files: signed[:1], Key: v2Key, Partial: true, Verdict: "valid"})
	g.add(Vector{Name: "valid-partial-vol2", Description: "volume 2 of the signed two-volume bundle alone, checked as a partial set: it carries no index.json and verifies with its own blobs.json",
		Kind: "volumes", Files: signed[1:], Key: v2Key, Partial: true, Verdict: "valid"})
	g.add(Vector{Name: "missing-volume", Description: "volume 2 of the signed two-volume bundle alone, not as a partial set",
		Kind: "volumes", Files: signed[1:], Key: v2Key, Verdict: "invalid", Class: "missing-volume"})

	// 3. The unsigned volume, its table damaged.
	vol := uvols[0]
	table, err := memberData(vol, format.MemberBlobTable)
	if err != nil {
		return err
	}
	// One byte of the layer's media type: a table that would be valid,
	// but not the one bundle.json names.
	mt := []byte(`"mediaType":"` + ocispec.MediaTypeImageLayerGzip + `"`)
	i := bytes.Index(table, mt)
	if i < 0 || bytes.Count(table, mt) != 1 {
		return errors.New("v2: the layer's media type is not once in blobs.json")
	}
	altered := clone(vol)
	tm, err := find(altered, format.MemberBlobTable)
	if err != nil {
		return err
	}
	altered[tm.data+int64(i+len(mt))-3] = 'a' // ...tar+gzip" -> ...tar+gzap"
	f, err := g.write("corrupt-blobs-json-altered/vol-0001-of-0001.tar", altered)
	if err != nil {
		return err
	}
	g.add(Vector{Name: "corrupt-blobs-json-altered", Description: `the unsigned one-volume bundle with one byte of blobs.json changed (the layer's media type ends "+gzap" for "+gzip"): still a well-formed table, but its digest is not the one blobTables names`,
		Kind: "volumes", Files: []string{f}, AllowUnsigned: true, Verdict: "invalid", Class: "corrupt"})
	noTable, err := withoutMember(vol, format.MemberBlobTable)
	if err != nil {
		return err
	}
	if f, err = g.write("corrupt-blobs-json-missing/vol-0001-of-0001.tar", noTable); err != nil {
		return err
	}
	g.add(Vector{Name: "corrupt-blobs-json-missing", Description: "the unsigned one-volume bundle without its blobs.json member: volume.json is followed directly by the first blob member",
		Kind: "volumes", Files: []string{f}, AllowUnsigned: true, Verdict: "invalid", Class: "corrupt"})

	// 4. index.json in the wrong volumes of the signed bundle (bundle.json
	// and its signature untouched).
	layoutIndex, _, err := memberBytes(svols[0], format.MemberOCIIndex)
	if err != nil {
		return err
	}
	v2WithIndex, err := withMemberBefore(svols[1], format.MemberIndex, layoutIndex)
	if err != nil {
		return err
	}
	if f, err = g.write("corrupt-index-json-in-vol2/vol-0002-of-0002.tar", v2WithIndex); err != nil {
		return err
	}
	g.add(Vector{Name: "corrupt-index-json-in-vol2", Description: "the signed two-volume bundle with volume 1's index.json member inserted in volume 2 after oci-layout (only volume 1 carries it)" + leftOut,
		Kind: "volumes", Files: []string{signed[0], f}, Key: v2Key, Partial: true, Verdict: "invalid", Class: "corrupt"})
	v1NoIndex, err := withoutMember(svols[0], format.MemberOCIIndex)
	if err != nil {
		return err
	}
	if f, err = g.write("corrupt-index-json-missing-vol1/vol-0001-of-0002.tar", v1NoIndex); err != nil {
		return err
	}
	g.add(Vector{Name: "corrupt-index-json-missing-vol1", Description: "the signed two-volume bundle with volume 1 lacking its index.json member (oci-layout followed directly by bundle.json)" + leftOut,
		Kind: "volumes", Files: []string{f, signed[1]}, Key: v2Key, Partial: true, Verdict: "invalid", Class: "corrupt"})

	// 5. bundle.json alone.
	uindex, err := memberData(vol, format.MemberIndex)
	if err != nil {
		return err
	}
	_, v1vols, err := g.pack(small, bundle.PackOptions{Created: older})
	if err != nil {
		return err
	}
	v1index, err := memberData(v1vols[0], format.MemberIndex)
	if err != nil {
		return err
	}
	emptyTable := []byte(`{"volume":1,"blobs":[]}`)
	tableEntry := fmt.Sprintf(`"blobTables":[{"volume":1,"digest":"%s","size":%d,"count":0}],"volumes"`, digest.FromBytes(emptyTable), len(emptyTable))
	for _, d := range []struct {
		name, desc string
		base       []byte
		old, new   string
		verdict    string
	}{
		{"index-valid", "the bundle.json of the unsigned one-volume version 2 bundle", uindex, "", "", "valid"},
		{"index-blobs-member", `the version 2 bundle.json with a "blobs" member (empty) before "blobTables": version 1's member, unknown in version 2`, uindex, `"blobTables"`, `"blobs":[],"blobTables"`, "invalid"},
		{"index-v1-blobtables", `the version 1 bundle.json of the same content (version 1's vector index-valid) with a "blobTables" member (one well-formed entry) before "volumes": version 2's member, unknown in version 1`, v1index, `"volumes"`, tableEntry, "invalid"},
	} {
		b := d.base
		if d.old != "" {
			if b, err = replaceOnce(b, d.old, d.new); err != nil {
				return fmt.Errorf("%s: %w", d.name, err)
			}
			if (len(b)+blockSize-1)/blockSize != (len(d.base)+blockSize-1)/blockSize {
				return fmt.Errorf("%s: changes the block count of bundle.json", d.name)
			}
		}
		f, err := g.write(d.name+"/bundle.json", b)
		if err != nil {
			return err
		}
		v := Vector{Name: d.name, Description: d.desc, Kind: "index", Files: []string{f}, Verdict: d.verdict}
		if d.verdict == "invalid" {
			v.Class = "index-invalid"
		}
		g.add(v)
	}

	// 6. Signed bundles whose writer got a table, or what bundle.json says
	// of the tables, wrong: well signed, and corrupt.
	return g.lyingTablesV2(sx, svols, splitBlob)
}

// lyingTablesV2 writes the vectors of signed two-volume bundles whose
// signed index or tables are wrong.
func (g *gen) lyingTablesV2(sx *format.Index, svols [][]byte, splitBlob format.Blob) error {
	// partial: the damage is in one volume's header members (leftOut).
	write := func(name, desc string, vols [][]byte, partial bool) error {
		files, err := g.writeVolumes(name, vols)
		if err != nil {
			return err
		}
		g.add(Vector{Name: name, Description: desc, Kind: "volumes", Files: files, Key: v2Key, Partial: partial, Verdict: "invalid", Class: "corrupt"})
		return nil
	}
	index, err := memberData(svols[0], format.MemberIndex)
	if err != nil {
		return err
	}

	// The count of volume 2's blobTables entry one more than its table
	// lists.
	t2 := sx.BlobTables[1]
	old := fmt.Sprintf(`"size":%d,"count":%d}`, t2.Size, t2.Count)
	b, err := replaceOnce(index, old, fmt.Sprintf(`"size":%d,"count":%d}`, t2.Size, t2.Count+1))
	if err != nil {
		return fmt.Errorf("blobTables count: %w", err)
	}
	vols, err := g.reindex(sx, svols, b)
	if err != nil {
		return err
	}
	if err := write("corrupt-blobtables-count", fmt.Sprintf("the signed two-volume bundle whose blobTables entry for volume 2 says count %d; volume 2's blobs.json lists %d (signed again)", t2.Count+1, t2.Count)+leftOut, vols, true); err != nil {
		return err
	}

	// blobTables without volume 2's entry: one entry for two volumes
	// (rule 27), so bundle.json itself is refused, in every volume.
	e2 := fmt.Sprintf(`,{"volume":2,"digest":"%s","size":%d,"count":%d}`, t2.Digest, t2.Size, t2.Count)
	if b, err = replaceOnce(index, e2, ""); err != nil {
		return fmt.Errorf("blobTables entry: %w", err)
	}
	if _, err := format.ParseIndex(b); err == nil {
		return errors.New("v2: an index with one blobTables entry for two volumes validates")
	}
	vols = make([][]byte, len(svols))
	for i := range svols {
		if vols[i], err = g.resign(svols[i], b, sx.Mtime()); err != nil {
			return err
		}
	}
	if err := write("corrupt-blobtables-entries", "the signed two-volume bundle whose blobTables lacks volume 2's entry (one entry for two volumes; signed again): bundle.json is refused in both volumes (rule 27)", vols, false); err != nil {
		return err
	}

	// The split layer listed with another media type in volume 2's table
	// than in volume 1's: each table is valid alone, and bundle.json
	// (signed again) names both.
	table2, err := memberData(svols[1], format.MemberBlobTable)
	if err != nil {
		return err
	}
	entry := fmt.Sprintf(`{"digest":"%s","size":%d,"mediaType":"%s"`, splitBlob.Digest, splitBlob.Size, splitBlob.MediaType)
	other := ocispec.MediaTypeImageLayerZstd
	if len(other) != len(splitBlob.MediaType) {
		return errors.New("v2: the zstd layer media type is not as long as the gzip one")
	}
	nt, err := replaceOnce(table2, entry, fmt.Sprintf(`{"digest":"%s","size":%d,"mediaType":"%s"`, splitBlob.Digest, splitBlob.Size, other))
	if err != nil {
		return fmt.Errorf("split entry: %w", err)
	}
	if vols, err = g.retable(sx, svols, 2, nt); err != nil {
		return err
	}
	if err := write("corrupt-split-blob-tables-differ", "the signed two-volume bundle whose volume 2 blobs.json lists the split layer with media type "+other+" (volume 1's: "+splitBlob.MediaType+"), its blobTables digest made the new table's (signed again): each volume is valid alone, the two tables disagree (rule 35)", vols, false); err != nil {
		return err
	}
	g.add(Vector{Name: "valid-partial-tables-differ-vol2", Description: "volume 2 of corrupt-split-blob-tables-differ alone, checked as a partial set: its table is valid alone, and volume 1's, which it disagrees with, is not read (SPEC.md 11.3)",
		Kind: "volumes", Files: g.vectors[len(g.vectors)-1].Files[1:], Key: v2Key, Partial: true, Verdict: "valid"})

	// A placement offset of volume 1's table moved by one block: the
	// first blob listed (not the split layer), its members no longer
	// tiling the volume.
	table1, err := memberData(svols[0], format.MemberBlobTable)
	if err != nil {
		return err
	}
	var first format.Blob
	for _, bl := range sx.Blobs {
		for _, p := range bl.Placements {
			if p.Volume == 1 && (first.Digest == "" || p.Offset < first.Placements[0].Offset) && len(bl.Placements) == 1 {
				first = bl
			}
		}
	}
	if first.Digest == "" {
		return errors.New("v2: no blob wholly in volume 1")
	}
	p := first.Placements[0]
	moved := p.Offset + blockSize
	if len(strconv.FormatInt(moved, 10)) != len(strconv.FormatInt(p.Offset, 10)) {
		moved = p.Offset - blockSize
	}
	pl := fmt.Sprintf(`{"volume":1,"offset":%d,"length":%d,"digest":"%s"}`, p.Offset, p.Length, p.Digest)
	nt, err = replaceOnce(table1, pl, fmt.Sprintf(`{"volume":1,"offset":%d,"length":%d,"digest":"%s"}`, moved, p.Length, p.Digest))
	if err != nil {
		return fmt.Errorf("offset: %w", err)
	}
	if vols, err = g.retable(sx, svols, 1, nt); err != nil {
		return err
	}
	if err := write("corrupt-table-not-tiling", fmt.Sprintf("the signed two-volume bundle whose volume 1 blobs.json gives its first blob (%s) offset %d for %d, its blobTables digest made the new table's (signed again): the members listed do not tile the volume (rule 33)", first.MediaType, moved, p.Offset)+leftOut, vols, true); err != nil {
		return err
	}

	// The manifest's digest, in bundle.json (manifests, images) and
	// index.json alike, replaced by that of content no table lists; the
	// layoutIndex digest made the new index.json's, signed again.
	if len(sx.Manifests) != 1 {
		return errors.New("v2: the split bundle has not one manifest")
	}
	md := sx.Manifests[0].Digest
	fake := digest.FromBytes([]byte("vectorgen: a manifest no volume carries\n"))
	li, err := memberData(svols[0], format.MemberOCIIndex)
	if err != nil {
		return err
	}
	nli, err := replaceOnce(li, string(md), string(fake))
	if err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	ni := bytes.ReplaceAll(index, []byte(md), []byte(fake))
	if n := bytes.Count(index, []byte(md)); n != 2 {
		return fmt.Errorf("v2: the manifest digest %d times in bundle.json, want 2 (manifests, images)", n)
	}
	if ni, err = replaceOnce(ni, string(digest.FromBytes(li)), string(digest.FromBytes(nli))); err != nil {
		return fmt.Errorf("layoutIndex: %w", err)
	}
	out := [][]byte{clone(svols[0]), svols[1]}
	lm, err := find(out[0], format.MemberOCIIndex)
	if err != nil {
		return err
	}
	copy(out[0][lm.data:], nli)
	if vols, err = g.reindex(sx, out, ni); err != nil {
		return err
	}
	if err := write("corrupt-manifest-not-in-table", "the signed two-volume bundle whose manifest digest, in bundle.json (manifests, images) and index.json, is "+string(fake)+" (of other content), index.json's layoutIndex digest made the new one's (signed again): with every volume present, no table lists the manifest (rule 36)", vols, false); err != nil {
		return err
	}
	g.add(Vector{Name: "valid-partial-manifest-not-in-table-vol1", Description: "volume 1 of corrupt-manifest-not-in-table alone, checked as a partial set: whether some table lists each manifest is known only with every volume read (SPEC.md 6.5 rule 36, 11.3)",
		Kind: "volumes", Files: g.vectors[len(g.vectors)-1].Files[:1], Key: v2Key, Partial: true, Verdict: "valid"})
	return nil
}
