package model_test

import (
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/perf"
	"github.com/neuronscope/neuronscope/model"
)

// BenchmarkForwardGPT2Small: GPT-2-small shape, batch 8 × 128 tokens, random weights. The
// target (OpenBLAS build) is ≥ 50% of the machine's sgemm rate; capturing every hook_post
// should cost ≤ 10% more. Run: make bench, or neuronscope bench --config gpt2-small.
func BenchmarkForwardGPT2Small(b *testing.B) {
	benchForward(b, "gpt2-small", 8, 128, nil)
}

func BenchmarkForwardGPT2SmallHookPost(b *testing.B) {
	benchForward(b, "gpt2-small", 8, 128, []hooks.Option{hooks.Capture("blocks.*.mlp.hook_post")})
}

// BenchmarkForwardLlama32 and BenchmarkForwardGemma2 are the new families at real shapes
// (Llama 3 RoPE scaling; Gemma 2's soft-capping, sliding windows and sandwich norms), batch
// 2 × 128 tokens: the target is the same fraction of sgemm as the existing families.
func BenchmarkForwardLlama32(b *testing.B) { benchForward(b, "llama-3.2-1b", 2, 128, nil) }
func BenchmarkForwardGemma2(b *testing.B)  { benchForward(b, "gemma-2-2b", 2, 128, nil) }

func benchForward(b *testing.B, preset string, batch, seq int, opts []hooks.Option) {
	cfg, err := model.PresetConfig(preset)
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	bt := randomBatch(cfg, batch, seq)
	flops := perf.ShapeOf(cfg).ForwardFLOPs(batch, seq)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(bt, opts...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(float64(batch*seq*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// randomBatch is a deterministic batch of token ids.
func randomBatch(cfg *model.Config, batch, seq int) model.Batch {
	b := model.Batch{Size: batch, Len: seq, IDs: make([]int, batch*seq), Mask: make([]bool, batch*seq)}
	for i := range b.IDs {
		b.IDs[i] = (i*7919 + 13) % cfg.DVocab
		b.Mask[i] = true
	}
	return b
}
