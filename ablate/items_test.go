package ablate_test

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/probes/labels"
)

func pre(l, i int) hooks.Neuron { return hooks.NeuronAt(l, hooks.MLPPre, i) }
func q(l, i int) hooks.Neuron   { return hooks.NeuronAt(l, hooks.AttnQ, i) }

// PerItem's edits are a hand-written per-row edit: each row's own units at its own positions,
// removed (set to 0) or scaled, at a mix of taps, with some items left alone.
func TestPerItemEqualsHandEdits(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 30)
	b := leftBatch(t, set, []int{0, 1, 2, 3, 4})
	lists := [][]hooks.Neuron{
		{post(0, 3), pre(1, 7), q(1, 5)},
		{post(0, 9), post(1, 2)},
		{q(0, 11)},
	}
	of := []int{1, 0, -1, 2, 0} // row 2 is left alone
	for _, c := range []struct {
		factor float32
		at     ablate.Positions
	}{{0, ablate.LastPosition}, {2, ablate.LastPosition}, {-1.5, ablate.AllPositions}} {
		var hand []hooks.Option
		for _, p := range []hooks.Point{hooks.At(0, hooks.AttnQ), hooks.At(0, hooks.MLPPost), hooks.At(1, hooks.AttnQ), hooks.At(1, hooks.MLPPre), hooks.At(1, hooks.MLPPost)} {
			hand = append(hand, hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
				w := len(a.Data) / (b.Size * b.Len)
				for r := 0; r < b.Size; r++ {
					if of[r] < 0 {
						continue
					}
					first := b.Len - b.Lens[r]
					ts := []int{b.Len - 1}
					if !c.at.Last {
						ts = every(first, b.Lens[r])
					}
					for _, n := range lists[of[r]] {
						if n.Point != p {
							continue
						}
						for _, t := range ts {
							if c.factor == 0 {
								a.Data[(r*b.Len+t)*w+n.Index] = 0
							} else {
								a.Data[(r*b.Len+t)*w+n.Index] *= c.factor
							}
						}
					}
				}
				return nil
			}))
		}
		sameLogits(t, m, b, &ablate.PerItem{Lists: lists, Of: of, Factor: c.factor, At: c.at, What: "test lists"}, hand...)
	}
	if _, err := (&ablate.PerItem{Lists: lists, Of: of}).Hooks(&ablate.Batch{Texts: true}); err == nil {
		t.Error("a pass over texts was accepted")
	}
}

// Random control lists keep the per-point composition of their claimed list (layer and tap),
// avoid its units, are seeded, and differ between lists drawn with the same seed.
func TestRandomListsKeepComposition(t *testing.T) {
	m := tinyModel(t)
	cat := m.Catalog()
	mixed := []hooks.Neuron{pre(0, 1), pre(0, 2), pre(1, 3), q(0, 4), q(1, 5), q(1, 6), hooks.NeuronAt(1, hooks.AttnV, 2), post(1, 8)}
	composition := func(ns []hooks.Neuron) map[hooks.Point]int {
		c := map[hooks.Point]int{}
		for _, n := range ns {
			c[n.Point]++
		}
		return c
	}
	in := map[hooks.Neuron]bool{}
	for _, n := range mixed {
		in[n] = true
	}
	check := func(what string, r []hooks.Neuron) {
		t.Helper()
		if !reflect.DeepEqual(composition(r), composition(mixed)) {
			t.Errorf("%s: composition %v, claimed %v", what, composition(r), composition(mixed))
		}
		for _, n := range r {
			if in[n] {
				t.Errorf("%s holds claimed unit %s", what, n)
			}
		}
		if err := cat.CheckNeurons(r); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	check("RandomSet", ablate.RandomSet(cat, mixed, 3))
	a, a2 := ablate.RandomSetFor(cat, mixed, 3, 0), ablate.RandomSetFor(cat, mixed, 3, 0)
	b := ablate.RandomSetFor(cat, mixed, 3, 1)
	check("RandomSetFor stream 0", a)
	check("RandomSetFor stream 1", b)
	if !reflect.DeepEqual(a, a2) || reflect.DeepEqual(a, b) || reflect.DeepEqual(a, ablate.RandomSet(cat, mixed, 3)) {
		t.Error("RandomSetFor is not seeded per stream")
	}
	lists := ablate.RandomLists(cat, [][]hooks.Neuron{mixed, nil, mixed}, 3)
	if !reflect.DeepEqual(lists[0], a) || lists[1] != nil || !reflect.DeepEqual(lists[2], ablate.RandomSetFor(cat, mixed, 3, 2)) {
		t.Error("RandomLists does not draw list j from stream j")
	}
	// CULNIG's pooled draw: the total size, from the pool's sites only
	pool := []hooks.Site{hooks.MLPPre, hooks.AttnQ, hooks.AttnK, hooks.AttnV}
	p, err := ablate.RandomPooled(cat, mixed[:7], pool, 5)
	if err != nil || len(p) != 7 {
		t.Fatalf("pooled: %v, %v", p, err)
	}
	for _, n := range p {
		if !slices.Contains(pool, n.Site) {
			t.Errorf("pooled draw %s outside the pool", n)
		}
	}
	if p2, _ := ablate.RandomPooled(cat, mixed[:7], pool, 5); !reflect.DeepEqual(p, p2) {
		t.Error("pooled draw not seeded")
	}
	if _, err := ablate.RandomPooled(cat, allNeurons(m), []hooks.Site{hooks.AttnQ}, 1); err == nil {
		t.Error("a pool smaller than the set was accepted")
	}
}

// probAt is the target's probability and whether it is the top-1 token at the last position
// of a single prompt, run alone with the edits.
func probAt(t *testing.T, m *model.Model, prompt []int, target int, opts ...hooks.Option) (float64, bool) {
	t.Helper()
	b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	res, err := m.Forward(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.DVocab
	row := res.Logits.Data[(len(prompt)-1)*V:][:V]
	return math.Exp(logSoftmax64(row)[target]), model.Argmax(row) == target
}

// scaleLast multiplies the neurons by f (0: sets them to 0) at the last position of a single
// prompt.
func scaleLast(ns []hooks.Neuron, f float32) []hooks.Option {
	points, per := hooks.ByPoint(ns)
	var opts []hooks.Option
	for _, p := range points {
		units := per[p]
		opts = append(opts, hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
			w := len(a.Data) / (a.Shape[0] * a.Shape[1])
			last := a.Shape[1] - 1
			for _, i := range units {
				if f == 0 {
					a.Data[last*w+i] = 0
				} else {
					a.Data[last*w+i] *= f
				}
			}
			return nil
		}))
	}
	return opts
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// VerifyPaths' rows are NeuronPath's evaluation computed by hand, item by item with single
// unpadded forward passes: the mean of P_after/P_before − 1, top-1 accuracy, the random paths
// (RandomSetFor of each item's path), the paired comparison and the path similarity.
func TestVerifyPathsMatchesHand(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 12)
	cat := m.Catalog()
	var items []ablate.PathItem
	for i, it := range set.Items {
		prompt, target := it.IDs, it.AnswerIDs[0]
		if i%3 == 1 && len(prompt) > 2 { // an inner position: the next prompt token is the target
			prompt, target = it.IDs[:2], it.IDs[2]
		}
		items = append(items, ablate.PathItem{ID: it.ID, Labels: it.Labels, Prompt: prompt, Target: target, Paths: map[string][]hooks.Neuron{
			"path":            {post(0, (7*i)%32), post(1, (3*i+1)%32)},
			"activation":      {post(0, (5*i+2)%32), post(1, 6)},
			"activation_topk": {post(0, 1), post(0, 2), post(1, (i+4)%32), post(1, 20)},
		}})
	}
	const R = 3
	f, err := ablate.VerifyPaths(m, items, ablate.PathVerifyOptions{Compare: []string{"relation"}, Random: R, Seed: 9, Resamples: 300, BatchSize: 5, Permutations: 99})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Labels) != 3 || len(f.ItemEffects) != 1 {
		t.Fatalf("%d labels, %d item tables", len(f.Labels), len(f.ItemEffects))
	}
	tab := f.ItemEffects[0]
	if len(tab.Rows) != 6 || len(tab.Comparisons) != 4 || len(tab.Similarity) != 1 {
		t.Fatalf("rows %d, comparisons %d, similarity %d", len(tab.Rows), len(tab.Comparisons), len(tab.Similarity))
	}
	type eff struct{ dev, top, p0 float64 }
	hand := func(lists func(i int) []hooks.Neuron, factor float32) (eff, []float64) {
		var e eff
		per := make([]float64, len(items))
		for i, it := range items {
			p0, top0 := probAt(t, m, it.Prompt, it.Target)
			p1, top1 := probAt(t, m, it.Prompt, it.Target, scaleLast(lists(i), factor)...)
			per[i] = p1/p0 - 1
			e.dev += per[i] / float64(len(items))
			e.p0 += p0 / float64(len(items))
			if top1 {
				e.top++
			}
			if top0 {
				e.top--
			}
		}
		e.top /= float64(len(items))
		return e, per
	}
	perItem := map[[2]string][]float64{}
	for _, row := range tab.Rows {
		factor := map[string]float32{"remove": 0, "enhance": 2}[row.Intervention]
		kind := row.Set
		h, per := hand(func(i int) []hooks.Neuron { return items[i].Paths[kind] }, factor)
		perItem[[2]string{kind, row.Intervention}] = per
		if !near(row.Effect, h.dev, 1e-4) || !near(row.Before, h.p0, 1e-5) || math.Abs((row.Top1After-row.Top1Before)-h.top) > 1e-12 {
			t.Errorf("%s %s: effect %v, P before %v, Δtop-1 %v; hand %v, %v, %v", kind, row.Intervention, row.Effect, row.Before,
				row.Top1After-row.Top1Before, h.dev, h.p0, h.top)
		}
		var rnd []float64
		for k := 0; k < R; k++ {
			rh, _ := hand(func(i int) []hooks.Neuron {
				return ablate.RandomSetFor(cat, items[i].Paths[kind], 9+uint64(k), uint64(i))
			}, factor)
			rnd = append(rnd, rh.dev)
		}
		if rs := labels.StatOf(rnd); !near(row.Random.Mean, rs.Mean, 1e-4) || !near(row.Random.Std, rs.Std, 1e-3) {
			t.Errorf("%s %s: random %+v, hand %+v", kind, row.Intervention, row.Random, rs)
		}
		if row.P < 1.0/(R+1) || row.P > 1 {
			t.Errorf("p %v", row.P)
		}
	}
	for _, c := range tab.Comparisons {
		s := map[string]float64{"remove": -1, "enhance": 1}[c.Intervention]
		a, b := perItem[[2]string{c.Set, c.Intervention}], perItem[[2]string{c.Versus, c.Intervention}]
		var d float64
		for i := range a {
			d += s * (a[i] - b[i]) / float64(len(a))
		}
		if c.Set != "path" || !near(c.Difference, d, 1e-4) || c.CI95[0] > c.Difference || c.CI95[1] < c.Difference || c.PBootstrap <= 0 || c.PBootstrap > 1 {
			t.Errorf("comparison %+v, hand difference %v", c, d)
		}
	}
	// the similarity's means by hand
	var same, diff float64
	var ns, nd int
	for i := range items {
		for j := i + 1; j < len(items); j++ {
			s := sharedFraction(items[i].Paths["path"], items[j].Paths["path"])
			if items[i].Labels["relation"] == items[j].Labels["relation"] {
				same, ns = same+s, ns+1
			} else {
				diff, nd = diff+s, nd+1
			}
		}
	}
	sim := tab.Similarity[0]
	if sim.SamePairs != ns || sim.DifferentPairs != nd || !near(sim.Same, same/float64(ns), 1e-12) || !near(sim.Different, diff/float64(nd), 1e-12) ||
		sim.Permutations != 99 || sim.P < 0.01 || sim.P > 1 {
		t.Errorf("similarity %+v; hand same %v (%d), different %v (%d)", sim, same/float64(ns), ns, diff/float64(nd), nd)
	}
	for _, l := range f.Labels {
		if l.Claim.Kind != labels.KindPath || len(l.Verifications) != 2 || l.Verifications[0].PBootstrap == nil || l.Verdict == "" || l.Claim.Description == "" {
			t.Errorf("label %+v", l)
		}
	}
	// bad input
	bad := append([]ablate.PathItem(nil), items...)
	bad[3].Paths = map[string][]hooks.Neuron{"path": {post(0, 1)}}
	if _, err := ablate.VerifyPaths(m, bad, ablate.PathVerifyOptions{Random: 2}); err == nil {
		t.Error("an item without its activation list was accepted")
	}
	bad[3] = items[3]
	bad[3].Paths = map[string][]hooks.Neuron{"path": {post(9, 1)}, "activation": {post(0, 1)}, "activation_topk": {post(0, 1)}}
	if _, err := ablate.VerifyPaths(m, bad, ablate.PathVerifyOptions{Random: 2}); err == nil {
		t.Error("a neuron outside the model was accepted")
	}
}

// sharedFraction is the fraction of layers at which two one-per-layer paths agree.
func sharedFraction(a, b []hooks.Neuron) float64 {
	n := 0
	for _, x := range a {
		if slices.Contains(b, x) {
			n++
		}
	}
	return float64(n) / math.Sqrt(float64(len(a)*len(b)))
}

// PathItems rebuilds the prompts, targets and lists from a set written as find path writes it,
// and refuses a set without positions or with targets another file gives.
func TestPathItemsFromSet(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 6)
	mk := func(items []attribute.PathItemResult) *hooks.NeuronSet {
		ns := &hooks.NeuronSet{Method: "neuronpath", Tap: hooks.MLPPost}
		for _, it := range items {
			for _, k := range attribute.PathKinds {
				ns.Add(k+"/"+it.ID, hooks.ScoredNeuron{Neuron: post(0, it.Position)}, hooks.ScoredNeuron{Neuron: post(1, 2)})
			}
		}
		ns.Settings = attribute.PathSettings{Procedure: attribute.PathProcedure, Items: items}
		return roundTrip(t, ns)
	}
	a, b := set.Items[0], set.Items[1]
	good := []attribute.PathItemResult{{ID: a.ID, Position: len(a.IDs) - 1, Token: a.AnswerIDs[0]}, {ID: b.ID, Position: 0, Token: b.IDs[1]}}
	items, err := ablate.PathItems(mk(good), set)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || !slices.Equal(items[0].Prompt, a.IDs) || items[1].Target != b.IDs[1] || len(items[1].Prompt) != 1 ||
		!reflect.DeepEqual(items[1].Paths["activation"], []hooks.Neuron{post(0, 0), post(1, 2)}) {
		t.Errorf("items %+v", items)
	}
	for name, its := range map[string][]attribute.PathItemResult{
		"wrong target":    {{ID: a.ID, Position: 0, Token: a.IDs[1] + 1}},
		"outside prompt":  {{ID: a.ID, Position: len(a.IDs), Token: 1}},
		"unknown item":    {{ID: "zz", Position: 0, Token: 1}},
		"no items at all": nil,
	} {
		if _, err := ablate.PathItems(mk(its), set); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	noPos := roundTrip(t, &hooks.NeuronSet{Method: "neuronpath", Tap: hooks.MLPPost, Groups: []hooks.NeuronGroup{{Name: "path", Neurons: scored(post(0, 1))}},
		Settings: map[string]any{"items": []map[string]any{{"id": a.ID, "target_token": 3}}}})
	if _, err := ablate.PathItems(noPos, set); err == nil {
		t.Error("an item without a position was accepted")
	}
}

func roundTrip(t *testing.T, s *hooks.NeuronSet) *hooks.NeuronSet {
	t.Helper()
	data, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := hooks.ParseNeuronSet(data, "set")
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// ComparePaths' permutation test: paths that cluster by label get a small p, paths that
// ignore the label a large one.
func TestComparePathsPermutation(t *testing.T) {
	var paths [][]hooks.ScoredNeuron
	var vals []string
	for i := 0; i < 12; i++ {
		g := i % 3
		paths = append(paths, scored(post(0, g), post(1, 10+g), post(2, i)))
		vals = append(vals, []string{"a", "b", "c"}[g])
	}
	s := attribute.ComparePaths(paths, vals, "k", 199, 1)
	if s.Same <= s.Different || s.P > 0.01 || s.Permutations != 199 {
		t.Errorf("clustered paths: %+v", s)
	}
	shuffled := []string{"a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"}
	s = attribute.ComparePaths(paths, shuffled, "k", 199, 1)
	if s.P < 0.1 {
		t.Errorf("paths unrelated to the label: %+v", s)
	}
	if s := attribute.ComparePaths(paths, make([]string, 12), "k", 50, 1); s.P != 1 || s.DifferentPair != 0 {
		t.Errorf("one group: %+v", s)
	}
}

// VerifyKnowledge's relation rows and fact labels are Dai et al.'s ratios of means computed by
// hand: own prompts and the paired other relation's prompts, each fact's neurons removed or
// doubled at the last position, and the same for its random lists.
func TestVerifyKnowledgeMatchesHand(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 24)
	cat := m.Catalog()
	var facts []ablate.KnowledgeItem
	for j := 0; j < 8; j++ {
		f := ablate.KnowledgeItem{Name: "f" + string(rune('0'+j)), Relation: []string{"r0", "r1", "r2"}[j%3], Target: set.Items[3*j].AnswerIDs[0]}
		for k := 0; k < 3; k++ { // three "paraphrases" with the same answer: the first prompt, cut
			p := set.Items[3*j].IDs
			f.Prompts = append(f.Prompts, p[max(0, len(p)-2-k):])
		}
		if j != 5 {
			f.Neurons = scored(post(0, 2*j+1), post(1, j+3), pre(1, 4*j))
		}
		facts = append(facts, f)
	}
	const R = 3
	lf, err := ablate.VerifyKnowledge(m, facts, ablate.KnowledgeVerifyOptions{Random: R, Seed: 4, Resamples: 200, BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	rels := []string{"r0", "r1", "r2"}
	partner, err := ablate.OtherRelationFacts([]string{"r0", "r1", "r2", "r0", "r1", "r2", "r0", "r1"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	for j, p := range partner {
		if facts[p].Relation == facts[j].Relation {
			t.Fatalf("fact %d paired with fact %d of the same relation", j, p)
		}
	}
	// sums of P before and after over a fact's prompts (or its partner's) with a list
	sums := func(j int, other bool, ns []hooks.Neuron, factor float32) (before, after float64, n int) {
		g := facts[j]
		if other {
			g = facts[partner[j]]
		}
		for _, p := range g.Prompts {
			p0, _ := probAt(t, m, p, g.Target)
			p1, _ := probAt(t, m, p, g.Target, scaleLast(ns, factor)...)
			before, after, n = before+p0, after+p1, n+1
		}
		return
	}
	ratio := func(js []int, other bool, lists func(j int) []hooks.Neuron, factor float32) float64 {
		var b, a float64
		for _, j := range js {
			b0, a0, _ := sums(j, other, lists(j), factor)
			b, a = b+b0, a+a0
		}
		return (a - b) / b
	}
	tab := lf.ItemEffects[0]
	if len(tab.Rows) != 6 || len(tab.Notes) != 1 {
		t.Fatalf("rows %d, notes %v", len(tab.Rows), tab.Notes)
	}
	for _, row := range tab.Rows {
		var js []int
		for j, f := range facts {
			if f.Relation == row.Set {
				js = append(js, j)
			}
		}
		factor := map[string]float32{"remove": 0, "enhance": 2}[row.Intervention]
		own := func(j int) []hooks.Neuron { return hooks.Plain(facts[j].Neurons) }
		o, x := ratio(js, false, own, factor), ratio(js, true, own, factor)
		if !near(row.Effect, o, 1e-4) || !near(row.Other.Effect, x, 1e-4) {
			t.Errorf("%s %s: own %v other %v; hand %v, %v", row.Set, row.Intervention, row.Effect, row.Other.Effect, o, x)
		}
		var rs []float64
		for k := 0; k < R; k++ {
			rl := func(j int) []hooks.Neuron {
				if len(facts[j].Neurons) == 0 {
					return nil
				}
				return ablate.RandomSetFor(cat, own(j), 4+uint64(k), uint64(j))
			}
			rs = append(rs, ratio(js, false, rl, factor))
		}
		if st := labels.StatOf(rs); !near(row.Random.Mean, st.Mean, 1e-4) {
			t.Errorf("%s %s: random own %+v, hand %+v", row.Set, row.Intervention, row.Random, st)
		}
		s := map[string]float64{"remove": -1, "enhance": 1}[row.Intervention]
		if !near(row.Other.Selectivity, s*(o-x), 1e-4) {
			t.Errorf("%s %s: selectivity %v, hand %v", row.Set, row.Intervention, row.Other.Selectivity, s*(o-x))
		}
	}
	if !slices.Equal(rels, []string{tab.Rows[0].Set, tab.Rows[2].Set, tab.Rows[4].Set}) {
		t.Errorf("rows by relation: %v", tab.Rows)
	}
	for j, l := range lf.Labels {
		if l.Set != facts[j].Name || l.Claim.Kind != labels.KindFact {
			t.Errorf("label %d: %s %s", j, l.Set, l.Claim.Kind)
		}
		if j == 5 {
			if len(l.Verifications) != 0 {
				t.Error("a fact without neurons was verified")
			}
			continue
		}
		v := l.Verifications[0]
		own := ratio([]int{j}, false, func(int) []hooks.Neuron { return hooks.Plain(facts[j].Neurons) }, 0)
		oth := ratio([]int{j}, true, func(int) []hooks.Neuron { return hooks.Plain(facts[j].Neurons) }, 0)
		if len(l.Verifications) != 2 || !near(v.Target, -own, 1e-4) || !near(*v.Others, -oth, 1e-4) || !near(v.Effect, oth-own, 1e-4) || v.Random.N != R {
			t.Errorf("fact %s: %+v; hand own %v, other %v", l.Set, v, own, oth)
		}
	}
	// one relation only: no control
	if _, err := ablate.VerifyKnowledge(m, []ablate.KnowledgeItem{facts[0], facts[3]}, ablate.KnowledgeVerifyOptions{Random: 2}); err == nil {
		t.Error("facts of one relation were accepted")
	}
}

// A set claimed for every group (CULNIG's "general") is verified on all items pooled: its
// target is the measure's effect over every item, with no "others", and a bootstrap p-value.
func TestMatrixGeneralSet(t *testing.T) {
	m := tinyModel(t)
	set := tinySet(t, m, 45)
	e, err := ablate.NewEval(m, set, nil, ablate.EvalOptions{BatchSize: 16, LogProb: true})
	if err != nil {
		t.Fatal(err)
	}
	gen := scored(pre(0, 1), pre(0, 5), q(1, 3), post(1, 9), post(1, 10), post(0, 20))
	res, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: "general", Neurons: gen}, {Name: "r1", Neurons: scored(post(1, 2))}},
		ablate.MatrixOptions{Key: "relation", Measure: ablate.AnswerProb, Random: 3, Seed: 2, Resamples: 100, General: "general"})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Verifications[0]
	if v == nil || v.Others != nil || v.PBootstrap == nil || res.Verifications[1] == nil || res.Verifications[1].Others == nil {
		t.Fatalf("verifications %+v", res.Verifications)
	}
	var b, a float64
	for i := range set.Items {
		b += math.Exp(res.Base.LogProb[i])
		a += math.Exp(res.Runs[0].Claimed.LogProb[i])
	}
	if want := -(a - b) / b; !near(v.Target, want, 1e-12) || v.Effect != v.Target {
		t.Errorf("general target %v effect %v, hand %v", v.Target, v.Effect, want)
	}
	for k, rn := range res.Runs[0].RandomNeurons {
		if !reflect.DeepEqual(rn, ablate.RandomSet(m.Catalog(), hooks.Plain(gen), 2+uint64(k))) {
			t.Errorf("random set %d is not RandomSet's", k)
		}
	}
	// Verify labels it, and an empty group is labelled without a verification.
	ns := &hooks.NeuronSet{Method: "culnig", Tap: hooks.MLPPre, Groups: []hooks.NeuronGroup{{Name: "general", Neurons: gen}, {Name: "r2"}, {Name: "r0", Neurons: scored(pre(1, 3))}}}
	vr, err := ablate.Verify(e, ns, ablate.VerifyOptions{Key: "relation", Random: 2, Resamples: 50, General: "general", Measure: "answer_prob"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]labels.Label{}
	for _, l := range vr.File.Labels {
		byName[l.Set] = l
	}
	if l := byName["general"]; len(l.Verifications) != 1 || l.Claim.Key != "relation" || l.Verdict == "" {
		t.Errorf("general label %+v", l)
	}
	if l, ok := byName["r2"]; !ok || len(l.Verifications) != 0 || len(vr.File.Labels) != 3 {
		t.Errorf("empty group: %+v (%d labels)", l, len(vr.File.Labels))
	}
	// CULNIG's pooled random draw is an option
	pooled, err := ablate.Matrix(e, []hooks.NeuronGroup{{Name: "general", Neurons: gen}}, ablate.MatrixOptions{Key: "relation", Random: 2, Seed: 2,
		Resamples: 50, General: "general", RandomPool: []hooks.Site{hooks.MLPPre, hooks.AttnQ}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ablate.RandomPooled(m.Catalog(), hooks.Plain(gen), []hooks.Site{hooks.MLPPre, hooks.AttnQ}, 3)
	if !reflect.DeepEqual(pooled.Runs[0].RandomNeurons[1], want) {
		t.Error("the pooled random set is not RandomPooled's")
	}
}
