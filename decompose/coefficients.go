package decompose

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/internal/linalg"
)

// Features is a fitted F [d_mlp, rank] used as a dictionary of units: a feature's activation
// on a token is its coefficient in the non-negative least-squares fit of the token's
// activation vector by the features,
//
//	g(x) = argmin_{g ≥ 0} ‖x − F g‖²,
//
// solved exactly (Coefficients). This is the problem SNMF's G update solves approximately for
// the training tokens, one multiplicative step per iteration; on new tokens the exact solution
// is unique whenever FᵀF is positive definite, needs no init or iteration count, and is what
// the multiplicative update converges to. A Features value is safe for concurrent use.
type Features struct {
	DMLP, Rank int
	// F is [d_mlp, rank] row-major (column j = feature j), as Factors.F.
	F []float32

	gram   []float64 // FᵀF [rank, rank]
	colPtr []int32   // F's non-zeros by column
	rowIdx []int32
	vals   []float64
	scale  float64 // max_j ‖F_j‖
}

// NewFeatures wraps F [d_mlp, rank] (not copied; do not modify it afterwards). It panics if
// the sizes disagree.
func NewFeatures(f []float32, dMLP, rank int) *Features {
	if len(f) != dMLP*rank || rank < 1 {
		panic(fmt.Sprintf("decompose: NewFeatures given %d values for [%d, %d]", len(f), dMLP, rank))
	}
	fs := &Features{DMLP: dMLP, Rank: rank, F: f, gram: make([]float64, rank*rank), colPtr: make([]int32, rank+1)}
	for j := 0; j < rank; j++ {
		for i := 0; i < dMLP; i++ {
			if v := f[i*rank+j]; v != 0 {
				fs.rowIdx = append(fs.rowIdx, int32(i))
				fs.vals = append(fs.vals, float64(v))
			}
		}
		fs.colPtr[j+1] = int32(len(fs.rowIdx))
	}
	for i := 0; i < dMLP; i++ {
		row := f[i*rank : (i+1)*rank]
		for a, va := range row {
			if va == 0 {
				continue
			}
			for b, vb := range row {
				fs.gram[a*rank+b] += float64(va) * float64(vb)
			}
		}
	}
	for j := 0; j < rank; j++ {
		fs.scale = max(fs.scale, math.Sqrt(fs.gram[j*rank+j]))
	}
	return fs
}

// Coefficients writes into dst [n, rank] the non-negative coefficients of every row of rows
// [n, d_mlp] (see Features), in parallel over rows. A NaN or ±Inf in rows is an error naming the
// row; dst is then unspecified. It panics if the sizes disagree.
func (fs *Features) Coefficients(dst, rows []float32) error {
	d, k := fs.DMLP, fs.Rank
	if len(rows)%d != 0 || len(dst) != len(rows)/d*k {
		panic(fmt.Sprintf("decompose: Coefficients given %d rows values and %d dst values for d_mlp %d, rank %d", len(rows), len(dst), d, k))
	}
	if r, c, ok := firstNonFinite(rows, d); !ok {
		return fmt.Errorf("decompose: row %d, neuron %d is %v", r, c, rows[r*d+c])
	}
	n := len(rows) / d
	linalg.Parallel(n, 16, func(lo, hi int) {
		w := newNNLS(k)
		b := make([]float64, k)
		g := make([]float64, k)
		for t := lo; t < hi; t++ {
			x := rows[t*d : (t+1)*d]
			var xx float64
			for _, v := range x {
				xx += float64(v) * float64(v)
			}
			for j := 0; j < k; j++ {
				var s float64
				for e := fs.colPtr[j]; e < fs.colPtr[j+1]; e++ {
					s += float64(x[fs.rowIdx[e]]) * fs.vals[e]
				}
				b[j] = s
			}
			w.solve(g, fs.gram, b, 1e-12*fs.scale*math.Sqrt(xx))
			for j, v := range g {
				dst[t*k+j] = float32(v)
			}
		}
	})
	return nil
}

// nnls is the workspace of the Lawson–Hanson active-set method on the normal equations (the
// "fast NNLS" of Bro & De Jong 1997): minimise ½gᵀQg − bᵀg over g ≥ 0.
type nnls struct {
	k        int
	passive  []bool
	excluded []bool
	idx      []int
	s, w     []float64
	sub      []float64 // Cholesky workspace
	rhs      []float64
}

func newNNLS(k int) *nnls {
	return &nnls{k: k, passive: make([]bool, k), excluded: make([]bool, k), idx: make([]int, 0, k), s: make([]float64, k),
		w: make([]float64, k), sub: make([]float64, k*k), rhs: make([]float64, k)}
}

// solve writes the minimiser into g. tol is the size of a gradient entry that counts as zero.
func (m *nnls) solve(g, q, b []float64, tol float64) {
	k := m.k
	for j := range g {
		g[j], m.passive[j], m.excluded[j] = 0, false, false
	}
	copy(m.w, b) // w = b − Q g, the negative gradient
	for outer := 0; outer < 3*k; outer++ {
		best, arg := tol, -1
		for j := 0; j < k; j++ {
			if !m.passive[j] && !m.excluded[j] && m.w[j] > best {
				best, arg = m.w[j], j
			}
		}
		if arg < 0 {
			return
		}
		m.passive[arg] = true
		for inner := 0; ; inner++ {
			if !m.solvePassive(q, b) || inner == 0 && m.s[arg] <= 0 {
				// The entering feature is (numerically) dependent on the passive ones, or
				// rounding makes its step non-positive: it cannot improve the fit.
				m.passive[arg], m.excluded[arg] = false, true
				break
			}
			alpha, block := 1.0, -1
			for _, j := range m.idx {
				if m.s[j] <= 0 {
					if a := g[j] / (g[j] - m.s[j]); a < alpha || block < 0 {
						alpha, block = a, j
					}
				}
			}
			if block < 0 {
				for _, j := range m.idx {
					g[j] = m.s[j]
				}
				break
			}
			for _, j := range m.idx {
				g[j] += alpha * (m.s[j] - g[j])
				if j == block || g[j] <= 0 {
					g[j], m.passive[j] = 0, false
				}
			}
			if inner >= 3*k {
				break
			}
		}
		for j := 0; j < k; j++ {
			v := b[j]
			for l := 0; l < k; l++ {
				if g[l] != 0 {
					v -= q[j*k+l] * g[l]
				}
			}
			m.w[j] = v
		}
	}
}

// solvePassive solves Q_PP s_P = b_P by Cholesky; false when Q_PP is not positive definite.
func (m *nnls) solvePassive(q, b []float64) bool {
	k := m.k
	m.idx = m.idx[:0]
	for j := 0; j < k; j++ {
		if m.passive[j] {
			m.idx = append(m.idx, j)
		}
	}
	p := len(m.idx)
	a := m.sub[:p*p]
	for r, i := range m.idx {
		for c, j := range m.idx {
			a[r*p+c] = q[i*k+j]
		}
		m.rhs[r] = b[i]
	}
	for c := 0; c < p; c++ { // a = L Lᵀ, L in the lower triangle
		v := a[c*p+c]
		for l := 0; l < c; l++ {
			v -= a[c*p+l] * a[c*p+l]
		}
		if !(v > 1e-14*q[m.idx[c]*k+m.idx[c]]) || v <= 0 {
			return false
		}
		a[c*p+c] = math.Sqrt(v)
		for r := c + 1; r < p; r++ {
			u := a[r*p+c]
			for l := 0; l < c; l++ {
				u -= a[r*p+l] * a[c*p+l]
			}
			a[r*p+c] = u / a[c*p+c]
		}
	}
	y := m.rhs[:p]
	for r := 0; r < p; r++ {
		v := y[r]
		for l := 0; l < r; l++ {
			v -= a[r*p+l] * y[l]
		}
		y[r] = v / a[r*p+r]
	}
	for r := p - 1; r >= 0; r-- {
		v := y[r]
		for l := r + 1; l < p; l++ {
			v -= a[l*p+r] * y[l]
		}
		y[r] = v / a[r*p+r]
	}
	for j := range m.s {
		m.s[j] = 0
	}
	for r, j := range m.idx {
		m.s[j] = y[r]
	}
	return true
}
