package selection

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/linear"
)

// DefaultTopK is the number of units a profile keeps when Sparsify is given k ≤ 0.
const DefaultTopK = 64

// ActivityOptions configure Activity.
type ActivityOptions struct {
	// Points are the taps read (nil: every layer's blocks.L.mlp.hook_post).
	Points []hooks.Point
	// Codes, when set for a point, reads its units (SAE latents, SNMF coefficients) instead
	// of its neurons (see linear.Codes).
	Codes map[hooks.Point]linear.Codes
	// BOS is the id whose leading occurrences are left out (< 0: none).
	BOS int
	// MeanPool averages |a| over the tokens instead of taking its maximum.
	MeanPool bool
	// Batch is the number of examples per forward pass (0: corpus.DefaultPromptBatch).
	Batch int
}

// Activity runs every example (a token sequence) through m and returns its activity: per
// unit of every point (in point order, then unit order), the maximum (with MeanPool, the
// mean) over the example's tokens after its leading BOS of the unit's magnitude |a|
// ([len(seqs), units] row-major), and the number of units. No examples, an example of only
// BOS tokens, or a point the model lacks is an error.
func Activity(m *model.Model, seqs [][]int, opt ActivityOptions) ([]float32, int, error) {
	if len(seqs) == 0 {
		return nil, 0, fmt.Errorf("selection: no examples")
	}
	points := opt.Points
	if points == nil {
		for l := range m.Config.NLayers {
			points = append(points, hooks.At(l, hooks.MLPPost))
		}
	}
	pool := linear.Max
	if opt.MeanPool {
		pool = linear.Mean
	}
	per, err := linear.Collect(m, seqs, points, linear.CollectOptions{Pool: pool, BOS: opt.BOS, Batch: opt.Batch,
		Codes: opt.Codes, Magnitude: true})
	if err != nil {
		return nil, 0, err
	}
	units := 0
	for _, x := range per {
		units += len(x) / len(seqs)
	}
	out := make([]float32, 0, len(seqs)*units)
	for i := range seqs {
		for _, x := range per {
			w := len(x) / len(seqs)
			out = append(out, x[i*w:(i+1)*w]...)
		}
	}
	return out, units, nil
}

// UnitMeans returns the column means of activity ([n, units]): the normalisation scale of a
// candidate pool (a unit's typical activity).
func UnitMeans(activity []float32, n, units int) []float64 {
	mean := make([]float64, units)
	for i := range n {
		for u, v := range activity[i*units : (i+1)*units] {
			mean[u] += float64(v)
		}
	}
	for u := range mean {
		mean[u] /= float64(n)
	}
	return mean
}

// Profile is an example's sparse activation profile: the k units of largest normalised
// activity, in increasing unit order, with their normalised activities (all > 0).
type Profile struct {
	Units  []int32   `json:"units"`
	Values []float32 `json:"values"`
}

// Sparsify turns activity rows ([n, units]) into profiles: each unit's activity divided by
// scale[u] (nil: no scaling; a unit with scale 0 counts 0), then the k largest kept (k ≤ 0:
// DefaultTopK; ties to the lower unit), zeros dropped.
func Sparsify(activity []float32, n, units int, scale []float64, k int) []Profile {
	if k <= 0 {
		k = DefaultTopK
	}
	k = min(k, units)
	out := make([]Profile, n)
	idx := make([]int32, units)
	vals := make([]float64, units)
	for i := range n {
		for u, v := range activity[i*units : (i+1)*units] {
			x := float64(v)
			if scale != nil {
				x = 0
				if scale[u] > 0 {
					x = float64(v) / scale[u]
				}
			}
			vals[u] = x
			idx[u] = int32(u)
		}
		slices.SortStableFunc(idx, func(a, b int32) int { return cmp.Compare(vals[b], vals[a]) })
		top := slices.Clone(idx[:k])
		slices.Sort(top)
		p := Profile{}
		for _, u := range top {
			if vals[u] > 0 {
				p.Units = append(p.Units, u)
				p.Values = append(p.Values, float32(vals[u]))
			}
		}
		out[i] = p
	}
	return out
}

// Prototype is the element-wise mean of the profiles as a dense [units] vector: the target
// set's center.
func Prototype(ps []Profile, units int) []float64 {
	proto := make([]float64, units)
	for _, p := range ps {
		for k, u := range p.Units {
			proto[u] += float64(p.Values[k])
		}
	}
	for u := range proto {
		proto[u] /= float64(max(len(ps), 1))
	}
	return proto
}

// Similarity is the generalized (weighted) Jaccard similarity of a profile r and a dense
// non-negative prototype p: Σ_u min(r_u, p_u) / Σ_u max(r_u, p_u), in [0, 1] (0 when both
// are zero).
func Similarity(r Profile, proto []float64) float64 {
	var sumP float64
	for _, v := range proto {
		sumP += v
	}
	var num, den float64
	den = sumP
	for k, u := range r.Units {
		rv, pv := float64(r.Values[k]), proto[u]
		num += math.Min(rv, pv)
		den += math.Max(rv, pv) - pv
	}
	if den <= 0 {
		return 0
	}
	return num / den
}

// Select scores every candidate by Similarity to proto and returns the indices of the n most
// similar (highest score first; ties to the lower index) and every candidate's score. It
// returns an error when n is not in 1..len(cands).
func Select(cands []Profile, proto []float64, n int) ([]int, []float64, error) {
	if n < 1 || n > len(cands) {
		return nil, nil, fmt.Errorf("selection: %d of %d candidates", n, len(cands))
	}
	scores := make([]float64, len(cands))
	order := make([]int, len(cands))
	for i, c := range cands {
		scores[i] = Similarity(c, proto)
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	return order[:n], scores, nil
}

// Comparison is the effect of a selection against random selections (see Compare).
type Comparison struct {
	// MeanSelected and MeanRandom are the arms' means; SDSelected and SDRandom their sample
	// standard deviations (0 for a single value).
	MeanSelected, MeanRandom float64
	SDSelected, SDRandom     float64
	// Diff is MeanSelected − MeanRandom.
	Diff float64
	// CohenD is Diff over the pooled sample standard deviation (±Inf when that is 0 and Diff
	// is not; 0 when both are).
	CohenD float64
	// P is the exact one-sided permutation p-value of Diff: the share of the C(n₁+n₂, n₁)
	// ways to split the pooled values into arms of the same sizes whose difference of means
	// is ≥ Diff (the observed split included).
	P float64
	// Splits is C(n₁+n₂, n₁), the number of splits P counts over.
	Splits int
}

// maxSplits bounds the relabellings Compare enumerates.
const maxSplits = 1 << 20

// Compare compares per-seed outcomes of a selection (sel) with those of random selections
// (rnd): difference of means, Cohen's d and the exact one-sided permutation p-value (see
// Comparison). It returns an error when an arm is empty or the arms are too large to
// enumerate (more than 2²⁰ splits).
func Compare(sel, rnd []float64) (Comparison, error) {
	n1, n2 := len(sel), len(rnd)
	if n1 == 0 || n2 == 0 {
		return Comparison{}, fmt.Errorf("selection: compare %d selected with %d random outcomes", n1, n2)
	}
	splits := 1
	for i := 1; i <= n2; i++ { // C(n1+n2, n2), exact at every step
		splits = splits * (n1 + i) / i
		if splits > maxSplits {
			return Comparison{}, fmt.Errorf("selection: %d+%d outcomes are too many to permute exactly", n1, n2)
		}
	}
	var c Comparison
	c.MeanSelected, c.SDSelected = meanSD(sel)
	c.MeanRandom, c.SDRandom = meanSD(rnd)
	c.Diff = c.MeanSelected - c.MeanRandom
	if dof := n1 + n2 - 2; dof > 0 {
		pooled := math.Sqrt((float64(n1-1)*c.SDSelected*c.SDSelected + float64(n2-1)*c.SDRandom*c.SDRandom) / float64(dof))
		switch {
		case pooled > 0:
			c.CohenD = c.Diff / pooled
		case c.Diff != 0:
			c.CohenD = math.Copysign(math.Inf(1), c.Diff)
		}
	}
	all := append(slices.Clone(sel), rnd...)
	var total float64
	for _, v := range all {
		total += v
	}
	// Enumerate the subsets of size n1 as the "selected" arm; a tolerance keeps ties (equal
	// splits computed in another order) counted.
	tol := 1e-12 * (1 + math.Abs(c.Diff))
	idx := make([]int, n1)
	for i := range idx {
		idx[i] = i
	}
	hits := 0
	for {
		var s float64
		for _, i := range idx {
			s += all[i]
		}
		if s/float64(n1)-(total-s)/float64(n2) >= c.Diff-tol {
			hits++
		}
		// next combination in lexicographic order
		i := n1 - 1
		for i >= 0 && idx[i] == len(all)-n1+i {
			i--
		}
		if i < 0 {
			break
		}
		idx[i]++
		for j := i + 1; j < n1; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
	c.Splits = splits
	c.P = float64(hits) / float64(splits)
	return c, nil
}

// meanSD is the mean and the sample standard deviation (0 for fewer than two values).
func meanSD(x []float64) (float64, float64) {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	if len(x) < 2 {
		return m, 0
	}
	var v float64
	for _, y := range x {
		v += (y - m) * (y - m)
	}
	return m, math.Sqrt(v / float64(len(x)-1))
}
