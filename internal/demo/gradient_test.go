package demo_test

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// conceptInputs reads the world's concept sets, keeping per continent the first n task items
// and their control items, and the first 4 exclusion items (all of them for n = 1<<30).
func conceptInputs(t testing.TB, in demo.Inputs, n int) *demo.ConceptInputs {
	t.Helper()
	enc := corpus.NewEncoder(in.Model, in.Tokenizer, tokenizer.BOSAlways)
	read := func(name string) *corpus.PromptSet {
		s, err := corpus.ReadPromptSet(filepath.Join(testdata, "world", name), enc, corpus.PromptOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	task, control, exclude := read("concept_task.jsonl"), read("concept_control.jsonl"), read("concept_exclude.jsonl")
	keep := func(s *corpus.PromptSet, n int, pair *corpus.PromptSet) (*corpus.PromptSet, *corpus.PromptSet) {
		a, b := &corpus.PromptSet{Source: s.Source}, &corpus.PromptSet{}
		seen := map[string]int{}
		for i, it := range s.Items {
			if c := it.Labels["continent"]; seen[c] < n {
				seen[c]++
				a.Items = append(a.Items, it)
				if pair != nil {
					b.Items = append(b.Items, pair.Items[i])
				}
			}
		}
		return a, b
	}
	task, control = keep(task, n, control)
	nx := 4 // the benchmark (n = 1<<30) keeps every exclusion item
	if n >= 1<<30 {
		nx = n
	}
	exclude, _ = keep(exclude, nx, nil)
	return &demo.ConceptInputs{Task: task, Control: control, Exclude: exclude}
}

// The concept and path stages: CULNIG's groups verified by suppress and enhance (general on
// every question), the paths verified against their baselines, and the written sets reread as
// `verify` reads them give the stages' inputs back.
func TestGradientStages(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the stages run on the world model in the OpenBLAS build (make test)")
	}
	in := load(t, "world-llama")
	in.Concept = conceptInputs(t, in, 8)
	r, err := demo.Run(in, demo.Options{PerRelation: 2, Neurons: 4, SkipVerify: true, RandomSets: 2, ConceptItems: 6})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Concept
	if c == nil || c.TaskItems != 40 || c.VerifyItems != 30 || len(c.Groups) != 6 || c.Groups[0].Name != attribute.ConceptGeneral {
		t.Fatalf("concept stage %+v", c)
	}
	for _, g := range c.Groups {
		if g.Neurons == 0 {
			continue
		}
		if g.Suppress == nil || g.Enhance == nil || g.Suppress.Random.N != 2 || g.Suppress.PBootstrap == nil {
			t.Errorf("group %s: %+v", g.Name, g)
		}
		if (g.Name == attribute.ConceptGeneral) != (g.Suppress.Others == nil) {
			t.Errorf("group %s: others %v (general is verified on every question)", g.Name, g.Suppress.Others)
		}
	}
	if len(r.ConceptLabels.Labels) != len(r.ConceptSet.Groups) || len(r.ConceptLabels.Matrices) != 2 {
		t.Errorf("%d labels for %d groups, %d matrices", len(r.ConceptLabels.Labels), len(r.ConceptSet.Groups), len(r.ConceptLabels.Matrices))
	}
	p := r.Paths
	if p == nil || p.Prompts != 40 || len(p.Effects.Rows) != 6 || len(p.Effects.Similarity) != 2 || len(p.Verdicts) != 3 || p.Chosen != 160 {
		t.Fatalf("path stage %+v", p)
	}
	// paths.json as verify reads it: the same items, and the same verification
	var buf bytes.Buffer
	if err := r.PathSet.Write(&buf); err != nil {
		t.Fatal(err)
	}
	set, err := hooks.ParseNeuronSet(buf.Bytes(), "paths.json")
	if err != nil {
		t.Fatal(err)
	}
	items, err := ablate.PathItems(set, in.Questions)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := ablate.VerifyPaths(in.Model, items, ablate.PathVerifyOptions{Compare: []string{"relation", "language"}, Random: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lf.ItemEffects[0], *p.Effects) {
		t.Error("verifying the written paths.json gives other numbers than the stage")
	}
	s := r.Summary()
	for _, want := range []string{"concept neurons (CULNIG", "suppress ×0", "enhance ×2", "neuron paths (NeuronPath", "path similarity by relation"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	for _, l := range r.PathLabels.Labels {
		if l.Claim.Kind != labels.KindPath {
			t.Errorf("path label %s of kind %s", l.Set, l.Claim.Kind)
		}
	}
	t.Log("\n" + s[strings.Index(s, "concept neurons"):])
}
