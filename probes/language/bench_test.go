package language

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// randomProbs is a Mistral-7B-sized input: 10 languages × 32 layers × 14336 neurons.
func randomProbs() *Probabilities {
	groups := []string{"en", "ru", "es", "fr", "de", "zh", "ja", "bn", "th", "sw"}
	p := &Probabilities{Groups: groups, Layers: 32, Width: 14336, P: make([]float32, 10*32*14336)}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range p.P {
		p.P[i] = float32(r.Float64() * r.Float64())
	}
	return p
}

// BenchmarkLAPE7B: LAPE on 10 × 32 × 14336 probabilities (the percentile sorts 4.6M values).
func BenchmarkLAPE7B(b *testing.B) {
	p := randomProbs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := LAPE(p, LAPEOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweepLambda7B: the whole λ search (10 selections) on 10 × 32 × 14336.
func BenchmarkSweepLambda7B(b *testing.B) {
	p := randomProbs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := SweepLambda(p, AlignmentOptions{}, SweepOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddLayer: counting positives of a [512 tokens, 14336] activation block.
func BenchmarkAddLayer(b *testing.B) {
	const rows, width = 512, 14336
	c, _ := NewCounts([]string{"a", "b"}, "mlp.hook_pre", 1, width)
	acts := make([]float32, rows*width)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range acts {
		acts[i] = float32(r.NormFloat64())
	}
	b.SetBytes(int64(len(acts) * 4))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.AddLayer(0, 0, acts, rows)
	}
}

// BenchmarkCountOverhead times the forward of GPT-2-small-shaped batches (random weights, 8
// documents × 64 tokens per batch, random ids) plain and with counting every
// blocks.*.mlp.hook_post neuron (12 × 3072, LAPE's statistic for GPT-2) into 2 groups, both
// through corpus.Run on the same model and tokens, alternating which runs first. It reports
// tokens/s of each and the ratio counted/plain (the budget: ≤ 1.10).
func BenchmarkCountOverhead(b *testing.B) {
	m := modeltest.GPT2Small(b)
	const rows, T = 8, 64
	rng := rand.New(rand.NewPCG(5, 6))
	c, err := NewCounter([]string{"a", "b"}, "mlp.hook_post", m.Config.NLayers, m.Config.DMLP, false)
	if err != nil {
		b.Fatal(err)
	}
	enc := corpus.Encoder{BOS: -1, Vocab: m.Config.DVocab}
	batch := func() [][]int {
		docs := make([][]int, rows)
		for r := range docs {
			docs[r] = make([]int, T)
			for i := range docs[r] {
				docs[r][i] = rng.IntN(m.Config.DVocab)
			}
		}
		return docs
	}
	items := func(docs [][]int) Items {
		return func(yield func(Item) error) error {
			for i, ids := range docs {
				if err := yield(Item{Group: i % 2, Doc: corpus.Document{IDs: ids, HasIDs: true}}); err != nil {
					return err
				}
			}
			return nil
		}
	}
	plainRun := func(docs [][]int) time.Duration {
		t0 := time.Now()
		err := corpus.Run(m, func(yield func(corpus.Context) error) error {
			for i, ids := range docs {
				if err := yield(corpus.Context{IDs: ids, Index: int64(i)}); err != nil {
					return err
				}
			}
			return nil
		}, corpus.RunOptions{Batch: rows})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	countRun := func(docs [][]int) time.Duration {
		t0 := time.Now()
		c.Contexts = 0
		if err := c.Run(m, enc, items(docs), PassOptions{Tap: hooks.MLPPost, Ctx: T, Batch: rows}); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	docs := batch()
	plainRun(docs)
	countRun(docs)
	b.ResetTimer()
	var plain, counted time.Duration
	for i := range b.N {
		docs := batch()
		if i%2 == 0 {
			plain += plainRun(docs)
			counted += countRun(docs)
		} else {
			counted += countRun(docs)
			plain += plainRun(docs)
		}
	}
	tok := float64(b.N * rows * T)
	b.ReportMetric(tok/plain.Seconds(), "plain_tok/s")
	b.ReportMetric(tok/counted.Seconds(), "counted_tok/s")
	b.ReportMetric(counted.Seconds()/plain.Seconds(), "overhead_ratio")
}
