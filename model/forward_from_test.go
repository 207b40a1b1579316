package model_test

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestForwardFrom: starting at block l on the clean blocks.l.hook_resid_pre, or at n_layers on
// the last hook_resid_post, gives the logits of the full pass, for every architecture.
func TestForwardFrom(t *testing.T) {
	for _, name := range modeltest.TinyNames() {
		m := modeltest.Tiny(t, name, 3)
		c := m.Config
		b, _ := model.NewBatch([][]int{{1, 5, 9, 13}, {2, 7}}, model.PadLeft, 0)
		full, err := m.Forward(b, hooks.Capture("blocks.*.hook_resid_pre", "blocks.*.hook_resid_post"))
		if err != nil {
			t.Fatal(err)
		}
		for l := 1; l <= c.NLayers; l++ {
			p := hooks.At(l, hooks.ResidPre)
			if l == c.NLayers {
				p = hooks.At(l-1, hooks.ResidPost)
			}
			resid, _ := full.Cache.Get(p)
			res, err := m.ForwardFrom(model.Start{Layer: l, Resid: resid}, b)
			if err != nil {
				t.Fatalf("%s from %d: %v", name, l, err)
			}
			for i, v := range res.Logits.Data {
				if !b.Mask[i/c.DVocab] {
					continue
				}
				if w := full.Logits.Data[i]; math.Abs(float64(v-w)) > 1e-5*math.Max(1, math.Abs(float64(w))) {
					t.Fatalf("%s from layer %d: logit %d = %g, full pass %g", name, l, i, v, w)
				}
			}
		}
		if _, err := m.ForwardFrom(model.Start{Layer: 1}, b); err == nil {
			t.Errorf("%s: a start without its residual passed", name)
		}
	}
}
