package attribute

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestAttributeIGPerHook: with integrated gradients over several hook points, each point's
// f_baseline, Σ IG and completeness gap are its own (integrated gradients run alone at that
// point), and gap = |Σ IG − (f_full − f_baseline)| holds per point, for both scopes.
func TestAttributeIGPerHook(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 7)
	prompt := []int{1, 5, 9, 13, 2}
	metric := model.Prob(0, 4, 7)
	points := []hooks.Point{hooks.At(0, hooks.MLPPost), hooks.At(1, hooks.MLPPost)}
	for _, all := range []bool{false, true} {
		rep, arr, err := Attribute(m, prompt, metric, points, AttributionOptions{Method: MethodIG, IG: IGOptions{Steps: 6}, AllPositions: all})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.FBaseline) != 2 || len(rep.IGSum) != 2 || len(rep.CompletenessGap) != 2 {
			t.Fatalf("all=%v: per-hook values %v %v %v", all, rep.FBaseline, rep.IGSum, rep.CompletenessGap)
		}
		if rep.FBaseline[points[0].String()] == rep.FBaseline[points[1].String()] {
			t.Errorf("all=%v: both hooks report f_baseline %g", all, rep.FBaseline[points[0].String()])
		}
		for _, p := range points {
			opt := IGOptions{Steps: 6}
			if all {
				opt.Scope = All
			}
			alone, err := IntegratedGradients(m, prompt, p, metric, opt)
			if err != nil {
				t.Fatal(err)
			}
			k := p.String()
			var sum float64
			for _, v := range arr.Scores[p].Data {
				sum += float64(v)
			}
			if rep.FBaseline[k] != alone.FBaseline || rep.IGSum[k] != alone.Sum || rep.CompletenessGap[k] != alone.Gap || rep.FFull != alone.FFull {
				t.Errorf("all=%v %s: report f_baseline %g Σ %g gap %g, alone %g %g %g", all, k, rep.FBaseline[k], rep.IGSum[k], rep.CompletenessGap[k],
					alone.FBaseline, alone.Sum, alone.Gap)
			}
			if gap := math.Abs(rep.IGSum[k] - (rep.FFull - rep.FBaseline[k])); math.Abs(gap-rep.CompletenessGap[k]) > 1e-12 || math.Abs(sum-rep.IGSum[k]) > 1e-5 {
				t.Errorf("all=%v %s: gap %g from the report's own numbers, reported %g; Σ scores %g vs %g", all, k, gap, rep.CompletenessGap[k], sum, rep.IGSum[k])
			}
		}
	}
}

// TestReadReportV1: a schema-1 report's single f_baseline (it belonged to the last hook)
// reads back under that hook.
func TestReadReportV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.json")
	os.WriteFile(path, []byte(`{"schema_version":1,"provenance":{"hooks_fired":["blocks.0.mlp.hook_post","blocks.1.mlp.hook_post"]},
"method":"ig","metric":"prob","neuron_definition":"n","f_full":0.9,"f_baseline":0.1,"completeness_gap":{"blocks.1.mlp.hook_post":0.01},
"top":[{"layer":1,"index":3,"hook":"blocks.1.mlp.hook_post","score":0.5,"activation":1}],"bottom":[]}`), 0o644)
	r, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.FBaseline) != 1 || r.FBaseline["blocks.1.mlp.hook_post"] != 0.1 || r.Top[0].Point != hooks.At(1, hooks.MLPPost) {
		t.Errorf("v1 report: %+v", r)
	}
}
