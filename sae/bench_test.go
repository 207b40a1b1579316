package sae

import (
	"os"
	"strconv"
	"testing"
)

// benchShape is the benchmark's SAE: d_in, latents, batch, k. SAE_BENCH_SHAPE="d,m,batch,k"
// overrides it, SAE_BENCH_ACTS names an [n, d] activation file to train on (the side-by-side
// comparison with PyTorch in testdata/torch_reference.py uses the same file), and
// SAE_BENCH_WARMUP the steps taken before timing (default 60; ReLU and JumpReLU switch to their
// sparse path only once their codes are sparse, after some hundreds of steps).
func benchShape() (d, m, batch, k int) {
	d, m, batch, k = 512, 2048, 1024, 32
	if s := os.Getenv("SAE_BENCH_SHAPE"); s != "" {
		var v [4]int
		for i, f := range splitComma(s) {
			v[i], _ = strconv.Atoi(f)
		}
		d, m, batch, k = v[0], v[1], v[2], v[3]
	}
	return
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func benchRows(b *testing.B, d int) *Rows {
	if path := os.Getenv("SAE_BENCH_ACTS"); path != "" {
		a, err := OpenActivations(path, ActivationOptions{Tensor: os.Getenv("SAE_BENCH_TENSOR")})
		if err != nil {
			b.Fatal(err)
		}
		if a.Width() != d {
			b.Fatalf("%s has width %d, the benchmark shape d_in %d", path, a.Width(), d)
		}
		return a.Rows
	}
	x, _ := planted(16384, d, 4*d, 24, 1)
	return NewRows(x, d, "planted")
}

func benchTrain(b *testing.B, arch Arch, batchTopK bool) {
	d, m, batch, k := benchShape()
	rows := benchRows(b, d)
	cfg := DefaultTrainConfig(arch, d, m, 1<<30, batch)
	cfg.K, cfg.BatchTopK = k, batchTopK
	// An open-ended run: the schedules' fractions of Steps would never end, so fix them.
	cfg.SparsityWarmup, cfg.LRDecay = min(cfg.SparsityWarmup, 50), 0
	cfg.StatsRows = min(4096, rows.Len())
	if arch == TopK {
		cfg.DeadTokens = int64(batch) * 50 // dead latents appear, so AuxK runs as in a long run
	}
	tr, err := NewTrainer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	src := NewShuffled(rows, 1)
	if err := tr.Init(rows.Head(cfg.StatsRows), d); err != nil {
		b.Fatal(err)
	}
	batchBuf := make([]float32, batch*d)
	step := func() {
		if err := src.Next(batchBuf); err != nil {
			b.Fatal(err)
		}
		if _, err := tr.Step(batchBuf, d); err != nil {
			b.Fatal(err)
		}
	}
	warmup := 60 // past the warm-up transient (dead latents appear after 50 steps)
	if v, err := strconv.Atoi(os.Getenv("SAE_BENCH_WARMUP")); err == nil {
		warmup = v
	}
	for range warmup {
		step()
	}
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

func BenchmarkTrainStepTopK(b *testing.B)      { benchTrain(b, TopK, false) }
func BenchmarkTrainStepBatchTopK(b *testing.B) { benchTrain(b, TopK, true) }
func BenchmarkTrainStepReLU(b *testing.B)      { benchTrain(b, Standard, false) }
func BenchmarkTrainStepJumpReLU(b *testing.B)  { benchTrain(b, JumpReLU, false) }

func BenchmarkEncode(b *testing.B) {
	d, m, batch, k := benchShape()
	s := randomSAE(TopK, d, m, k, 1)
	x := randomBatch(batch, d, 2)
	var p Pass
	for b.Loop() {
		s.Run(&p, x)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "tokens/s")
}
