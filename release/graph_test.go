package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// graphServer is an update service on 127.0.0.1 serving graphs per
// channel and arch, and recording the requests it gets.
type graphServer struct {
	*httptest.Server
	mu       sync.Mutex
	graphs   map[string][]byte // "channel/arch" → body
	requests []*http.Request
}

func newGraphServer(t *testing.T) *graphServer {
	gs := &graphServer{graphs: map[string][]byte{}}
	gs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gs.mu.Lock()
		gs.requests = append(gs.requests, r)
		body, ok := gs.graphs[r.URL.Query().Get("channel")+"/"+r.URL.Query().Get("arch")]
		gs.mu.Unlock()
		if r.URL.Path != "/api/upgrades_info/v1/graph" || r.Header.Get("Accept") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"kind":"Error","reason":"invalid_channel","value":"no channel %s"}`, r.URL.Query().Get("channel"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(gs.Close)
	return gs
}

func (gs *graphServer) url() string { return gs.URL + "/api/upgrades_info/v1/graph" }

func (gs *graphServer) set(channel, arch string, body []byte) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	gs.graphs[channel+"/"+arch] = body
}

// graphJSONFor writes a graph: payloads for each version (repo@digest),
// edges by version.
func graphJSONFor(t *testing.T, payloads map[string]string, order []string, edges [][2]string) []byte {
	t.Helper()
	idx := map[string]int{}
	var nodes []map[string]any
	for i, v := range order {
		idx[v] = i
		nodes = append(nodes, map[string]any{
			"version": v,
			"payload": payloads[v],
			"metadata": map[string]string{
				"io.openshift.upgrades.graph.release.channels":    "candidate-4.18,fast-4.18,stable-4.18",
				"io.openshift.upgrades.graph.release.manifestref": strings.SplitN(payloads[v], "@", 2)[1],
				"url": "https://access.redhat.com/errata/RHSA-2025:1",
			},
		})
	}
	es := [][2]int{}
	for _, e := range edges {
		es = append(es, [2]int{idx[e[0]], idx[e[1]]})
	}
	b, err := json.Marshal(map[string]any{"nodes": nodes, "edges": es, "conditionalEdges": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The channel used by the selection tests, nodes listed out of order as
// update services do.
var (
	testOrder = []string{"4.18.3", "4.17.20", "4.18.1", "4.18.0", "4.18.6", "4.18.2", "4.18.5", "4.18.4"}
	testEdges = [][2]string{
		{"4.17.20", "4.18.1"},
		{"4.18.1", "4.18.2"}, {"4.18.1", "4.18.3"}, {"4.18.2", "4.18.3"},
		{"4.18.2", "4.18.4"}, {"4.18.3", "4.18.4"}, {"4.18.3", "4.18.5"},
		{"4.18.4", "4.18.6"}, {"4.18.5", "4.18.6"},
		// 4.18.0 has no edges: nothing updates to or from it.
	}
)

func fakePayloads(host string) map[string]string {
	m := map[string]string{}
	for i, v := range testOrder {
		m[v] = fmt.Sprintf("%s/openshift-release-dev/ocp-release@sha256:%064x", host, i+1)
	}
	return m
}

func versions(nodes []Node) string {
	var vs []string
	for _, n := range nodes {
		vs = append(vs, n.Version)
	}
	return strings.Join(vs, " ")
}

func TestFetchGraphAndSelect(t *testing.T) {
	t.Parallel()
	gs := newGraphServer(t)
	gs.set("stable-4.18", "amd64", graphJSONFor(t, fakePayloads("quay.io"), testOrder, testEdges))
	ctx := context.Background()
	g, err := FetchGraph(ctx, gs.Client(), gs.url(), "stable-4.18", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != len(testOrder) || len(g.Edges) != len(testEdges) || g.URL != gs.url() || g.Channel != "stable-4.18" || g.Arch != "amd64" {
		t.Fatalf("graph %+v", g)
	}
	if g.Nodes[0].Metadata["io.openshift.upgrades.graph.release.channels"] == "" {
		t.Fatalf("metadata lost: %+v", g.Nodes[0])
	}
	req := gs.requests[0]
	if q := req.URL.Query(); q.Get("channel") != "stable-4.18" || q.Get("arch") != "amd64" || req.Header.Get("Accept") != "application/json" {
		t.Fatalf("request %s %v", req.URL, req.Header)
	}

	for _, c := range []struct {
		name string
		sel  Selection
		want string
	}{
		{"latest only", Selection{}, "4.18.6"},
		{"full", Selection{Full: true}, "4.17.20 4.18.0 4.18.1 4.18.2 4.18.3 4.18.4 4.18.5 4.18.6"},
		{"min to latest", Selection{MinVersion: "4.18.2"}, "4.18.2 4.18.3 4.18.4 4.18.5 4.18.6"},
		{"first to max", Selection{MaxVersion: "4.18.1"}, "4.17.20 4.18.0 4.18.1"},
		{"min to max", Selection{MinVersion: "4.18.2", MaxVersion: "4.18.4"}, "4.18.2 4.18.3 4.18.4"},
		{"full within min", Selection{Full: true, MinVersion: "4.18.4"}, "4.18.4 4.18.5 4.18.6"},
		{"one version", Selection{MinVersion: "4.18.3", MaxVersion: "4.18.3"}, "4.18.3"},
		{"shortest path min to max", Selection{MinVersion: "4.18.1", MaxVersion: "4.18.6", ShortestPath: true}, "4.18.1 4.18.3 4.18.5 4.18.6"},
		{"shortest path min to latest", Selection{MinVersion: "4.18.2", ShortestPath: true}, "4.18.2 4.18.4 4.18.6"},
		{"shortest path full", Selection{Full: true, ShortestPath: true}, "4.17.20 4.18.1 4.18.3 4.18.5 4.18.6"},
		{"shortest path heads only", Selection{ShortestPath: true}, "4.18.6"},
		{"shortest path one step", Selection{MinVersion: "4.18.2", MaxVersion: "4.18.3", ShortestPath: true}, "4.18.2 4.18.3"},
		{"channel named", Selection{Channel: "stable-4.18", MinVersion: "4.18.5"}, "4.18.5 4.18.6"},
	} {
		got, err := g.Select(c.sel)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if v := versions(got); v != c.want {
			t.Errorf("%s: selected %q, want %q", c.name, v, c.want)
		}
	}

	for _, c := range []struct {
		name string
		sel  Selection
		want string
	}{
		{"min not in channel", Selection{MinVersion: "4.18.7"}, "minVersion 4.18.7 is not in channel stable-4.18 (amd64) at " + gs.url() + " (nearest versions there: 4.18.4, 4.18.5, 4.18.6)"},
		{"max not in channel", Selection{MaxVersion: "4.17.9"}, "maxVersion 4.17.9 is not in channel stable-4.18 (amd64) at " + gs.url() + " (nearest versions there: 4.17.20, 4.18.0, 4.18.1)"},
		{"bad min", Selection{MinVersion: "4.18"}, `minVersion: version "4.18" is not MAJOR.MINOR.PATCH`},
		{"min above max", Selection{MinVersion: "4.18.5", MaxVersion: "4.18.2"}, "minVersion 4.18.5 is above maxVersion 4.18.2"},
		{"no path", Selection{MinVersion: "4.18.0", MaxVersion: "4.18.6", ShortestPath: true}, "no update path from 4.18.0 to 4.18.6 along the graph's edges"},
		{"no path backwards", Selection{MinVersion: "4.17.20", MaxVersion: "4.18.0", ShortestPath: true}, "no update path from 4.17.20 to 4.18.0"},
		{"other channel", Selection{Channel: "fast-4.18"}, "selection for channel fast-4.18 applied to the graph of channel stable-4.18"},
	} {
		_, err := g.Select(c.sel)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestSelectPreReleasesAndEmpty(t *testing.T) {
	t.Parallel()
	okd := &Graph{Channel: "4-stable", Nodes: []Node{
		{Version: "4.18.0-okd-scos.10", Payload: "quay.io/okd/scos-release@sha256:" + strings.Repeat("a", 64)},
		{Version: "4.18.0-okd-scos.9", Payload: "quay.io/okd/scos-release@sha256:" + strings.Repeat("b", 64)},
		{Version: "4.17.0-okd-scos.3", Payload: "quay.io/okd/scos-release@sha256:" + strings.Repeat("c", 64)},
	}}
	got, err := okd.Select(Selection{Type: OKD, MinVersion: "4.18.0-okd-scos.9"})
	if err != nil || versions(got) != "4.18.0-okd-scos.9 4.18.0-okd-scos.10" {
		t.Fatalf("okd: %q %v", versions(got), err)
	}
	if _, err := (&Graph{Channel: "stable-4.99"}).Select(Selection{}); err == nil || !strings.Contains(err.Error(), "channel stable-4.99 has no releases") {
		t.Fatalf("empty: %v", err)
	}
	bad := &Graph{Nodes: okd.Nodes, Edges: [][2]int{{0, 3}}}
	if _, err := bad.Select(Selection{}); err == nil || !strings.Contains(err.Error(), "edge 0 [0, 3]") {
		t.Fatalf("hand-built bad edge: %v", err)
	}
}

func TestUpdateURL(t *testing.T) {
	t.Setenv(UpdateURLEnv, "")
	if u := UpdateURL(OCP, ""); u != "https://api.openshift.com/api/upgrades_info/v1/graph" {
		t.Errorf("ocp default %s", u)
	}
	if u := UpdateURL(OKD, ""); u != "https://origin-release.ci.openshift.org/graph" {
		t.Errorf("okd default %s", u)
	}
	if u := UpdateURL(OKD, "https://osus.example/graph"); u != "https://osus.example/graph" {
		t.Errorf("given %s", u)
	}
	t.Setenv(UpdateURLEnv, "https://override.example/graph")
	if u := UpdateURL(OKD, "https://osus.example/graph"); u != "https://override.example/graph" {
		t.Errorf("override %s", u)
	}
}

func TestFetchGraphHonoursOverride(t *testing.T) {
	gs := newGraphServer(t)
	gs.set("stable-4.18", "arm64", graphJSONFor(t, fakePayloads("quay.io"), testOrder, testEdges))
	t.Setenv(UpdateURLEnv, gs.url())
	// The given URL points nowhere: the override must win.
	g, err := FetchGraph(context.Background(), nil, "http://127.0.0.1:1/graph", "stable-4.18", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if g.URL != gs.url() || len(gs.requests) != 1 {
		t.Fatalf("asked %s, %d requests", g.URL, len(gs.requests))
	}
	// An override that fails says where the URL came from.
	_, err = FetchGraph(context.Background(), nil, "", "stable-4.99", "arm64")
	if err == nil || !strings.Contains(err.Error(), "(from UPDATE_URL_OVERRIDE)") || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "invalid_channel") {
		t.Fatalf("unknown channel: %v", err)
	}
}

func TestFetchGraphUnreachable(t *testing.T) {
	t.Setenv(UpdateURLEnv, "")
	gs := newGraphServer(t)
	u := gs.url()
	gs.Close()
	_, err := FetchGraph(context.Background(), nil, u, "stable-4.18", "amd64")
	var ge *GraphError
	if !errors.As(err, &ge) || !ge.Unreachable {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{u, `channel "stable-4.18"`, "unreachable", "set UPDATE_URL_OVERRIDE to use another update service"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestFetchGraphMalformed(t *testing.T) {
	t.Setenv(UpdateURLEnv, "")
	gs := newGraphServer(t)
	d := "sha256:" + strings.Repeat("1", 64)
	for _, c := range []struct{ name, body, want string }{
		{"not json", `<html>maintenance</html>`, "not an update graph"},
		{"no nodes", `{"edges":[]}`, "not an update graph: no nodes"},
		{"bad version", `{"nodes":[{"version":"4.18","payload":"quay.io/a/b@` + d + `"}],"edges":[]}`, `node 0: version "4.18" is not MAJOR.MINOR.PATCH`},
		{"duplicate version", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b@` + d + `"},{"version":"4.18.1","payload":"quay.io/a/b@` + d + `"}],"edges":[]}`, "version 4.18.1 is listed twice (nodes 0 and 1)"},
		{"payload by tag", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b:4.18.1-x86_64"}],"edges":[]}`, "node 0 (4.18.1): payload: image \"quay.io/a/b:4.18.1-x86_64\" is not pinned by digest"},
		{"no payload", `{"nodes":[{"version":"4.18.1"}],"edges":[]}`, "node 0 (4.18.1) has no payload"},
		{"edge out of range", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b@` + d + `"}],"edges":[[0,1]]}`, "edge 0: 1 is not a node index (0 to 0)"},
		{"negative edge", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b@` + d + `"}],"edges":[[-1,0]]}`, "edge 0: -1 is not a node index"},
		{"edge not a pair", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b@` + d + `"}],"edges":[[0,0,0]]}`, "edge 0 has 3 elements"},
		{"fractional edge", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b@` + d + `"}],"edges":[[0.5,0]]}`, "edge 0: 0.5 is not a node index"},
		{"metadata not strings", `{"nodes":[{"version":"4.18.1","payload":"quay.io/a/b@` + d + `","metadata":{"a":1}}],"edges":[]}`, "not an update graph"},
	} {
		gs.set("stable-4.18", "amd64", []byte(c.body))
		_, err := FetchGraph(context.Background(), gs.Client(), gs.url(), "stable-4.18", "amd64")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), gs.url()) || !strings.Contains(err.Error(), `channel "stable-4.18"`) {
			t.Errorf("%s: error %v, want %q with the URL and channel", c.name, err, c.want)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	t.Parallel(
	// Ascending, per semver.org's precedence rules.
	)

	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "4.18.0-okd-scos.9", "4.18.0-okd-scos.10", "4.18.0"}
	for i := 0; i+1 < len(order); i++ {
		a, err := parseVersion(order[i])
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseVersion(order[i+1])
		if err != nil {
			t.Fatal(err)
		}
		if a.compare(b) >= 0 || b.compare(a) <= 0 {
			t.Errorf("%s !< %s", order[i], order[i+1])
		}
	}
	for _, bad := range []string{"", "4.18", "v4.18.1", "04.18.1", "4.18.1-", "4.18.1-01", "4.18.1+", "4.18.1-a..b", "4.18.x", "4.18.1 "} {
		if _, err := parseVersion(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	a, _ := parseVersion("4.18.1+build.1")
	b, _ := parseVersion("4.18.1")
	if a.compare(b) != 0 {
		t.Error("build metadata counted in precedence")
	}
}

func TestSelectionTypeAndURL(t *testing.T) {
	t.Setenv(UpdateURLEnv, "")
	if u := (Selection{Type: OKD}).UpdateURL(""); u != DefaultOKDUpdateURL {
		t.Errorf("okd selection URL %s", u)
	}
	g := &Graph{Nodes: []Node{{Version: "4.18.1", Payload: "quay.io/a/b@sha256:" + strings.Repeat("a", 64)}}}
	if _, err := g.Select(Selection{Channel: "stable-4.18", Type: "rhel"}); err == nil || !strings.Contains(err.Error(), `type "rhel"`) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestFetchGraphUnreachableOverride(t *testing.T) {
	gs := newGraphServer(t)
	u := gs.url()
	gs.Close()
	t.Setenv(UpdateURLEnv, u)
	_, err := FetchGraph(context.Background(), nil, "https://osus.example/graph", "stable-4.18", "amd64")
	if err == nil || !strings.Contains(err.Error(), u+" (from UPDATE_URL_OVERRIDE): update service unreachable") || !strings.Contains(err.Error(), "check or unset UPDATE_URL_OVERRIDE") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
}
