package attribute

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// TestGradXActLinearReadout: a logit before the final soft-cap is linear in ln_final.output
// (z = h·W_U[t]), so gradient × activation there is exact for a model without a soft-cap: the
// scores sum to the logit, and attribution patching scores sum to logit_clean −
// logit_corrupt. A soft-capped model's logit is cap·tanh(z/cap), whose gradient is
// W_U[t]·(1 − tanh²(z/cap)): the scores then sum to z·(1 − tanh²(z/cap)), and attribution
// patching's to (z_clean − z_corrupt)·(1 − tanh²(z_corrupt/cap)), z from the captured
// ln_final.output. Every architecture.
func TestGradXActLinearReadout(t *testing.T) {
	for _, name := range blockFamilies {
		m := tinyModel(t, name)
		cp := m.Config.FinalSoftcap
		clean, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		corrupt, _ := model.NewBatch([][]int{{3, 14, 15, 7, 65, 35, 89}}, model.PadRight, 0)
		out := hooks.Global(hooks.FinalOutput)
		metric := model.Logit(0, 5, 17)
		// logit returns the model's logit and z, the logit before the soft-cap.
		logit := func(b model.Batch) (float64, float64) {
			res, err := m.Forward(b, hooks.CapturePoints(out))
			if err != nil {
				t.Fatal(err)
			}
			v, _ := metric.Value(b, res.Logits)
			h, _ := res.Cache.Get(out)
			return v, dlaPreCap(m, h.Row(0, 5), []int{17})
		}
		slope := func(z float64) float64 { // d logit / dz
			if cp == 0 {
				return 1
			}
			th := math.Tanh(z / cp)
			return 1 - th*th
		}
		lc, zc := logit(clean)
		_, zx := logit(corrupt)
		s, err := GradXAct(m, clean, metric, []hooks.Point{out})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sum(s.At[out].Data), zc*slope(zc); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: Σ grad×act at ln_final.output = %.7g, want %.7g (logit %.7g)", name, got, want, lc)
		}
		if math.Abs(s.Metric-lc) > 1e-5 {
			t.Errorf("%s: metric %.7g, forward logit %.7g", name, s.Metric, lc)
		}
		ap, err := AttributionPatching(m, clean, corrupt, metric, []hooks.Point{out, hooks.At(1, hooks.MLPPost)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sum(ap.At[out].Data), (zc-zx)*slope(zx); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: Σ attribution patching at ln_final.output = %.7g, want %.7g", name, got, want)
		}
		if ap.At[hooks.At(1, hooks.MLPPost)] == nil {
			t.Errorf("%s: no scores at hook_post", name)
		}
	}
	m := tinyModel(t, "gpt2")
	short, _ := model.NewBatch([][]int{prompt[:3]}, model.PadRight, 0)
	long, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if _, err := AttributionPatching(m, short, long, model.Logit(0, 1, 2), []hooks.Point{hooks.At(0, hooks.MLPPost)}); err == nil {
		t.Error("clean and corrupt batches of different lengths were accepted")
	}
}

func sum(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}
