package profile

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// BenchmarkProfileOverhead times the forward of GPT-2-small-shaped batches (random weights,
// 8 contexts × 64 tokens, the CLI's default batch) with and without profiling every
// blocks.*.mlp.hook_post neuron (12 × 3072) with the default options. Every timed batch is run
// twice, plain and profiled, on the same model and the same tokens, in alternating order (so
// neither run always gets the warmer caches); the profiled run includes EndBatch. It reports
// tokens/s of each and the ratio profiled/plain (the budget: ≤ 1.2).
//
// Before timing, warm-up batches are profiled (untimed) past the calibration prefix (256
// contexts), where every context still enters the top-k lists and reservoirs (a window copy
// each); that transient lasts a few dozen batches of a run of thousands. Set
// NEURONSCOPE_BENCH_WARMUP=0 to time from the first context instead.
func BenchmarkProfileOverhead(b *testing.B) {
	m := modeltest.GPT2Small(b)
	cfg := m.Config
	const rowsN, T = 8, 64
	rng := rand.New(rand.NewPCG(1, 1))
	var index int64
	batch := func() (model.Batch, []Context) {
		seqs := make([][]int, rowsN)
		rows := make([]Context, rowsN)
		for r := range seqs {
			seqs[r] = make([]int, T)
			for i := range seqs[r] {
				seqs[r][i] = rng.IntN(cfg.DVocab)
			}
			rows[r] = Context{IDs: seqs[r][:T], Doc: index, Index: index}
			index++
		}
		bt, _ := model.NewBatch(seqs, model.PadRight, 0)
		return bt, rows
	}
	p := New(Options{})
	var rows []Context
	prof := hooks.Observe("blocks.*.mlp.hook_post", func(pt hooks.Point, a *tensor.Tensor) error {
		return p.Observe(pt, a.Data, rows, a.Shape[1], a.Shape[2])
	})
	run := func(bt model.Batch, rs []Context, profiled bool) time.Duration {
		t0 := time.Now()
		if profiled {
			rows = rs
			if _, err := m.Forward(bt, prof); err != nil {
				b.Fatal(err)
			}
			p.EndBatch(rs)
		} else if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	warm := 40 // batches: 320 contexts, past calibration
	if s := os.Getenv("NEURONSCOPE_BENCH_WARMUP"); s != "" {
		warm, _ = strconv.Atoi(s)
	}
	for i := range max(warm, 1) {
		bt, rs := batch()
		run(bt, rs, true)
		if i == 0 {
			run(bt, rs, false)
		}
	}
	b.ResetTimer()
	var plain, profiled time.Duration
	for i := range b.N {
		bt, rs := batch()
		if i%2 == 0 {
			plain += run(bt, rs, false)
			profiled += run(bt, rs, true)
		} else {
			profiled += run(bt, rs, true)
			plain += run(bt, rs, false)
		}
	}
	tok := float64(b.N * rowsN * T)
	b.ReportMetric(tok/plain.Seconds(), "plain_tok/s")
	b.ReportMetric(tok/profiled.Seconds(), "profiled_tok/s")
	b.ReportMetric(profiled.Seconds()/plain.Seconds(), "overhead_ratio")
}

// BenchmarkObserve times Observe alone on one GPT-2-small-shaped hook point (3072 neurons,
// 8 contexts × 64 tokens of GELU-like activations) in the steady state (after 600 contexts),
// per activation.
func BenchmarkObserve(b *testing.B) {
	const n, rowsN, T, batches = 3072, 8, 64, 8
	rng := rand.New(rand.NewPCG(2, 2))
	acts := make([][]float32, batches)
	for i := range acts {
		acts[i] = make([]float32, rowsN*T*n)
		for k := range acts[i] {
			x := rng.NormFloat64()
			acts[i][k] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
		}
	}
	ids := make([]int, T)
	p := New(Options{})
	var index int64
	step := func(i int) {
		rows := make([]Context, rowsN)
		for r := range rows {
			rows[r] = Context{IDs: ids[:T], Doc: index, Index: index}
			index++
		}
		if err := p.Observe(hooks.At(0, hooks.MLPPost), acts[i%batches], rows, T, n); err != nil {
			b.Fatal(err)
		}
		p.EndBatch(rows)
	}
	for i := range 75 {
		step(i)
	}
	b.ResetTimer()
	for i := range b.N {
		step(i)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rowsN*T*n), "ns/act")
}
