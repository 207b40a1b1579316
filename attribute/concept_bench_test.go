package attribute

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// BenchmarkConcept: ScoreConcept (CULNIG scoring, batches of 16, every default tap of every
// layer in one backward per batch) over N items, against N single forward+backward passes
// (model.Gradient of one item's P(y|x) at the same points, one item per call). single-equiv is
// the ratio; the target is <= 1.3.
//
//	worldllama: testdata/world-llama, the first 128 items of concept_task.jsonl (4-9 tokens)
//	gpt2small:  the GPT-2-small shape (random weights), 32 prompts of 17-32 tokens
func BenchmarkConcept(b *testing.B) {
	b.Run("worldllama", func(b *testing.B) {
		m, err := model.Load(filepath.Join("..", "testdata", "world-llama"))
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		tok, err := corpus.LoadTokenizer(m)
		if err != nil {
			b.Fatal(err)
		}
		set, err := corpus.ReadPromptSet(filepath.Join("..", "testdata", "world", "concept_task.jsonl"), corpus.NewEncoder(m, tok, tokenizer.BOSAuto), corpus.PromptOptions{})
		if err != nil {
			b.Fatal(err)
		}
		set.Items = set.Items[:128]
		benchConcept(b, m, set, "continent")
	})
	b.Run("gpt2small", func(b *testing.B) {
		m := modeltest.GPT2Small(b)
		var seqs [][]int
		var answers []int
		for i := 0; i < 32; i++ {
			seqs = append(seqs, modeltest.Tokens(17+i%16, m.Config.DVocab)[i%3:])
			answers = append(answers, (i*131+7)%m.Config.DVocab)
		}
		benchConcept(b, m, conceptSet(seqs, answers, nil), "g")
	})
}

func benchConcept(b *testing.B, m *model.Model, set *corpus.PromptSet, key string) {
	taps := ConceptTaps(m)
	var points []hooks.Point
	for _, s := range taps {
		for l := 0; l < m.Config.NLayers; l++ {
			points = append(points, hooks.At(l, s))
		}
	}
	single := func() time.Duration {
		t0 := time.Now()
		for _, it := range set.Items {
			bt, _ := model.NewBatch([][]int{it.IDs}, model.PadRight, 0)
			if _, err := m.Gradient(bt, model.Prob(0, len(it.IDs)-1, it.AnswerIDs[0]), points); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	single() // warm-up
	ref := min(single(), single(), single())
	b.Logf("%d items, taps %v: N single forward+backward passes take %v", len(set.Items), taps, ref)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ScoreConcept(m, set, ConceptScoreOptions{GroupKey: key, Taps: taps}); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(per.Seconds()/ref.Seconds(), "single-equiv")
	b.ReportMetric(per.Seconds()/float64(len(set.Items))*1e3, "ms/item")
}
