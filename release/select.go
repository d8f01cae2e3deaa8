package release

import (
	"fmt"
	"slices"
	"strings"
)

// Selection is one channel entry of a mirror configuration, as oc-mirror
// v2's platform.channels[] (see the package comment for its semantics).
type Selection struct {
	// Channel is the update channel, e.g. "stable-4.18".
	Channel string
	// Type is OCP (default) or OKD.
	Type Type
	// MinVersion and MaxVersion bound the versions selected; "" for none.
	MinVersion, MaxVersion string
	// Full: without MinVersion, start from the channel's first release
	// instead of taking its latest only.
	Full bool
	// ShortestPath: select only the releases on a shortest update path
	// from the lower bound to the upper one.
	ShortestPath bool
}

// UpdateURL is the update service for s: UpdateURL(s.Type, given).
func (s Selection) UpdateURL(given string) string { return UpdateURL(s.Type, given) }

func (s Selection) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "channel %s", s.Channel)
	if s.MinVersion != "" {
		fmt.Fprintf(&b, " from %s", s.MinVersion)
	}
	if s.MaxVersion != "" {
		fmt.Fprintf(&b, " to %s", s.MaxVersion)
	}
	if s.Full {
		b.WriteString(" full")
	}
	if s.ShortestPath {
		b.WriteString(" shortest path")
	}
	return b.String()
}

// where names the graph in errors.
func (g *Graph) where(s Selection) string {
	ch := g.Channel
	if ch == "" {
		ch = s.Channel
	}
	w := fmt.Sprintf("channel %s", ch)
	if g.Arch != "" {
		w += " (" + g.Arch + ")"
	}
	if g.URL != "" {
		w += " at " + g.URL
	}
	return w
}

// versions parses the nodes' versions and checks that each is listed
// once and that edges join nodes.
func (g *Graph) versions() ([]version, error) {
	vs := make([]version, len(g.Nodes))
	seen := map[string]int{}
	for i, n := range g.Nodes {
		v, err := parseVersion(n.Version)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		key := fmt.Sprint(v.major, v.minor, v.patch, v.pre)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("version %s is listed twice (nodes %d and %d)", n.Version, j, i)
		}
		seen[key] = i
		vs[i] = v
	}
	for i, e := range g.Edges {
		if e[0] < 0 || e[0] >= len(g.Nodes) || e[1] < 0 || e[1] >= len(g.Nodes) {
			return nil, fmt.Errorf("edge %d [%d, %d] does not join two of the %d nodes", i, e[0], e[1], len(g.Nodes))
		}
	}
	return vs, nil
}

// sortedBy returns the indexes of vs ordered by version.
func sortedBy(vs []version) []int {
	idx := make([]int, len(vs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return vs[a].compare(vs[b]) })
	return idx
}

// find returns the index of the node with version s, or an error listing
// the versions nearest to it.
func (g *Graph) find(vs []version, s, what string, sel Selection, order []int) (int, error) {
	v, err := parseVersion(s)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	pos, _ := slices.BinarySearchFunc(order, v, func(i int, t version) int { return vs[i].compare(t) })
	if pos < len(order) && vs[order[pos]].compare(v) == 0 {
		return order[pos], nil
	}
	lo, hi := max(pos-3, 0), min(pos+3, len(order))
	var near []string
	for _, i := range order[lo:hi] {
		near = append(near, g.Nodes[i].Version)
	}
	return -1, fmt.Errorf("%s %s is not in %s (nearest versions there: %s)", what, s, g.where(sel), strings.Join(near, ", "))
}

// Select picks the releases of the graph that s asks for, in ascending
// version order (path order for ShortestPath, which ascends too).
func (g *Graph) Select(s Selection) ([]Node, error) {
	if g.Channel != "" && s.Channel != "" && g.Channel != s.Channel {
		return nil, fmt.Errorf("selection for channel %s applied to the graph of channel %s", s.Channel, g.Channel)
	}
	if s.Type != "" && s.Type != OCP && s.Type != OKD {
		return nil, fmt.Errorf("channel %s: type %q is neither %q nor %q", s.Channel, s.Type, OCP, OKD)
	}
	if len(g.Nodes) == 0 {
		return nil, fmt.Errorf("%s has no releases", g.where(s))
	}
	// Checked again: a Graph may be built by hand rather than parsed.
	vs, err := g.versions()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.where(s), err)
	}
	order := sortedBy(vs)
	first, latest := order[0], order[len(order)-1]
	lo, hi := first, latest
	if s.MaxVersion != "" {
		if hi, err = g.find(vs, s.MaxVersion, "maxVersion", s, order); err != nil {
			return nil, err
		}
	}
	switch {
	case s.MinVersion != "":
		if lo, err = g.find(vs, s.MinVersion, "minVersion", s, order); err != nil {
			return nil, err
		}
	case s.MaxVersion == "" && !s.Full:
		lo = latest // heads only: the channel's latest release
	}
	if vs[lo].compare(vs[hi]) > 0 {
		return nil, fmt.Errorf("%s: minVersion %s is above maxVersion %s", g.where(s), g.Nodes[lo].Version, g.Nodes[hi].Version)
	}
	if s.ShortestPath {
		path, err := g.shortestPath(vs, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.where(s), err)
		}
		out := make([]Node, len(path))
		for i, n := range path {
			out[i] = g.Nodes[n]
		}
		return out, nil
	}
	var out []Node
	for _, i := range order {
		if vs[i].compare(vs[lo]) >= 0 && vs[i].compare(vs[hi]) <= 0 {
			out = append(out, g.Nodes[i])
		}
	}
	return out, nil
}

// shortestPath returns the nodes of a shortest update path from → to
// (both included). Among paths of the same length it takes, step by step
// from the start, the highest next version.
func (g *Graph) shortestPath(vs []version, from, to int) ([]int, error) {
	if from == to {
		return []int{from}, nil
	}
	// Distances to `to`, by a breadth-first search over reversed edges.
	into := make([][]int, len(g.Nodes))
	out := make([][]int, len(g.Nodes))
	for _, e := range g.Edges {
		out[e[0]] = append(out[e[0]], e[1])
		into[e[1]] = append(into[e[1]], e[0])
	}
	dist := make([]int, len(g.Nodes))
	for i := range dist {
		dist[i] = -1
	}
	dist[to] = 0
	queue := []int{to}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, p := range into[n] {
			if dist[p] < 0 {
				dist[p] = dist[n] + 1
				queue = append(queue, p)
			}
		}
	}
	if dist[from] < 0 {
		return nil, fmt.Errorf("no update path from %s to %s along the graph's edges", g.Nodes[from].Version, g.Nodes[to].Version)
	}
	path := []int{from}
	for n := from; n != to; {
		next := -1
		for _, m := range out[n] {
			if dist[m] == dist[n]-1 && (next < 0 || vs[m].compare(vs[next]) > 0) {
				next = m
			}
		}
		n = next
		path = append(path, n)
	}
	return path, nil
}
