package attribute

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// TestGradXActLinearReadout: a logit is linear in ln_final.output (logit = h·W_U[t]), so
// gradient × activation there is exact: the scores sum to the logit, and attribution patching
// scores sum to logit_clean − logit_corrupt.
func TestGradXActLinearReadout(t *testing.T) {
	for _, name := range blockFamilies {
		m := tinyModel(t, name)
		clean, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		corrupt, _ := model.NewBatch([][]int{{3, 14, 15, 7, 65, 35, 89}}, model.PadRight, 0)
		out := hooks.Global(hooks.FinalOutput)
		metric := model.Logit(0, 5, 17)
		logit := func(b model.Batch) float64 {
			res, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := metric.Value(b, res.Logits)
			return v
		}
		s, err := GradXAct(m, clean, metric, []hooks.Point{out})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sum(s.At[out].Data), logit(clean); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: Σ grad×act at ln_final.output = %.7g, logit %.7g", name, got, want)
		}
		if math.Abs(s.Metric-logit(clean)) > 1e-5 {
			t.Errorf("%s: metric %.7g, forward logit %.7g", name, s.Metric, logit(clean))
		}
		ap, err := AttributionPatching(m, clean, corrupt, metric, []hooks.Point{out, hooks.At(1, hooks.MLPPost)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sum(ap.At[out].Data), logit(clean)-logit(corrupt); math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: Σ attribution patching at ln_final.output = %.7g, logit difference %.7g", name, got, want)
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
