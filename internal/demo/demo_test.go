package demo_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

const testdata = "../../testdata"

// load reads a committed world-trained checkpoint and the world's questions.
func load(t *testing.T, dir string) demo.Inputs {
	t.Helper()
	m, err := model.Load(filepath.Join(testdata, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := tokenizer.Load(filepath.Join(testdata, dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := corpus.ReadPromptSet(filepath.Join(testdata, "world", "eval_facts.jsonl"),
		corpus.NewEncoder(m, tok, tokenizer.BOSAlways), corpus.PromptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return demo.Inputs{Model: m, Tokenizer: tok, Questions: q}
}

// The committed demo models answer ≥ 95% of the held-out-template questions in every language
// and every relation (the target is per language), as training.json says they did at
// training time.
func TestCommittedModelsAccuracy(t *testing.T) {
	for _, dir := range []string{"world-llama", "world-gpt2"} {
		t.Run(dir, func(t *testing.T) {
			in := load(t, dir)
			pred, err := corpus.Next(in.Model, in.Questions.Prompts(), 256)
			if err != nil {
				t.Fatal(err)
			}
			acc := world.Score(in.Questions, in.Questions.CorrectNext(pred))
			t.Logf("%s:\n%s", dir, acc.Table())
			for _, by := range []map[string]float64{acc.ByLanguage, acc.ByRelation} {
				for k, v := range by {
					if v < 0.95 {
						t.Errorf("%s: accuracy %.1f%%, want ≥ 95%%", k, 100*v)
					}
				}
			}
			if len(acc.Cells) != 10 || len(acc.ByLanguage) != 4 {
				t.Errorf("%d relations × %d languages, want 10 × 4", len(acc.Cells), len(acc.ByLanguage))
			}
			raw, err := os.ReadFile(filepath.Join(testdata, dir, "training.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rec struct {
				Acc world.Accuracy `json:"heldout_template_accuracy"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			// Different BLAS backends round differently; a near-tie may flip, nothing more.
			if d := acc.Correct - rec.Acc.Correct; d < -2 || d > 2 {
				t.Errorf("%d questions right now, %d at training time", acc.Correct, rec.Acc.Correct)
			}
		})
	}
}

func TestRunOnDemoModel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the full-size run is checked once, in the OpenBLAS build (make test)")
	}
	in := load(t, "world-llama")
	r, err := demo.Run(in, demo.Options{PerRelation: 8, TopNeurons: 4, Ablate: 24, RandomSets: 2, AblatePerCell: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Relations) != 10 {
		t.Fatalf("%d relations, want 10", len(r.Relations))
	}
	for _, rn := range r.Relations {
		if rn.Questions != 8 || len(rn.Neurons) != 4 {
			t.Errorf("%s: %d questions, %d neurons; want 8 and 4", rn.Relation, rn.Questions, len(rn.Neurons))
		}
		for i, n := range rn.Neurons {
			if i > 0 && n.Value > rn.Neurons[i-1].Value {
				t.Errorf("%s: neurons not sorted by score", rn.Relation)
			}
			if len(n.Promotes) != 5 || len(n.Suppresses) != 5 {
				t.Errorf("%s: neuron L%d.%d has %d/%d decoded tokens, want 5/5", rn.Relation, n.Layer, n.Index, len(n.Promotes), len(n.Suppresses))
			}
		}
		if a := rn.Ablation; a == nil || a.Neurons != 24 || a.RandomSets != 2 || a.Verdict == "" {
			t.Errorf("%s: ablation %+v", rn.Relation, a)
		}
		if rn.Neurons[0].Value <= 0 {
			t.Errorf("%s: the top neuron's grad×act is %v, want > 0 for a model that answers correctly", rn.Relation, rn.Neurons[0].Value)
		}
	}
	// The planted structure shows: ablating the neurons attribution credits with a relation
	// hurts that relation more than the others for most relations (7 of 10 on the full set).
	selective := 0
	for _, rn := range r.Relations {
		if rn.Ablation.Selectivity > 0.02 {
			selective++
		}
	}
	t.Logf("%d of 10 relations lose ≥ 2 points more accuracy on themselves than on the others", selective)
	if selective < 5 {
		t.Errorf("only %d of 10 relations are hurt selectively by ablating their top neurons", selective)
	}
	if r.Trace.HooksFired != in.Model.Config.NLayers {
		t.Errorf("trace: %d hooks fired, want %d", r.Trace.HooksFired, in.Model.Config.NLayers)
	}
	var q struct{ Answer string }
	if err := json.Unmarshal(r.Trace.Question, &q); err != nil || r.Trace.Top[0].Token != q.Answer {
		t.Errorf("trace: top token %q, want the answer %q (%v)", r.Trace.Top[0].Token, q.Answer, err)
	}
	s := r.Summary()
	for _, want := range []string{"held-out-template greedy accuracy", "mlp.hook_post", r.Relations[0].Relation} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}
