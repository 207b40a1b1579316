package decompose

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
)

// HierarchyOptions configure Hierarchy, the published hierarchical ("recursive") SNMF.
type HierarchyOptions struct {
	// Ranks are the ranks of the levels, r_1 > r_2 > … (the tutorial uses 400, 200, 100, 50).
	// Level l+1 factorises level l's features, so r_{l+1} ≤ min(d_mlp, r_l).
	Ranks []int
	// Level holds every level's SNMF settings (its Rank is ignored; G0 must be nil). The published library
	// defaults for a level are MaxIter 500, Tol 1e-4, Patience 100; the tutorial passes
	// MaxIter 3000 and Tol 1e-6.
	Level Options
	// FineTuneIters is the number of joint Adam steps after the greedy levels (published
	// default 500; the tutorial uses 2500); 0 skips the fine-tune.
	FineTuneIters int
	// LearningRate is Adam's step size (published 1e-3).
	LearningRate float64
	// Progress, if set, is called after every SNMF iteration of level (0-based) and, with
	// level = len(Ranks), after every fine-tune step (Loss is then the MSE).
	Progress func(level int, p Progress)
}

// DefaultHierarchyOptions returns the published library defaults for the given ranks: each
// level MaxIter 500, Tol 1e-4, Patience 100 (NMFSemiNMF.fit's defaults, which
// train_hierarchical_nmf uses unless told otherwise), sparsity 0.01, random init, seed 42;
// 500 fine-tune steps at learning rate 1e-3.
func DefaultHierarchyOptions(ranks ...int) HierarchyOptions {
	lv := DefaultOptions()
	lv.MaxIter, lv.Patience = 500, 100
	return HierarchyOptions{Ranks: ranks, Level: lv, FineTuneIters: 500, LearningRate: 1e-3}
}

// Hierarchy is a hierarchical SNMF: Levels[0] factorises the activations, A ≈ F_1 G_1ᵀ
// (G_1 [n, r_1]); Levels[l] factorises the previous level's features, F_l ≈ F_{l+1} G_{l+1}ᵀ
// (its "tokens" are the r_l features of level l: G_{l+1} [r_l, r_{l+1}] says how much each
// finer feature uses each coarser one). Joint, when fine-tuned, holds the jointly optimised
// copies of the product A ≈ F_L (G_1 G_2 ⋯ G_L)ᵀ; the levels themselves stay as fitted (the
// published analysis reads the levels).
type Hierarchy[T Float] struct {
	Levels []*Factors[T]
	Joint  *JointFactors[T]
}

// JointFactors is the fine-tuned product A ≈ F (G_1 G_2 ⋯ G_L)ᵀ. The published fine-tune is
// unconstrained Adam on the mean squared error: G entries may turn negative and F loses its
// sparsity (see doc.go).
type JointFactors[T Float] struct {
	Ranks []int
	// G[l] is [r_{l-1}, r_l] row-major (G[0] is [n, r_1]).
	G [][]T
	// F is [d_mlp, r_L] row-major.
	F []T
	// Loss is the mean squared error (over n·d_mlp entries) before each Adam step.
	Loss []float64
}

// Hierarchical fits a hierarchical SNMF on collected activations (float32); see FitHierarchy.
func Hierarchical(ctx context.Context, a *Activations, opt HierarchyOptions) (*Hierarchy[float32], error) {
	if a == nil || a.N() == 0 {
		return nil, optErr("acts", "no activation rows (no tokens left after dropping pads and BOS?)")
	}
	return FitHierarchy(ctx, a.Rows, a.N(), a.DMLP, opt)
}

// FitHierarchy runs the published train_hierarchical_nmf on rows x [n, d_mlp]: one SNMF per
// rank, each on the previous level's features (level l+1's rows are the columns of F_l), then
// FineTuneIters steps of Adam (β = 0.9, 0.999, ε = 1e-8, as torch.optim.Adam) on
// mean((G_1 ⋯ G_L F_Lᵀ − x)²) over copies of all the G and of F_L. With the random init the
// levels draw from one continuing stream, as the published code does with torch's global
// generator: level l's G0 is the next r_{l-1}·r_l draws after level l−1's G0 and the
// torch.randn draws of its unused F0.
func FitHierarchy[T Float](ctx context.Context, x []T, n, d int, opt HierarchyOptions) (*Hierarchy[T], error) {
	if len(opt.Ranks) == 0 {
		return nil, optErr("rank", "a hierarchy needs at least one rank")
	}
	if opt.Level.G0 != nil {
		return nil, optErr("g0", "a hierarchy draws each level's G0 from Level.Init; G0 cannot be given")
	}
	if opt.FineTuneIters < 0 || opt.FineTuneIters > 0 && !(opt.LearningRate > 0) {
		return nil, optErr("finetune", "%d steps at learning rate %v", opt.FineTuneIters, opt.LearningRate)
	}
	h := &Hierarchy[T]{}
	rows, m := x, n
	var stream *mt19937
	if opt.Level.Init == InitRandom && opt.Level.G0 == nil {
		stream = newMT19937(opt.Level.Seed)
	}
	for l, r := range opt.Ranks {
		lo := opt.Level
		lo.Rank, lo.rng = r, stream
		if opt.Progress != nil {
			level := l
			lo.Progress = func(p Progress) { opt.Progress(level, p) }
		}
		res, err := Fit(ctx, rows, m, d, lo)
		if err != nil {
			var oe *OptionError
			if l > 0 && asOptionError(err, &oe) {
				return nil, &OptionError{Option: oe.Option, Reason: fmt.Sprintf("level %d (rank %d): %s", l+1, r, oe.Reason)}
			}
			return nil, err
		}
		h.Levels = append(h.Levels, res)
		// The next level's rows are this level's features: Fᵀ [r, d].
		rows, m = transpose(res.F, d, r), r
	}
	if opt.FineTuneIters > 0 {
		j, err := fineTune(ctx, x, n, d, h.Levels, opt)
		if err != nil {
			return nil, err
		}
		h.Joint = j
	}
	return h, nil
}

func asOptionError(err error, target **OptionError) bool {
	oe, ok := err.(*OptionError)
	if ok {
		*target = oe
	}
	return ok
}

// transpose returns the [c, r] transpose of the [r, c] row-major a.
func transpose[T Float](a []T, r, c int) []T {
	out := make([]T, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = a[i*c+j]
		}
	}
	return out
}

// randnDraws is the number of 32-bit draws torch.randn(m elements, float32) takes from the
// CPU generator in torch 1.13: m when m ≥ 16 (one per element; Box–Muller in blocks of 16),
// plus 16 when m is not a multiple of 16 (the last block is redrawn); 2m below 16.
func randnDraws(m int) int {
	switch {
	case m < 16:
		return 2 * m
	case m%16 != 0:
		return m + 16
	}
	return m
}

// adam is torch.optim.Adam's update (no weight decay, no amsgrad) for one parameter.
type adam[T Float] struct {
	m, v []T
}

func (a *adam[T]) step(p, g []T, t int, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	if a.m == nil {
		a.m, a.v = make([]T, len(p)), make([]T, len(p))
	}
	bc1 := 1 - math.Pow(b1, float64(t))
	bc2 := 1 - math.Pow(b2, float64(t))
	stepSize := T(lr / bc1)
	sq := T(math.Sqrt(bc2))
	for i, gi := range g {
		a.m[i] = a.m[i]*b1 + (1-b1)*gi
		a.v[i] = a.v[i]*b2 + (1-b2)*gi*gi
		denom := T(math.Sqrt(float64(a.v[i])))/sq + eps
		p[i] -= stepSize * (a.m[i] / denom)
	}
}

// fineTune runs the joint Adam fine-tune of the published train_hierarchical_nmf.
func fineTune[T Float](ctx context.Context, x []T, n, d int, levels []*Factors[T], opt HierarchyOptions) (*JointFactors[T], error) {
	nl := len(levels)
	ranks := make([]int, nl)
	rows := make([]int, nl) // rows of G_l
	j := &JointFactors[T]{Ranks: ranks, G: make([][]T, nl)}
	for l, lv := range levels {
		ranks[l], rows[l] = lv.Rank, lv.N
		j.G[l] = append([]T(nil), lv.G...)
	}
	rL := ranks[nl-1]
	h := transpose(levels[nl-1].F, d, rL) // H = F_Lᵀ [r_L, d]
	// Products M_l = G_1 ⋯ G_l [n, r_l] and their gradients.
	ms := make([][]T, nl)
	dms := make([][]T, nl)
	for l := range ms {
		ms[l] = make([]T, n*ranks[l])
		dms[l] = make([]T, n*ranks[l])
	}
	res := make([]T, n*d)
	dh := make([]T, rL*d)
	dg := make([][]T, nl)
	opts := make([]adam[T], nl+1)
	for l := range dg {
		dg[l] = make([]T, rows[l]*ranks[l])
	}
	scale := 2 / float64(n*d)
	for step := 1; step <= opt.FineTuneIters; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(ms[0], j.G[0])
		for l := 1; l < nl; l++ {
			gemm(true, blas.NoTrans, blas.NoTrans, n, ranks[l], ranks[l-1], 1, ms[l-1], ranks[l-1], j.G[l], ranks[l], 0, ms[l], ranks[l])
		}
		gemm(true, blas.NoTrans, blas.NoTrans, n, d, rL, 1, ms[nl-1], rL, h, d, 0, res, d)
		var loss float64
		for i, v := range x {
			r := res[i] - v
			loss += float64(r) * float64(r)
			res[i] = r * T(scale) // dL/d(M H)
		}
		loss /= float64(n * d)
		j.Loss = append(j.Loss, loss)
		gemm(true, blas.Trans, blas.NoTrans, rL, d, n, 1, ms[nl-1], rL, res, d, 0, dh, d)
		gemm(true, blas.NoTrans, blas.Trans, n, rL, d, 1, res, d, h, d, 0, dms[nl-1], rL)
		for l := nl - 1; l >= 1; l-- {
			gemm(true, blas.Trans, blas.NoTrans, ranks[l-1], ranks[l], n, 1, ms[l-1], ranks[l-1], dms[l], ranks[l], 0, dg[l], ranks[l])
			gemm(true, blas.NoTrans, blas.Trans, n, ranks[l-1], ranks[l], 1, dms[l], ranks[l], j.G[l], ranks[l], 0, dms[l-1], ranks[l-1])
		}
		copy(dg[0], dms[0])
		for l := 0; l < nl; l++ {
			opts[l].step(j.G[l], dg[l], step, opt.LearningRate)
		}
		opts[nl].step(h, dh, step, opt.LearningRate)
		if opt.Progress != nil {
			opt.Progress(nl, Progress{Iter: step, MaxIter: opt.FineTuneIters, Loss: loss, Best: loss, BestIter: step})
		}
	}
	j.F = transpose(h, rL, d)
	return j, nil
}
