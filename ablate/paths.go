package ablate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// PathItem is one prompt of a path verification: its tokens up to and including the
// attributed position, the target token read there, and its neuron list of each kind.
type PathItem struct {
	ID     string
	Labels map[string]string
	// Prompt ends at the attributed position: the target's probability is read at its last
	// position (positions after it cannot change it in a causal model, so this is the same as
	// reading it inside the whole prompt).
	Prompt []int
	Target int
	// Paths maps a kind ("path", "activation", "activation_topk") to the item's neurons.
	Paths map[string][]hooks.Neuron
	// Image, for an image classifier (ViT), is the item's image [1, channels, size, size]
	// instead of a prompt (Prompt nil): its path is at the CLS token, Target is its class.
	Image *tensor.Tensor
}

// PathItemOf is the path item of a prompt and its NeuronPath result: the prompt cut after the
// attributed position, the target token and the result's lists of every kind.
func PathItemOf(p corpus.Prompt, res *attribute.PathResult) PathItem {
	it := PathItem{ID: p.ID, Labels: p.Labels, Prompt: p.IDs[:res.Position+1], Target: res.Token, Paths: map[string][]hooks.Neuron{}}
	for _, g := range res.PathGroups("") {
		it.Paths[g.Name] = hooks.Plain(g.Neurons)
	}
	return it
}

// PathItems pairs a neuron set written by `find path` with the prompts it was found on: per
// item of its settings (attribute.PathSettingsOf) the prompt of that id cut after the stored
// position, the stored target token (which must be the answer's first token at the last
// prompt position, else the next prompt token, as find path chose it), and the groups of each
// kind ("path", "activation", "activation_topk", followed by "/<id>" when the set holds
// several items). Errors say which item does not match.
func PathItems(set *hooks.NeuronSet, prompts *corpus.PromptSet) ([]PathItem, error) {
	st, err := attribute.PathSettingsOf(set)
	if err != nil {
		return nil, err
	}
	byID := map[string]*corpus.Prompt{}
	for i := range prompts.Items {
		byID[prompts.Items[i].ID] = &prompts.Items[i]
	}
	var out []PathItem
	for _, r := range st.Items {
		p, ok := byID[r.ID]
		if !ok {
			return nil, fmt.Errorf("path item %s is not in %s (the prompts the paths were found on?)", r.ID, prompts.Source)
		}
		last := len(p.IDs) - 1
		want := -1
		switch {
		case r.Position > last:
			return nil, fmt.Errorf("path item %s: position %d is outside its prompt in %s (%d tokens)", r.ID, r.Position, prompts.Source, len(p.IDs))
		case r.Position == last && len(p.AnswerIDs) > 0:
			want = p.AnswerIDs[0]
		case r.Position < last:
			want = p.IDs[r.Position+1]
		}
		if r.Token != want {
			return nil, fmt.Errorf("path item %s: target token %d at position %d, but %s gives %d there (another tokenizer or file?)",
				r.ID, r.Token, r.Position, prompts.Source, want)
		}
		suffix := "/" + r.ID
		if len(st.Items) == 1 {
			if _, ok := set.Group("path"); ok {
				suffix = ""
			}
		}
		it := PathItem{ID: r.ID, Labels: p.Labels, Prompt: p.IDs[:r.Position+1], Target: r.Token, Paths: map[string][]hooks.Neuron{}}
		for _, k := range attribute.PathKinds {
			g, ok := set.Group(k + suffix)
			if !ok {
				return nil, fmt.Errorf("path item %s: the set has no group %q", r.ID, k+suffix)
			}
			it.Paths[k] = hooks.Plain(g)
		}
		out = append(out, it)
	}
	return out, nil
}

// PathVerifyOptions configure VerifyPaths.
type PathVerifyOptions struct {
	// Kinds are the kinds verified, the first being the claimed one the others are compared
	// with (nil: attribute.PathKinds).
	Kinds []string
	// Compare lists the labels whose same/different values the path similarity compares.
	Compare []string
	// Random is the number of random paths per item (0: DefaultRandom); random path k of item
	// i is RandomSetFor(its path, Seed+k, i): at every layer as many random units as the path
	// has there, at the same position.
	Random int
	Seed   uint64
	// Resamples are the bootstrap resamples over items (0: DefaultResamples); Permutations
	// the label shuffles of the similarity test (0: 1000).
	Resamples, Permutations int
	Verdict                 VerdictOptions
	BatchSize, Workers      int
	Progress                func(items int)
	// Finder and Source describe where the paths came from.
	Finder, Source string
}

// PathMeasure is how VerifyPaths reads a path's effect: NeuronPath's probability deviation.
const PathMeasure = "target probability ratio mean over items of P_after/P_before (NeuronPath's probability deviation), shown as the change mean − 1"

// VerifyPaths checks influential neuron paths as NeuronPath's evaluation does: each item's
// path (of each kind) removed (set to 0) and enhanced (×2) at the item's attributed position,
// the target's probability read there. Per kind and intervention, pooled over items:
//
//	effect     mean_i P_after,i/P_before,i − 1 (NeuronPath's probability deviation, a mean of
//	           per-item ratios), oriented so the claim predicts > 0 (1 − ratio for remove,
//	           ratio − 1 for enhance)
//	top-1      the change in the fraction of items whose top-1 token is the target
//	random     the same for opt.Random random paths per item (RandomSetFor: the item's
//	           per-layer counts at the same tap and position, drawn per item)
//	verdict    Test.Decide on the oriented effect against the random paths (empirical p,
//	           effect size, percentile-bootstrap CI and p over items)
//
// and, item by item, the claimed kind (the first) against every other kind: the mean of the
// per-item difference of oriented effects with its bootstrap CI and p-value. With
// opt.Compare, the claimed kind's paths of items with the same and with different label
// values are compared (attribute.ComparePaths, with a permutation p-value). It returns a
// label per kind (claim kind path) and the experiment's table (labels.ItemEffects).
//
// Items with an Image (an image classifier, NeuronPath's own setting) are edited at the CLS
// token and read the class probability there; top-1 is then classification accuracy on the
// items' classes. Each image runs once per intervention (no cached prefix: attention is
// bidirectional), in batches of BatchSize rows.
func VerifyPaths(m *model.Model, items []PathItem, opt PathVerifyOptions) (*labels.File, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("no path items")
	}
	if opt.Kinds == nil {
		opt.Kinds = attribute.PathKinds
	}
	if opt.Random == 0 {
		opt.Random = DefaultRandom
	}
	if opt.Resamples == 0 {
		opt.Resamples = DefaultResamples
	}
	if opt.Permutations == 0 {
		opt.Permutations = 1000
	}
	if opt.Random < 2 {
		return nil, fmt.Errorf("path verification needs at least 2 random paths per item, got %d", opt.Random)
	}
	if opt.Finder == "" {
		opt.Finder = "neuronpath"
	}
	cat := m.Catalog()
	ps := &corpus.PromptSet{Source: "path items"}
	kinds := make([]itemKind, len(opt.Kinds))
	for k, name := range opt.Kinds {
		kinds[k] = itemKind{name: name, of: allItems(len(items)), what: "each prompt's " + name + " list"}
	}
	img, err := imageItems(m, items)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if !img && (len(it.Prompt) == 0 || len(it.Prompt) > m.Config.MaxPos) {
			return nil, fmt.Errorf("path item %s: prompt of %d tokens (need 1..%d)", it.ID, len(it.Prompt), m.Config.MaxPos)
		}
		if it.Target < 0 || it.Target >= m.Config.DVocab {
			return nil, fmt.Errorf("path item %s: target token %d outside the vocabulary (%d)", it.ID, it.Target, m.Config.DVocab)
		}
		for k, name := range opt.Kinds {
			ns := it.Paths[name]
			if len(ns) == 0 {
				return nil, fmt.Errorf("path item %s has no %s neurons", it.ID, name)
			}
			if err := cat.CheckNeurons(ns); err != nil {
				return nil, fmt.Errorf("path item %s, %s: %v", it.ID, name, err)
			}
			kinds[k].lists = append(kinds[k].lists, ns)
		}
		ps.Items = append(ps.Items, corpus.Prompt{ID: it.ID, IDs: it.Prompt, AnswerIDs: []int{it.Target}, Labels: it.Labels})
	}
	ops := []struct {
		name   string
		factor float32
		helps  bool
	}{{"remove", 0, false}, {"enhance", 2, true}}
	var base *Scores
	var runs [][]itemRuns
	what, where := "prompts", "each prompt's attributed position"
	if img {
		what, where = "images", "each image's CLS token"
		base, runs, err = runImageItemEval(m, items, kinds, []float32{0, 2}, opt.Random, opt.Seed, opt.BatchSize, opt.Progress)
	} else {
		base, runs, err = runItemEval(m, ps, opt.BatchSize, opt.Workers, opt.Progress, kinds, []float32{0, 2}, LastPosition, opt.Random, opt.Seed)
	}
	if err != nil {
		return nil, err
	}
	n := len(items)
	all := allItems(n)
	// oriented per-item deviations
	dev := func(after *Scores, helps bool) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = sign(helps) * (probRatio(base, after, i) - 1)
		}
		return out
	}
	mean := func(xs []float64, idx []int) float64 {
		var s float64
		for _, i := range idx {
			s += xs[i]
		}
		return s / float64(len(idx))
	}
	tab := labels.ItemEffects{Name: fmt.Sprintf("%d %s × %d path kinds, remove (×0) and enhance (×2)", n, what, len(kinds)), Experiment: "path",
		Positions: where, Measure: PathMeasure, RandomSets: opt.Random,
		RandomRule: "per item, RandomSetFor(the item's list, seed+k, item): the list's per-layer counts at the same tap, uniform among the other units"}
	f := &labels.File{SchemaVersion: labels.Schema, Inputs: []labels.Input{}}
	claimedDev := make([][]float64, len(ops))
	claimedTop := make([]float64, len(ops))
	b0 := top1(base, all)
	for k, kind := range kinds {
		l := pathLabel(kind, cat, opt)
		for o, op := range ops {
			r := runs[k][o]
			d := dev(r.claimed, op.helps)
			row := labels.ItemRow{Set: kind.name, Intervention: op.name, Items: n, Before: meanProb(base, all), After: meanProb(r.claimed, all),
				Effect: sign(op.helps) * mean(d, all), Top1Before: b0, Top1After: top1(r.claimed, all)}
			var rnd, rndEff, rndTop, rndTopOr []float64
			for _, s := range r.random {
				rd := mean(dev(s, op.helps), all)
				rnd = append(rnd, rd)
				rndEff = append(rndEff, sign(op.helps)*rd)
				dt := top1(s, all) - b0
				rndTop = append(rndTop, dt)
				rndTopOr = append(rndTopOr, sign(op.helps)*dt)
			}
			row.Random = labels.StatOf(rndEff)
			row.P = EmpiricalP(mean(d, all), rnd)
			ts := labels.StatOf(rndTop)
			row.Top1Random = &ts
			row.Top1P = EmpiricalP(sign(op.helps)*(row.Top1After-b0), rndTopOr)
			tab.Rows = append(tab.Rows, row)
			boot := Bootstrap([][]int{all}, opt.Resamples, opt.Seed, func(s [][]int) float64 { return mean(d, s[0]) })
			v := labels.Verification{Experiment: "path", Intervention: op.name + ": " + r.iv, Measure: "target_prob_ratio",
				Statistic:  fmt.Sprintf("mean over %d %s of P_after/P_before − 1, oriented so the claim predicts > 0 (%s)", n, what, map[bool]string{false: "1 − ratio", true: "ratio − 1"}[op.helps]),
				RandomRule: tab.RandomRule, Resamples: opt.Resamples, Items: n, Ref: "item_effects[0]"}
			T := mean(d, all)
			Test{Target: T, Effect: T, Random: rnd, CI: CI95(boot), Boot: boot}.Decide(opt.Verdict, &v)
			v.Notes = append(v.Notes, fmt.Sprintf("%s: top-1 accuracy %.4g → %.4g (random change %+.4g ± %.2g, p %.3g)", op.name, b0, row.Top1After, ts.Mean, ts.Std, row.Top1P))
			l.Verifications = append(l.Verifications, v)
			if k == 0 {
				claimedDev[o], claimedTop[o] = d, row.Top1After
				continue
			}
			diff := make([]float64, n)
			for i := range diff {
				diff[i] = claimedDev[o][i] - d[i]
			}
			db := Bootstrap([][]int{all}, opt.Resamples, opt.Seed, func(s [][]int) float64 { return mean(diff, s[0]) })
			tab.Comparisons = append(tab.Comparisons, labels.ItemComparison{Set: kinds[0].name, Versus: kind.name, Intervention: op.name,
				Difference: mean(diff, all), CI95: CI95(db), PBootstrap: BootstrapP(db, 0), Top1Difference: sign(op.helps) * (claimedTop[o] - row.Top1After)})
		}
		describePath(&l, n, what)
		f.Labels = append(f.Labels, l)
	}
	for _, key := range opt.Compare {
		values := make([]string, n)
		paths := make([][]hooks.ScoredNeuron, n)
		for i, it := range items {
			v, ok := it.Labels[key]
			if !ok {
				return nil, fmt.Errorf("path item %s has no label %q to compare paths by", it.ID, key)
			}
			values[i] = v
			for _, nn := range it.Paths[kinds[0].name] {
				paths[i] = append(paths[i], hooks.ScoredNeuron{Neuron: nn})
			}
		}
		s := attribute.ComparePaths(paths, values, key, opt.Permutations, opt.Seed)
		tab.Similarity = append(tab.Similarity, labels.PathSimilarity{Key: key, Same: s.Same, Different: s.Different, SamePairs: s.SamePairs,
			DifferentPairs: s.DifferentPair, Permutations: s.Permutations, P: s.P})
	}
	f.ItemEffects = []labels.ItemEffects{tab}
	return f, nil
}

// pathLabel is the label of one kind of path: its units are every neuron some item's list
// holds, ranked by the share of items that hold it (the score).
func pathLabel(k itemKind, cat hooks.Catalog, opt PathVerifyOptions) labels.Label {
	count := map[hooks.Neuron]int{}
	for _, l := range k.lists {
		for _, n := range l {
			count[n]++
		}
	}
	var units []hooks.ScoredNeuron
	for n, c := range count {
		units = append(units, hooks.ScoredNeuron{Neuron: n, Score: float64(c) / float64(len(k.lists))})
	}
	sort.Slice(units, func(a, b int) bool {
		if units[a].Score != units[b].Score {
			return units[a].Score > units[b].Score
		}
		return units[a].Neuron.Less(units[b].Neuron)
	})
	l := newLabel(hooks.NeuronGroup{Name: k.name, Neurons: units}, "", opt.Finder, opt.Source, cat)
	l.Claim.Kind = labels.KindPath
	return l
}

// describePath writes a path label's description and verdict.
func describePath(l *labels.Label, n int, what string) {
	var parts []string
	for _, v := range l.Verifications {
		op, _, _ := strings.Cut(v.Intervention, ":")
		eff := v.Target
		if op == "remove" {
			eff = -eff
		}
		parts = append(parts, fmt.Sprintf("%s changes the target probability by %s (mean ratio) vs %s for random paths: %s (p %.3g)",
			op, pct(eff), pct(map[string]float64{"remove": -1, "enhance": 1}[op]*v.Random.Mean), v.Verdict, v.P))
	}
	l.Claim.Description = fmt.Sprintf("%s: the %s lists of %d %s (%d distinct units), found by %s; %s", l.Set, l.Set, n, what, len(l.Units),
		l.Evidence.Finder, strings.Join(parts, "; "))
	if len(l.Verifications) > 0 {
		l.Verdict = l.Verifications[0].Verdict
	}
}
