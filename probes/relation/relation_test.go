package relation_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/relation"
)

func world(t *testing.T) (*model.Model, *corpus.PromptSet) {
	t.Helper()
	m, err := model.Load("../../testdata/world-llama")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		t.Fatal(err)
	}
	set, err := corpus.ReadPromptSet(filepath.Join("../../testdata/world", "eval_facts.jsonl"), corpus.NewEncoder(m, tok, tokenizer.BOSAuto), corpus.PromptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m, set
}

// TestMeanResponses: the batched mean response equals the mean of each prompt's activations
// computed alone.
func TestMeanResponses(t *testing.T) {
	m, set := world(t)
	prompts := set.Prompts()[:40]
	points := []hooks.Point{hooks.At(1, hooks.MLPPre), hooks.At(3, hooks.MLPOut)}
	r, err := relation.MeanResponses(m, prompts, points, 16)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(prompts); i += 7 {
		b, _ := model.NewBatch([][]int{prompts[i]}, model.PadRight, 0)
		res, err := m.Forward(b, hooks.CapturePoints(points...))
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for _, p := range points {
			a, _ := res.Cache.Get(p)
			w := a.Shape[2]
			for j := 0; j < w; j++ {
				var s float64
				for pos := range prompts[i] {
					s += float64(a.Data[pos*w+j])
				}
				want := s / float64(len(prompts[i]))
				if got := float64(r.Data[i*r.Neurons+off+j]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("prompt %d %s[%d]: %g, alone %g", i, p, j, got, want)
				}
			}
			off += w
		}
	}
}

// small keeps the world's four smallest relations (320 questions).
func small(set *corpus.PromptSet) *corpus.PromptSet {
	return set.Filter(func(p corpus.Prompt) bool {
		return slices.Contains([]string{"capital_of", "located_in_continent", "ceo_of", "headquartered_in"}, p.Labels["relation"])
	})
}

func TestFindOnWorld(t *testing.T) {
	m, set := world(t)
	if testing.Short() {
		set = small(set)
	}
	res, err := relation.Find(m, set, relation.Options{Top: 100, Heldout: 16, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rels, _ := set.Groups("relation")
	if len(res.Set.Groups) != len(rels) || len(res.Relations) != len(rels) || res.Set.Check(m.Catalog()) != nil {
		t.Fatalf("%d groups: %v", len(res.Set.Groups), res.Set.Check(m.Catalog()))
	}
	held := map[string]bool{}
	for _, st := range res.Relations {
		if len(st.Heldout) != 16 || st.Correct < st.Detection*9/10 || st.Negatives > 4*st.Correct || st.Negatives < st.Correct {
			t.Errorf("%s: %+v", st.Relation, st)
		}
		for _, id := range st.Heldout {
			held[id] = true
		}
		g, _ := res.Set.Group(st.Relation)
		for i := 1; i < len(g); i++ {
			if g[i].Score > g[i-1].Score {
				t.Fatalf("%s: not ranked by AP", st.Relation)
			}
		}
		// A random unit's AP is about the positives' share (1/5 at 4 negatives per positive);
		// every relation has units far above it.
		if share := float64(st.Correct) / float64(st.Correct+st.Negatives); g[0].Score < 2*share {
			t.Errorf("%s: best AP %.3f", st.Relation, g[0].Score)
		}
		t.Logf("%-22s best AP %.3f, 100th %.3f, taps %v", st.Relation, st.BestAP, st.KeptAP, tapsOf(g))
	}
	if len(res.Heldout.Items) != 16*len(rels) {
		t.Errorf("%d held-out items", len(res.Heldout.Items))
	}
	// No subject is both held out and used for detection, within a relation.
	subjects := map[string]map[string]bool{}
	for _, it := range res.Heldout.Items {
		r := it.Labels["relation"]
		if subjects[r] == nil {
			subjects[r] = map[string]bool{}
		}
		subjects[r][it.Labels["subject"]] = true
	}
	for _, it := range set.Items {
		if !held[it.ID] && subjects[it.Labels["relation"]][it.Labels["subject"]] {
			t.Fatalf("subject %s of %s is on both sides", it.Labels["subject"], it.Labels["relation"])
		}
	}
	again, err := relation.Find(m, set, relation.Options{Top: 100, Heldout: 16, Seed: 1})
	if err != nil || !slices.Equal(again.Set.Groups[1].Neurons, res.Set.Groups[1].Neurons) {
		t.Error("two runs with one seed differ")
	}
}

func tapsOf(g []hooks.ScoredNeuron) map[string]int {
	out := map[string]int{}
	for _, n := range g {
		out[n.Site.String()]++
	}
	return out
}

func TestFindErrors(t *testing.T) {
	m, set := world(t)
	set = small(set)
	for _, tc := range []struct {
		opt  relation.Options
		want string
	}{
		{relation.Options{Top: 1 << 20, Heldout: 16}, "top"},
		{relation.Options{Heldout: 50}, "held out"},
		{relation.Options{Key: "nope", Heldout: 16}, `"nope"`},
		{relation.Options{Taps: []hooks.Site{hooks.AttnZ}, Heldout: 16}, "attn.hook_z"},
	} {
		if _, err := relation.Find(m, set, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opt, err, tc.want)
		}
	}
	// Answers the model never gives: no positives.
	bad := set.Filter(func(p corpus.Prompt) bool { return true })
	for i := range bad.Items {
		if bad.Items[i].Labels["relation"] == "capital_of" {
			bad.Items[i].AnswerIDs = []int{0}
		}
	}
	if _, err := relation.Find(m, bad, relation.Options{Heldout: 16, Top: 10}); err == nil || !strings.Contains(err.Error(), "answers none") {
		t.Errorf("no correct prompts: %v", err)
	}
}
