package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Update service endpoints, as oc-mirror v2 uses them.
const (
	// DefaultOCPUpdateURL is the public update service of OpenShift.
	DefaultOCPUpdateURL = "https://api.openshift.com/api/upgrades_info/v1/graph"
	// DefaultOKDUpdateURL is OKD's update service.
	DefaultOKDUpdateURL = "https://origin-release.ci.openshift.org/graph"
	// UpdateURLEnv names the environment variable that, when set, replaces
	// any other update service URL (oc-mirror reads the same variable).
	UpdateURLEnv = "UPDATE_URL_OVERRIDE"
)

// MaxGraphSize bounds the update graph response read (real ones are a few
// MiB with all their metadata).
const MaxGraphSize = 64 << 20

// Type is the kind of release a channel carries.
type Type string

const (
	OCP Type = "ocp"
	OKD Type = "okd"
)

// UpdateURL is the update service to ask: $UPDATE_URL_OVERRIDE when set,
// else given when not empty, else the public default for t (OCP when t
// is empty). Unlike oc-mirror, which ignores the variable for OKD, the
// override applies to both: it points at a local update service.
func UpdateURL(t Type, given string) string {
	if v := os.Getenv(UpdateURLEnv); v != "" {
		return v
	}
	if given != "" {
		return given
	}
	if t == OKD {
		return DefaultOKDUpdateURL
	}
	return DefaultOCPUpdateURL
}

// Node is one release in an update graph.
type Node struct {
	// Version is the release's semantic version.
	Version string `json:"version"`
	// Payload is the release image, pinned by digest.
	Payload string `json:"payload"`
	// Metadata are the node's annotations (release channels, errata URL…).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Graph is the update graph of one channel for one architecture.
type Graph struct {
	// URL is the update service asked (without query), Channel and Arch
	// what it was asked for; empty for a graph parsed with ParseGraph.
	URL, Channel, Arch string
	Nodes              []Node
	// Edges are updates from Nodes[e[0]] to Nodes[e[1]].
	Edges [][2]int
}

// graphJSON is the wire form; edges are read loosely so that a malformed
// one gets a clear error.
type graphJSON struct {
	Nodes *[]Node          `json:"nodes"`
	Edges *[][]json.Number `json:"edges"`
}

// ParseGraph parses and checks an update graph: every version a semantic
// version, listed once; every payload a pull spec pinned by digest; every
// edge a pair of node indexes.
func ParseGraph(data []byte) (*Graph, error) {
	var raw graphJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not an update graph: %w", err)
	}
	if raw.Nodes == nil {
		return nil, errors.New("not an update graph: no nodes")
	}
	g := &Graph{Nodes: *raw.Nodes}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Payload == "" {
			return nil, fmt.Errorf("node %d (%s) has no payload", i, n.Version)
		}
		if _, err := pinned(n.Payload); err != nil {
			return nil, fmt.Errorf("node %d (%s): payload: %w", i, n.Version, err)
		}
	}
	if raw.Edges != nil {
		for i, e := range *raw.Edges {
			if len(e) != 2 {
				return nil, fmt.Errorf("edge %d has %d elements, expected [from, to]", i, len(e))
			}
			var pair [2]int
			for k, num := range e {
				x, err := num.Int64()
				if err != nil || x < 0 || x >= int64(len(g.Nodes)) {
					return nil, fmt.Errorf("edge %d: %s is not a node index (0 to %d)", i, num, len(g.Nodes)-1)
				}
				pair[k] = int(x)
			}
			g.Edges = append(g.Edges, pair)
		}
	}
	if _, err := g.versions(); err != nil {
		return nil, err
	}
	return g, nil
}

// GraphError is an update graph that could not be had: the service did
// not answer, answered with an error, or sent something that is not a
// valid graph.
type GraphError struct {
	URL, Channel, Arch string
	// FromEnv: URL came from UPDATE_URL_OVERRIDE.
	FromEnv bool
	// Unreachable: no HTTP answer at all.
	Unreachable bool
	Err         error
}

func (e *GraphError) Error() string {
	src := ""
	if e.FromEnv {
		src = " (from " + UpdateURLEnv + ")"
	}
	what := fmt.Sprintf("update graph of channel %q (arch %s) from %s%s", e.Channel, e.Arch, e.URL, src)
	if e.Unreachable {
		hint := "set " + UpdateURLEnv + " to use another update service"
		if e.FromEnv {
			hint = "check or unset " + UpdateURLEnv
		}
		return fmt.Sprintf("%s: update service unreachable: %v: is it reachable from here? (%s)", what, e.Err, hint)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

func (e *GraphError) Unwrap() error { return e.Err }

// FetchGraph asks an update service for the graph of channel and arch
// (GET URL?channel=…&arch=… with Accept: application/json). The service is
// UpdateURL(OCP, serviceURL): $UPDATE_URL_OVERRIDE wins over serviceURL,
// and "" is the OCP default (for OKD channels pass Selection.UpdateURL or
// UpdateURL(OKD, …)). client nil is http.DefaultClient; ctx bounds the
// request.
func FetchGraph(ctx context.Context, client *http.Client, serviceURL, channel, arch string) (*Graph, error) {
	if client == nil {
		client = http.DefaultClient
	}
	base := UpdateURL(OCP, serviceURL)
	gerr := &GraphError{URL: base, Channel: channel, Arch: arch, FromEnv: os.Getenv(UpdateURLEnv) != ""}
	fail := func(err error) error { gerr.Err = err; return gerr }
	if channel == "" {
		return nil, fail(errors.New("no channel given"))
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fail(fmt.Errorf("not an http(s) URL"))
	}
	q := u.Query()
	q.Set("channel", channel)
	if arch != "" {
		q.Set("arch", arch)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fail(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fail(ctx.Err())
		}
		// No HTTP answer: refused, no route, DNS, TLS handshake, timeout.
		gerr.Unreachable = true
		return nil, fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxGraphSize+1))
	if err != nil {
		return nil, fail(fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fail(fmt.Errorf("HTTP %s: %s", resp.Status, snippet(body)))
	}
	if len(body) > MaxGraphSize {
		return nil, fail(fmt.Errorf("response is more than the %d bytes accepted", MaxGraphSize))
	}
	g, err := ParseGraph(body)
	if err != nil {
		return nil, fail(err)
	}
	g.URL, g.Channel, g.Arch = base, channel, arch
	return g, nil
}

// snippet is the start of an error body, on one line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}
