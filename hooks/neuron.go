package hooks

import (
	"fmt"
	"math"
	"sort"
	"strconv"
)

// Neuron is one unit of a per-layer hook point: entry Index of the activation at Point, at
// every position (for a point with several inner dimensions, such as attn.hook_z
// [n_heads, d_head], of the flattened inner shape). The tap point is part of the neuron:
// mlp.hook_post index 7 and mlp.hook_pre index 7 are different neurons, and zeroing the gate
// pre-activation of a gated MLP is a different experiment from zeroing its hook_post.
//
// Its JSON form is {"layer":L,"index":i}; the site is the enclosing set's or report's tap.
// Neurons are comparable and serve as map keys.
type Neuron struct {
	Point
	Index int `json:"index"`
}

// NeuronAt returns entry index of blocks.layer.<site>.
func NeuronAt(layer int, site Site, index int) Neuron {
	return Neuron{Point: At(layer, site), Index: index}
}

// String is the hook name with the index, e.g. "blocks.3.mlp.hook_post[17]".
func (n Neuron) String() string { return n.Point.String() + "[" + strconv.Itoa(n.Index) + "]" }

// Less orders neurons by point (layer, then site), then index.
func (n Neuron) Less(o Neuron) bool {
	if n.Point != o.Point {
		return n.Point.Less(o.Point)
	}
	return n.Index < o.Index
}

// ScoredNeuron is a neuron with the score a finder gave it. JSON: {"layer","index","score"}.
type ScoredNeuron struct {
	Neuron
	Score float64 `json:"score"`
}

// SortNeurons orders ns by layer, site and index.
func SortNeurons(ns []Neuron) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].Less(ns[j]) })
}

// Rank orders ns by descending score; equal scores keep layer, site, index order. NaN scores
// go last.
func Rank(ns []ScoredNeuron) {
	sort.SliceStable(ns, func(i, j int) bool { return scoreBefore(ns[i], ns[j], false) })
}

// RankAscending orders ns by ascending score (most negative first); equal scores keep layer,
// site, index order. NaN scores go last.
func RankAscending(ns []ScoredNeuron) {
	sort.SliceStable(ns, func(i, j int) bool { return scoreBefore(ns[i], ns[j], true) })
}

func scoreBefore(a, b ScoredNeuron, ascending bool) bool {
	an, bn := math.IsNaN(a.Score), math.IsNaN(b.Score)
	switch {
	case an || bn:
		if an != bn {
			return bn
		}
	case a.Score != b.Score:
		return (a.Score < b.Score) == ascending
	}
	return a.Neuron.Less(b.Neuron)
}

// Top returns the k highest-scoring neurons of ns, highest first (see Rank), as a new slice;
// k larger than len(ns) returns them all. ns is not changed.
func Top(ns []ScoredNeuron, k int) []ScoredNeuron {
	out := append([]ScoredNeuron(nil), ns...)
	Rank(out)
	return out[:max(0, min(k, len(out)))]
}

// Bottom returns the k lowest-scoring neurons of ns, lowest first (see RankAscending).
func Bottom(ns []ScoredNeuron, k int) []ScoredNeuron {
	out := append([]ScoredNeuron(nil), ns...)
	RankAscending(out)
	return out[:max(0, min(k, len(out)))]
}

// TopAbs returns the k neurons with the largest |score|, largest first (ties in layer, site,
// index order, NaN last); the scores keep their signs.
func TopAbs(ns []ScoredNeuron, k int) []ScoredNeuron {
	out := append([]ScoredNeuron(nil), ns...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		a.Score, b.Score = math.Abs(a.Score), math.Abs(b.Score)
		return scoreBefore(a, b, false)
	})
	return out[:max(0, min(k, len(out)))]
}

// Scored lists every unit of point p with its score scores[i], in index order: the input of
// Rank, Top and Bottom for a layer's dense scores.
func Scored[F float32 | float64](p Point, scores []F) []ScoredNeuron {
	out := make([]ScoredNeuron, len(scores))
	for i, s := range scores {
		out[i] = ScoredNeuron{Neuron: Neuron{Point: p, Index: i}, Score: float64(s)}
	}
	return out
}

// Plain drops the scores.
func Plain(ns []ScoredNeuron) []Neuron {
	out := make([]Neuron, len(ns))
	for i, n := range ns {
		out[i] = n.Neuron
	}
	return out
}

// ByPoint groups neurons by hook point: the points in order (see Point.Less) and each point's
// indices, sorted.
func ByPoint(ns []Neuron) ([]Point, map[Point][]int) {
	idx := map[Point][]int{}
	for _, n := range ns {
		idx[n.Point] = append(idx[n.Point], n.Index)
	}
	points := make([]Point, 0, len(idx))
	for p, is := range idx {
		points = append(points, p)
		sort.Ints(is)
	}
	sort.Slice(points, func(i, j int) bool { return points[i].Less(points[j]) })
	return points, idx
}

// Layers returns the catalog's number of layers: one more than the largest layer of any
// per-layer point.
func (c Catalog) Layers() int {
	n := 0
	for _, p := range c.Points {
		if p.Site.PerLayer() {
			n = max(n, p.Layer+1)
		}
	}
	return n
}

// CheckNeurons checks neurons against a model's catalog: every neuron's point is per layer
// and exists in the model, its index is in [0, Width), and none repeats. An empty list is an
// error. Errors name the entry by its position and JSON form.
func (c Catalog) CheckNeurons(ns []Neuron) error {
	if len(ns) == 0 {
		return fmt.Errorf("the neuron set is empty")
	}
	L := c.Layers()
	seen := make(map[Neuron]int, len(ns))
	for i, n := range ns {
		entry := fmt.Sprintf(`entry %d {"layer":%d,"index":%d} (%s)`, i, n.Layer, n.Index, n.Site)
		switch {
		case !n.Site.PerLayer():
			return fmt.Errorf("%s: %s is not a per-layer hook site", entry, n.Site)
		case n.Layer < 0 || n.Layer >= L:
			return fmt.Errorf("%s: layer %d out of range [0, %d)", entry, n.Layer, L)
		case !c.Has(n.Point):
			return fmt.Errorf("%s: this model has no %s", entry, n.Point)
		}
		if w := c.Width(n.Point); n.Index < 0 || n.Index >= w {
			return fmt.Errorf("%s: index %d out of range [0, %d) of %s", entry, n.Index, w, n.Point)
		}
		if j, dup := seen[n]; dup {
			return fmt.Errorf("%s repeats entry %d", entry, j)
		}
		seen[n] = i
	}
	return nil
}
