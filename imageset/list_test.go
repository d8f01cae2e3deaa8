package imageset

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/airgap-bundle/bundle/location"
)

func TestParseImageList(t *testing.T) {
	const nginx, alpine = "docker://docker.io/library/nginx:latest", "docker://docker.io/library/alpine:latest"
	cases := []struct {
		name string
		in   string
		want []string
		// errAt: the error must name list.txt:<errAt> (0: no error).
		errAt int
	}{
		{name: "empty", in: "", want: nil},
		{name: "only comments and blanks", in: "# images\n\n   \n\t\n  # indented comment\n", want: nil},
		{
			name: "bare references become docker://, normalized",
			in:   "nginx\nquay.io/team/app:v1\nregistry.example.com:5000/a/b@sha256:" + strings.Repeat("a", 64) + "\ndocker:24-dind\n",
			want: []string{nginx, "docker://quay.io/team/app:v1", "docker://registry.example.com:5000/a/b@sha256:" + strings.Repeat("a", 64), "docker://docker.io/library/docker:24-dind"},
		},
		{
			name: "transports kept",
			in:   "docker://alpine:3.19\noci:/srv/layouts/app\noci:./rel/layout:v1:extra\n",
			want: []string{"docker://docker.io/library/alpine:3.19", "oci:/srv/layouts/app", "oci:./rel/layout:v1:extra"},
		},
		{
			name: "comments after a reference",
			in:   "nginx # the web server\nalpine\t# tab before\noci:/srv/l:tag   #spaces before\ndocker://busybox #\n",
			want: []string{nginx, alpine, "oci:/srv/l:tag", "docker://docker.io/library/busybox:latest"},
		},
		{
			name: "a # inside a token is not a comment",
			in:   "oci:/srv/dir#1/layout:v1\n",
			want: []string{"oci:/srv/dir#1/layout:v1"},
		},
		{
			name: "surrounding blanks trimmed",
			in:   "   nginx   \n\talpine\t\n",
			want: []string{nginx, alpine},
		},
		{
			name: "CRLF line endings",
			in:   "# list from Windows\r\nnginx\r\n\r\nalpine # comment\r\noci:/srv/l:v1\r\n",
			want: []string{nginx, alpine, "oci:/srv/l:v1"},
		},
		{name: "no newline at the end", in: "nginx\nalpine", want: []string{nginx, alpine}},
		{name: "duplicates kept in order", in: "b\na\nb\n", want: []string{"docker://docker.io/library/b:latest", "docker://docker.io/library/a:latest", "docker://docker.io/library/b:latest"}},
		{name: "two references on a line", in: "# first\n\nnginx alpine\n", errAt: 3},
		{name: "two references separated by a tab", in: "nginx\n\n\noci:/a\toci:/b\n", errAt: 4},
		{name: "two references with CRLF", in: "nginx\r\nnginx alpine\r\n", errAt: 2},
		{name: "not an image reference", in: "nginx\n\nNginx:1.27\n", errAt: 3},
		{name: "layout without a path", in: "# layouts\noci:\n", errAt: 2},
		{name: "bad digest", in: "alpine@sha256:beef\n", errAt: 1},
		{name: "line too long", in: "nginx\n" + strings.Repeat("x", 2<<20) + "\n", errAt: -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			list, err := ParseImageList(strings.NewReader(c.in), "list.txt")
			var got []string
			for _, l := range list {
				got = append(got, l.Location.String())
				if l.Selection.By != "list" || !strings.HasPrefix(l.Selection.Rule, "list.txt:") {
					t.Errorf("%s: selected by %+v", l.Location, l.Selection)
				}
			}
			switch {
			case c.errAt > 0:
				if err == nil {
					t.Fatalf("no error; got %q", got)
				}
				if want := "list.txt:" + strconv.Itoa(c.errAt) + ":"; !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
				var le *location.Error
				if strings.HasPrefix(c.name, "two") != !errors.As(err, &le) {
					t.Errorf("error %q: a line that is not one source is a *location.Error, two on a line are not", err)
				}
			case c.errAt < 0:
				if err == nil || !strings.Contains(err.Error(), "list.txt") {
					t.Errorf("error %v, want one naming list.txt", err)
				}
			default:
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("got %q, want %q", got, c.want)
				}
			}
		})
	}
}

func TestParseImageListReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := ParseImageList(iotest.ErrReader(boom), "images.txt")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "images.txt") {
		t.Errorf("error %v, want one that wraps the read error and names images.txt", err)
	}
}

// TestResolveNamesTheLine: a layout a list line names that cannot be
// opened is reported with the list's file and line, not only its path.
func TestResolveNamesTheLine(t *testing.T) {
	t.Parallel()
	located, err := ParseImageList(strings.NewReader("# layouts\noci:../testdata/example-layout:app:v1\noci:/nonexistent/layout:app\n"), "images.txt")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(t.Context(), nil, located, Options{})
	if err == nil {
		r.Close()
		t.Fatal("a missing layout resolved")
	}
	if !strings.HasPrefix(err.Error(), "images.txt:3: ") || !strings.Contains(err.Error(), "/nonexistent/layout") {
		t.Errorf("error %q, want one that starts with images.txt:3 and names the layout", err)
	}
}
