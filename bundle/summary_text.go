package bundle

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/airgap-bundle/bundle/internal/bytesize"
)

// WriteText writes the summary for people, as bundle inspect prints it:
// the index's fields, the bases of an incremental bundle and what they
// spare, a table of the images and one of the volumes (MISSING where not
// found), then a line per problem. Digests are cut to 12 hex digits.
func (s *Summary) WriteText(w io.Writer) error {
	signer, limit := "unsigned", "none"
	if s.Signer != nil {
		signer = s.Signer.KeyID + " (" + s.Signer.Algorithm + "), signature " + s.Signature
	}
	if s.MaxVolumeSize > 0 {
		limit = fmt.Sprintf("%s (%d bytes)", bytesize.Format(s.MaxVolumeSize), s.MaxVolumeSize)
	}
	ew := &errWriter{w: w}
	expires := "never"
	if s.Expires != "" {
		expires = s.Expires
	}
	fmt.Fprintf(ew, "bundle:       %s\ncreated:      %s\nexpires:      %s\npacker:       %s\nsigner:       %s\ncompression:  %s\nvolume limit: %s\nblobs:        %d, %s (%s stored)\n",
		s.BundleID, s.Created, expires, s.Packer, signer, s.Compression, limit, s.Blobs, bytesize.Format(s.BlobBytes), bytesize.Format(s.StoredBytes))
	label := "bases:"
	for _, b := range s.Bases {
		fmt.Fprintf(ew, "%-13s %s (index %s)\n", label, b.BundleID, b.Index)
		label = ""
	}
	if len(s.Bases) > 0 {
		fmt.Fprintf(ew, "carried:      %d blobs, %s\nfrom bases:   %d blobs, %s (must be at the destination already)\n",
			s.CarriedBlobs, bytesize.Format(s.CarriedBytes), s.FromBaseBlobs, bytesize.Format(s.FromBaseBytes))
	}
	// Only the tables go through a tab writer: a tab in another field
	// (the packer's name) is printed as it is.
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	selected := slices.ContainsFunc(s.Images, func(im SummaryImage) bool { return len(im.SelectedBy) > 0 })
	if selected {
		fmt.Fprintln(tw, "\nREF\tDIGEST\tPLATFORMS\tSIZE\tSELECTED BY")
	} else {
		fmt.Fprintln(tw, "\nREF\tDIGEST\tPLATFORMS\tSIZE")
	}
	for _, im := range s.Images {
		ref := im.Ref
		if ref == "" {
			ref = "(referrer of " + shortDigest(string(im.Subject)) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s", ref, shortDigest(string(im.Digest)), strings.Join(im.Platforms, ","), bytesize.Format(im.Size))
		if selected {
			why := make([]string, len(im.SelectedBy))
			for i, sel := range im.SelectedBy {
				why[i] = sel.String()
			}
			fmt.Fprintf(tw, "\t%s", strings.Join(why, "; "))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "\nVOLUME\tSIZE\tFOUND AT")
	for _, v := range s.Volumes {
		at := v.Path
		if at == "" {
			at = "MISSING"
		}
		fmt.Fprintf(tw, "%d of %d\t%d\t%s\n", v.Number, len(s.Volumes), v.Size, at)
	}
	tw.Flush()
	for _, p := range s.Problems {
		fmt.Fprintln(ew, "problem:", p)
	}
	return ew.err
}

// errWriter writes to w until a write fails, and keeps that error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// shortDigest is a digest cut to its algorithm and 12 hex digits.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
