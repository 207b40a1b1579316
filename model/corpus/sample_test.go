package corpus_test

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// TestSamplerFilters: temperature, top-k (ties with the K-th kept) and top-p (the crossing
// token kept) leave the tokens and renormalised probabilities a hand computation gives, and
// draws follow them (20000 draws, every frequency within 5 standard errors).
func TestSamplerFilters(t *testing.T) {
	logits := []float32{2, 1, 0.5, 0, -1, 3, 1}
	softmax := func(ids []int, temp float64) []float64 {
		var sum float64
		out := make([]float64, len(ids))
		for k, id := range ids {
			out[k] = math.Exp(float64(logits[id]) / temp)
			sum += out[k]
		}
		for k := range out {
			out[k] /= sum
		}
		return out
	}
	all := []int{5, 0, 1, 6, 2, 3, 4}
	full := softmax(all, 1) // 0.5591 0.2057 0.0757 0.0757 0.0459 0.0278 0.0102 (ids 5 0 1 6 2 3 4)
	for _, c := range []struct {
		name string
		s    corpus.Sampling
		keep []int
		p    []float64
	}{
		{"all", corpus.Sampling{}, all, full},
		{"temperature 2", corpus.Sampling{Temperature: 2}, all, softmax(all, 2)},
		{"top-k 2", corpus.Sampling{TopK: 2}, []int{5, 0}, softmax([]int{5, 0}, 1)},
		{"top-k 3 keeps the tie", corpus.Sampling{TopK: 3}, []int{5, 0, 1, 6}, softmax([]int{5, 0, 1, 6}, 1)},
		{"top-p 0.5", corpus.Sampling{TopP: 0.5}, []int{5}, []float64{1}},
		{"top-p 0.6", corpus.Sampling{TopP: 0.6}, []int{5, 0}, softmax([]int{5, 0}, 1)},
		{"top-p 0.7 after top-k 2", corpus.Sampling{TopK: 2, TopP: 0.7}, []int{5}, []float64{1}},
		{"top-p 0.9", corpus.Sampling{TopP: 0.9}, []int{5, 0, 1, 6}, softmax([]int{5, 0, 1, 6}, 1)},
		{"top-p 0.92", corpus.Sampling{TopP: 0.92}, []int{5, 0, 1, 6, 2}, softmax([]int{5, 0, 1, 6, 2}, 1)},
	} {
		sm := corpus.NewSampler(c.s, 0)
		keep := sm.Keep(logits)
		p := sm.Probs()
		if !slices.Equal(keep, c.keep) || len(p) != len(c.p) {
			t.Errorf("%s: keeps %v, want %v", c.name, keep, c.keep)
			continue
		}
		for k := range p {
			if math.Abs(p[k]-c.p[k]) > 1e-12 {
				t.Errorf("%s: p[%d] = %g, want %g", c.name, k, p[k], c.p[k])
			}
		}
		const draws = 20000
		count := map[int]int{}
		for range draws {
			count[sm.Next(logits)]++
		}
		for k, id := range c.keep {
			se := math.Sqrt(c.p[k] * (1 - c.p[k]) / draws)
			if f := float64(count[id]) / draws; math.Abs(f-c.p[k]) > 5*se+1e-12 {
				t.Errorf("%s: token %d drawn %.4f of the time, want %.4f ± %.4f", c.name, id, f, c.p[k], se)
			}
			delete(count, id)
		}
		if len(count) > 0 {
			t.Errorf("%s: drew filtered tokens %v", c.name, count)
		}
	}
	if err := (corpus.Sampling{TopP: 1.5}).Check(); err == nil {
		t.Error("top-p 1.5 passed")
	}
	if err := (corpus.Sampling{Temperature: -1}).Check(); err == nil {
		t.Error("temperature -1 passed")
	}
}

// TestSamplerDeterministic: a stream's draws depend on the seed and the stream only.
func TestSamplerDeterministic(t *testing.T) {
	logits := make([]float32, 50)
	for i := range logits {
		logits[i] = float32(i%7) * 0.3
	}
	draw := func(seed, stream uint64) []int {
		sm := corpus.NewSampler(corpus.Sampling{Seed: seed}, stream)
		var out []int
		for range 40 {
			out = append(out, sm.Next(logits))
		}
		return out
	}
	if !slices.Equal(draw(1, 0), draw(1, 0)) {
		t.Error("same seed and stream, different draws")
	}
	if slices.Equal(draw(1, 0), draw(2, 0)) || slices.Equal(draw(1, 0), draw(1, 1)) {
		t.Error("another seed or stream gives the same 40 draws")
	}
}

// TestGenerateSamplingAndStop: sampled continuations are the same whatever the batching and
// run to run, differ with the seed, equal greedy decoding under top-k 1; a stop token ends a
// continuation (and is its last token).
func TestGenerateSamplingAndStop(t *testing.T) {
	m, tok := worldModel(t)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)
	set, err := corpus.ReadPromptSet(filepath.Join(worldDir, "eval_facts.jsonl"), enc, corpus.PromptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prompts := set.Prompts()[:24]
	gen := func(s *corpus.Sampling, batch int, stop []int) [][]int {
		out, err := corpus.Generate(m, prompts, corpus.GenerateOptions{MaxNew: 6, BatchSize: batch, Sampling: s, Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	hot := &corpus.Sampling{Temperature: 3, Seed: 7}
	a, b := gen(hot, 5, nil), gen(hot, 24, nil)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Error("sampled continuations depend on the batching")
	}
	if !slices.EqualFunc(a, gen(hot, 5, nil), slices.Equal) {
		t.Error("sampled continuations differ run to run")
	}
	if slices.EqualFunc(a, gen(&corpus.Sampling{Temperature: 3, Seed: 8}, 5, nil), slices.Equal) {
		t.Error("another seed gives the same continuations")
	}
	greedy := gen(nil, 0, nil)
	if !slices.EqualFunc(greedy, gen(&corpus.Sampling{TopK: 1, Seed: 3}, 7, nil), slices.Equal) {
		t.Error("top-k 1 differs from greedy decoding")
	}
	stop := greedy[0][2]
	stopped := gen(nil, 0, []int{stop})
	for i, g := range stopped {
		k := slices.Index(greedy[i], stop)
		want := greedy[i]
		if k >= 0 {
			want = greedy[i][:k+1]
		}
		if !slices.Equal(g, want) {
			t.Errorf("prompt %d: stopped at %d gives %v, want %v", i, stop, g, want)
		}
	}
}
