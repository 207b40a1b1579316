package attribute

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// bruteLens computes ln_final(x)·W_U for one residual vector in float64 from the weights: the
// final LayerNorm (centred, population variance, weight and bias) or RMSNorm (weight, or
// 1 + weight for Gemma), then the model's final-logit soft-cap cap·tanh(z/cap) where it has
// one. (The soft-cap was missing here: the lens claims the model's own readout, which
// ForwardFrom computes with the cap, and the last layer must equal the model's logits.)
func bruteLens(m *model.Model, x []float32) []float64 {
	c := m.Config
	w, b := m.FinalNorm()
	d := c.DModel
	h := make([]float64, d)
	var mean float64
	if c.LayerNorm {
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(d)
	}
	var ss float64
	for _, v := range x {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	scale := math.Sqrt(ss/float64(d) + c.NormEps)
	for i, v := range x {
		g := float64(w.Data[i])
		if c.NormPlusOne {
			g++
		}
		h[i] = (float64(v) - mean) / scale * g
		if c.LayerNorm && b != nil {
			h[i] += float64(b.Data[i])
		}
	}
	u := m.Unembedding().Data
	out := make([]float64, c.DVocab)
	for t := range out {
		for i := range d {
			out[t] += float64(u[t*d+i]) * h[i]
		}
		if cp := c.FinalSoftcap; cp > 0 {
			out[t] = cp * math.Tanh(out[t]/cp)
		}
	}
	return out
}

// TestLogitLens: for every architecture, each layer's lens logits, top tokens (order and
// probabilities) and next-token ranks equal a brute-force float64 computation from the weights,
// and the last layer's lens is the model's own output.
func TestLogitLens(t *testing.T) {
	prompt := []int{1, 5, 9, 13, 2}
	for _, name := range modeltest.TinyNames() {
		m := modeltest.Tiny(t, name, 11)
		c := m.Config
		rep, err := LogitLens(m, prompt, LensOptions{K: 4}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		full, err := m.Forward(b, hooks.Capture("blocks.*.hook_resid_post"))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Layers) != c.NLayers {
			t.Fatalf("%s: %d layers", name, len(rep.Layers))
		}
		for _, l := range rep.Layers {
			resid, _ := full.Cache.Get(hooks.At(l.Layer, hooks.ResidPost))
			all, err := LensLogits(m, prompt, resid)
			if err != nil {
				t.Fatal(err)
			}
			for tp, p := range l.Positions {
				want := bruteLens(m, resid.Data[tp*c.DModel:(tp+1)*c.DModel])
				for id, w := range want {
					if g := all.Data[tp*c.DVocab+id]; math.Abs(float64(g)-w) > 1e-4*math.Max(1, math.Abs(w)) {
						t.Fatalf("%s layer %d pos %d token %d: lens logit %g, brute force %g", name, l.Layer, tp, id, g, w)
					}
					if l.Layer == c.NLayers-1 && all.Data[tp*c.DVocab+id] != full.Logits.Data[tp*c.DVocab+id] {
						t.Errorf("%s: last layer's lens logit %g differs from the model's %g", name, all.Data[tp*c.DVocab+id], full.Logits.Data[tp*c.DVocab+id])
					}
				}
				maxL := math.Inf(-1)
				for _, v := range want {
					maxL = math.Max(maxL, v)
				}
				var z float64
				for _, v := range want {
					z += math.Exp(v - maxL)
				}
				rank := func(id int) int {
					r := 1
					for j, v := range want {
						if v > want[id] || v == want[id] && j < id {
							r++
						}
					}
					return r
				}
				for k, tok := range p.Top {
					if math.Abs(float64(tok.Logit)-want[tok.ID]) > 1e-4*math.Max(1, math.Abs(want[tok.ID])) ||
						math.Abs(tok.Prob-math.Exp(want[tok.ID]-maxL)/z) > 1e-5 || tok.Rank != k+1 || rank(tok.ID) != k+1 {
						t.Errorf("%s layer %d pos %d top %d: token %d logit %g prob %g rank %d; brute force %g %g rank %d",
							name, l.Layer, tp, k, tok.ID, tok.Logit, tok.Prob, tok.Rank, want[tok.ID], math.Exp(want[tok.ID]-maxL)/z, rank(tok.ID))
					}
				}
				if tp+1 < len(prompt) {
					if p.Next == nil || p.Next.ID != prompt[tp+1] || p.Next.Rank != rank(prompt[tp+1]) {
						t.Errorf("%s layer %d pos %d: next token %+v, brute-force rank %d", name, l.Layer, tp, p.Next, rank(prompt[tp+1]))
					}
				} else if p.Next != nil {
					t.Errorf("%s: a next token at the last position", name)
				}
			}
		}
	}
}
