package bricks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/neuronscope/neuronscope/internal/linalg"
)

// PartitionOptions configures Cluster.
type PartitionOptions struct {
	// Bricks is the number of groups k (required, ≥ 1).
	Bricks int
	// Seed drives the k-means++ initialisations.
	Seed uint64
	// Restarts is the number of k-means++ initialisations; the partition with the lowest
	// inertia is kept (default 10).
	Restarts int
	// MaxIter caps the Lloyd iterations of one restart (default 300).
	MaxIter int
}

// Partition assigns a layer's neurons to bricks.
type Partition struct {
	Width  int `json:"width"`
	Bricks int `json:"bricks"`
	// Assign is the brick of each neuron, −1 for a neuron with a constant pattern.
	Assign []int `json:"assign"`
	// Sizes is the number of neurons in each brick.
	Sizes []int `json:"sizes"`
	// Constant counts the neurons left out (constant pattern).
	Constant int `json:"constant"`
	// Inertia is the k-means objective Σᵢ ‖uᵢ − c_{brick(i)}‖² over the normalised patterns.
	Inertia float64 `json:"inertia"`
	// Iterations are the Lloyd iterations of the kept restart; Restart is its index.
	Iterations int    `json:"iterations"`
	Restart    int    `json:"restart"`
	Seed       uint64 `json:"seed"`
}

// Members returns the neurons of brick b in increasing order.
func (p *Partition) Members(b int) []int {
	var m []int
	for i, a := range p.Assign {
		if a == b {
			m = append(m, i)
		}
	}
	return m
}

// Cluster partitions neurons into opts.Bricks bricks by k-means on their normalised
// activation patterns, computed exactly from the correlation matrix (kernel k-means; see the
// package documentation). corr is [width, width] row-major and constant marks the neurons to
// leave out (both from CoActivation.Correlation). The result depends only on the inputs and
// opts (Seed included).
func Cluster(corr []float64, constant []bool, opts PartitionOptions) (*Partition, error) {
	w := len(constant)
	if len(corr) != w*w {
		return nil, fmt.Errorf("bricks: correlation has %d values for %d neurons", len(corr), w)
	}
	if opts.Restarts == 0 {
		opts.Restarts = 10
	}
	if opts.MaxIter == 0 {
		opts.MaxIter = 300
	}
	var active []int
	for i, c := range constant {
		if !c {
			active = append(active, i)
		}
	}
	m := len(active)
	if opts.Bricks < 1 || opts.Bricks > m {
		return nil, fmt.Errorf("bricks: %d bricks for %d neurons with a varying pattern", opts.Bricks, m)
	}
	if opts.Restarts < 1 || opts.MaxIter < 1 {
		return nil, fmt.Errorf("bricks: restarts %d and max iterations %d must be positive", opts.Restarts, opts.MaxIter)
	}
	k := make([]float64, m*m) // the kernel over active neurons
	for a, i := range active {
		for b, j := range active {
			v := corr[i*w+j]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("bricks: correlation (%d, %d) is %v", i, j, v)
			}
			k[a*m+b] = v
		}
	}
	var best *kmeansRun
	for r := range opts.Restarts {
		run := kernelKMeans(k, m, opts.Bricks, opts.MaxIter, rand.New(rand.NewPCG(opts.Seed, uint64(r))))
		run.restart = r
		if best == nil || run.inertia < best.inertia {
			best = run
		}
	}
	p := &Partition{Width: w, Bricks: opts.Bricks, Assign: make([]int, w), Sizes: make([]int, opts.Bricks),
		Constant: w - m, Inertia: best.inertia, Iterations: best.iters, Restart: best.restart, Seed: opts.Seed}
	for i := range p.Assign {
		p.Assign[i] = -1
	}
	// Number bricks by their smallest neuron, so that equal partitions print equally.
	relabel := make([]int, opts.Bricks)
	for i := range relabel {
		relabel[i] = -1
	}
	next := 0
	for a, i := range active {
		g := best.assign[a]
		if relabel[g] < 0 {
			relabel[g] = next
			next++
		}
		p.Assign[i] = relabel[g]
		p.Sizes[relabel[g]]++
	}
	return p, nil
}

type kmeansRun struct {
	assign  []int
	inertia float64
	iters   int
	restart int
}

// kernelKMeans runs k-means++ seeding and Lloyd iterations in the feature space of the
// kernel K (m×m): the squared distance of point i to the centroid of cluster g is
//
//	K_ii − 2·S_ig/|g| + T_g/|g|²,  S_ig = Σ_{j∈g} K_ij,  T_g = Σ_{j∈g} S_jg.
func kernelKMeans(K []float64, m, nk, maxIter int, rng *rand.Rand) *kmeansRun {
	// Greedy k-means++ (Arthur & Vassilvitskii 2007, with scikit-learn's 2 + ⌊ln k⌋ local
	// trials): each new centre is the best, by total squared distance to the nearest centre,
	// of candidates drawn with probability ∝ that distance, ‖uᵢ − u_c‖² = K_ii + K_cc − 2K_ic.
	trials := 2 + int(math.Log(float64(nk)))
	dist2 := func(i, c int) float64 { return max(K[i*m+i]+K[c*m+c]-2*K[i*m+c], 0) }
	centres := []int{rng.IntN(m)}
	d2 := make([]float64, m)
	for i := range m {
		d2[i] = dist2(i, centres[0])
	}
	cand := make([]float64, m)
	for len(centres) < nk {
		var total float64
		for _, v := range d2 {
			total += v
		}
		bestC, bestPot := -1, math.Inf(1)
		for range trials {
			c := -1
			if total > 0 {
				u := rng.Float64() * total
				for i, v := range d2 {
					if u < v {
						c = i
						break
					}
					u -= v
				}
			}
			if c < 0 || slices.Contains(centres, c) { // degenerate draw: the farthest new point
				c = -1
				for i, v := range d2 {
					if !slices.Contains(centres, i) && (c < 0 || v > d2[c]) {
						c = i
					}
				}
			}
			var pot float64
			for i := range m {
				pot += min(d2[i], dist2(i, c))
			}
			if pot < bestPot {
				bestC, bestPot = c, pot
			}
		}
		centres = append(centres, bestC)
		for i := range m {
			cand[i] = min(d2[i], dist2(i, bestC))
		}
		d2, cand = cand, d2
	}
	assign := make([]int, m)
	for i := range m {
		best, bd := 0, math.Inf(1)
		for g, c := range centres {
			if d := K[i*m+i] + K[c*m+c] - 2*K[i*m+c]; d < bd {
				best, bd = g, d
			}
		}
		assign[i] = best
	}
	S := make([]float64, m*nk)
	T := make([]float64, nk)
	size := make([]float64, nk)
	dist := make([]float64, m)
	stats := func() {
		clear(size)
		for _, g := range assign {
			size[g]++
		}
		linalg.Parallel(m, 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row, s := K[i*m:(i+1)*m], S[i*nk:(i+1)*nk]
				clear(s)
				for j, v := range row {
					s[assign[j]] += v
				}
			}
		})
		clear(T)
		for j, g := range assign {
			T[g] += S[j*nk+g]
		}
	}
	d := func(i, g int) float64 {
		return K[i*m+i] - 2*S[i*nk+g]/size[g] + T[g]/(size[g]*size[g])
	}
	run := &kmeansRun{}
	for run.iters = 1; run.iters <= maxIter; run.iters++ {
		stats()
		changed := false
		for i := range m {
			best, bd := assign[i], d(i, assign[i])
			for g := range nk {
				if g != best && size[g] > 0 {
					if v := d(i, g); v < bd {
						best, bd = g, v
					}
				}
			}
			if best != assign[i] {
				assign[i], changed = best, true
			}
			dist[i] = bd
		}
		// An emptied cluster takes the point farthest from its centroid (deterministic).
		clear(size)
		for _, g := range assign {
			size[g]++
		}
		for g := range nk {
			if size[g] > 0 {
				continue
			}
			far := -1
			for i := range m {
				if size[assign[i]] > 1 && (far < 0 || dist[i] > dist[far]) {
					far = i
				}
			}
			size[assign[far]]--
			assign[far], size[g], dist[far], changed = g, 1, 0, true
		}
		if !changed {
			break
		}
	}
	run.iters = min(run.iters, maxIter)
	stats()
	for i := range m {
		run.inertia += max(d(i, assign[i]), 0)
	}
	run.assign = assign
	return run
}

// AdjustedRandIndex compares two partitions of the same items (labels < 0 are left out of
// both): 1 for identical partitions up to relabelling, about 0 for independent ones (Hubert &
// Arabie's adjusted Rand index). It panics if the lengths differ.
func AdjustedRandIndex(a, b []int) float64 {
	if len(a) != len(b) {
		panic("bricks: AdjustedRandIndex of partitions of different lengths")
	}
	type pair struct{ x, y int }
	joint := map[pair]float64{}
	ra, rb := map[int]float64{}, map[int]float64{}
	var n float64
	for i := range a {
		if a[i] < 0 || b[i] < 0 {
			continue
		}
		joint[pair{a[i], b[i]}]++
		ra[a[i]]++
		rb[b[i]]++
		n++
	}
	c2 := func(x float64) float64 { return x * (x - 1) / 2 }
	var sj, sa, sb float64
	for _, v := range joint {
		sj += c2(v)
	}
	for _, v := range ra {
		sa += c2(v)
	}
	for _, v := range rb {
		sb += c2(v)
	}
	expected := sa * sb / c2(n)
	maxIdx := (sa + sb) / 2
	if maxIdx == expected {
		return 1
	}
	return (sj - expected) / (maxIdx - expected)
}
