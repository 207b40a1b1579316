package attribute

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// TestConceptLinearReadout: at ln_final.output a logit is linear in every unit (for a model
// without a final soft-cap), so CULNIG's score with a logit target, max over positions of
// a·∂M/∂a, equals the max over positions of the exact effect of zero-ablating the unit at that
// position, M(a) − M(a with a_u(t) = 0), computed by forward passes with an edit hook. A
// soft-capped logit cap·tanh(z/cap) is not linear there; its score is checked against the
// gradient by hand instead: a_u·W_U[y, u]·(1 − tanh²(z/cap)) at the metric's position, 0 at the
// others (a logit reads ln_final.output at its own position only).
func TestConceptLinearReadout(t *testing.T) {
	out := hooks.Global(hooks.FinalOutput)
	for _, name := range blockFamilies {
		m := tinyModel(t, name)
		cp := m.Config.FinalSoftcap
		seqs := [][]int{prompt[:5], prompt[2:]}
		answers := []int{17, 40}
		pooled, _, err := maxGradXAct(m, seqs, answers, []hooks.Point{out}, model.LogitMetric, false)
		if err != nil {
			t.Fatal(err)
		}
		for r, seq := range seqs {
			b, _ := model.NewBatch([][]int{seq}, model.PadRight, 0)
			metric := model.Logit(0, len(seq)-1, answers[r])
			logit := func(opts ...hooks.Option) float64 {
				res, err := m.Forward(b, opts...)
				if err != nil {
					t.Fatal(err)
				}
				v, _ := metric.Value(b, res.Logits)
				return v
			}
			clean := logit()
			d := m.Config.DModel
			var h []float32
			var slope float64
			if cp > 0 {
				res, err := m.Forward(b, hooks.CapturePoints(out))
				if err != nil {
					t.Fatal(err)
				}
				ht, _ := res.Cache.Get(out)
				h = ht.Row(0, len(seq)-1)
				th := math.Tanh(dlaPreCap(m, h, answers[r:r+1]) / cp)
				slope = 1 - th*th
			}
			for u := 0; u < d; u++ {
				want := math.Inf(-1)
				if cp > 0 {
					want = math.Max(0, float64(h[u])*float64(m.Unembedding().Row(answers[r])[u])*slope)
				}
				for pos := range seq {
					if cp > 0 {
						break // not linear: the gradient by hand above
					}
					ablated := logit(hooks.EditPoint(out, func(_ hooks.Point, a *tensor.Tensor) error {
						a.Data[pos*d+u] = 0
						return nil
					}))
					want = math.Max(want, clean-ablated)
				}
				if got := pooled[r][0][u]; math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("%s row %d unit %d: max grad×act %.7g, max zero-ablation effect %.7g", name, r, u, got, want)
				}
			}
		}
	}
}

// conceptSet builds a prompt set of token-id items, each its own group (label "g" = its id)
// unless groups are given.
func conceptSet(seqs [][]int, answers []int, groups []string) *corpus.PromptSet {
	s := &corpus.PromptSet{Source: "test.jsonl"}
	for i, seq := range seqs {
		id := fmt.Sprintf("i%02d", i)
		g := id
		if groups != nil {
			g = groups[i]
		}
		s.Items = append(s.Items, corpus.Prompt{ID: id, IDs: seq, AnswerIDs: []int{answers[i]}, Labels: map[string]string{"g": g}})
	}
	return s
}

// TestScoreConceptMatchesGradXAct: ScoreConcept's group sums, at every default tap (the gate
// and up projections, and the attention projections where the model has hook points for
// them), equal an independent recomputation per item with GradXAct (one prompt at a time,
// right-padded): P(y|x) times the max over the prompt's positions of a·∂P/∂a, clamped at 0 for
// a control set, summed over the group's items.
func TestScoreConceptMatchesGradXAct(t *testing.T) {
	m := tinyModel(t, "llama")
	seqs := [][]int{prompt, prompt[:3], prompt[1:6], {5, 9}, prompt[2:]}
	answers := []int{17, 4, 60, 23, 8}
	groups := []string{"a", "b", "a", "b", "a"}
	for _, control := range []bool{false, true} {
		sc, err := ScoreConcept(m, conceptSet(seqs, answers, groups), ConceptScoreOptions{GroupKey: "g", Control: control, Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Items != 5 || fmt.Sprint(sc.Groups) != "[a b]" || fmt.Sprint(sc.PerGroup) != "[3 2]" || len(sc.Taps) < 2 ||
			sc.Taps[0] != hooks.MLPPre || sc.Taps[1] != hooks.MLPPreLinear {
			t.Fatalf("items %d groups %v %v taps %v", sc.Items, sc.Groups, sc.PerGroup, sc.Taps)
		}
		for ti, tap := range sc.Taps {
			want := [2][]float64{make([]float64, sc.Layers*sc.Widths[ti]), make([]float64, sc.Layers*sc.Widths[ti])}
			var conf [2]float64
			for i, seq := range seqs {
				b, _ := model.NewBatch([][]int{seq}, model.PadRight, 0)
				var points []hooks.Point
				for l := 0; l < sc.Layers; l++ {
					points = append(points, hooks.At(l, tap))
				}
				s, err := GradXAct(m, b, model.Prob(0, len(seq)-1, answers[i]), points)
				if err != nil {
					t.Fatal(err)
				}
				g := map[string]int{"a": 0, "b": 1}[groups[i]]
				conf[g] += s.Metric
				w := sc.Widths[ti]
				for l, p := range points {
					for j := 0; j < w; j++ {
						mx := math.Inf(-1)
						for pos := range seq {
							mx = math.Max(mx, float64(s.At[p].Data[pos*w+j]))
						}
						v := s.Metric * mx
						if control {
							v = math.Max(v, 0)
						}
						want[g][l*w+j] += v
					}
				}
			}
			for g := range want {
				if d := maxAbsDiff(sc.Sum[ti][g], want[g]); d > 1e-6*maxAbs(want[g])+1e-9 {
					t.Errorf("control %v %v group %d: sums differ by %g (largest %g)", control, tap, g, d, maxAbs(want[g]))
				}
				if math.Abs(sc.Confidence[g]-conf[g]) > 1e-6 {
					t.Errorf("group %d confidence %g, want %g", g, sc.Confidence[g], conf[g])
				}
				if control && minOf(sc.Sum[ti][g]) < 0 {
					t.Error("a control sum is negative")
				}
			}
		}
	}
}

// TestConceptPadding: with the max over real positions an item's score does not depend on
// the items batched with it (alone vs in a left-padded batch with longer prompts); with
// PublishedPadding a padded row gets max(its score, 0) — CULNIG's quirk — while the batch's
// longest row is unchanged, and some unit shows the difference.
func TestConceptPadding(t *testing.T) {
	m := tinyModel(t, "llama")
	seqs := [][]int{prompt, prompt[:2], prompt[3:6], {44, 2, 9, 71, 5, 6}}
	answers := []int{17, 4, 60, 23}
	set := conceptSet(seqs, answers, nil)
	alone, err := ScoreConcept(m, set, ConceptScoreOptions{GroupKey: "g", Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{2, 4} {
		real, err := ScoreConcept(m, set, ConceptScoreOptions{GroupKey: "g", Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ScoreConcept(m, set, ConceptScoreOptions{GroupKey: "g", Batch: batch, PublishedPadding: true})
		if err != nil {
			t.Fatal(err)
		}
		quirk := 0
		for ti := range alone.Taps {
			for g := range alone.Groups { // one item per group, groups sorted like the ids
				a := alone.Sum[ti][g]
				if d := maxAbsDiff(real.Sum[ti][g], a); d > 1e-5*maxAbs(a) {
					t.Errorf("batch %d item %d: real-position scores change by %g with padding", batch, g, d)
				}
				lo := g / batch * batch // items are batched in file order
				longest := len(seqs[g]) == maxLen(seqs[lo:min(lo+batch, len(seqs))])
				want := make([]float64, len(a))
				for j, v := range a {
					want[j] = v
					if !longest {
						want[j] = math.Max(v, 0)
					}
					if want[j] != v {
						quirk++
					}
				}
				if d := maxAbsDiff(pub.Sum[ti][g], want); d > 1e-5*maxAbs(a) {
					t.Errorf("batch %d item %d (longest %v): published scores differ from max(score, 0) by %g", batch, g, longest, d)
				}
			}
		}
		if quirk == 0 {
			t.Errorf("batch %d: no unit shows the published padding quirk: the test has no power", batch)
		}
	}
}

// TestScoreConceptBadInput: a multi-token answer, a missing group label, an empty set and an
// unknown tap are errors naming the item or tap.
func TestScoreConceptBadInput(t *testing.T) {
	m := tinyModel(t, "llama")
	set := conceptSet([][]int{prompt, prompt[:3]}, []int{1, 2}, nil)
	set.Items[1].AnswerIDs = []int{2, 3}
	set.Items[1].Answer = "two words"
	if _, err := ScoreConcept(m, set, ConceptScoreOptions{GroupKey: "g"}); err == nil || !strings.Contains(err.Error(), "i01") || !strings.Contains(err.Error(), "2 tokens") {
		t.Errorf("multi-token answer: %v", err)
	}
	set = conceptSet([][]int{prompt, prompt[:3]}, []int{1, 2}, nil)
	delete(set.Items[1].Labels, "g")
	if _, err := ScoreConcept(m, set, ConceptScoreOptions{GroupKey: "g"}); err == nil || !strings.Contains(err.Error(), "i01") {
		t.Errorf("missing label: %v", err)
	}
	if _, err := ScoreConcept(m, &corpus.PromptSet{}, ConceptScoreOptions{GroupKey: "g"}); err == nil {
		t.Error("an empty set was accepted")
	}
	if _, err := ScoreConcept(m, conceptSet([][]int{prompt}, []int{1}, nil), ConceptScoreOptions{GroupKey: "g", Taps: []hooks.Site{hooks.MLPPre, hooks.MLPPre}}); err == nil {
		t.Error("a repeated tap was accepted")
	}
}

// scoresOf builds ConceptScores by hand: taps with the given widths, 2 layers, groups, and
// sums from f(tap, group, flat unit).
func scoresOf(taps []hooks.Site, width int, groups []string, items int, f func(t, g, j int) float64) *ConceptScores {
	s := &ConceptScores{Taps: taps, Layers: 2, GroupKey: "g", Groups: groups, Items: items}
	for range taps {
		s.Widths = append(s.Widths, width)
	}
	s.Sum = make([][][]float64, len(taps))
	for t := range taps {
		for g := range groups {
			row := make([]float64, 2*width)
			for j := range row {
				row[j] = f(t, g, j)
			}
			s.Sum[t] = append(s.Sum[t], row)
		}
	}
	return s
}

// TestFindConceptHand: CULNIG's selection on hand-made scores with known answers. Two taps of
// 2 layers × 50 units: mlp.hook_pre (MLP pool, 100 units) and attn.hook_z (standing in for an
// attention projection, 100 units); groups A, B, C; N_task 10, N_control 5.
func TestFindConceptHand(t *testing.T) {
	taps := []hooks.Site{hooks.MLPPre, hooks.AttnZ}
	groups := []string{"A", "B", "C"}
	// task: unit j of tap t scores j/100 in every group, except planted units.
	task := scoresOf(taps, 50, groups, 10, func(t, g, j int) float64 {
		v := float64(j) / 100
		switch {
		case t == 0 && j == 7: // a strong general MLP unit: 30 per group → 9 in general
			v = 30
		case t == 0 && j == 8: // strong too, but the exclusion set's top unit
			v = 29
		case t == 0 && j == 9 && g == 1: // specific to B
			v = 40
		case t == 1 && j == 3: // the attention pool's best
			v = 25
		}
		return v
	})
	control := scoresOf(taps, 50, groups, 5, func(t, g, j int) float64 {
		if t == 0 && j == 99 { // task 0.99·3/10 but control large: never general
			return 10
		}
		return 0
	})
	exclude := scoresOf(taps, 50, groups, 4, func(t, g, j int) float64 {
		if t == 0 && j == 8 {
			return 5
		}
		return 0
	})
	opt := DefaultConceptOptions()
	opt.MLPRate, opt.AttnRate, opt.ExcludeRate, opt.SpecificRate = 0.03, 0.01, 0.01, 0.015 // 3 MLP, 1 attention, 1 excluded per pool, 3 specific of 200
	set, st, err := FindConcept(task, control, exclude, opt)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ns []hooks.ScoredNeuron) string {
		var s []string
		for _, n := range ns {
			s = append(s, fmt.Sprintf("%s:%.4g", n.Neuron, n.Score))
		}
		return strings.Join(s, " ")
	}
	gen, _ := set.Group("general")
	// MLP top 3 by s = 3·v/10 − control/5: units 7 (9), 8 (8.7), 9 ((40 + 2·0.09)·1/10 = 4.018); 8 excluded.
	want := "blocks.0.mlp.hook_pre[7]:9 blocks.0.mlp.hook_pre[9]:4.018 blocks.0.attn.hook_z[3]:7.5"
	if got := names(gen); got != want {
		t.Errorf("general:\n got %s\nwant %s", got, want)
	}
	if st.Counts[0].Candidates != 4 || st.Counts[0].Excluded != 1 || st.Counts[0].Neurons != 3 {
		t.Errorf("general counts %+v", st.Counts[0])
	}
	// Group B: s_B = v/10 − ctrl/5, pooled top 3 of 200: unit 9 (4), 7 (3), 8 (2.9); 8 excluded
	// (B's exclusion top 2 of 200: unit 8, then the first of the ties at 0 in layer, site, index order,
	// attn.hook_z[0]); z: unit 9 is B's alone (z = √2 ≥ 0.5), unit 7 is equal in every group (z = 0).
	b, _ := set.Group("B")
	if got := names(b); got != "blocks.0.mlp.hook_pre[9]:4" {
		t.Errorf("B: %s", got)
	}
	if c := st.Counts[2]; c.Candidates != 3 || c.Excluded != 1 || c.BelowZ != 1 || c.Neurons != 1 {
		t.Errorf("B counts %+v", c)
	}
	if a, _ := set.Group("A"); len(a) != 0 {
		t.Errorf("A: %s (unit 9 has z < 0 in A, 7 and 8 z = 0)", names(a))
	}
	if fmt.Sprint(set.Names()) != "[general A B C]" {
		t.Errorf("groups %v", set.Names())
	}

	// Without an exclusion set, unit 8 stays.
	set, _, err = FindConcept(task, control, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ = set.Group("general")
	if !strings.Contains(names(gen), "hook_pre[8]") {
		t.Errorf("general without exclusion: %s", names(gen))
	}
	// A fixed exclusion list removes its units from every group.
	opt.Exclude = []hooks.Neuron{hooks.NeuronAt(0, hooks.MLPPre, 7)}
	set, _, _ = FindConcept(task, control, nil, opt)
	gen, _ = set.Group("general")
	if strings.Contains(names(gen), "hook_pre[7]") {
		t.Errorf("general with unit 7 excluded: %s", names(gen))
	}

	// Mismatched groups, taps and a missing exclusion group are errors.
	other := scoresOf(taps, 50, []string{"A", "B"}, 5, func(t, g, j int) float64 { return 0 })
	if _, _, err := FindConcept(task, other, nil, opt); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Errorf("mismatched groups: %v", err)
	}
	if _, _, err := FindConcept(task, control, other, opt); err == nil || !strings.Contains(err.Error(), `"C"`) {
		t.Errorf("exclusion without group C: %v", err)
	}
	narrow := scoresOf(taps[:1], 50, groups, 5, func(t, g, j int) float64 { return 0 })
	if _, _, err := FindConcept(task, narrow, nil, opt); err == nil {
		t.Error("control scores of other taps were accepted")
	}
}

func maxAbsDiff(a, b []float64) float64 {
	var w float64
	for i := range a {
		w = math.Max(w, math.Abs(a[i]-b[i]))
	}
	return w
}

func maxAbs(a []float64) float64 {
	var w float64
	for _, v := range a {
		w = math.Max(w, math.Abs(v))
	}
	return w
}

func minOf(a []float64) float64 {
	w := math.Inf(1)
	for _, v := range a {
		w = math.Min(w, v)
	}
	return w
}

func maxLen(seqs [][]int) int {
	n := 0
	for _, s := range seqs {
		n = max(n, len(s))
	}
	return n
}
