package release

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestSelectAndLoad runs the whole way: release payloads and untagged
// components in a real registry, an update service whose graph points at
// them, a selection, the payloads read, and the images to carry.
func TestSelectAndLoad(t *testing.T) {
	if os.Getenv(UpdateURLEnv) == "" {
		t.Parallel() // the update service is passed to FetchGraph
	} else {
		t.Setenv(UpdateURLEnv, "") // it would win over the one passed
	}
	e := newEnv(t)
	ctx := context.Background()
	order := []string{"4.18.1", "4.18.2", "4.18.3"}
	payloads := map[string]string{}
	multi := map[string]string{}
	prev := []string(nil)
	for _, v := range order {
		tag := v + "-x86_64"
		d, _ := e.push.PushRelease(t, e.ns+releaseRepo, e.ns+componentRepo, "linux/amd64", v, prev, someComponents, tag)
		payloads[v] = e.host + "/" + releaseRepo + "@" + d.Digest.String()
		idx, _ := e.push.PushMultiRelease(t, e.ns+releaseRepo, e.ns+componentRepo, v, prev, []string{"linux/amd64", "linux/arm64"}, someComponents[:2], v+"-multi")
		multi[v] = e.host + "/" + releaseRepo + "@" + idx.Digest.String()
		prev = append(prev, v)
	}
	edges := [][2]string{{"4.18.1", "4.18.2"}, {"4.18.1", "4.18.3"}, {"4.18.2", "4.18.3"}}
	gs := newGraphServer(t)
	gs.set("stable-4.18", "amd64", graphJSONFor(t, payloads, order, edges))
	gs.set("stable-4.18", "multi", graphJSONFor(t, multi, order, edges))

	sel := Selection{Channel: "stable-4.18", MinVersion: "4.18.1", ShortestPath: true}
	g, err := FetchGraph(ctx, nil, gs.url(), sel.Channel, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := g.Select(sel)
	if err != nil || versions(nodes) != "4.18.1 4.18.3" {
		t.Fatalf("selected %q, %v", versions(nodes), err)
	}
	rs, err := Load(ctx, e.open, sel.Channel, nodes, []string{"amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Version != "4.18.1" || rs[1].Version != "4.18.3" || rs[1].Channel != "stable-4.18" {
		t.Fatalf("loaded %+v", rs)
	}
	ims := rs[1].Images()
	if ims[0].Ref != payloads["4.18.3"] || ims[0].Origin() != "release 4.18.3 (amd64, channel stable-4.18): payload" {
		t.Fatalf("payload %+v %q", ims[0], ims[0].Origin())
	}
	last := ims[len(ims)-1]
	if last.Origin() != "release 4.18.3 (amd64, channel stable-4.18): component cluster-version-operator" || !strings.HasPrefix(last.Ref, e.host+"/"+componentRepo+"@sha256:") {
		t.Fatalf("component %+v %q", last, last.Origin())
	}
	// Every component can be fetched from the registry by its digest.
	comp := e.repo(t, componentRepo)
	for _, im := range ims[1:] {
		if d, err := comp.Resolve(ctx, im.Digest.String()); err != nil || d.Digest != im.Digest {
			t.Fatalf("component %s: %v", im.Ref, err)
		}
	}

	// The multi-architecture channel: each payload is an index.
	gm, err := FetchGraph(ctx, nil, gs.url(), sel.Channel, "multi")
	if err != nil {
		t.Fatal(err)
	}
	nodes, err = gm.Select(Selection{Channel: "stable-4.18"})
	if err != nil || versions(nodes) != "4.18.3" {
		t.Fatalf("multi selected %q, %v", versions(nodes), err)
	}
	rs, err = Load(ctx, e.open, "stable-4.18", nodes, []string{Multi})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Architecture != "amd64" || rs[1].Architecture != "arm64" || rs[0].Index == nil {
		t.Fatalf("multi loaded %+v", rs)
	}
	if ims := rs[1].Images(); ims[0].Ref != multi["4.18.3"] || !ims[0].Index || len(ims) != 2+2 {
		t.Fatalf("multi images %+v", ims)
	}

	// A graph that lies about a payload's version is caught.
	liar := graphJSONFor(t, map[string]string{"4.18.9": payloads["4.18.1"]}, []string{"4.18.9"}, nil)
	gs.set("fast-4.18", "amd64", liar)
	gl, err := FetchGraph(ctx, nil, gs.url(), "fast-4.18", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	nodes, _ = gl.Select(Selection{})
	_, err = Load(ctx, e.open, "fast-4.18", nodes, nil)
	if err == nil || !strings.Contains(err.Error(), "lists "+payloads["4.18.1"]+" as version 4.18.9, but its release-metadata says 4.18.1") {
		t.Fatalf("liar: %v", err)
	}
}
