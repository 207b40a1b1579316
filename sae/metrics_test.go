package sae

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestMetrics(t *testing.T) {
	// A standard SAE with identity-like weights on 2-D data: latent 0 reads x₀, latent 1 is dead,
	// latent 2 reads x₁ scaled by ½ (so half of x₁ is reconstructed).
	s := New(Standard, 2, 3, 0)
	s.ApplyBDecToInput = false
	s.WEnc[0*3+0] = 1
	s.WEnc[1*3+2] = 1
	s.BEnc[1] = -100
	s.WDec[0*2+0] = 1
	s.WDec[2*2+1] = 0.5
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8} // 4 tokens, all positive
	e := NewEvaluator(s)
	e.Add(x[:4])
	e.Add(x[4:])
	mt := e.Metrics()
	// Residual: (0, x₁/2) → Σ = (4+16+36+64)/4 = 30. Total variance: Σ(x − x̄)² = 20 + 20 = 40.
	if math.Abs(mt.FVU-0.75) > 1e-12 || mt.ExplainedVariance != 1-mt.FVU {
		t.Errorf("FVU %g, want 0.75", mt.FVU)
	}
	wantNMSE := (1.0/5 + 4.0/25 + 9.0/61 + 16.0/113) / 4
	if math.Abs(mt.NMSE-wantNMSE) > 1e-12 {
		t.Errorf("OpenAI NMSE %g, want %g", mt.NMSE, wantNMSE)
	}
	if mt.L0 != 2 || math.Abs(mt.DeadFraction-1.0/3) > 1e-12 || math.Abs(mt.DenseFraction-2.0/3) > 1e-12 || mt.Tokens != 4 {
		t.Errorf("L0 %g dead %g dense %g tokens %d", mt.L0, mt.DeadFraction, mt.DenseFraction, mt.Tokens)
	}
	if mt.MSE != 30.0/8 {
		t.Errorf("MSE %g, want 3.75", mt.MSE)
	}
	rows := NewRows(x, 2, "x")
	got, err := Evaluate(s, rows, 0, 3)
	if err != nil || got != mt {
		t.Errorf("Evaluate over batches of 3: %+v, %v; want %+v", got, err, mt)
	}
}

func TestQStar(t *testing.T) {
	mus := make([]float64, 100)
	for i := range mus {
		mus[i] = 0.1
		if i >= 50 {
			mus[i] = 0.3
		}
	}
	ks := make([]float64, 100)
	for i := range ks {
		switch {
		case i < 30:
			ks[i] = 1
		case i < 70:
			ks[i] = 2
		default:
			ks[i] = 5
		}
	}
	// q ≤ 0.3: K = 1 (bound 1); q ≤ 0.7: K = 2 (bound 1/3 > 0.3); beyond, K = 5 (bound 1/9 < 0.3).
	if q := qStar(mus, ks); q != 0.7 {
		t.Errorf("q* = %g, want 0.7", q)
	}
	if q := qStar([]float64{0.5}, []float64{3}); q != 0 {
		t.Errorf("q* = %g, want 0", q)
	}
	if q := qStar([]float64{0, 0}, []float64{9, 9}); q != 1 {
		t.Errorf("q* = %g, want 1", q)
	}
}

func TestWhiteningAndAtomInvariance(t *testing.T) {
	const n, d, m = 3000, 6, 14
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64()*float64(1+i%d) + 0.3)
	}
	rows := NewRows(x, d, "x")
	w, err := EstimateWhitening(rows, 0, d, WhiteningOptions{MaxRows: n})
	if err != nil {
		t.Fatal(err)
	}
	// Inner against an explicit inverse.
	c := mat.NewSymDense(d, nil)
	for i := range n {
		for a := range d {
			for b := 0; b <= a; b++ {
				c.SetSym(a, b, c.At(a, b)+float64(x[i*d+a])*float64(x[i*d+b])/n)
			}
		}
	}
	for a := range d {
		c.SetSym(a, a, c.At(a, a)+w.Ridge)
	}
	var inv mat.Dense
	if err := inv.Inverse(c); err != nil {
		t.Fatal(err)
	}
	u, v := x[:d], x[d:2*d]
	want := mat.Inner(mat.NewVecDense(d, toF64(u)), &inv, mat.NewVecDense(d, toF64(v)))
	if got := w.Inner(u, v); math.Abs(got-want) > 1e-9*math.Abs(want)+1e-12 {
		t.Errorf("uᵀSv = %g, explicit inverse %g", got, want)
	}
	// R² and q* do not change when the activations are mapped by an invertible A and the SAE
	// with them (W_dec rows A·d_j, W_enc = A⁻ᵀ·W_enc, b_dec = A·b_dec): the atomic inner
	// product is invariant, the Euclidean one is not.
	s := randomSAE(Standard, d, m, 0, 8)
	s.ApplyBDecToInput = false
	A := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			A.Set(i, j, rng.NormFloat64()*0.3)
		}
		A.Set(i, i, A.At(i, i)+1+float64(i))
	}
	var Ainv mat.Dense
	if err := Ainv.Inverse(A); err != nil {
		t.Fatal(err)
	}
	apply := func(M mat.Matrix, v []float32) []float32 {
		out := mat.NewVecDense(d, nil)
		out.MulVec(M, mat.NewVecDense(d, toF64(v)))
		r := make([]float32, d)
		for i := range r {
			r[i] = float32(out.AtVec(i))
		}
		return r
	}
	xa := make([]float32, n*d)
	for i := range n {
		copy(xa[i*d:], apply(A, x[i*d:(i+1)*d]))
	}
	sa := New(Standard, d, m, 0)
	sa.ApplyBDecToInput = false
	copy(sa.BEnc, s.BEnc)
	copy(sa.BDec, apply(A, s.BDec))
	for j := range m {
		copy(sa.WDec[j*d:], apply(A, s.Direction(j)))
		col := apply(Ainv.T(), s.EncoderDirection(nil, j))
		for i := range d {
			sa.WEnc[i*m+j] = col[i]
		}
	}
	rowsA := NewRows(xa, d, "Ax")
	wa, err := EstimateWhitening(rowsA, 0, d, WhiteningOptions{MaxRows: n})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := AtomEval(s, rows, 0, w, AtomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := AtomEval(sa, rowsA, 0, wa, AtomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Equal up to float32 rounding of A·x and of the SAE forward pass on it, and the ridge.
	if math.Abs(m1.R2-m2.R2) > 5e-4*(1+math.Abs(m1.R2)) || math.Abs(m1.MedianCoherence-m2.MedianCoherence) > 1e-4 || m1.QStar != m2.QStar {
		t.Errorf("not invariant under A: %+v vs %+v", m1, m2)
	}
	if math.Abs(m1.R2Euclidean-m2.R2Euclidean) < 1e-3 {
		t.Errorf("Euclidean R² unexpectedly invariant: %g vs %g", m1.R2Euclidean, m2.R2Euclidean)
	}
	if m1.Pairs != m*(m-1)/2 || m1.Sampled {
		t.Errorf("pairs %d sampled %v", m1.Pairs, m1.Sampled)
	}
	// A perfect SAE is perfectly faithful.
	p := perfectSAE(Standard, d, "")
	mp, err := AtomEval(p, rows, 0, w, AtomOptions{})
	if err != nil || mp.R2 != 1 || mp.R2Euclidean != 1 {
		t.Errorf("perfect SAE: %+v %v", mp, err)
	}
	// Sampling pairs gives nearly the exact quantiles.
	ms, err := AtomEval(s, rows, 0, w, AtomOptions{MaxPairs: 50, Seed: 3})
	if err != nil || !ms.Sampled || ms.Pairs != 50 {
		t.Errorf("sampled: %+v %v", ms, err)
	}
}
