package ablate

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// KnowledgeItem is one fact of a knowledge-neuron verification: the name of its group in the
// neuron set, its relation, its prompts (each ending where the answer follows), the answer's
// token and its knowledge neurons (possibly none).
type KnowledgeItem struct {
	Name     string
	Relation string
	Prompts  [][]int
	Target   int
	Neurons  []hooks.ScoredNeuron
}

// KnowledgeVerifyOptions configure VerifyKnowledge.
type KnowledgeVerifyOptions struct {
	// Random is the number of random lists per fact (0: DefaultRandom): random list k of fact
	// j is RandomSetFor(its neurons, Seed+k, j). Seed also draws the other relation's facts.
	Random    int
	Seed      uint64
	Resamples int
	Verdict   VerdictOptions
	BatchSize int
	Workers   int
	Progress  func(items int)
	// Finder and Source describe where the neurons came from.
	Finder, Source string
}

// KnowledgeMeasure is how VerifyKnowledge reads an effect: Dai et al.'s ave_delta_ratio.
const KnowledgeMeasure = "answer probability change, ratio of means mean(P_after − P_before)/mean(P_before) over the prompts (Dai et al.'s ave_delta_ratio)"

// VerifyKnowledge checks knowledge neurons as Dai et al.'s 3_modify_activation.py does: each
// fact's knowledge neurons are removed (set to 0) and enhanced (×2) at the last prompt
// position of the fact's own prompts and of the prompts of another relation's fact ("oth":
// per fact, a random other relation, then a random fact of it, drawn with PCG(Seed, "oth")),
// and the answer's probability is read there. Per relation, over the prompts of its facts
// (facts without knowledge neurons included, as in the published code: their change is 0):
//
//	own      mean(P_after − P_before)/mean(P_before) on the facts' own prompts
//	other    the same on the paired other-relation facts' prompts, each intervened on with
//	         the pairing fact's neurons
//
// each against the same with opt.Random random lists per fact (the fact's per-layer counts at
// the same tap), the selectivity own − other (oriented so the claim predicts > 0: a drop for
// remove, a rise for enhance) with its empirical p-value. Each fact's group gets a label
// (claim kind fact) verified on the same numbers restricted to its prompts (Test.Decide: the
// selectivity against the random lists, bootstrap over its own and paired prompts). Facts of
// at least two relations are needed.
func VerifyKnowledge(m *model.Model, facts []KnowledgeItem, opt KnowledgeVerifyOptions) (*labels.File, error) {
	if opt.Random == 0 {
		opt.Random = DefaultRandom
	}
	if opt.Resamples == 0 {
		opt.Resamples = DefaultResamples
	}
	if opt.Random < 2 {
		return nil, fmt.Errorf("knowledge verification needs at least 2 random lists per fact, got %d", opt.Random)
	}
	if opt.Finder == "" {
		opt.Finder = "knowledge"
	}
	cat := m.Catalog()
	relations := make([]string, len(facts))
	for j, f := range facts {
		if f.Relation == "" {
			return nil, fmt.Errorf("fact %s names no relation (another relation's fact is the control)", f.Name)
		}
		if len(f.Prompts) == 0 {
			return nil, fmt.Errorf("fact %s has no prompts", f.Name)
		}
		if f.Target < 0 || f.Target >= m.Config.DVocab {
			return nil, fmt.Errorf("fact %s: answer token %d outside the vocabulary (%d)", f.Name, f.Target, m.Config.DVocab)
		}
		if len(f.Neurons) > 0 {
			if err := cat.CheckNeurons(hooks.Plain(f.Neurons)); err != nil {
				return nil, fmt.Errorf("fact %s: %v", f.Name, err)
			}
		}
		relations[j] = f.Relation
	}
	partner, err := OtherRelationFacts(relations, opt.Seed)
	if err != nil {
		return nil, err
	}
	byRel := map[string][]int{}
	for j, r := range relations {
		byRel[r] = append(byRel[r], j)
	}
	rels := slices.Sorted(maps.Keys(byRel))
	ps := &corpus.PromptSet{Source: "knowledge facts"}
	var of []int
	own, oth := make([][]int, len(facts)), make([][]int, len(facts))
	add := func(j, from int, side string, into [][]int) error {
		g := facts[from]
		for k, p := range g.Prompts {
			if len(p) == 0 || len(p) > m.Config.MaxPos {
				return fmt.Errorf("fact %s: prompt %d has %d tokens (need 1..%d)", g.Name, k+1, len(p), m.Config.MaxPos)
			}
			into[j] = append(into[j], len(ps.Items))
			ps.Items = append(ps.Items, corpus.Prompt{ID: fmt.Sprintf("%s/%s#%d", facts[j].Name, side, k+1), IDs: p, AnswerIDs: []int{g.Target},
				Labels: map[string]string{"fact": facts[j].Name, "relation": facts[j].Relation, "side": side, "prompt_fact": g.Name}})
			of = append(of, j)
		}
		return nil
	}
	lists := make([][]hooks.Neuron, len(facts))
	for j := range facts {
		lists[j] = hooks.Plain(facts[j].Neurons)
		if err := add(j, j, "own", own); err != nil {
			return nil, err
		}
	}
	for j := range facts {
		if err := add(j, partner[j], "other", oth); err != nil {
			return nil, err
		}
	}
	kind := itemKind{name: "knowledge", lists: lists, of: of, what: "each fact's knowledge neurons"}
	base, runs, err := runItemEval(m, ps, opt.BatchSize, opt.Workers, opt.Progress, []itemKind{kind}, []float32{0, 2}, LastPosition, opt.Random, opt.Seed)
	if err != nil {
		return nil, err
	}
	// effect: the ratio of means on items idx; sel: oriented own − oriented other
	effect := func(after *Scores, idx []int) float64 {
		return AnswerProb.effect(meanProb(base, idx), meanProb(after, idx))
	}
	sel := func(after *Scores, helps bool, o, x []int) float64 {
		return sign(helps) * (effect(after, o) - effect(after, x))
	}
	cat2 := func(parts [][]int, js []int) []int {
		var out []int
		for _, j := range js {
			out = append(out, parts[j]...)
		}
		return out
	}
	ops := []struct {
		name  string
		helps bool
	}{{"remove", false}, {"enhance", true}}
	tab := labels.ItemEffects{Name: fmt.Sprintf("%d facts of %d relations, remove (×0) and enhance (×2) at the last prompt position", len(facts), len(rels)),
		Experiment: "knowledge", Positions: "last", Measure: KnowledgeMeasure, RandomSets: opt.Random,
		RandomRule: "per fact, RandomSetFor(the fact's neurons, seed+k, fact): its per-layer counts at the same tap, uniform among the other units; the same list on its own and on the other relation's prompts"}
	empty := 0
	for _, f := range facts {
		if len(f.Neurons) == 0 {
			empty++
		}
	}
	if empty > 0 {
		tab.Notes = append(tab.Notes, fmt.Sprintf("%d of %d facts have no knowledge neurons: counted with a change of 0, as Dai et al.'s code counts them", empty, len(facts)))
	}
	for _, r := range rels {
		js := byRel[r]
		o, x := cat2(own, js), cat2(oth, js)
		for k, op := range ops {
			run := runs[0][k]
			row := labels.ItemRow{Set: r, Intervention: op.name, Items: len(o), Before: meanProb(base, o), After: meanProb(run.claimed, o),
				Effect: effect(run.claimed, o), Top1Before: top1(base, o), Top1After: top1(run.claimed, o)}
			side := &labels.ItemSide{Items: len(x), Before: meanProb(base, x), After: meanProb(run.claimed, x), Effect: effect(run.claimed, x),
				Selectivity: sel(run.claimed, op.helps, o, x)}
			var re, ro, rs, reo []float64
			for _, s := range run.random {
				re = append(re, effect(s, o))
				reo = append(reo, sign(op.helps)*effect(s, o))
				ro = append(ro, effect(s, x))
				rs = append(rs, sel(s, op.helps, o, x))
			}
			row.Random, side.Random, side.RandomSelectivity = labels.StatOf(re), labels.StatOf(ro), labels.StatOf(rs)
			row.P = EmpiricalP(sign(op.helps)*row.Effect, reo)
			side.P = EmpiricalP(side.Selectivity, rs)
			row.Other = side
			tab.Rows = append(tab.Rows, row)
		}
	}
	f := &labels.File{SchemaVersion: labels.Schema, Inputs: []labels.Input{}}
	for j, fact := range facts {
		l := newLabel(hooks.NeuronGroup{Name: fact.Name, Neurons: fact.Neurons}, "fact", opt.Finder, opt.Source, cat)
		l.Claim.Kind = labels.KindFact
		if len(fact.Neurons) == 0 {
			l.Claim.Description = fmt.Sprintf("fact %s (%s): no knowledge neurons; nothing to verify", fact.Name, fact.Relation)
			f.Labels = append(f.Labels, l)
			continue
		}
		o, x := own[j], oth[j]
		var parts []string
		for k, op := range ops {
			run := runs[0][k]
			T := sign(op.helps) * effect(run.claimed, o)
			O := sign(op.helps) * effect(run.claimed, x)
			var rnd []float64
			for _, s := range run.random {
				rnd = append(rnd, sel(s, op.helps, o, x))
			}
			boot := Bootstrap([][]int{o, x}, opt.Resamples, opt.Seed, func(s [][]int) float64 { return sel(run.claimed, op.helps, s[0], s[1]) })
			v := labels.Verification{Experiment: "knowledge", Intervention: op.name + ": " + run.iv, Measure: "answer_prob",
				Statistic: fmt.Sprintf("selectivity: the ratio of means on the fact's %d prompts minus that on %d prompts of fact %s (relation %s), oriented so the claim predicts > 0",
					len(o), len(x), facts[partner[j]].Name, facts[partner[j]].Relation),
				RandomRule: tab.RandomRule, Resamples: opt.Resamples, Items: len(o) + len(x), Ref: "item_effects[0]"}
			v.Others = &O
			Test{Target: T, Effect: T - O, Random: rnd, CI: CI95(boot), Boot: boot}.Decide(opt.Verdict, &v)
			l.Verifications = append(l.Verifications, v)
			parts = append(parts, fmt.Sprintf("%s changes its answers' probability by %s vs %s on fact %s: %s (p %.3g)", op.name,
				pct(sign(op.helps)*T), pct(sign(op.helps)*O), facts[partner[j]].Name, v.Verdict, v.P))
		}
		l.Verdict = l.Verifications[0].Verdict
		l.Claim.Description = fmt.Sprintf("fact %s (%s): %s, found by %s; %s", fact.Name, fact.Relation, describeNeurons(hooks.Plain(fact.Neurons)),
			opt.Finder, strings.Join(parts, "; "))
		f.Labels = append(f.Labels, l)
	}
	f.ItemEffects = []labels.ItemEffects{tab}
	return f, nil
}

// OtherRelationFacts pairs every fact with another relation's fact, as Dai et al.'s code
// draws its "oth" bag: for fact j (relations[j] its relation), a relation uniformly among the
// others (sorted by name), then a fact of it uniformly, from PCG(seed, "oth") in fact order.
// Facts of fewer than two relations are an error.
func OtherRelationFacts(relations []string, seed uint64) ([]int, error) {
	byRel := map[string][]int{}
	for j, r := range relations {
		byRel[r] = append(byRel[r], j)
	}
	rels := slices.Sorted(maps.Keys(byRel))
	if len(rels) < 2 {
		return nil, fmt.Errorf("the facts have %d relation(s): another relation's fact needs at least two", len(rels))
	}
	rng := rand.New(rand.NewPCG(seed, 0x6f7468)) // "oth"
	out := make([]int, len(relations))
	for j, r := range relations {
		others := slices.DeleteFunc(slices.Clone(rels), func(x string) bool { return x == r })
		fs := byRel[others[rng.IntN(len(others))]]
		out[j] = fs[rng.IntN(len(fs))]
	}
	return out, nil
}
