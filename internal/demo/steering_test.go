package demo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/internal/demo"
)

func steeringInputs(t *testing.T) demo.Inputs {
	in := load(t, "world-llama")
	gt, err := os.ReadFile(filepath.Join(testdata, "world", "ground_truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	in.Steering = &demo.SteeringInputs{GroundTruth: gt, Source: "testdata/world/ground_truth.json"}
	return in
}

// The steering stage at reduced size (the demo's own sizes run in TestSteeringDemoSizes):
// every method has a table row per KL target and a detection row, and the summary shows them.
func TestSteeringStage(t *testing.T) {
	in := steeringInputs(t)
	sz := demo.SteeringSizes{World: steering.WorldOptions{FitFacts: 1, FitFiller: 5, DetectFacts: 2, DetectFiller: 4, Prompts: 2},
		Rank: 8, Iters: 10, Latents: 128, K: 4, Steps: 20, Targets: []float64{0.01}, MaxNew: 4}
	st, err := demo.RunSteering(in, sz, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Methods) != 4 || len(st.Table) != 4 || len(st.Detection) != 4 || len(st.Concepts) != 14 {
		t.Fatalf("methods %v, %d table rows, %d detection rows, %d concepts", st.Methods, len(st.Table), len(st.Detection), len(st.Concepts))
	}
	r := &demo.Report{Steering: st}
	s := r.Summary()
	for _, want := range []string{"steering comparison", "TopK SAE", "diff-means", "concept detection"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	in.Steering = nil
	if _, err := demo.RunSteering(in, sz, func(string, ...any) {}); err == nil {
		t.Error("no ground truth accepted")
	}
}

// TestSteeringDemoSizes runs the stage at the demo's sizes (not in -short).
func TestSteeringDemoSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the demo-size steering stage runs in the OpenBLAS build")
	}
	st, err := demo.RunSteering(steeringInputs(t), demo.DemoSteeringSizes(), func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	auc := map[string]float64{}
	for _, d := range st.Detection {
		auc[d.Method] = d.AUC
	}
	// The random control detects nothing; the learned directions do.
	if a := auc[steering.MethodRandom]; a < 0.3 || a > 0.7 {
		t.Errorf("random directions detect with AUC %.3f", a)
	}
	for _, m := range []string{steering.MethodSNMF, steering.MethodSAE, steering.MethodDiffMeans} {
		if auc[m] < 0.65 {
			t.Errorf("%s detects with AUC %.3f only", m, auc[m])
		}
	}
	t.Logf("%.1f s\n%s", st.Seconds, st.TableText())
}
