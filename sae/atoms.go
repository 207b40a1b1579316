package sae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Whitening is the atoms paper's atomic inner product (Hu et al., "Towards Atoms of Large
// Language Models"): ⟨u, v⟩_S = uᵀSv with S = (E[x xᵀ] + ρI)⁻¹ estimated from activations
// (the uncentred second moment, as the paper writes E[k kᵀ]; the ridge ρ, a fraction of the
// mean eigenvalue tr(E[x xᵀ])/d, keeps S finite when some unit never varies, e.g. a dead
// neuron). With E[x xᵀ] + ρI = L·Lᵀ (Cholesky), ⟨u, v⟩_S = (L⁻¹u)·(L⁻¹v): S is applied by
// whitening with L⁻¹.
type Whitening struct {
	D     int       // width of the activations
	Ridge float64   // ρ added to the diagonal of E[x xᵀ]
	Rows  int       // activations the estimate used
	l     []float64 // L, [d, d] row-major lower triangular
}

// WhiteningOptions choose how EstimateWhitening estimates S.
type WhiteningOptions struct {
	MaxRows int // activations to use (default 100000)
	// RidgeFraction is ρ as a fraction of tr(E[x xᵀ])/d (default 1e-6). Directions of tiny
	// variance weigh up to 1/ρ in ⟨·,·⟩_S, so R² depends on it when activations have nearly
	// dead units (MLP neurons); the paper measured the residual stream.
	RidgeFraction float64
}

// EstimateWhitening estimates S from the rows (columns column..column+d of each).
func EstimateWhitening(rows *Rows, column, d int, opt WhiteningOptions) (*Whitening, error) {
	if opt.MaxRows <= 0 {
		opt.MaxRows = 100000
	}
	if opt.RidgeFraction <= 0 {
		opt.RidgeFraction = 1e-6
	}
	maxRows := opt.MaxRows
	if column < 0 || column+d > rows.W {
		return nil, fmt.Errorf("sae: %s has rows of width %d, not %d values from column %d", rows.Name, rows.W, d, column)
	}
	n := min(rows.Len(), maxRows)
	if n < 1 {
		return nil, fmt.Errorf("sae: no activations to estimate the whitening from")
	}
	// E[x xᵀ] in float64, accumulated over chunks of rows (lower triangle).
	const chunk = 2048
	cov := make([]float64, d*d)
	x := make([]float64, min(n, chunk)*d)
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		for i := range k {
			for c, v := range rows.Row(lo + i)[column : column+d] {
				x[i*d+c] = float64(v)
			}
		}
		blas64.Implementation().Dsyrk(blas.Lower, blas.Trans, d, k, 1/float64(n), x, d, 1, cov, d)
	}
	var tr float64
	for c := range d {
		tr += cov[c*d+c]
	}
	if !(tr > 0) || math.IsInf(tr, 0) {
		return nil, fmt.Errorf("sae: the activations have zero (or non-finite) second moment; cannot whiten")
	}
	ridge := opt.RidgeFraction * tr / float64(d)
	sym := mat.NewSymDense(d, nil)
	for i := range d {
		for j := 0; j <= i; j++ {
			v := cov[i*d+j]
			if i == j {
				v += ridge
			}
			sym.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(sym) {
		return nil, fmt.Errorf("sae: E[x xᵀ] + %g·I is not positive definite; cannot whiten", ridge)
	}
	var lt mat.TriDense
	ch.LTo(&lt)
	w := &Whitening{D: d, Ridge: ridge, Rows: n, l: make([]float64, d*d)}
	for i := range d {
		for j := 0; j <= i; j++ {
			w.l[i*d+j] = lt.At(i, j)
		}
	}
	return w, nil
}

// whiten replaces every row of v ([n, d] float64) by L⁻¹·row, so that row·row' = ⟨·,·⟩_S.
func (w *Whitening) whiten(v []float64) {
	n := len(v) / w.D
	// Rows are vectors: solve X·Lᵀ = V, i.e. X = V·L⁻ᵀ, whose rows are L⁻¹·v.
	blas64.Implementation().Dtrsm(blas.Right, blas.Lower, blas.Trans, blas.NonUnit, n, w.D, 1, w.l, w.D, v, w.D)
}

// Inner returns the unnormalised atomic inner product uᵀSv.
func (w *Whitening) Inner(u, v []float32) float64 {
	a, b := make([]float64, w.D), make([]float64, w.D)
	for i := range w.D {
		a[i], b[i] = float64(u[i]), float64(v[i])
	}
	w.whiten(a)
	w.whiten(b)
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// AtomMetrics are the atoms paper's two criteria for a set of units (SAE latents).
type AtomMetrics struct {
	// R2 is faithfulness under the atomic inner product:
	// 1 − Σ‖x − x̂‖²_S / Σ‖x − x̄‖²_S with ‖v‖²_S = vᵀSv and x̄ the mean activation.
	R2 float64 `json:"faithfulness_r2"`
	// R2Euclidean is the same with the identity for S (= 1 − FVU).
	R2Euclidean float64 `json:"faithfulness_r2_euclidean"`
	// QStar is the stability q* = sup{q : μ_q < 1/(2K_q − 1)}, with μ_q the q-quantile of the
	// pairwise coherences |⟨d_i, d_j⟩_S|/(‖d_i‖_S‖d_j‖_S) of the decoder directions and K_q
	// the q-quantile of the number of active latents per token (K_q ≤ 1 counts as 1: a code
	// with at most one atom is unique). Resolution 1e-5.
	QStar float64 `json:"stability_q_star"`
	// Pairs is how many direction pairs μ_q was estimated from, Sampled whether they are a
	// seeded random sample of all pairs (when there are more than MaxPairs).
	Pairs   int  `json:"pairs"`
	Sampled bool `json:"pairs_sampled"` // μ_q from a sample of pairs
	Tokens  int  `json:"tokens"`        // activations evaluated
	// MedianCoherence and MedianL0 are μ_0.5 and K_0.5, for orientation.
	MedianCoherence float64 `json:"median_coherence"` // μ_0.5
	MedianL0        float64 `json:"median_l0"`        // K_0.5
}

// AtomOptions bound the cost of AtomEval.
type AtomOptions struct {
	MaxRows  int    // activations to evaluate (default 20000)
	MaxPairs int    // direction pairs for μ_q (default 4,000,000; sampled beyond)
	Seed     uint64 // pair sample
}

// AtomEval computes the atoms paper's faithfulness R² and stability q* of s's latents on rows
// (columns column..column+d_in), under the whitening w. The paper defines these on a note's
// level of detail; the exact definitions used are those stated on AtomMetrics.
func AtomEval(s *SAE, rows *Rows, column int, w *Whitening, opt AtomOptions) (AtomMetrics, error) {
	d, m := s.DIn, s.DSAE
	if w.D != d {
		return AtomMetrics{}, fmt.Errorf("sae: whitening of width %d for an SAE with d_in %d", w.D, d)
	}
	if column < 0 || column+d > rows.W {
		return AtomMetrics{}, fmt.Errorf("sae: %s has rows of width %d, not %d values from column %d", rows.Name, rows.W, d, column)
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = 20000
	}
	if opt.MaxPairs <= 0 {
		opt.MaxPairs = 4_000_000
	}
	n := min(rows.Len(), opt.MaxRows)
	if n < 2 {
		return AtomMetrics{}, fmt.Errorf("sae: need at least 2 activations, have %d", n)
	}
	var out AtomMetrics
	out.Tokens = n
	// Faithfulness, in chunks of rows: residuals and deviations from the mean, whitened.
	mean := make([]float64, d)
	for i := range n {
		for c, v := range rows.Row(i)[column : column+d] {
			mean[c] += float64(v) / float64(n)
		}
	}
	const chunk = 2048
	x := make([]float32, min(n, chunk)*d)
	res := make([]float64, len(x))
	dev := make([]float64, len(x))
	ks := make([]float64, 0, n)
	var p Pass
	var eRes, eDev, sRes, sDev float64
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		x = x[:k*d]
		for i := range k {
			copy(x[i*d:(i+1)*d], rows.Row(lo + i)[column:column+d])
		}
		if ok, at := finite(x); !ok {
			return AtomMetrics{}, fmt.Errorf("sae: %s: row %d has a non-finite activation", rows.Name, lo+at/d)
		}
		s.Run(&p, x)
		res, dev = res[:k*d], dev[:k*d]
		for i := range k {
			for c := range d {
				res[i*d+c] = float64(x[i*d+c]) - float64(p.Recon[i*d+c])
				dev[i*d+c] = float64(x[i*d+c]) - mean[c]
				eRes += res[i*d+c] * res[i*d+c]
				eDev += dev[i*d+c] * dev[i*d+c]
			}
			l0 := 0.0
			for _, v := range p.Latents[i*m : (i+1)*m] {
				if v != 0 {
					l0++
				}
			}
			ks = append(ks, l0)
		}
		w.whiten(res)
		w.whiten(dev)
		for i := range res {
			sRes += res[i] * res[i]
			sDev += dev[i] * dev[i]
		}
	}
	out.R2Euclidean = 1 - eRes/eDev
	out.R2 = 1 - sRes/sDev
	slices.Sort(ks)
	// Coherence of whitened, normalised decoder directions.
	dirs := make([]float64, m*d)
	for j := range m {
		for c, v := range s.Direction(j) {
			dirs[j*d+c] = float64(v)
		}
	}
	w.whiten(dirs)
	unit := make([]float32, m*d)
	alive := make([]bool, m)
	for j := range m {
		var nr float64
		for c := range d {
			nr += dirs[j*d+c] * dirs[j*d+c]
		}
		if nr == 0 {
			continue
		}
		alive[j] = true
		nr = math.Sqrt(nr)
		for c := range d {
			unit[j*d+c] = float32(dirs[j*d+c] / nr)
		}
	}
	var mus []float64
	total := m * (m - 1) / 2
	if total <= opt.MaxPairs {
		gram := make([]float32, m*m)
		gemm(blas.NoTrans, blas.Trans, m, m, d, 1, unit, d, unit, d, 0, gram, m)
		mus = make([]float64, 0, total)
		for i := range m {
			for j := i + 1; j < m; j++ {
				if alive[i] && alive[j] {
					mus = append(mus, math.Abs(float64(gram[i*m+j])))
				}
			}
		}
	} else {
		out.Sampled = true
		rng := rand.New(rand.NewPCG(opt.Seed, 0x61746f6d))
		for len(mus) < opt.MaxPairs {
			i, j := rng.IntN(m), rng.IntN(m)
			if i == j || !alive[i] || !alive[j] {
				continue
			}
			mus = append(mus, math.Abs(float64(dot(unit[i*d:(i+1)*d], unit[j*d:(j+1)*d]))))
		}
	}
	if len(mus) == 0 {
		return AtomMetrics{}, fmt.Errorf("sae: fewer than two non-zero decoder directions")
	}
	slices.Sort(mus)
	out.Pairs = len(mus)
	out.MedianCoherence = quantile(mus, 0.5)
	out.MedianL0 = quantile(ks, 0.5)
	out.QStar = qStar(mus, ks)
	return out, nil
}

// quantile is the lower empirical q-quantile of sorted v: v[⌈q·n⌉ − 1] (v[0] at q = 0).
func quantile(v []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(v)))) - 1
	return v[min(max(i, 0), len(v)-1)]
}

// qStar is sup{q ∈ [0, 1] : μ_q < 1/(2·max(K_q, 1) − 1)} on a grid of 1e-5; the condition is
// monotone in q (μ_q grows, the bound shrinks), so a binary search finds the edge.
func qStar(mus, ks []float64) float64 {
	ok := func(i int) bool {
		q := float64(i) / 1e5
		k := math.Max(quantile(ks, q), 1)
		return quantile(mus, q) < 1/(2*k-1)
	}
	if !ok(0) {
		return 0
	}
	lo, hi := 0, 100000 // ok(lo) holds
	if ok(hi) {
		return 1
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return float64(lo) / 1e5
}
