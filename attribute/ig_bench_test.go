package attribute

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// BenchmarkIGGPT2Small: integrated gradients (m = 20, left rule) at one layer's hook_post of the
// GPT-2-small shape (random weights), one 32-token prompt, target = probability of a token at
// the last position. fwd-equiv is the time of one IntegratedGradients call divided by the time
// of one plain Forward of the same prompt (median of 7); the target is <= 25. Layer 0 is the
// worst case (the steps run through all 12 layers).
func BenchmarkIGGPT2Small(b *testing.B) {
	m := modeltest.GPT2Small(b)
	prompt := modeltest.Tokens(32, m.Config.DVocab)
	fwd := medianForward(b, m, prompt)
	metric := model.Prob(0, len(prompt)-1, 1234)
	for _, layer := range []int{0, 6} {
		for _, sc := range []Scope{Target, All} {
			b.Run(fmt.Sprintf("layer%d/%v", layer, sc), func(b *testing.B) {
				opt := IGOptions{Steps: 20, Scope: sc}
				for i := 0; i < b.N; i++ {
					if _, err := IntegratedGradients(m, prompt, hooks.At(layer, hooks.MLPPost), metric, opt); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/fwd.Seconds(), "fwd-equiv")
			})
		}
	}
}

// medianForward times one plain forward pass of the prompt (median of 7, after a warm-up).
func medianForward(b *testing.B, m *model.Model, prompt []int) time.Duration {
	bt, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		b.Fatal(err)
	}
	var ts []time.Duration
	for i := 0; i < 8; i++ {
		t0 := time.Now()
		if _, err := m.Forward(bt); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			ts = append(ts, time.Since(t0))
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	b.Logf("one forward of %d tokens: %v", len(prompt), ts[len(ts)/2])
	return ts[len(ts)/2]
}
