package labels

import (
	"fmt"
	"strings"
)

// ItemEffects is an experiment in which every item is intervened on with its own neurons:
// each prompt's influential path at its attributed position (package ablate's VerifyPaths),
// each fact's knowledge neurons on the fact's prompts and on another relation's fact
// (ablate.VerifyKnowledge). A row pools the items of one neuron kind (or one relation) under
// one intervention; a random list replaces each item's own list by one with the same
// per-point counts, drawn per list.
type ItemEffects struct {
	Name       string `json:"name"`
	Experiment string `json:"experiment"` // "path" or "knowledge"
	Positions  string `json:"positions"`
	// Measure says how a row's Effect is computed from the target probabilities.
	Measure    string    `json:"measure"`
	RandomSets int       `json:"random_sets"`
	RandomRule string    `json:"random_rule"`
	Rows       []ItemRow `json:"rows"`
	// Comparisons pair the claimed kind with each baseline kind, item by item (paths).
	Comparisons []ItemComparison `json:"comparisons,omitempty"`
	// Similarity compares the paths of items in the same and in different groups (paths).
	Similarity []PathSimilarity `json:"path_similarity,omitempty"`
	Notes      []string         `json:"notes,omitempty"`
}

// ItemRow is one kind's (or relation's) pooled effect under one intervention.
type ItemRow struct {
	// Set is the neuron kind ("path", "activation", "activation_topk") or the relation.
	Set          string `json:"set"`
	Intervention string `json:"intervention"` // "remove" or "enhance"
	Items        int    `json:"items"`
	// Before and After are the mean target probability; Effect the Measure of the change.
	Before float64 `json:"prob_before"`
	After  float64 `json:"prob_after"`
	Effect float64 `json:"effect"`
	Random Stat    `json:"random"` // Effect of the random lists
	// P is the empirical p-value of Effect, oriented as the intervention predicts (remove
	// lowers, enhance raises the probability), against the random lists'.
	P float64 `json:"p"`
	// Top1Before and Top1After are the fraction of items whose top-1 prediction is the
	// target; Top1Random the change of the random lists, Top1P its empirical p (paths).
	Top1Before float64 `json:"top1_before"`
	Top1After  float64 `json:"top1_after"`
	Top1Random *Stat   `json:"top1_random,omitempty"`
	Top1P      float64 `json:"top1_p,omitempty"`
	// Other is the same intervention on another relation's facts (knowledge neurons: Dai et
	// al.'s "oth").
	Other *ItemSide `json:"other,omitempty"`
}

// ItemSide is a row's intervention on other items (another relation's fact) and the
// selectivity of the row's effect against it.
type ItemSide struct {
	Items  int     `json:"items"`
	Before float64 `json:"prob_before"`
	After  float64 `json:"prob_after"`
	Effect float64 `json:"effect"`
	Random Stat    `json:"random"`
	// Selectivity is the row's oriented Effect minus this oriented Effect; P its empirical
	// p-value against the random lists' selectivities.
	Selectivity       float64 `json:"selectivity"`
	RandomSelectivity Stat    `json:"random_selectivity"`
	P                 float64 `json:"p"`
}

// ItemComparison compares the claimed kind with a baseline kind under one intervention, item
// by item: Difference is the mean over items of the claimed kind's oriented per-item effect
// minus the baseline's, with a percentile-bootstrap 95% interval over items and the bootstrap
// p-value (#{resamples ≤ 0} + 1)/(resamples + 1).
type ItemComparison struct {
	Set            string     `json:"set"`
	Versus         string     `json:"versus"`
	Intervention   string     `json:"intervention"`
	Difference     float64    `json:"difference"`
	CI95           [2]float64 `json:"ci95"`
	PBootstrap     float64    `json:"p_bootstrap"`
	Top1Difference float64    `json:"top1_difference"`
}

// PathSimilarity compares the paths of item pairs with the same and with different values of
// a label: the mean similarity of each, and the permutation p-value of their difference
// (labels shuffled over items, (#{permutations with a difference ≥ the observed} + 1) /
// (permutations + 1)).
type PathSimilarity struct {
	Key            string  `json:"key"`
	Same           float64 `json:"mean_same"`
	Different      float64 `json:"mean_different"`
	SamePairs      int     `json:"same_pairs"`
	DifferentPairs int     `json:"different_pairs"`
	Permutations   int     `json:"permutations"`
	P              float64 `json:"p"`
}

// Table renders the experiment for a terminal.
func (x *ItemEffects) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s; positions %s; random: %d lists per item\n", x.Name, x.Measure, x.Positions, x.RandomSets)
	w := 10
	for _, r := range x.Rows {
		w = max(w, len(r.Set)+1)
	}
	pct := func(v float64) string { return fmt.Sprintf("%+.1f%%", 100*v) }
	if x.Experiment == "knowledge" {
		fmt.Fprintf(&b, "%-*s %-8s %6s %9s %9s %17s %9s %9s %17s %7s\n", w, "relation", "", "items", "P before", "own", "random own",
			"other", "own−other", "random own−other", "p")
		for _, r := range x.Rows {
			o := r.Other
			if o == nil {
				continue
			}
			fmt.Fprintf(&b, "%-*s %-8s %6d %9.4f %9s %8s ± %-6s %9s %9s %8s ± %-6s %7.3f\n", w, r.Set, r.Intervention, r.Items, r.Before,
				pct(r.Effect), pct(r.Random.Mean), strings.TrimPrefix(pct(r.Random.Std), "+"), pct(o.Effect), pct(o.Selectivity),
				pct(o.RandomSelectivity.Mean), strings.TrimPrefix(pct(o.RandomSelectivity.Std), "+"), o.P)
		}
	} else {
		fmt.Fprintf(&b, "%-*s %-8s %6s %9s %9s %17s %7s %9s %17s %7s\n", w, "neurons", "", "items", "P before", "effect", "random",
			"p", "Δtop-1", "random Δtop-1", "p")
		for _, r := range x.Rows {
			top := "-"
			rt := "-"
			if r.Top1Random != nil {
				top = pct(r.Top1After - r.Top1Before)
				rt = fmt.Sprintf("%8s ± %-6s", pct(r.Top1Random.Mean), strings.TrimPrefix(pct(r.Top1Random.Std), "+"))
			}
			fmt.Fprintf(&b, "%-*s %-8s %6d %9.4f %9s %8s ± %-6s %7.3f %9s %17s %7.3f\n", w, r.Set, r.Intervention, r.Items, r.Before,
				pct(r.Effect), pct(r.Random.Mean), strings.TrimPrefix(pct(r.Random.Std), "+"), r.P, top, rt, r.Top1P)
		}
	}
	for _, c := range x.Comparisons {
		fmt.Fprintf(&b, "%s − %s (%s): %s per item [%s, %s], bootstrap p %.3g; top-1 %s\n", c.Set, c.Versus, c.Intervention,
			pct(c.Difference), pct(c.CI95[0]), pct(c.CI95[1]), c.PBootstrap, pct(c.Top1Difference))
	}
	for _, s := range x.Similarity {
		fmt.Fprintf(&b, "path similarity by %s: same %.3f (%d pairs), different %.3f (%d pairs), permutation p %.3g (%d)\n", s.Key,
			s.Same, s.SamePairs, s.Different, s.DifferentPairs, s.P, s.Permutations)
	}
	for _, n := range x.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}
