package expertise

import (
	"cmp"
	"fmt"
	"slices"
)

// Ranked is one neuron in a ranking: its flat index in the response matrix and its AP.
type Ranked struct {
	Neuron int     `json:"neuron"`
	AP     float64 `json:"ap"`
}

// RankOptions configures Rank.
type RankOptions struct {
	// BothEnds keeps the ⌊k/2⌋ highest and the ⌊k/2⌋ lowest AP (Kojima et al.'s
	// make_limited_expert.py: head(int(k/2)) of the descending and of the ascending sort),
	// instead of the k highest (the relation-neuron paper). An odd k thus keeps k−1 neurons.
	BothEnds bool
	// Float32 ranks by the AP rounded to float32, as selfcond stores it in expertise.csv
	// before the published scripts sort that column; more neurons then tie.
	Float32 bool
}

// Rank returns the k neurons with the highest AP, best first, or with BothEnds the ⌊k/2⌋
// highest (best first) followed by the ⌊k/2⌋ lowest (worst first). Ties are broken by the lower
// neuron index. (The published scripts sort with pandas' default quicksort, which is not
// stable, so their order among equal APs is an accident of the sort and is not reproduced.)
// k larger than the number of neurons, or k < 1 (k < 2 with BothEnds), is an error; since
// 2·⌊k/2⌋ ≤ k the two ends never overlap.
func Rank(aps []float64, k int, opt RankOptions) ([]Ranked, error) {
	n := len(aps)
	if k < 1 || k > n {
		return nil, fmt.Errorf("top %d of %d neurons: need 1 ≤ k ≤ %d", k, n, n)
	}
	key := func(i int) float64 {
		if opt.Float32 {
			return float64(float32(aps[i]))
		}
		return aps[i]
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	desc := func(a, b int) int {
		if c := cmp.Compare(key(b), key(a)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	out := func(ids []int) []Ranked {
		r := make([]Ranked, len(ids))
		for j, i := range ids {
			r[j] = Ranked{Neuron: i, AP: aps[i]}
		}
		return r
	}
	if !opt.BothEnds {
		slices.SortFunc(idx, desc)
		return out(idx[:k]), nil
	}
	h := k / 2
	if h < 1 {
		return nil, fmt.Errorf("top and bottom %d/2 = %d neurons: k must be ≥ 2", k, h)
	}
	top := slices.Clone(idx)
	slices.SortFunc(top, desc)
	bottom := idx
	slices.SortFunc(bottom, func(a, b int) int {
		if c := cmp.Compare(key(a), key(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return append(out(top[:h]), out(bottom[:h])...), nil
}

// Block is one tap point's neurons in a response matrix: Layers × Width columns.
type Block struct {
	Tap    string `json:"tap"` // e.g. "mlp.hook_pre"
	Layers int    `json:"layers"`
	Width  int    `json:"width"`
}

// Unit is a neuron named by tap point, layer and index.
type Unit struct {
	Tap   string `json:"tap"`
	Layer int    `json:"layer"`
	Index int    `json:"index"`
}

// Layout describes the columns of a response matrix as consecutive blocks, each ordered by
// layer then index: column = offset(block) + layer·Width + index. For Llama-2-7B's FFN units
// (mlp.hook_pre, mlp.hook_pre_linear: 32 × 11008 each; hook_mlp_out: 32 × 4096) that is
// 835,584 columns.
type Layout []Block

// Neurons is the number of columns.
func (l Layout) Neurons() int {
	n := 0
	for _, b := range l {
		n += b.Layers * b.Width
	}
	return n
}

// Unit names column j. It panics if j is out of range.
func (l Layout) Unit(j int) Unit {
	if j >= 0 {
		for _, b := range l {
			if n := b.Layers * b.Width; j < n {
				return Unit{Tap: b.Tap, Layer: j / b.Width, Index: j % b.Width}
			} else {
				j -= n
			}
		}
	}
	panic(fmt.Sprintf("expertise: column %d out of range", j))
}
