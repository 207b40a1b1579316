package distributed

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/profile"
)

// BenchmarkPipelineThroughput profiles the same data end to end (reading, profiling every
// mlp.hook_post neuron, merging, writing the exports) in one process and as the Beam pipeline
// on Prism with 2 shards after the calibration prefix, alternately, and reports tokens/s of
// each and their ratio (the floor: 0.8). The model is NEURONSCOPE_BENCH_MODEL (a
// checkpoint directory; default testdata/world-llama, whose forward is cheap, so that the
// pipeline's own costs weigh most), the data NEURONSCOPE_BENCH_TOKENS random-id tokens
// (default 24576) in 64-token documents; --calib 32, batch 8, other options default.
func BenchmarkPipelineThroughput(b *testing.B) {
	dir := os.Getenv("NEURONSCOPE_BENCH_MODEL")
	if dir == "" {
		dir = worldModel
	}
	tokens := 24576
	if s := os.Getenv("NEURONSCOPE_BENCH_TOKENS"); s != "" {
		tokens, _ = strconv.Atoi(s)
	}
	m, err := loadModel(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := min(64, m.Config.MaxPos)
	tmp := b.TempDir()
	data := filepath.Join(tmp, "data.jsonl")
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for d := 0; d < tokens/ctx; d++ {
		ids := make([]int, ctx)
		for i := range ids {
			ids[i] = 1 + rng.IntN(m.Config.DVocab-1)
		}
		js, _ := json.Marshal(ids)
		sb.Write(js)
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(data, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	enc := corpus.Encoder{BOS: m.Config.BOS, Vocab: m.Config.DVocab, Policy: tokenizer.BOSAuto}
	plan, err := NewPlan([]string{data}, enc, ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	points, _ := m.Catalog().MatchAll([]string{"blocks.*.mlp.hook_post"})
	opt := profile.Options{CalibContext: 32}.Defaults()
	set := profile.Settings{Data: data, Ctx: ctx, Batch: 8, Options: opt}
	single := func() time.Duration {
		t0 := time.Now()
		p := profile.New(opt)
		err := p.Run(m, points, func(yield func(corpus.Context) error) error {
			return plan.Range(enc, 0, plan.Contexts, yield)
		}, profile.RunOptions{Batch: 8})
		if err != nil {
			b.Fatal(err)
		}
		p.Finish()
		if err := p.WriteExports(filepath.Join(tmp, "single"), report.Provenance{}, set, nil, nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	names := make([]string, len(points))
	for i, p := range points {
		names[i] = p.String()
	}
	pipeline := func() time.Duration {
		t0 := time.Now()
		err := RunProfile(context.Background(), ProfileJob{ModelDir: dir, Plan: plan, BOS: "auto", Batch: 8, Points: names, Options: opt,
			Shards: 2, Out: filepath.Join(tmp, "beam"), Settings: set}, Runner{Name: "prism"})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	b.ResetTimer()
	var ts, tp time.Duration
	for i := range b.N {
		if i%2 == 0 {
			ts += single()
			tp += pipeline()
		} else {
			tp += pipeline()
			ts += single()
		}
	}
	tok := float64(b.N) * float64(plan.Tokens)
	b.ReportMetric(tok/ts.Seconds(), "single_tok/s")
	b.ReportMetric(tok/tp.Seconds(), "prism_tok/s")
	b.ReportMetric(ts.Seconds()/tp.Seconds(), "throughput_ratio")
}

// BenchmarkShardState measures, for a model shape (NEURONSCOPE_BENCH_PRESETS, comma-separated
// model presets; default gpt2-small), the per-token cost of profiling every mlp.hook_post
// neuron (random weights, 8 × 64-token batches after a 32-context calibration prefix), the
// size of one shard's encoded state, and the time to encode, decode and merge two shard
// states: the inputs of the scaling model in the package doc.
func BenchmarkShardState(b *testing.B) {
	presets := os.Getenv("NEURONSCOPE_BENCH_PRESETS")
	if presets == "" {
		presets = "gpt2-small"
	}
	for _, name := range strings.Split(presets, ",") {
		b.Run(name, func(b *testing.B) {
			cfg, err := model.PresetConfig(name)
			if err != nil {
				b.Fatal(err)
			}
			m, err := model.NewRandom(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			points, _ := m.Catalog().MatchAll([]string{"blocks.*.mlp.hook_post"})
			opt := profile.Options{CalibContext: 32}.Defaults()
			rng := rand.New(rand.NewPCG(3, 4))
			var index int64
			contexts := func(n int) func(yield func(corpus.Context) error) error {
				return func(yield func(corpus.Context) error) error {
					for range n {
						ids := make([]int, 64)
						for i := range ids {
							ids[i] = rng.IntN(cfg.DVocab)
						}
						if err := yield(corpus.Context{IDs: ids, Doc: index, Index: index}); err != nil {
							return err
						}
						index++
					}
					return nil
				}
			}
			cal0 := profile.New(opt)
			if err := cal0.Run(m, points, contexts(32), profile.RunOptions{Batch: 8}); err != nil {
				b.Fatal(err)
			}
			cal, err := cal0.Calibration(32)
			if err != nil {
				b.Fatal(err)
			}
			shard := func() (*profile.Profiler, time.Duration, time.Duration) {
				p := profile.NewShard(cal)
				var fwd time.Duration
				t0 := time.Now()
				err := corpus.Run(m, contexts(8), corpus.RunOptions{Batch: 8, After: func(*corpus.Batch) error { return nil }})
				fwd = time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				index -= 8 // profile the same contexts again
				t0 = time.Now()
				if err := p.Run(m, points, contexts(8*b.N), profile.RunOptions{Batch: 8}); err != nil {
					b.Fatal(err)
				}
				return p, fwd, time.Since(t0)
			}
			b.ResetTimer()
			a, fwd, prof := shard()
			b.StopTimer()
			c, _, _ := shard()
			t0 := time.Now()
			ea, err := a.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			tEnc := time.Since(t0)
			ec, _ := c.MarshalBinary()
			t0 = time.Now()
			da, err := profile.Unmarshal(ea)
			if err != nil {
				b.Fatal(err)
			}
			dc, _ := profile.Unmarshal(ec)
			tDec := time.Since(t0) / 2
			t0 = time.Now()
			if err := da.Merge(dc); err != nil {
				b.Fatal(err)
			}
			tMerge := time.Since(t0)
			neurons := 0
			for _, pt := range points {
				neurons += m.Catalog().Width(pt)
			}
			tok := float64(8 * 64 * b.N)
			b.ReportMetric(float64(neurons), "neurons")
			b.ReportMetric(float64(512)/fwd.Seconds(), "forward_tok/s")
			b.ReportMetric(tok/prof.Seconds(), "profiled_tok/s")
			b.ReportMetric(float64(len(ea))/1e6, "state_MB")
			b.ReportMetric(float64(len(ea))/float64(neurons), "state_B/neuron")
			b.ReportMetric(tEnc.Seconds(), "encode_s")
			b.ReportMetric(tDec.Seconds(), "decode_s")
			b.ReportMetric(tMerge.Seconds(), "merge_s")
		})
	}
}
