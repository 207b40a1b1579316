package demo_test

import (
	"os"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/demo"
)

// TestStructure runs the structure stage on the demo model: every layer has spectra, bricks
// and probes; the relation probes beat the majority baseline at the last layer, and (outside
// -short) the same inputs give the same numbers.
func TestStructure(t *testing.T) {
	in := load(t, "world-llama")
	opt := demo.StructureOptions{PerRelation: 12, Bricks: 8, RandomPartitions: 20, Folds: 3}
	s, err := demo.AnalyzeStructure(in, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := in.Model.Config.NLayers
	if len(s.Spectra.Layers) != n || len(s.Bricks) != n || len(s.Probes) != n {
		t.Fatalf("layers: spectra %d bricks %d probes %d, want %d", len(s.Spectra.Layers), len(s.Bricks), len(s.Probes), n)
	}
	if s.Sentences != 12*len(s.Groups) {
		t.Errorf("%d sentences, want %d", s.Sentences, 12*len(s.Groups))
	}
	last := s.Probes[n-1]
	if last.Logistic <= last.Majority+0.2 {
		t.Errorf("last-layer relation probe %.3f, majority %.3f", last.Logistic, last.Majority)
	}
	var b strings.Builder
	s.Summary(&b)
	for _, want := range []string{"spectra (NerVE", "bricks (8 per layer", "probes of relation"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if testing.Verbose() {
		s.Summary(os.Stderr)
	}
	if testing.Short() {
		return // -short: the determinism check runs in the full suite
	}
	again, err := demo.AnalyzeStructure(in, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b2 strings.Builder
	again.Summary(&b2)
	if b2.String() != b.String() {
		t.Errorf("not deterministic:\n%s\nvs\n%s", b.String(), b2.String())
	}
}
