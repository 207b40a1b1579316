package profile

import (
	"fmt"
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestVocabTokensDLA: on the tiny model of every architecture, the dla lists
// (VocabTokens with normWeight) score each token by the neuron's direct logit attribution per
// unit activation: at a position where the neuron has activation a, attribute.DirectLogit's
// attribution to that token is a·score/(s·s_post), s = ln_final.hook_scale and s_post the
// post-feed-forward norm's divisor (Gemma 2/3; 1 elsewhere). The lm_head lists score W_U[t]·w,
// the raw write direction, by hand.
func TestVocabTokensDLA(t *testing.T) {
	prompt := []int{3, 14, 15, 92, 65}
	const pos, k = 3, 4
	for _, name := range modeltest.TinyNames() {
		m := modeltest.Tiny(t, name, 9)
		c := m.Config
		var points []hooks.Point
		for l := 0; l < c.NLayers; l++ {
			points = append(points, hooks.At(l, hooks.MLPPost))
		}
		points = append(points, hooks.At(0, hooks.MLPOut)) // gets no lists
		namer := func(id int) string { return fmt.Sprint("t", id) }
		dla, err := VocabTokens(m, points, k, true, namer)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := VocabTokens(m, points, k, false, namer)
		if err != nil {
			t.Fatal(err)
		}
		if len(dla) != c.NLayers*c.DMLP || len(raw) != len(dla) {
			t.Fatalf("%s: %d and %d neurons with lists, want %d", name, len(dla), len(raw), c.NLayers*c.DMLP)
		}
		b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post"))
		if err != nil {
			t.Fatal(err)
		}
		dir := make([]float32, c.DModel)
		for l := 0; l < c.NLayers; l++ {
			post, _ := res.Cache.Get(hooks.At(l, hooks.MLPPost))
			for _, i := range []int{0, c.DMLP - 1} {
				n := hooks.NeuronAt(l, hooks.MLPPost, i)
				lists := dla[n]
				if lists == nil || len(lists.Top) != k || len(lists.Bottom) != k {
					t.Fatalf("%s %v: lists %+v", name, n, lists)
				}
				for _, tok := range []ScoredToken{lists.Top[0], lists.Bottom[0]} {
					d, err := attribute.DirectLogit(m, b, 0, pos, []int{tok.ID}, []int{l})
					if err != nil {
						t.Fatal(err)
					}
					ld := d.Layers[0]
					sPost := 1.0
					if ld.PostScale != 0 {
						sPost = float64(ld.PostScale)
					}
					want := float64(post.At(0, pos, i)) * float64(tok.Score) / (float64(d.Scale) * sPost)
					if got := float64(ld.Neurons[i]); math.Abs(got-want) > 1e-4*(math.Abs(want)+1e-2) {
						t.Errorf("%s %v token %d: DLA %.7g, activation × dla score / scales %.7g", name, n, tok.ID, got, want)
					}
					if tok.Token != namer(tok.ID) {
						t.Errorf("%s: token %d named %q", name, tok.ID, tok.Token)
					}
				}
				m.MLP(l).WriteDirection(dir, i)
				for _, tok := range raw[n].Top {
					var want float64
					for j, v := range m.Unembedding().Row(tok.ID) {
						want += float64(v) * float64(dir[j])
					}
					if math.Abs(float64(tok.Score)-want) > 1e-5*(1+math.Abs(want)) {
						t.Errorf("%s %v token %d: lm_head score %g, W_U[t]·w %g", name, n, tok.ID, tok.Score, want)
					}
				}
			}
		}
	}
}
