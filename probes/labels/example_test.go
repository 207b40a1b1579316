package labels_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// Example writes a label file with one verified claim, reads it back and shows what a
// neuron of the group reads as.
func Example() {
	n := hooks.NeuronAt(0, hooks.MLPPost, 449)
	score := 0.18
	u := labels.UnitOf(n, 1, 2048)
	u.Score = &score
	z := 385.6
	f := &labels.File{SchemaVersion: labels.Schema, Provenance: report.Provenance{ModelType: "llama", ConfigHash: "abc"},
		Inputs: []labels.Input{labels.HashBytes("eval", "eval_facts.jsonl", []byte("{}\n"))},
		Labels: []labels.Label{{Set: "capital_of",
			Claim:    labels.Claim{Kind: labels.KindRelation, Key: "relation", Value: "capital_of"},
			Units:    []labels.Unit{u},
			Evidence: labels.Evidence{Finder: "grad×act", Population: 2048, PerLayer: "L0:1"},
			Verifications: []labels.Verification{{Experiment: "matrix", Intervention: "zero", Measure: "accuracy",
				Statistic: "selectivity", Target: 0.203, Effect: 0.168, Random: labels.StatOf([]float64{0, -0.001, 0.001}),
				EffectSize: &z, P: 1.0 / 11, CI95: [2]float64{0.07, 0.27}, Verdict: labels.Confirmed}},
			Verdict: labels.Confirmed}}}
	dir, _ := os.MkdirTemp("", "labels-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "labels.json")
	if err := f.WriteFile(path); err != nil {
		fmt.Println(err)
		return
	}
	back, err := labels.ReadFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	ls, vs := back.ForNeuron(n)
	fmt.Printf("%s (%s, rank %d, percentile %.0f)\n", ls[0].Text, ls[0].Source, ls[0].Rank, ls[0].Percentile)
	fmt.Printf("%s: %s, p %.3f\n", vs[0].Check, vs[0].Verdict, *vs[0].P)
	fmt.Println(back.CheckModel(report.Provenance{ConfigHash: "def", ModelDir: "other"}, "labels.json") != nil)
	// Output:
	// relation: capital_of (grad×act, rank 1, percentile 100)
	// matrix (capital_of): confirmed, p 0.091
	// true
}
