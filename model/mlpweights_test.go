package model

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
)

// TestMLPWeightsPostNorm: MLPWeights.PostNorm is set exactly for the models whose MLP output
// is normalized before it joins the residual stream (Config.SandwichNorm), and hook_mlp_out is
// what its documentation says: m/s·(1 + g), m = Out·hook_post + OutBias recomputed in float64
// from the weights, s = sqrt(mean(m²) + eps); without it, hook_mlp_out is m itself.
func TestMLPWeightsPostNorm(t *testing.T) {
	for name, m := range tinyModels(t) {
		c := m.Config
		b, err := NewBatch(prompts[:1], PadRight, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post", "blocks.*.hook_mlp_out"))
		if err != nil {
			t.Fatal(err)
		}
		dir := make([]float32, c.DModel)
		for l := 0; l < c.NLayers; l++ {
			w := m.MLP(l)
			if (w.PostNorm != nil) != c.SandwichNorm {
				t.Fatalf("%s layer %d: PostNorm %v with SandwichNorm %v", name, l, w.PostNorm != nil, c.SandwichNorm)
			}
			post, _ := res.Cache.Get(hooks.At(l, hooks.MLPPost))
			out, _ := res.Cache.Get(hooks.At(l, hooks.MLPOut))
			for pos := range prompts[0] {
				mv := make([]float64, c.DModel)
				for i, a := range post.Row(0, pos) {
					w.WriteDirection(dir, i)
					for j, v := range dir {
						mv[j] += float64(a) * float64(v)
					}
				}
				var ss float64
				for j := range mv {
					if w.OutBias != nil {
						mv[j] += float64(w.OutBias.Data[j])
					}
					ss += mv[j] * mv[j]
				}
				s := math.Sqrt(ss/float64(c.DModel) + c.NormEps)
				for j, got := range out.Row(0, pos) {
					want := mv[j]
					if w.PostNorm != nil {
						want *= (1 + float64(w.PostNorm.Data[j])) / s
					}
					if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("%s layer %d pos %d: hook_mlp_out[%d] = %g, from the weights %g", name, l, pos, j, got, want)
					}
				}
			}
		}
	}
}
