package demo_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/language"
)

// languageInputs reads the world's config and held-out filler as the demo command does.
func languageInputs(t testing.TB, in demo.Inputs) *demo.LanguageInputs {
	t.Helper()
	cfg := cfgBytes(t)
	flu, err := os.ReadFile(filepath.Join(testdata, "world", "eval_fluency.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	li, err := demo.WorldLanguageInputs(cfg, flu, "eval_fluency.jsonl", corpus.NewEncoder(in.Model, in.Tokenizer, tokenizer.BOSAlways), in.Model.Config.MaxPos)
	if err != nil {
		t.Fatal(err)
	}
	return li
}

// TestTrainItemsAndFirstTexts: the counting items are each language's sentences in order, cut
// at the limit; FirstTexts keeps the first n texts of each language.
func TestTrainItemsAndFirstTexts(t *testing.T) {
	in := load(t, "world-llama")
	li := languageInputs(t, in)
	var got []string
	err := li.TrainItems(2)(func(it language.Item) error {
		got = append(got, fmt.Sprintf("%d %s:%d %s", it.Group, it.Doc.Source, it.Doc.Line, it.Doc.Text))
		return nil
	})
	if err != nil || len(got) != 8 || got[0] != "0 train.pelan.txt:1 "+li.Train[0][0] || got[7] != "3 train.tlaxo.txt:2 "+li.Train[3][1] {
		t.Errorf("items %q (err %v)", got, err)
	}
	ts := demo.FirstTexts(li.Fluency, "language", 3)
	count := map[string]int{}
	for _, x := range ts.Items {
		count[x.Labels["language"]]++
	}
	if len(ts.Items) != 12 || len(count) != 4 || count["korrak"] != 3 || ts.Items[0].ID != li.Fluency.Items[0].ID || demo.FirstTexts(li.Fluency, "language", 0) != li.Fluency {
		t.Errorf("first texts: %d items, %v", len(ts.Items), count)
	}
}

// statisticOptions run the demo with only the given activation-statistics stage.
func statisticOptions(language bool, random int) demo.Options {
	return demo.Options{PerRelation: 1, Neurons: 1, SkipVerify: true, SkipConcept: true, SkipPaths: true,
		SkipLanguage: !language, SkipRelationSpecific: language, RandomSets: random}
}

// TestWorldLanguageInputs: train.txt split by language from the regenerated world; a config of
// another world is refused.
func TestWorldLanguageInputs(t *testing.T) {
	in := load(t, "world-llama")
	li := languageInputs(t, in)
	if strings.Join(li.Languages, ",") != "pelan,korrak,shivu,tlaxo" || len(li.Fluency.Items) != 200 {
		t.Fatalf("languages %v, %d fluency texts", li.Languages, len(li.Fluency.Items))
	}
	train, _ := os.ReadFile(filepath.Join(testdata, "world", "train.txt"))
	n := 0
	for _, t := range li.Train {
		n += len(t)
	}
	if n != strings.Count(string(train), "\n") || len(li.Train[0]) != 1440 || !strings.Contains(string(train), li.Train[3][0]+"\n") {
		t.Errorf("%d sentences split from %d lines", n, strings.Count(string(train), "\n"))
	}
	flu, _ := os.ReadFile(filepath.Join(testdata, "world", "eval_fluency.jsonl"))
	enc := corpus.NewEncoder(in.Model, in.Tokenizer, tokenizer.BOSAlways)
	if _, err := demo.WorldLanguageInputs([]byte(`{"seed": 2}`), flu, "eval_fluency.jsonl", enc, 64); err == nil || !strings.Contains(err.Error(), "not the same world") {
		t.Errorf("another world's config: %v", err)
	}
	if _, err := demo.WorldLanguageInputs([]byte(`{"seed": `), flu, "eval_fluency.jsonl", enc, 64); err == nil || !strings.Contains(err.Error(), "world.json") {
		t.Errorf("a corrupt config: %v", err)
	}
	if _, err := demo.WorldLanguageInputs(cfgBytes(t), flu[:len(flu)/2], "eval_fluency.jsonl", enc, 64); err == nil || !strings.Contains(err.Error(), "eval_fluency.jsonl") {
		t.Errorf("a cut fluency file: %v", err)
	}
}

// TestLanguageStage: the world's language neurons, counted over each language's training
// sentences and verified on its held-out filler. On GPT-2, LAPE's neurons at the 5% rate raise
// their own language's perplexity more than every random set of the same per-layer counts for
// 3 of the 4 languages (confirmed); at the published 1% (20 neurons) and on the Llama they do
// not: the Llama's gate units fire about as often in every language (no neuron is concentrated
// on one), which is what the README reports. The written set, reread and verified as `verify`
// does, gives the stage's numbers.
func TestLanguageStage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the stage runs on the world models in the OpenBLAS build (make test)")
	}
	confirmed := func(run demo.LanguageRun) (n int) {
		for _, g := range run.Groups {
			if g.Verification != nil && g.Verification.Verdict == labels.Confirmed {
				n++
			}
		}
		return n
	}
	for _, dir := range []string{"world-gpt2", "world-llama"} {
		t.Run(dir, func(t *testing.T) {
			in := load(t, dir)
			in.Language = languageInputs(t, in)
			r, err := demo.Run(in, statisticOptions(true, 10))
			if err != nil {
				t.Fatal(err)
			}
			st := r.Language
			if st == nil || r.RelationSpecific != nil || len(st.Selections) != 3 || st.Selections[0].Settings.K != 20 ||
				st.Selections[1].Settings.K != 102 || st.Tokens[0] != 8890 {
				t.Fatalf("stage %+v", st)
			}
			lape1, lape5, align := st.Selections[0], st.Selections[1], st.Selections[2]
			if confirmed(lape1) != 0 {
				t.Errorf("%s: LAPE at 1%% confirmed for %d languages", dir, confirmed(lape1))
			}
			if align.Settings.Method != "alignment" || align.Unassigned < 17 {
				t.Errorf("%s: alignment %+v", dir, align)
			}
			beyond := 0 // languages whose own perplexity rises more than under every random set
			for i, g := range lape5.Matrix.Sets {
				own := lape5.Matrix.Cells[i][slices.Index(lape5.Matrix.Groups, g)]
				if own.Effect > own.Random.Max {
					beyond++
				}
			}
			switch dir {
			case "world-gpt2":
				if beyond < 3 || confirmed(lape5) < 3 || st.Tap != "mlp.hook_post" {
					t.Errorf("GPT-2, LAPE at 5%%: %d languages beyond every random set, %d confirmed; want ≥ 3", beyond, confirmed(lape5))
				}
			case "world-llama":
				if st.Concentrated != 0 || confirmed(lape5) != 0 || st.Tap != "mlp.hook_pre" || st.FilteredRatio < 0.5 {
					t.Errorf("Llama: %d concentrated neurons, %d confirmed at 5%%, median min/max ratio %.2f", st.Concentrated, confirmed(lape5), st.FilteredRatio)
				}
				// language.json as verify reads it verifies to the same numbers
				var buf bytes.Buffer
				if err := r.LanguageSet.Write(&buf); err != nil {
					t.Fatal(err)
				}
				set, err := hooks.ParseNeuronSet(buf.Bytes(), "language.json")
				if err != nil {
					t.Fatal(err)
				}
				e, err := ablate.NewEval(in.Model, nil, in.Language.Fluency, ablate.EvalOptions{BatchSize: 256})
				if err != nil {
					t.Fatal(err)
				}
				res, err := ablate.Verify(e, set, ablate.VerifyOptions{Key: "language", Random: 10, Seed: 1, Source: "neuronscope demo"})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(*res.Matrix.Texts, *lape1.Matrix) || !reflect.DeepEqual(res.File.Labels, r.LanguageLabels.Labels) {
					t.Error("verifying the written language.json gives other numbers than the stage")
				}
			}
			s := r.Summary()
			for _, want := range []string{"language neurons (find language", "lape top 1% (K = 20)", "lape top 5% (K = 102)", "alignment top 1%, λ auto"} {
				if !strings.Contains(s, want) {
					t.Errorf("summary lacks %q", want)
				}
			}
			t.Log("\n" + s[strings.Index(s, "language neurons ("):])
		})
	}
}

// TestRelationSpecificStage: the relation-specific neurons of the Llama (16 questions held out
// per relation, the top 200 units by AP) verified by the matrix with the perplexity of 20
// filler sentences per language and the sweep (k = 50, 200): capital_of, ceo_of,
// located_in_continent and speaks lose answers, beyond both random sets; the other six lose
// none.
func TestRelationSpecificStage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the stage runs on the world model in the OpenBLAS build (make test)")
	}
	in := load(t, "world-llama")
	in.Language = languageInputs(t, in)
	r, err := demo.Run(in, statisticOptions(false, 2))
	if err != nil {
		t.Fatal(err)
	}
	s := r.RelationSpecific
	if s == nil || r.Language != nil || s.Units != 4608 || s.EvalItems != 160 || len(s.Relations) != 10 || len(s.Sweeps) != 10 ||
		len(s.Verdicts) != 10 || len(s.Perplexity.Groups) != 4 || len(s.Accuracy.Groups) != 10 || r.RelationSpecificSet.Len() != 2000 {
		t.Fatalf("stage %+v", s)
	}
	for i, rel := range s.Accuracy.Sets {
		own := s.Accuracy.Cells[i][i]
		if want := rel == "capital_of" || rel == "ceo_of" || rel == "speaks" || rel == "located_in_continent"; want != (own.Effect > own.Random.Max) || !want && own.Effect != 0 {
			t.Errorf("%s: relative drop %.3f, random max %.3f", rel, own.Effect, own.Random.Max)
		}
		if v := s.Verdicts[i]; v.Relation != rel || v.Matrix == nil || v.Sweep == nil {
			t.Errorf("%s: verdicts %+v", rel, v)
		}
	}
	if ks := s.Sweeps[0].Points; len(ks) != 2 || ks[0].K != 50 || ks[1].K != 200 || s.Texts != 80 {
		t.Errorf("sweep grid %+v", ks)
	}
	if len(r.RelationSpecificLabels.Matrices) != 2 || len(r.RelationSpecificLabels.Sweeps) != 10 {
		t.Errorf("label file: %d matrices, %d sweeps", len(r.RelationSpecificLabels.Matrices), len(r.RelationSpecificLabels.Sweeps))
	}
	sum := r.Summary()
	if !strings.Contains(sum, "relation-specific neurons (find relation") || !strings.Contains(sum, "cumulativity") {
		t.Errorf("summary:\n%s", sum)
	}
}

// cfgBytes is the world's world.json.
func cfgBytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "world", "world.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
