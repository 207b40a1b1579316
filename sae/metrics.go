package sae

import (
	"fmt"
	"math"
)

// Metrics are the standard SAE evaluation numbers over a set of tokens.
type Metrics struct {
	Tokens int `json:"tokens"` // tokens evaluated
	// FVU is the fraction of variance unexplained, Σ_tokens‖x − x̂‖² / Σ_tokens‖x − x̄‖² with x̄
	// the mean activation over the evaluated tokens. ExplainedVariance is 1 − FVU.
	FVU               float64 `json:"fvu"`
	ExplainedVariance float64 `json:"explained_variance"` // 1 − FVU
	// NMSE is OpenAI's normalised MSE: the mean over tokens of ‖x − x̂‖²/‖x‖² (per token, about
	// zero rather than the mean; tokens with x = 0 are skipped).
	NMSE float64 `json:"nmse_openai"`
	// MSE is the mean squared error per element.
	MSE float64 `json:"mse"`
	// L0 is the mean number of non-zero latents per token.
	L0 float64 `json:"l0"`
	// DeadFraction is the fraction of latents that never fire on the evaluated tokens.
	DeadFraction float64 `json:"dead_fraction"`
	// DenseFraction is the fraction of latents that fire on more than DenseThreshold of the
	// tokens (Gemma Scope's "high-frequency latents" use 10%).
	DenseFraction  float64 `json:"dense_fraction"`
	DenseThreshold float64 `json:"dense_threshold"` // firing frequency above which a latent is dense
}

// Evaluator accumulates Metrics over batches of activations. Its sums are float64 and taken
// in batch order, so the result does not depend on the batch size except through rounding.
type Evaluator struct {
	s    *SAE
	n    int
	sse  float64
	nmse float64
	nmsN int
	nnz  int64
	// Per-dimension mean and sum of squared deviations (Chan et al.'s parallel merge).
	mean, m2 []float64
	fires    []int64
	dense    float64
	pass     Pass
}

// NewEvaluator returns an evaluator for s with the 10% dense threshold.
func NewEvaluator(s *SAE) *Evaluator {
	return &Evaluator{s: s, mean: make([]float64, s.DIn), m2: make([]float64, s.DIn), fires: make([]int64, s.DSAE), dense: 0.1}
}

// SetDenseThreshold changes the firing frequency above which a latent counts as dense.
func (e *Evaluator) SetDenseThreshold(f float64) { e.dense = f }

// Add runs x ([n, d_in]) through the SAE and accumulates.
func (e *Evaluator) Add(x []float32) {
	e.s.Run(&e.pass, x)
	e.AddPass(x, &e.pass)
}

// AddPass accumulates a pass the caller already ran on x.
func (e *Evaluator) AddPass(x []float32, p *Pass) {
	d, m, n := e.s.DIn, e.s.DSAE, p.N
	if n == 0 {
		return
	}
	bmean := make([]float64, d)
	for i := range n {
		var se, xx float64
		for c := range d {
			v := float64(x[i*d+c])
			r := v - float64(p.Recon[i*d+c])
			se += r * r
			xx += v * v
			bmean[c] += v
		}
		e.sse += se
		if xx > 0 {
			e.nmse += se / xx
			e.nmsN++
		}
		for j, v := range p.Latents[i*m : (i+1)*m] {
			if v != 0 {
				e.nnz++
				e.fires[j]++
			}
		}
	}
	bm2 := make([]float64, d)
	for c := range d {
		bmean[c] /= float64(n)
	}
	for i := range n {
		for c := range d {
			q := float64(x[i*d+c]) - bmean[c]
			bm2[c] += q * q
		}
	}
	na, nb := float64(e.n), float64(n)
	for c := range d {
		delta := bmean[c] - e.mean[c]
		e.mean[c] += delta * nb / (na + nb)
		e.m2[c] += bm2[c] + delta*delta*na*nb/(na+nb)
	}
	e.n += n
}

// Metrics returns the accumulated metrics.
func (e *Evaluator) Metrics() Metrics {
	mt := Metrics{Tokens: e.n, DenseThreshold: e.dense}
	if e.n == 0 {
		return mt
	}
	var tot float64
	for _, v := range e.m2 {
		tot += v
	}
	mt.FVU = math.NaN()
	if tot > 0 {
		mt.FVU = e.sse / tot
	}
	mt.ExplainedVariance = 1 - mt.FVU
	if e.nmsN > 0 {
		mt.NMSE = e.nmse / float64(e.nmsN)
	}
	mt.MSE = e.sse / float64(e.n*e.s.DIn)
	mt.L0 = float64(e.nnz) / float64(e.n)
	dead, dense := 0, 0
	for _, f := range e.fires {
		if f == 0 {
			dead++
		}
		if float64(f) > e.dense*float64(e.n) {
			dense++
		}
	}
	mt.DeadFraction = float64(dead) / float64(e.s.DSAE)
	mt.DenseFraction = float64(dense) / float64(e.s.DSAE)
	return mt
}

// Frequencies returns every latent's firing frequency over the evaluated tokens.
func (e *Evaluator) Frequencies() []float64 {
	out := make([]float64, len(e.fires))
	for j, f := range e.fires {
		if e.n > 0 {
			out[j] = float64(f) / float64(e.n)
		}
	}
	return out
}

// Evaluate computes Metrics of s over rows, batch rows at a time (each row's columns
// column..column+d_in are the SAE input).
func Evaluate(s *SAE, rows *Rows, column, batch int) (Metrics, error) {
	if column < 0 || column+s.DIn > rows.W {
		return Metrics{}, fmt.Errorf("sae: %s has rows of width %d; the SAE reads %d values from column %d", rows.Name, rows.W, s.DIn, column)
	}
	if batch < 1 {
		return Metrics{}, fmt.Errorf("sae: batch %d: want ≥ 1", batch)
	}
	e := NewEvaluator(s)
	x := make([]float32, 0, batch*s.DIn)
	for i := 0; i < rows.Len(); i++ {
		x = append(x, rows.Row(i)[column:column+s.DIn]...)
		if len(x) == cap(x) || i == rows.Len()-1 {
			if ok, at := finite(x); !ok {
				return Metrics{}, fmt.Errorf("sae: %s: row %d has a non-finite activation", rows.Name, i+1-len(x)/s.DIn+at/s.DIn)
			}
			e.Add(x)
			x = x[:0]
		}
	}
	return e.Metrics(), nil
}
