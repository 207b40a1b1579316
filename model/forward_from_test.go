package model_test

import (
	"math"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ForwardFrom from a captured hook_resid_pre reproduces Forward bit for bit, with and without
// an edit at or above the start layer, for every architecture.
func TestForwardFromMatchesForward(t *testing.T) {
	for _, name := range modeltest.TinyNames() {
		t.Run(name, func(t *testing.T) {
			m := modeltest.Tiny(t, name, 3)
			b, err := model.NewBatch([][]int{{1, 5, 9, 13, 2}, {7, 3}, {4, 4, 8}}, model.PadLeft, 0)
			if err != nil {
				t.Fatal(err)
			}
			L := m.Config.NLayers
			edit := hooks.EditPoint(hooks.At(L-1, hooks.MLPPost), func(_ hooks.Point, a *tensor.Tensor) error {
				for i := 3; i < len(a.Data); i += a.Shape[2] {
					a.Data[i] *= 2
				}
				return nil
			})
			var pre []hooks.Point
			for l := 0; l < L; l++ {
				pre = append(pre, hooks.At(l, hooks.ResidPre))
			}
			plain, err := m.Forward(b, hooks.CapturePoints(pre...))
			if err != nil {
				t.Fatal(err)
			}
			edited, err := m.Forward(b, edit)
			if err != nil {
				t.Fatal(err)
			}
			for l := 0; l <= L; l++ {
				s := model.Start{Layer: l}
				if l < L {
					s.Resid, _ = plain.Cache.Get(hooks.At(l, hooks.ResidPre))
				} else {
					// the final norm only: resid_post of the last layer
					full, _ := m.Forward(b, hooks.CapturePoints(hooks.At(L-1, hooks.ResidPost)))
					s.Resid, _ = full.Cache.Get(hooks.At(L-1, hooks.ResidPost))
				}
				res, err := m.ForwardFrom(s, b)
				if err != nil {
					t.Fatal(err)
				}
				same(t, res.Logits.Data, plain.Logits.Data, "layer %d, no edit", l)
				if l < L {
					res, err := m.ForwardFrom(s, b, edit)
					if err != nil {
						t.Fatal(err)
					}
					same(t, res.Logits.Data, edited.Logits.Data, "layer %d, edit at the last layer", l)
				}
			}
			// From the embeddings (no residual) it is Forward.
			res, err := m.ForwardFrom(model.Start{}, b, edit)
			if err != nil {
				t.Fatal(err)
			}
			same(t, res.Logits.Data, edited.Logits.Data, "from the embeddings")
			// A hook below the start layer never fires: an error, as in Forward.
			s := model.Start{Layer: 1}
			s.Resid, _ = plain.Cache.Get(hooks.At(1, hooks.ResidPre))
			if _, err := m.ForwardFrom(s, b, hooks.CapturePoints(hooks.At(0, hooks.MLPPost))); err == nil || !strings.Contains(err.Error(), "did not fire") {
				t.Errorf("a hook below the start layer: %v", err)
			}
			if _, err := m.ForwardFrom(model.Start{Layer: 1}, b); err == nil {
				t.Error("layer 1 without a residual accepted")
			}
		})
	}
}

func same(t *testing.T, got, want []float32, format string, a ...any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf(format+": %d logits, want %d", append(a, len(got), len(want))...)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf(format+": logit %d = %v, Forward gives %v", append(a, i, got[i], want[i])...)
		}
	}
}
