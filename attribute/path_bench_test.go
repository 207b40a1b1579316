package attribute

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// BenchmarkNeuronPath: NeuronPath on one prompt (m = 20 steps, hook_post, the search, the
// path's and the activation baseline's JAS: L + 2 batched passes of m one-token rows, and one
// clean pass). s/prompt is the time per prompt; Lm-equiv is that time over L·m single
// forward+backward passes of the whole prompt (model.Gradient of the target probability at
// every layer's hook_post, batch 1), the cost the issue states it against.
//
//	worldllama: testdata/world-llama (4 layers), a 6-token question
//	gpt2small:  the GPT-2-small shape (12 layers, random weights), a 32-token prompt
func BenchmarkNeuronPath(b *testing.B) {
	b.Run("worldllama", func(b *testing.B) {
		m, err := model.Load(filepath.Join("..", "testdata", "world-llama"))
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		benchPath(b, m, []int{2, 410, 118, 231, 99, 17}, 300)
	})
	b.Run("gpt2small", func(b *testing.B) {
		m := modeltest.GPT2Small(b)
		benchPath(b, m, modeltest.Tokens(32, m.Config.DVocab), 1234)
	})
}

func benchPath(b *testing.B, m *model.Model, prompt []int, token int) {
	L, steps := m.Config.NLayers, 20
	var pts []hooks.Point
	for l := 0; l < L; l++ {
		pts = append(pts, hooks.At(l, hooks.MLPPost))
	}
	bt, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	single := func() time.Duration {
		t0 := time.Now()
		for i := 0; i < 5; i++ {
			if _, err := m.Gradient(bt, model.Prob(0, len(prompt)-1, token), pts); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0) / 5
	}
	single()
	one := min(single(), single(), single())
	b.Logf("one forward+backward of %d tokens: %v; L·m = %d of them: %v", len(prompt), one, L*steps, one*time.Duration(L*steps))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NeuronPath(m, prompt, len(prompt)-1, token, PathOptions{Steps: steps}); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/prompt")
	b.ReportMetric(per.Seconds()/(one.Seconds()*float64(L*steps)), "Lm-equiv")
}
