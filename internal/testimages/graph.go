package testimages

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// GraphServer is an update service (Cincinnati) on 127.0.0.1 serving one
// graph per channel and architecture at /api/upgrades_info/v1/graph.
type GraphServer struct {
	*httptest.Server
	mu     sync.Mutex
	graphs map[string][]byte
}

// NewGraphServer starts an update service with no channels.
func NewGraphServer(t testing.TB) *GraphServer {
	g := &GraphServer{graphs: map[string][]byte{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		g.mu.Lock()
		body, ok := g.graphs[q.Get("channel")+"/"+q.Get("arch")]
		g.mu.Unlock()
		if r.URL.Path != "/api/upgrades_info/v1/graph" {
			http.NotFound(w, r)
			return
		}
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"kind":"Error","reason":"invalid_channel","value":"no channel %s"}`, q.Get("channel"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(g.Close)
	return g
}

// URL is the graph endpoint, as UPDATE_URL_OVERRIDE takes it.
func (g *GraphServer) URL() string { return g.Server.URL + "/api/upgrades_info/v1/graph" }

// Set serves a graph for channel and arch: versions in order with their
// payloads (REGISTRY/REPO@DIGEST), and edges between versions.
func (g *GraphServer) Set(channel, arch string, versions []string, payloads map[string]string, edges [][2]string) {
	type node struct {
		Version  string            `json:"version"`
		Payload  string            `json:"payload"`
		Metadata map[string]string `json:"metadata"`
	}
	var doc struct {
		Nodes []node   `json:"nodes"`
		Edges [][2]int `json:"edges"`
	}
	at := map[string]int{}
	for i, v := range versions {
		at[v] = i
		doc.Nodes = append(doc.Nodes, node{Version: v, Payload: payloads[v], Metadata: map[string]string{"io.openshift.upgrades.graph.release.channels": channel}})
	}
	for _, e := range edges {
		doc.Edges = append(doc.Edges, [2]int{at[e[0]], at[e[1]]})
	}
	b, _ := json.Marshal(doc)
	g.mu.Lock()
	g.graphs[channel+"/"+arch] = b
	g.mu.Unlock()
}
