package bundle

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/airgap-bundle/bundle/internal/bytesize"
)

// WriteText writes the summary for people, as bundle inspect prints it:
// the index's fields, the bases of an incremental bundle and what they
// spare, a table of the images and one of the volumes (MISSING where not
// found), then a line per problem. Digests are cut to 12 hex digits.
//
// Every string from the bundle (or from a file name) goes through
// Printable: an index nobody has vouched for yet (inspect without a key)
// may name a ref "\x1b]52;…" and so drive the terminal that prints it.
func (s *Summary) WriteText(w io.Writer) error {
	signer, limit := "unsigned", "none"
	if s.Signer != nil {
		signer = Printable(s.Signer.KeyID) + " (" + Printable(s.Signer.Algorithm) + "), signature " + Printable(s.Signature)
	}
	if s.MaxVolumeSize > 0 {
		limit = fmt.Sprintf("%s (%d bytes)", bytesize.Format(s.MaxVolumeSize), s.MaxVolumeSize)
	}
	ew := &errWriter{w: w}
	expires := "never"
	if s.Expires != "" {
		expires = Printable(s.Expires)
	}
	fmt.Fprintf(ew, "bundle:       %s (format version %d)\ncreated:      %s\nexpires:      %s\npacker:       %s\nsigner:       %s\ncompression:  %s\nvolume limit: %s\nblobs:        %d, %s (%s stored)\n",
		Printable(s.BundleID), s.FormatVersion, Printable(s.Created), expires, Printable(s.Packer), signer, Printable(s.Compression), limit, s.Blobs, bytesize.Format(s.BlobBytes), bytesize.Format(s.StoredBytes))
	label := "bases:"
	for _, b := range s.Bases {
		fmt.Fprintf(ew, "%-13s %s (index %s)\n", label, Printable(b.BundleID), Printable(string(b.Index)))
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
		ref := Printable(im.Ref)
		if ref == "" {
			ref = "(referrer of " + Printable(shortDigest(string(im.Subject))) + ")"
		}
		platforms := make([]string, len(im.Platforms))
		for i, p := range im.Platforms {
			platforms[i] = Printable(p)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s", ref, Printable(shortDigest(string(im.Digest))), strings.Join(platforms, ","), bytesize.Format(im.Size))
		if selected {
			why := make([]string, len(im.SelectedBy))
			for i, sel := range im.SelectedBy {
				why[i] = Printable(sel.String())
			}
			fmt.Fprintf(tw, "\t%s", strings.Join(why, "; "))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "\nVOLUME\tSIZE\tFOUND AT")
	for _, v := range s.Volumes {
		at := Printable(v.Path)
		if at == "" {
			at = "MISSING"
		}
		fmt.Fprintf(tw, "%d of %d\t%d\t%s\n", v.Number, len(s.Volumes), v.Size, at)
	}
	tw.Flush()
	for _, p := range s.Problems {
		fmt.Fprintln(ew, "problem:", Printable(p))
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

// Printable is s as it may be shown to people: control characters (C0,
// DEL, C1), Unicode format characters (bidirectional overrides, zero
// widths) and invalid UTF-8 are written as Go escapes (\x1b, \u202e), and
// so, in such a string, is a backslash (\\), so that no string from a
// bundle moves the cursor, recolours, retitles or rewrites a terminal,
// or reads as something else. Strings with none of them are returned as
// they are.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case needsEscape(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// needsEscape reports whether Printable escapes r. A backslash alone is
// left as it is: it is escaped only in a string that has another reason
// to be, so that ordinary text prints unchanged.
func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) ||
		r == '\u2028' || r == '\u2029'
}

// PrintableLines is Printable for text of several lines (an error that
// joins several): each line is escaped, the line breaks are kept. The
// command line prints messages and errors through it, since they quote
// strings from bundles (ref names, paths, what an index claims).
func PrintableLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Printable(l)
	}
	return strings.Join(lines, "\n")
}
