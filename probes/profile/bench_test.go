package profile

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// BenchmarkProfileOverhead times the forward of GPT-2-small-shaped batches (random weights,
// 4 contexts × 64 tokens) with and without profiling every blocks.*.mlp.hook_post neuron
// (12 × 3072) with the default options, alternating the two so both see the same machine
// state. It reports tokens/s of each and the ratio profiled/plain (the budget: ≤ 1.2).
// A short benchmark sees only the first few dozen contexts, when most of them still enter the
// top-k lists and reservoirs (a window copy each), so its ratio is an upper bound of a long
// run's; `neuronscope profile` over a real dataset reports the steady-state tokens/s.
func BenchmarkProfileOverhead(b *testing.B) {
	cfg, err := model.PresetConfig("gpt2-small")
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const rowsN, T = 4, 64
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
			rows[r] = Context{IDs: seqs[r], Len: T, Doc: index, Index: index}
			index++
		}
		bt, _ := model.NewBatch(seqs, model.PadRight, 0)
		return bt, rows
	}
	p := New(Options{})
	var rows []Context
	prof := hooks.Edit("blocks.*.mlp.hook_post", func(pt hooks.Point, a *tensor.Tensor) {
		if err := p.Observe(pt.String(), pt.Layer, a.Data, rows, a.Shape[1], a.Shape[2]); err != nil {
			b.Fatal(err)
		}
	})
	step := func(profiled bool) time.Duration {
		bt, rs := batch()
		rows = rs
		t0 := time.Now()
		if profiled {
			if _, err := m.Forward(bt, prof); err != nil {
				b.Fatal(err)
			}
			p.EndBatch(rows)
		} else if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	for range 3 { // warm up, and get past the first batches where every context enters the lists
		step(true)
		step(false)
	}
	b.ResetTimer()
	var plain, profiled time.Duration
	for range b.N {
		plain += step(false)
		profiled += step(true)
	}
	tok := float64(b.N * rowsN * T)
	b.ReportMetric(tok/plain.Seconds(), "plain_tok/s")
	b.ReportMetric(tok/profiled.Seconds(), "profiled_tok/s")
	b.ReportMetric(profiled.Seconds()/plain.Seconds(), "overhead_ratio")
}
