package model_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestNonFiniteWeightsRefused: a checkpoint with NaN/Inf weights is refused at load (the error
// names the tensor and the count); AllowNonFinite loads it, and the model's warnings and every
// provenance built from it say so.
func TestNonFiniteWeightsRefused(t *testing.T) {
	dir := modeltest.NonFiniteCopy(t, "../testdata/tiny-llama", "model.layers.1.mlp.down_proj.weight")
	_, err := model.Load(dir)
	var nf *model.NonFiniteError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "model.layers.1.mlp.down_proj.weight has 2 NaN/Inf values") {
		t.Fatalf("load: %v, want a NonFiniteError naming the tensor", err)
	}
	m, err := model.LoadWith(dir, model.Options{AllowNonFinite: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prov := m.Provenance()
	if len(m.Warnings) != 1 || len(prov.Warnings) != 1 || !strings.Contains(prov.Warnings[0], "down_proj") {
		t.Fatalf("warnings %v, provenance %v", m.Warnings, prov.Warnings)
	}
	b, _ := model.NewBatch([][]int{{1, 2, 3}}, model.PadRight, 0)
	res, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(float64(res.Logits.Data[0])) {
		t.Errorf("logits with NaN weights: %g", res.Logits.Data[0])
	}
	clean, err := model.Load("../testdata/tiny-llama")
	if err != nil || len(clean.Provenance().Warnings) != 0 {
		t.Fatalf("clean model: %v %v", err, clean.Provenance().Warnings)
	}
}
