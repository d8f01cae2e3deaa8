package bundle

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/airgap-bundle/bundle/format"
	"github.com/airgap-bundle/bundle/internal/bytesize"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PlanReport is what a planned pack (PlanPack) would carry, for people and
// scripts (bundle pack --dry-run): the images grouped by what selected
// them, and the totals.
type PlanReport struct {
	Groups []PlanGroup `json:"groups"`
	// Images counts the named entries and Referrers the others (they
	// travel with their subjects); Blobs and Bytes every blob they need;
	// FromBase* those a base or an inventory leaves out; Carried* the rest.
	Images        int   `json:"images"`
	Referrers     int   `json:"referrers"`
	Blobs         int   `json:"blobs"`
	Bytes         int64 `json:"bytes"`
	FromBaseBlobs int   `json:"fromBaseBlobs"`
	FromBaseBytes int64 `json:"fromBaseBytes"`
	CarriedBlobs  int   `json:"carriedBlobs"`
	CarriedBytes  int64 `json:"carriedBytes"`
	// Volumes is the number of volumes at MaxVolumeSize (0: no limit),
	// VolumeBytes their total size. With zstd allowed, blobs are counted
	// unencoded: an upper bound.
	Volumes       int    `json:"volumes"`
	VolumeBytes   int64  `json:"volumeBytes"`
	MaxVolumeSize int64  `json:"maxVolumeSize"`
	Compression   string `json:"compression"`
	// HeaderBytes is what every volume spends on the signed index and
	// the other header members before any blob (SPEC 7): the cost of each
	// volume being verifiable alone. In format version 2, where each
	// volume carries its own blob table, the largest volume's.
	HeaderBytes int64 `json:"headerBytes"`
	// FormatVersion is the format version planned (SPEC 3).
	FormatVersion int `json:"formatVersion"`
}

// PlanGroup is the images one reason selected: a release, an operator
// package of a catalog, a registry rule, a list, the command line. An
// image selected for several reasons is in each of their groups.
type PlanGroup struct {
	Title  string      `json:"title"`
	Images []PlanImage `json:"images"`
}

// PlanImage is one image of a group.
type PlanImage struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	// Detail is what the reason says of this image alone: the release
	// component, the operator bundle.
	Detail string `json:"detail,omitempty"`
}

// NewPlanReport describes the planned index x.
func NewPlanReport(x *format.Index) *PlanReport {
	r := &PlanReport{Blobs: len(x.Blobs), MaxVolumeSize: x.MaxVolumeSize, Compression: x.Compression, Volumes: len(x.Volumes)}
	for _, b := range x.Blobs {
		r.Bytes += b.Size
		if b.Base != "" {
			r.FromBaseBlobs++
			r.FromBaseBytes += b.Size
		} else {
			r.CarriedBlobs++
			r.CarriedBytes += b.StoredSize
		}
	}
	for _, v := range x.Volumes {
		r.VolumeBytes += v.Size
	}
	if n, err := format.IndexLen(x); err == nil {
		// Version 2: volumes differ (volume 1 carries index.json, each
		// its own blob table): the largest.
		for v := range x.Volumes {
			r.HeaderBytes = max(r.HeaderBytes, x.VolumePrefixSize(v+1, n))
		}
		r.FormatVersion = x.FormatVersion
	}
	groups := map[string]*PlanGroup{}
	for i, m := range x.Manifests {
		ref := m.Annotations[ocispec.AnnotationRefName]
		if ref == "" {
			r.Referrers++ // referrers travel with their subjects
			continue
		}
		r.Images++
		var size int64
		if i < len(x.Images) {
			size = x.Images[i].Size
		}
		sels, err := format.ParseSelections(m.Annotations[format.AnnotationSelectedBy])
		if err != nil || len(sels) == 0 {
			sels = []format.Selection{{By: format.SelectedByArgument}}
		}
		for _, s := range sels {
			title, detail := planGroupTitle(s)
			g := groups[title]
			if g == nil {
				g = &PlanGroup{Title: title}
				groups[title] = g
			}
			g.Images = append(g.Images, PlanImage{Ref: ref, Digest: m.Digest.String(), Size: size, Detail: detail})
		}
	}
	for _, g := range groups {
		slices.SortStableFunc(g.Images, func(a, b PlanImage) int { return cmp.Compare(a.Ref, b.Ref) })
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b PlanGroup) int { return cmp.Compare(a.Title, b.Title) })
	return r
}

// planGroupTitle is the group a selection puts an image in, and what it
// says of the image alone.
func planGroupTitle(s format.Selection) (title, detail string) {
	at := ""
	if s.Rule != "" {
		at = " (" + s.Rule + ")"
	}
	switch s.By {
	case format.SelectedByRelease:
		if s.Component == "" {
			return "release " + s.Release + " channel " + s.Channel + at, "payload"
		}
		return "release " + s.Release + " channel " + s.Channel + at, s.Component
	case format.SelectedByOperator:
		return "operator " + s.Package + " from " + s.Catalog + at, strings.TrimSpace(s.Bundle + " " + channelNote(s.Channel))
	case format.SelectedByCatalog:
		if s.Filtered {
			return "catalog " + s.Catalog + at, "filtered to the operators carried"
		}
		return "catalog " + s.Catalog + at, "original"
	case format.SelectedByRegistry:
		return "registry rule" + at, ""
	case format.SelectedByList:
		file, _, _ := strings.Cut(s.Rule, ":")
		return "image list " + file, s.Rule
	case format.SelectedByAdditional:
		return "additional images", s.Rule
	case format.SelectedByArgument:
		return "command line", ""
	}
	return s.String(), ""
}

func channelNote(c string) string {
	if c == "" {
		return ""
	}
	return "(channel " + c + ")"
}

// WriteText prints the report for people.
func (r *PlanReport) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	for _, g := range r.Groups {
		fmt.Fprintf(tw, "%s: %s\n", g.Title, plural(len(g.Images), "image"))
		for _, im := range g.Images {
			// A reference pinned by digest says it once.
			dig := im.Digest
			if strings.HasSuffix(im.Ref, "@"+im.Digest) {
				dig = "(pinned)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", im.Ref, dig, bytesize.Format(im.Size), im.Detail)
		}
		tw.Flush()
	}
	fmt.Fprintf(ew, "\n%s", plural(r.Images, "image"))
	if r.Referrers > 0 {
		fmt.Fprintf(ew, " and %s", plural(r.Referrers, "referrer"))
	}
	fmt.Fprintf(ew, ", %s, %s", plural(r.Blobs, "blob"), bytesize.Format(r.Bytes))
	if r.FromBaseBlobs > 0 {
		fmt.Fprintf(ew, "; %s (%s) left out: the destination has them (bases, inventories)", plural(r.FromBaseBlobs, "blob"), bytesize.Format(r.FromBaseBytes))
	}
	fmt.Fprintf(ew, "\ncarried: %s, %s\n", plural(r.CarriedBlobs, "blob"), bytesize.Format(r.CarriedBytes))
	limit := "1 volume (no size limit)"
	if r.MaxVolumeSize > 0 {
		limit = fmt.Sprintf("%s of at most %s", plural(r.Volumes, "volume"), bytesize.Format(r.MaxVolumeSize))
	}
	if r.FormatVersion == format.VersionV2 {
		fmt.Fprintf(ew, "volumes (format version 2): %s, %s in all; each starts with at most %s of headers (the signed index and its own blob table)", limit, bytesize.Format(r.VolumeBytes), bytesize.Format(r.HeaderBytes))
	} else {
		fmt.Fprintf(ew, "volumes: %s, %s in all; each starts with %s of headers (the signed index)", limit, bytesize.Format(r.VolumeBytes), bytesize.Format(r.HeaderBytes))
	}
	if r.Compression == format.CompressionZstd {
		fmt.Fprint(ew, " (before compression: zstd may need fewer)")
	}
	fmt.Fprintln(ew)
	return ew.err
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
