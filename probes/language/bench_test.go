package language

import (
	"math/rand/v2"
	"testing"
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
