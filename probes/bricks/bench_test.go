package bricks

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"

	"github.com/neuronscope/neuronscope/probes/internal/kernels"
)

// benchCorrelation is a 3072-neuron correlation matrix with 32 planted factors: R is the
// normalised F·Fᵀ + I, F [3072, 64] with each neuron loading on its block's factor and on
// 32 shared noise factors.
func benchCorrelation(w, blocks int) []float64 {
	rng := rand.New(rand.NewPCG(1, 1))
	const f = 64
	F := make([]float64, w*f)
	for i := range w {
		F[i*f+i%blocks] = 1
		for j := 32; j < f; j++ {
			F[i*f+j] = 0.2 * rng.NormFloat64()
		}
	}
	r := make([]float64, w*w)
	kernels.Dgemm(blas.NoTrans, blas.Trans, w, w, f, 1, F, f, F, f, 0, r, w)
	for i := range w {
		r[i*w+i]++
	}
	d := make([]float64, w)
	for i := range w {
		d[i] = math.Sqrt(r[i*w+i])
	}
	for i := range w {
		for j := range w {
			r[i*w+j] /= d[i] * d[j]
		}
	}
	return r
}

// BenchmarkCluster partitions GPT-2 small's 3072 neurons into 32 bricks (10 k-means++
// restarts) from their correlation matrix.
func BenchmarkCluster(b *testing.B) {
	const w, k = 3072, 32
	corr := benchCorrelation(w, k)
	constant := make([]bool, w)
	b.ResetTimer()
	var p *Partition
	for range b.N {
		var err error
		if p, err = Cluster(corr, constant, PartitionOptions{Bricks: k, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/partition")
	b.ReportMetric(float64(p.Iterations), "iterations")
	blocks := make([]int, w)
	for i := range blocks {
		blocks[i] = i % k
	}
	b.ReportMetric(AdjustedRandIndex(p.Assign, blocks), "ARI")
}

// BenchmarkAnalyze characterises 32 bricks of 3072 neurons over 20 groups against 1000
// random partitions.
func BenchmarkAnalyze(b *testing.B) {
	const w, k, g = 3072, 32, 20
	rng := rand.New(rand.NewPCG(2, 2))
	gm := NewGroupMass(w, g, AbsMass)
	x := make([]float32, w)
	for t := range 200 {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		if err := gm.Add(x, []int{t % g}); err != nil {
			b.Fatal(err)
		}
	}
	p := &Partition{Width: w, Bricks: k, Assign: make([]int, w), Sizes: make([]int, k)}
	for i := range w {
		p.Assign[i] = i % k
		p.Sizes[i%k]++
	}
	b.ResetTimer()
	for range b.N {
		if _, err := Analyze(p, gm, AnalyzeOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/analysis")
}
