// Command unpack-http unpacks a bundle whose volumes are on a web server,
// reading them with HTTP range requests: nothing is copied to a local disk
// first, and every byte is still checked against the signed index. It
// shows that volumes need not be files: a bundle.VolumeOpener gives the
// reader any io.ReaderAt with a size and a name.
//
//	unpack-http KEY.pub DEST_LAYOUT URL...
//
// Each URL is one volume file. The server must answer HEAD with a
// Content-Length and GET with a Range header with 206 Partial Content, as
// any static file server does.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/airgap-bundle/bundle/bundle"
	"github.com/airgap-bundle/bundle/sign"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: unpack-http KEY.pub DEST_LAYOUT URL...")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1], os.Args[2], os.Args[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "unpack-http:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keyFile, dest string, urls []string) error {
	key, err := sign.LoadVerifierFile(keyFile)
	if err != nil {
		return err
	}
	var volumes []bundle.VolumeOpener
	for _, u := range urls {
		volumes = append(volumes, httpVolume(u))
	}
	set, err := bundle.Open(ctx, volumes)
	if err != nil {
		return err
	}
	if err := set.Trust(bundle.TrustPolicy{Key: key}); err != nil {
		return err
	}
	layout := bundle.NewLayoutDestination(dest, bundle.LayoutOptions{})
	defer layout.Close()
	res, err := set.Unpack(ctx, layout, bundle.UnpackOptions{Notice: func(s string) { fmt.Println("notice:", s) }})
	if err != nil {
		return err
	}
	x := res.Index
	fmt.Printf("unpacked bundle %s from %d volumes over HTTP: %d entries, %d blobs into %s\n",
		x.BundleID, len(urls), len(x.Manifests), len(x.Blobs), dest)
	return nil
}

// httpVolume is a volume file at a URL.
type httpVolume string

func (v httpVolume) Name() string { return string(v) }

// Open asks the server for the volume's size. Reads are range requests,
// so each reader can be used from several goroutines at once.
func (v httpVolume) Open(ctx context.Context) (bundle.VolumeReader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, string(v), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 0 {
		return nil, fmt.Errorf("%s: %s, want 200 with a Content-Length", v, resp.Status)
	}
	return &httpReader{ctx: ctx, url: string(v), size: resp.ContentLength}, nil
}

type httpReader struct {
	ctx  context.Context
	url  string
	size int64
}

func (r *httpReader) Size() int64  { return r.size }
func (r *httpReader) Close() error { return nil }

// ReadAt reads len(p) bytes at off with one range request.
func (r *httpReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.size-off)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+want-1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("%s: range %d-%d: %s, want 206", r.url, off, off+want-1, resp.Status)
	}
	n, err := io.ReadFull(resp.Body, p[:want])
	if err == nil && want < int64(len(p)) {
		err = io.EOF
	}
	return n, err
}
