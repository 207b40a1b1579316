// Package perf measures what neuronscope's performance targets are stated against: the
// machine's sgemm rate, and model forward passes at real model shapes with random weights.
package perf

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model"
	"gonum.org/v1/gonum/blas"
)

// SgemmGFLOPS times C[m,n] = A[m,k]·B[k,n]ᵀ on every core through the active backend, as the
// forward pass runs its products (linalg.Gemm), and returns the best rate of reps runs (after
// one warm-up) in GFLOP/s.
func SgemmGFLOPS(m, n, k, reps int) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	a := randSlice(rng, m*k)
	b := randSlice(rng, k*n)
	c := make([]float32, m*n)
	run := func() { linalg.Gemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, b, k, 0, c, n) }
	run()
	best := time.Duration(1<<63 - 1)
	for i := 0; i < reps; i++ {
		t0 := time.Now()
		run()
		best = min(best, time.Since(t0))
	}
	return 2 * float64(m) * float64(n) * float64(k) / best.Seconds() / 1e9
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// ShapeOf gives the FLOP-counting shape of a config.
func ShapeOf(c *model.Config) Shape {
	return Shape{Layers: c.NLayers, DModel: c.DModel, DMLP: c.DMLP, QDim: c.QDim(), KVDim: c.KVDim(), DVocab: c.DVocab, Gated: c.Gated}
}

// Shape is the size of one model forward pass, for FLOP counting.
type Shape struct {
	Layers, DModel, DMLP, QDim, KVDim, DVocab int
	Gated                                     bool
}

// ForwardFLOPs counts the multiply-adds (×2) of a forward pass over batch×seq tokens: every
// projection, attention scores and mixing over the full seq×seq square, and the unembedding.
func (s Shape) ForwardFLOPs(batch, seq int) float64 {
	tok := float64(batch * seq)
	mlpMats := 2.0
	if s.Gated {
		mlpMats = 3
	}
	perLayer := 2 * tok * (float64(s.DModel)*float64(s.QDim+2*s.KVDim) + float64(s.QDim)*float64(s.DModel) +
		mlpMats*float64(s.DModel)*float64(s.DMLP))
	attn := 2 * 2 * float64(batch) * float64(seq) * float64(seq) * float64(s.QDim)
	unembed := 2 * tok * float64(s.DModel) * float64(s.DVocab)
	return float64(s.Layers)*(perLayer+attn) + unembed
}

// Describe formats a duration and rate.
func Describe(d time.Duration, flops float64) string {
	return fmt.Sprintf("%v (%.1f GFLOP/s)", d.Round(time.Millisecond), flops/d.Seconds()/1e9)
}
