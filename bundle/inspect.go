package bundle

import (
	"slices"

	"github.com/airgap-bundle/bundle/format"
)

// Summary describes a bundle for people and scripts (bundle inspect).
type Summary struct {
	BundleID      string         `json:"bundleId"`
	FormatVersion int            `json:"formatVersion"` // SPEC 3
	Created       string         `json:"created"`
	Expires       string         `json:"expires,omitempty"`
	Packer        string         `json:"packer"`
	Signer        *format.Signer `json:"signer"`
	Signature     string         `json:"signature"` // "verified", "not checked", "unsigned"
	Compression   string         `json:"compression"`
	MaxVolumeSize int64          `json:"maxVolumeSize"`
	Images        []SummaryImage `json:"images"`
	Blobs         int            `json:"blobs"`
	BlobBytes     int64          `json:"blobBytes"`   // sum of blob sizes
	StoredBytes   int64          `json:"storedBytes"` // sum of stored sizes of the blobs carried
	// Bases are the earlier bundles this one builds on (incremental).
	Bases []format.Base `json:"bases"`
	// Carried counts the blobs the volumes hold and their size; FromBases
	// those expected at the destination from the bases.
	CarriedBlobs  int           `json:"carriedBlobs"`
	CarriedBytes  int64         `json:"carriedBytes"`
	FromBaseBlobs int           `json:"fromBaseBlobs"`
	FromBaseBytes int64         `json:"fromBaseBytes"`
	Volumes       []VolumeState `json:"volumes"`
	Missing       []int         `json:"missing"`
	Problems      []string      `json:"problems"`
}

// SummaryImage is one entry of the bundle and, when the bundle records it,
// what selected it (SPEC 6.7). A record that does not parse is shown as
// the problem it is, not hidden: it is informational only.
type SummaryImage struct {
	format.Image
	SelectedBy []format.Selection `json:"selectedBy,omitempty"`
}

// VolumeState is one volume and where it was found ("" when missing).
type VolumeState struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	Path   string `json:"path"`
}

// Summary describes the bundle from the volume headers (not their blob
// data). Signature says "verified" once Trust has checked a signature,
// "not checked" before (or when trust allowed a signed bundle without a
// key), "unsigned" for an unsigned bundle.
func (s *Set) Summary() *Summary {
	x := s.Index
	sum := IndexSummary(x)
	if m := s.Missing(); m != nil {
		sum.Missing = m
	}
	for i, v := range x.Volumes {
		if h := s.Volumes[v.Number]; h != nil {
			sum.Volumes[i].Path = h.Path
		}
	}
	for _, p := range s.Problems {
		sum.Problems = append(sum.Problems, p.Error())
	}
	countersigned := slices.ContainsFunc(s.Signatures(), func(st SignatureStatus) bool { return !st.InVolume && st.State != SignatureUnreadable })
	switch {
	case s.Signature == nil && !countersigned:
		sum.Signature = "unsigned"
	case s.trusted && s.checkedKey:
		sum.Signature = "verified"
	default:
		sum.Signature = "not checked"
	}
	return sum
}

// IndexSummary describes the bundle an index makes, without its volumes
// (their paths are left empty, Missing and Problems empty, Signature
// "unsigned" or "not checked"): what pack reports of the bundle it wrote.
func IndexSummary(x *format.Index) *Summary {
	sum := &Summary{BundleID: x.BundleID, FormatVersion: x.FormatVersion, Created: x.Created, Expires: x.Expires, Packer: x.Packer, Signer: x.Signer, Compression: x.Compression,
		MaxVolumeSize: x.MaxVolumeSize, Images: summaryImages(x), Blobs: len(x.Blobs), Missing: []int{}, Problems: []string{}, Bases: x.Bases,
		Signature: "unsigned"}
	if x.Signer != nil {
		sum.Signature = "not checked"
	}
	if sum.Bases == nil {
		sum.Bases = []format.Base{}
	}
	for _, b := range x.Blobs {
		sum.BlobBytes += b.Size
		if b.Base != "" {
			sum.FromBaseBlobs++
			sum.FromBaseBytes += b.Size
			continue
		}
		sum.CarriedBlobs++
		sum.CarriedBytes += b.Size
		sum.StoredBytes += b.StoredSize
	}
	for _, v := range x.Volumes {
		sum.Volumes = append(sum.Volumes, VolumeState{Number: v.Number, Size: v.Size})
	}
	return sum
}

// summaryImages pairs each image summary with the selection record of its
// manifests entry (the two arrays have the same order, SPEC 6.2).
func summaryImages(x *format.Index) []SummaryImage {
	out := make([]SummaryImage, len(x.Images))
	for i, im := range x.Images {
		out[i].Image = im
		if i >= len(x.Manifests) {
			continue
		}
		sels, err := format.ParseSelections(x.Manifests[i].Annotations[format.AnnotationSelectedBy])
		if err != nil {
			sels = []format.Selection{{By: "unreadable record: " + err.Error()}}
		}
		out[i].SelectedBy = sels
	}
	return out
}
