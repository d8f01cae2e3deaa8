package bundle

import "github.com/airgap-bundle/bundle/mirror"

// VerifyResult is what a verification found, for scripts and audit logs
// (bundle verify --json): the bundle, every signature, every volume's
// verdict, and whether all of it passed.
type VerifyResult struct {
	BundleID   string            `json:"bundleId"`
	Created    string            `json:"created"`
	Trusted    bool              `json:"trusted"`
	Signatures []SignatureStatus `json:"signatures"`
	Volumes    []VolumeVerdict   `json:"volumes"`
	// Passed: trusted, and every volume present and good (with partial
	// verification, missing volumes do not count against it).
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"`
}

// VolumeVerdict is one volume's result: "ok", "failed" or "missing".
type VolumeVerdict struct {
	Number  int    `json:"number"`
	Path    string `json:"path,omitempty"`
	Verdict string `json:"verdict"`
}

// Result describes r and the error Verify returned with it.
func (r *Report) Result(err error) *VerifyResult {
	s := r.Set
	res := &VerifyResult{BundleID: s.Index.BundleID, Created: s.Index.Created, Trusted: s.Trusted(), Signatures: s.Signatures(), Passed: err == nil}
	if res.Signatures == nil {
		res.Signatures = []SignatureStatus{}
	}
	if err != nil {
		res.Error = err.Error()
	}
	verdict := map[int]string{}
	for _, n := range r.Verified {
		verdict[n] = "ok"
	}
	for _, n := range r.Failed {
		verdict[n] = "failed"
	}
	for _, v := range s.Index.Volumes {
		vv := VolumeVerdict{Number: v.Number, Verdict: verdict[v.Number], Path: r.Path(v.Number)}
		if vv.Verdict == "" {
			vv.Verdict = "missing"
			if vv.Path != "" {
				vv.Verdict = "not checked"
			}
		}
		res.Volumes = append(res.Volumes, vv)
	}
	return res
}

// UnpackReport is what an unpack did, for scripts and audit logs (bundle
// unpack --json).
type UnpackReport struct {
	BundleID    string          `json:"bundleId"`
	Destination string          `json:"destination"`
	Images      []UnpackedImage `json:"images"`
	Names       []NameChange    `json:"names"`
	MadeTags    []string        `json:"madeTags,omitempty"`

	BlobsPut         int   `json:"blobsPut"`
	BytesPut         int64 `json:"bytesPut"`
	BlobsMounted     int   `json:"blobsMounted"`
	BlobsPresent     int   `json:"blobsPresent"`
	BlobsMended      int   `json:"blobsMended,omitempty"` // of blobsPut: damaged in the destination, written again
	ManifestsPut     int   `json:"manifestsPut"`
	ManifestsPresent int   `json:"manifestsPresent"`
	NamesSet         int   `json:"namesSet"`
	NamesMoved       int   `json:"namesMoved"`
	NamesPresent     int   `json:"namesPresent"`
	// AlreadyApplied: the destination's record lists the bundle, applied
	// at AppliedAt; nothing was done (SPEC 11.8).
	AlreadyApplied bool   `json:"alreadyApplied,omitempty"`
	AppliedAt      string `json:"appliedAt,omitempty"`
	// RolledBack lists the names moved back to older content, allowed.
	RolledBack []string `json:"rolledBack,omitempty"`
}

// Report describes r, unpacked into destination (as people name it).
func (r *UnpackResult) Report(destination string) *UnpackReport {
	u := &UnpackReport{Destination: destination, Images: r.Images, Names: r.Names, MadeTags: r.MadeTags,
		BlobsPut: r.BlobsPut, BytesPut: r.BytesPut, BlobsMounted: r.BlobsMounted, BlobsPresent: r.BlobsPresent, BlobsMended: r.BlobsMended,
		ManifestsPut: r.ManifestsPut, ManifestsPresent: r.ManifestsPresent, NamesSet: r.NamesSet, NamesMoved: r.NamesMoved, NamesPresent: r.NamesPresent,
		AlreadyApplied: r.AlreadyApplied, AppliedAt: r.AppliedAt, RolledBack: r.RolledBack}
	if r.Index != nil {
		u.BundleID = r.Index.BundleID
	}
	if u.Images == nil {
		u.Images = []UnpackedImage{}
	}
	if u.Names == nil {
		u.Names = []NameChange{}
	}
	return u
}

// MirrorImages are the images pushed, for the mirror configuration
// (mirror.ConfigOptions.Images), and the filtered operator catalogs among
// them (ConfigOptions.Catalogs), found by the bundle's selection record.
func (r *UnpackResult) MirrorImages() ([]mirror.Image, []mirror.Catalog) {
	images := make([]mirror.Image, len(r.Images))
	var catalogs []mirror.Catalog
	for i, im := range r.Images {
		images[i] = mirror.Image{Source: im.Source, Target: im.Target, Digest: im.Digest}
		if cat := im.Catalog(); cat != "" {
			catalogs = append(catalogs, mirror.Catalog{Source: cat, Image: im.Target})
		}
	}
	return images, catalogs
}
