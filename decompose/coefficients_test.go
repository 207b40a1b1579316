package decompose

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// bruteNNLS solves min_{g ≥ 0} ‖x − F g‖² by trying every support (k ≤ 10).
func bruteNNLS(f []float32, x []float32, d, k int) ([]float64, float64) {
	bestLoss, best := math.Inf(1), make([]float64, k)
	for mask := 0; mask < 1<<k; mask++ {
		var cols []int
		for j := 0; j < k; j++ {
			if mask&(1<<j) != 0 {
				cols = append(cols, j)
			}
		}
		g := make([]float64, k)
		if len(cols) > 0 {
			a := mat.NewDense(d, len(cols), nil)
			for i := 0; i < d; i++ {
				for c, j := range cols {
					a.Set(i, c, float64(f[i*k+j]))
				}
			}
			xb := mat.NewVecDense(d, nil)
			for i := 0; i < d; i++ {
				xb.SetVec(i, float64(x[i]))
			}
			var s mat.VecDense
			if err := s.SolveVec(a, xb); err != nil {
				continue
			}
			ok := true
			for c, j := range cols {
				if s.AtVec(c) < 0 {
					ok = false
				}
				g[j] = s.AtVec(c)
			}
			if !ok {
				continue
			}
		}
		if l := residual(f, x, g, d, k); l < bestLoss {
			bestLoss, best = l, g
		}
	}
	return best, bestLoss
}

func residual[T Float](f, x []T, g []float64, d, k int) float64 {
	var s float64
	for i := 0; i < d; i++ {
		r := float64(x[i])
		for j := 0; j < k; j++ {
			r -= float64(f[i*k+j]) * g[j]
		}
		s += r * r
	}
	return s
}

// TestCoefficientsExact: Coefficients returns the exact NNLS solution (checked against trying
// every support), including features that are sparse, zero, or duplicates of each other.
func TestCoefficientsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 21))
	const d, k, n = 14, 6, 200
	f := make([]float32, d*k)
	for i := range f {
		if r.IntN(3) > 0 {
			f[i] = float32(r.NormFloat64())
		}
	}
	for i := 0; i < d; i++ {
		f[i*k+4] = f[i*k+1] // feature 4 duplicates feature 1
		f[i*k+5] = 0        // feature 5 is empty
	}
	rows := make([]float32, n*d)
	for i := range rows {
		rows[i] = float32(r.NormFloat64())
	}
	fs := NewFeatures(f, d, k)
	got := make([]float32, n*k)
	if err := fs.Coefficients(got, rows); err != nil {
		t.Fatal(err)
	}
	for tk := 0; tk < n; tk++ {
		x := rows[tk*d : (tk+1)*d]
		g := make([]float64, k)
		for j := range g {
			g[j] = float64(got[tk*k+j])
			if g[j] < 0 {
				t.Fatalf("row %d: coefficient %d = %v < 0", tk, j, g[j])
			}
		}
		_, want := bruteNNLS(f, x, d, k)
		if l := residual(f, x, g, d, k); l > want*(1+1e-5)+1e-9 {
			t.Fatalf("row %d: loss %.9g, the optimum is %.9g", tk, l, want)
		}
	}
}

// TestCoefficientsOnTrainingTokens: on the tokens SNMF was fitted on, the exact coefficients
// fit every token at least as well as the fitted G does (G is a multiplicative-update iterate
// of the same problem), and they are close to it after convergence.
func TestCoefficientsOnTrainingTokens(t *testing.T) {
	const n, d, k = 600, 60, 5
	x, _ := planted(9, n, d, k, 6, 0.05)
	opt := DefaultOptions()
	opt.Rank, opt.Sparsity, opt.MaxIter, opt.Init = k, 0.1, 400, InitSVD
	res, err := Fit(context.Background(), x, n, d, opt)
	if err != nil {
		t.Fatal(err)
	}
	fs := NewFeatures(res.F, d, k)
	g := make([]float32, n*k)
	if err := fs.Coefficients(g, x); err != nil {
		t.Fatal(err)
	}
	var lossNNLS, lossG, diff, norm float64
	for tk := 0; tk < n; tk++ {
		gn, gt := make([]float64, k), make([]float64, k)
		for j := 0; j < k; j++ {
			gn[j], gt[j] = float64(g[tk*k+j]), float64(res.G[tk*k+j])
			diff += (gn[j] - gt[j]) * (gn[j] - gt[j])
			norm += gt[j] * gt[j]
		}
		ln, lg := residual(res.F, x[tk*d:(tk+1)*d], gn, d, k), residual(res.F, x[tk*d:(tk+1)*d], gt, d, k)
		if ln > lg*(1+1e-5)+1e-9 {
			t.Fatalf("token %d: NNLS loss %.9g above the fitted G's %.9g", tk, ln, lg)
		}
		lossNNLS += ln
		lossG += lg
	}
	t.Logf("loss with exact coefficients %.6g, with the fitted G %.6g; relative distance %.3g", lossNNLS, lossG, math.Sqrt(diff/norm))
	if math.Sqrt(diff/norm) > 0.05 {
		t.Errorf("exact coefficients differ from the converged G by %.3g relative", math.Sqrt(diff/norm))
	}
}

func TestCoefficientsRejectsNaN(t *testing.T) {
	fs := NewFeatures([]float32{1, 0, 0, 1}, 2, 2)
	if err := fs.Coefficients(make([]float32, 4), []float32{1, 2, float32(math.NaN()), 0}); err == nil {
		t.Fatal("NaN row accepted")
	}
}
