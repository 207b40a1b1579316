package ablate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
)

var update = flag.Bool("update", false, "rewrite the golden files of the selectivity reports")

// TestSelectivityGolden pins Selectivity's JSON report byte for byte: the goldens were written
// by the original implementation (before it ran on the verification runner), so the
// re-expression on the shared machinery changes no output.
func TestSelectivityGolden(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 60)
	claimed := []hooks.Neuron{post(0, 1), post(0, 2), post(0, 3), post(1, 40), post(1, 41), post(1, 7)}
	for _, c := range []struct {
		name string
		opt  ablate.SelectivityOptions
	}{
		{"zero", ablate.SelectivityOptions{Key: "relation", Target: "r1", Mode: ablate.Zero, Random: 4, Seed: 1}},
		{"mean", ablate.SelectivityOptions{Key: "language", Target: "y", Mode: ablate.Mean, Random: 3, Seed: 7, BatchSize: 5}},
		{"clamp", ablate.SelectivityOptions{Key: "relation", Target: "r2", Mode: ablate.Clamp, Value: 4, Random: 5, Seed: 2, MinDrop: 0.01, Margin: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := ablate.Selectivity(m, set, claimed, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, []byte("\n"+r.Table())...)
			path := filepath.Join("testdata", "selectivity_"+c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("selectivity report differs from %s:\n%s", path, got)
			}
		})
	}
}
