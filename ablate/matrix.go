package ablate

import (
	"fmt"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// Intervene builds the intervention on a list of neurons for the named set: the same recipe
// is applied to the set's claimed neurons and to its random controls.
type Intervene func(set string, ns []hooks.Neuron) (Intervention, error)

// RandomRule says how RandomSet draws control sets.
const RandomRule = "same per-point counts as the claimed set, indices uniform without replacement among the point's units " +
	"not in the claimed set (all units if too few remain); random set k drawn with seed seed+k"

// MatrixOptions configure Matrix.
type MatrixOptions struct {
	// Key is the label that groups the questions (relation, language); TextKey the one that
	// groups the texts (default Key).
	Key, TextKey string
	// Intervene builds each set's intervention (default: zero ablation at every position).
	Intervene Intervene
	// Units resolves sets whose units are SNMF features or SAE latents (hooks.Site.IsUnits):
	// their widths, so random controls are random units of the same decomposition.
	Units Units
	// Measure is read on the questions (default Accuracy); texts are read as Perplexity.
	Measure Measure
	// Helps says the claim is that the intervention raises the group's measure (enhancement,
	// steering toward the group); by default it hurts it (ablation).
	Helps bool
	// Random is the number of random sets per claimed set (0: DefaultRandom; at least 2);
	// random set k of every row is drawn with seed Seed+k.
	Random int
	Seed   uint64
	// Resamples is the number of bootstrap resamples of the CI (0: DefaultResamples).
	Resamples int
	Verdict   VerdictOptions
	// General names a set claimed to act on every group (CULNIG's culture-general neurons):
	// unless a group has its name, it is verified on all items pooled, its statistic the
	// oriented effect on them ("": none).
	General string
	// RandomPool, when set, draws each random set as CULNIG's code does (RandomPooled: the
	// claimed set's total size from every unit of these sites at every layer) instead of
	// with the claimed set's per-point counts (RandomSet).
	RandomPool []hooks.Site
}

// randomSet draws random set number seed for the claimed neurons by the options' rule.
func (o *MatrixOptions) randomSet(cat hooks.Catalog, ns []hooks.Neuron, seed uint64) ([]hooks.Neuron, error) {
	if o.RandomPool != nil {
		return RandomPooled(cat, ns, o.RandomPool, seed)
	}
	return RandomSet(cat, ns, seed), nil
}

// randomRule is the options' random rule, for reports.
func (o *MatrixOptions) randomRule() string {
	if o.RandomPool != nil {
		return fmt.Sprintf("%s; pool: %s", RandomPooledRule, siteList(o.RandomPool))
	}
	return RandomRule
}

func (o *MatrixOptions) defaults() {
	if o.TextKey == "" {
		o.TextKey = o.Key
	}
	if o.Intervene == nil {
		o.Intervene = func(_ string, ns []hooks.Neuron) (Intervention, error) { return ZeroAt(ns, AllPositions), nil }
	}
	if o.Random == 0 {
		o.Random = DefaultRandom
	}
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	o.Verdict.defaults()
}

// SetRun is what a matrix ran for one set: its intervention's scores and its random
// controls'.
type SetRun struct {
	Name          string
	Neurons       []hooks.Neuron
	Intervention  string
	Claimed       *Scores
	Seeds         []uint64
	RandomNeurons [][]hooks.Neuron
	Random        []*Scores
}

// MatrixResult is a group × group experiment: the full tables (labels.Matrix: one for the
// questions, one for the texts, each nil without that data), the per-item scores, and a
// verification per set (nil for a set that names no group).
type MatrixResult struct {
	Base          *Scores
	Runs          []SetRun
	Questions     *labels.Matrix
	Texts         *labels.Matrix
	Verifications []*labels.Verification
}

// Matrix intervenes on each set's neurons and measures every group of items (questions by
// opt.Key, texts by opt.TextKey), together with opt.Random random sets per set with the same
// per-point counts (RandomSet). A set whose name is a group is verified (see the package
// documentation for the statistic and the verdict rule); interference (a set improving
// another group) is listed in each table and in the set's notes.
func Matrix(e *Eval, sets []hooks.NeuronGroup, opt MatrixOptions) (*MatrixResult, error) {
	opt.defaults()
	if opt.Random < 2 {
		return nil, fmt.Errorf("a matrix needs at least 2 random sets per row, got %d", opt.Random)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("no neuron sets")
	}
	qGroups, tGroups, err := e.groups(opt.Key, opt.TextKey)
	if err != nil {
		return nil, err
	}
	var all []hooks.Neuron
	for _, s := range sets {
		all = append(all, hooks.Plain(s.Neurons)...)
	}
	cat := WithUnits(e.Model.Catalog(), opt.Units, all)
	res := &MatrixResult{}
	var ivs []Intervention
	for _, s := range sets {
		ns := hooks.Plain(s.Neurons)
		if err := cat.CheckNeurons(ns); err != nil {
			return nil, fmt.Errorf("set %q: %v", s.Name, err)
		}
		run := SetRun{Name: s.Name, Neurons: ns}
		iv, err := opt.Intervene(s.Name, ns)
		if err != nil {
			return nil, fmt.Errorf("set %q: %v", s.Name, err)
		}
		run.Intervention = iv.String()
		ivs = append(ivs, iv)
		for k := 0; k < opt.Random; k++ {
			seed := opt.Seed + uint64(k)
			rn, err := opt.randomSet(cat, ns, seed)
			if err != nil {
				return nil, fmt.Errorf("set %q: %v", s.Name, err)
			}
			riv, err := opt.Intervene(s.Name, rn)
			if err != nil {
				return nil, fmt.Errorf("set %q, random set %d: %v", s.Name, k, err)
			}
			run.Seeds, run.RandomNeurons = append(run.Seeds, seed), append(run.RandomNeurons, rn)
			ivs = append(ivs, riv)
		}
		res.Runs = append(res.Runs, run)
	}
	e.Reuse(ivs...)
	if res.Base, err = e.Baseline(); err != nil {
		return nil, err
	}
	scores, err := e.RunAll(ivs)
	if err != nil {
		return nil, err
	}
	for i := range res.Runs {
		row := scores[i*(opt.Random+1):]
		res.Runs[i].Claimed, res.Runs[i].Random = row[0], row[1:opt.Random+1]
	}
	name := func(what string) string {
		return fmt.Sprintf("%d sets × %s groups (%s)", len(sets), what, opt.Measure)
	}
	if qGroups != nil {
		res.Questions = res.table(name(opt.Key), opt.Key, opt.Measure, opt.Helps, qGroups, opt.Random)
	}
	if tGroups != nil {
		res.Texts = res.table(fmt.Sprintf("%d sets × %s text groups (perplexity)", len(sets), opt.TextKey), opt.TextKey, Perplexity, opt.Helps, tGroups, opt.Random)
	}
	res.Verifications = make([]*labels.Verification, len(sets))
	for i := range res.Runs {
		var g *groupIndex
		var tab *labels.Matrix
		measure, ref := opt.Measure, "matrices[0]"
		switch {
		case qGroups != nil && slices.Contains(qGroups.names, res.Runs[i].Name):
			g, tab = qGroups, res.Questions
		case tGroups != nil && slices.Contains(tGroups.names, res.Runs[i].Name):
			g, tab, measure = tGroups, res.Texts, Perplexity
			if res.Questions != nil {
				ref = "matrices[1]"
			}
		case opt.General != "" && res.Runs[i].Name == opt.General && qGroups != nil:
			g, tab = qGroups, res.Questions
		case opt.General != "" && res.Runs[i].Name == opt.General && tGroups != nil:
			g, tab, measure, ref = tGroups, res.Texts, Perplexity, "matrices[0]"
		default:
			continue
		}
		v := res.verify(i, g, tab, measure, opt)
		v.Ref = ref
		res.Verifications[i] = v
	}
	return res, nil
}

// groupIndex is the items of each group of a label key.
type groupIndex struct {
	key   string
	names []string
	items [][]int
	texts bool
}

// has reports whether name is one of the groups (false for a nil index).
func (g *groupIndex) has(name string) bool { return g != nil && slices.Contains(g.names, name) }

// groups indexes the questions by key and the texts by textKey (nil without that data).
func (e *Eval) groups(key, textKey string) (q, t *groupIndex, err error) {
	if key == "" {
		return nil, nil, fmt.Errorf("no group key")
	}
	if e.Questions != nil {
		names, err := e.Questions.Groups(key)
		if err != nil {
			return nil, nil, err
		}
		q = &groupIndex{key: key, names: names, items: make([][]int, len(names))}
		for i, it := range e.Questions.Items {
			j, _ := slices.BinarySearch(names, it.Labels[key])
			q.items[j] = append(q.items[j], i)
		}
	}
	if e.Texts != nil {
		names, err := e.Texts.Groups(textKey)
		if err != nil {
			return nil, nil, err
		}
		t = &groupIndex{key: textKey, names: names, items: make([][]int, len(names)), texts: true}
		for i, it := range e.Texts.Items {
			j, _ := slices.BinarySearch(names, it.Labels[textKey])
			t.items[j] = append(t.items[j], i)
		}
	}
	return q, t, nil
}

// table builds one labels.Matrix.
func (r *MatrixResult) table(name, key string, m Measure, helps bool, g *groupIndex, random int) *labels.Matrix {
	t := &labels.Matrix{Name: name, Key: key, Measure: m.String(), Effect: m.Effect(), Groups: g.names, RandomSets: random}
	if m == Accuracy {
		t.Measure = "accuracy"
	}
	for j := range g.names {
		t.GroupItems = append(t.GroupItems, len(g.items[j]))
		t.Baseline = append(t.Baseline, m.level(r.Base, g.items[j]))
	}
	for _, run := range r.Runs {
		t.Sets = append(t.Sets, run.Name)
		if t.Intervention == "" {
			t.Intervention = run.Intervention
		}
		row := make([]labels.Cell, len(g.names))
		for j, idx := range g.items {
			after := m.level(run.Claimed, idx)
			c := labels.Cell{Value: after, Effect: m.effect(t.Baseline[j], after)}
			if m == Accuracy {
				c.Drop = snap(t.Baseline[j] - after)
			}
			var rnd, ornd []float64
			for _, s := range run.Random {
				eff := m.effect(t.Baseline[j], m.level(s, idx))
				rnd = append(rnd, eff)
				ornd = append(ornd, m.oriented(eff, helps))
			}
			c.Random = labels.StatOf(rnd)
			oc := m.oriented(c.Effect, helps)
			c.P = EmpiricalP(oc, ornd)
			row[j] = c
			if g.names[j] != run.Name && improves(m, t.Baseline[j], after) {
				// beyond random: a larger improvement than every random set's
				beyond := len(rnd) > 0
				for _, eff := range rnd {
					beyond = beyond && m.oriented(c.Effect, false) < m.oriented(eff, false)
				}
				t.Interference = append(t.Interference, labels.Interference{Set: run.Name, Group: g.names[j],
					Before: t.Baseline[j], After: after, Effect: c.Effect, BeyondRandom: beyond})
			}
		}
		t.Cells = append(t.Cells, row)
	}
	if t.Interference == nil {
		t.Interference = []labels.Interference{}
	}
	return t
}

// improves reports whether after is better than before for the measure.
func improves(m Measure, before, after float64) bool {
	if m == Perplexity {
		return after < before
	}
	return after > before
}

// selectivity is the oriented effect on group own minus the unweighted mean oriented effect on
// the others (just the own effect when there are no others), from before and after scores on
// the items of each group (sample gives the items; nil: g's). With own < 0 (a set claimed for
// every group) it is the oriented effect on all the items pooled.
func selectivity(m Measure, helps bool, g *groupIndex, own int, before, after *Scores, sample [][]int) (target, others, sel float64) {
	items := g.items
	if sample != nil {
		items = sample
	}
	if own < 0 {
		var all []int
		for _, idx := range items {
			all = append(all, idx...)
		}
		t := m.oriented(m.effect(m.level(before, all), m.level(after, all)), helps)
		return t, 0, t
	}
	var sum float64
	for j, idx := range items {
		o := m.oriented(m.effect(m.level(before, idx), m.level(after, idx)), helps)
		if j == own {
			target = o
		} else {
			sum += o
		}
	}
	if len(items) < 2 {
		return target, 0, target
	}
	others = snap(sum / float64(len(items)-1))
	return target, others, snap(target - others)
}

// verify tests set i's row on its own group.
func (r *MatrixResult) verify(i int, g *groupIndex, tab *labels.Matrix, m Measure, opt MatrixOptions) *labels.Verification {
	run := r.Runs[i]
	own := slices.Index(g.names, run.Name)
	target, others, sel := selectivity(m, opt.Helps, g, own, r.Base, run.Claimed, nil)
	var rnd []float64
	for _, s := range run.Random {
		_, _, rs := selectivity(m, opt.Helps, g, own, r.Base, s, nil)
		rnd = append(rnd, rs)
	}
	boot := Bootstrap(g.items, opt.Resamples, opt.Seed, func(sample [][]int) float64 {
		_, _, s := selectivity(m, opt.Helps, g, own, r.Base, run.Claimed, sample)
		return s
	})
	items := 0
	for _, idx := range g.items {
		items += len(idx)
	}
	v := &labels.Verification{Experiment: "matrix", Intervention: run.Intervention, Measure: m.String(),
		Statistic: fmt.Sprintf("selectivity: %s on %s=%s, oriented so the claim predicts > 0, minus its mean over the other %d groups",
			m.Effect(), g.key, run.Name, len(g.names)-1),
		RandomRule: opt.randomRule(), Resamples: opt.Resamples, Items: items}
	if own < 0 {
		v.Statistic = fmt.Sprintf("%s on all %d items of the %d %s groups pooled, oriented so the claim predicts > 0", m.Effect(), items, len(g.names), g.key)
	} else if len(g.names) > 1 {
		o := others
		v.Others = &o
	}
	Test{Target: target, Effect: sel, Random: rnd, CI: CI95(boot), Boot: boot}.Decide(opt.Verdict, v)
	for _, it := range tab.Interference {
		if it.Set == run.Name {
			beyond := ""
			if it.BeyondRandom {
				beyond = ", more than any random set"
			}
			v.Notes = append(v.Notes, fmt.Sprintf("interference: %s=%s improved from %.4g to %.4g%s", g.key, it.Group, it.Before, it.After, beyond))
		}
	}
	return v
}
