package spectra

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/probes/internal/kernels"
)

// gpt2Width is GPT-2 small's d_mlp.
const gpt2Width = 3072

// geluRows is n rows of width w of GELU(N(0,1)) activations.
func geluRows(seed uint64, n, w int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := make([]float32, n*w)
	for i := range x {
		v := rng.NormFloat64()
		x[i] = float32(0.5 * v * (1 + math.Erf(v/math.Sqrt2)))
	}
	return x
}

// BenchmarkCovarianceUpdate times one Add of 1024 rows (8 contexts × 128 tokens) of width 3072
// (GPT-2 small's d_mlp): centring plus the strip SYRK plus Chan's merge. GFLOP/s counts the
// 1024·3072·3073 flops of an exact SYRK (the strips do (1+256/3072)× that) per wall second;
// GFLOP/cpu-s per second of process CPU time (the per-core rate, steadier on a shared machine).
func BenchmarkCovarianceUpdate(b *testing.B) {
	for _, bc := range []struct {
		name string
		f32  bool
	}{{"float64", false}, {"float32products", true}} {
		b.Run(bc.name, func(b *testing.B) {
			const rows = 1024
			x := geluRows(1, rows, gpt2Width)
			c := NewCovariance(gpt2Width, Options{Float32Products: bc.f32})
			if err := c.Add(x, rows); err != nil { // warm the scratch
				b.Fatal(err)
			}
			b.ResetTimer()
			c0 := cpuTime()
			for range b.N {
				if err := c.Add(x, rows); err != nil {
					b.Fatal(err)
				}
			}
			cpu := (cpuTime() - c0).Seconds() / float64(b.N)
			sec := b.Elapsed().Seconds() / float64(b.N)
			flops := float64(rows) * gpt2Width * (gpt2Width + 1)
			b.ReportMetric(flops/sec/1e9, "GFLOP/s")
			if cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
			b.ReportMetric(sec/rows*1e9, "ns/token")
			b.ReportMetric(0, "ns/op")
			b.Logf("backend %s", kernels.Backend())
		})
	}
}

// BenchmarkEigenvalues times the eigenvalues of one 3072-wide covariance (done once per hook
// point at the end of a run: 24 times for GPT-2 small's pre and post).
func BenchmarkEigenvalues(b *testing.B) {
	const rows = 4096
	c := NewCovariance(gpt2Width, Options{})
	if err := c.Add(geluRows(2, rows, gpt2Width), rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := c.Eigenvalues(nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/eig")
	b.Logf("backend %s", kernels.Backend())
}

// BenchmarkSpectraOverhead times the forward of GPT-2-small-shaped batches (random weights, 8
// contexts × 128 tokens) with and without accumulating the covariance of every
// blocks.*.mlp.hook_pre and blocks.*.mlp.hook_post (24 × 3072 wide). Each timed batch runs
// plain and with spectra on the same model and tokens, in alternating order; it reports
// tokens/s of each, the wall-time ratio (the budget: ≤ 1.2 for 1M tokens, where the
// 24 final eigendecompositions, BenchmarkEigenvalues, add 24·s/eig) and the CPU-time ratio
// (steadier when other processes share the machine).
func BenchmarkSpectraOverhead(b *testing.B) {
	for _, bc := range []struct {
		name string
		f32  bool
	}{{"float64", false}, {"float32products", true}} {
		b.Run(bc.name, func(b *testing.B) { benchOverhead(b, Options{Float32Products: bc.f32}) })
	}
}

func benchOverhead(b *testing.B, opts Options) {
	cfg, err := model.PresetConfig("gpt2-small")
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const rowsN, T = 8, 128
	rng := rand.New(rand.NewPCG(1, 1))
	batch := func() model.Batch {
		seqs := make([][]int, rowsN)
		for r := range seqs {
			seqs[r] = make([]int, T)
			for i := range seqs[r] {
				seqs[r][i] = rng.IntN(cfg.DVocab)
			}
		}
		bt, err := model.NewBatch(seqs, model.PadRight, 0)
		if err != nil {
			b.Fatal(err)
		}
		return bt
	}
	pairs := make([]*Pair, cfg.NLayers)
	for l := range pairs {
		pairs[l] = NewPair(l, cfg.DMLP, opts)
	}
	var mask []bool
	opt := Observers(pairs, func() []bool { return mask })
	// run returns the wall and CPU time of one forward.
	run := func(bt model.Batch, spectra bool) (time.Duration, time.Duration) {
		mask = bt.Mask
		t0, c0 := time.Now(), cpuTime()
		var err error
		if spectra {
			_, err = m.Forward(bt, opt...)
		} else {
			_, err = m.Forward(bt)
		}
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t0), cpuTime() - c0
	}
	bt := batch()
	run(bt, true) // warm-up: scratch, model buffers
	run(bt, false)
	b.ResetTimer()
	var plain, with, plainCPU, withCPU time.Duration
	for i := range b.N {
		bt := batch()
		for k := range 2 { // alternate which goes first
			if (i+k)%2 == 0 {
				w, c := run(bt, false)
				plain, plainCPU = plain+w, plainCPU+c
			} else {
				w, c := run(bt, true)
				with, withCPU = with+w, withCPU+c
			}
		}
	}
	tok := float64(b.N * rowsN * T)
	b.ReportMetric(tok/plain.Seconds(), "plain_tok/s")
	b.ReportMetric(tok/with.Seconds(), "spectra_tok/s")
	b.ReportMetric(with.Seconds()/plain.Seconds(), "overhead_ratio")
	if plainCPU > 0 {
		b.ReportMetric(withCPU.Seconds()/plainCPU.Seconds(), "cpu_ratio")
	}
	b.ReportMetric(0, "ns/op")
}
