package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/spf13/cobra"
)

// The experiments in which every item has its own neurons (ablate.VerifyPaths,
// ablate.VerifyKnowledge).
const (
	expPath      = "path"
	expKnowledge = "knowledge"
)

// itemExperiment reports whether the experiments are a path or knowledge verification.
func itemExperiment(exps []string) bool {
	return slices.Contains(exps, expPath) || slices.Contains(exps, expKnowledge)
}

// checkItemFlags checks the flags of the path and knowledge experiments, which run alone,
// with their own interventions and measure.
func checkItemFlags(f *verifyFlags, exps []string) error {
	if !itemExperiment(exps) {
		if f.facts != "" {
			return usagef("--facts is for --experiment knowledge")
		}
		return nil
	}
	exp := exps[0]
	switch {
	case len(exps) > 1:
		return usagef("--experiment %s: path and knowledge run alone, not with other experiments", strings.Join(exps, ","))
	case f.intervention != "" || f.measure != "" || f.positions != "all":
		return usagef("--experiment %s removes (×0) and enhances (×2) each item's own neurons at %s and reads the target probability: "+
			"drop --intervention, --measure and --positions", exp, map[string]string{expPath: "its attributed position", expKnowledge: "the last prompt position"}[exp])
	case exp == expPath && f.eval == "":
		return usagef("--experiment path needs --eval FILE: the prompts the paths were found on (find path --eval)")
	case exp == expKnowledge && f.facts == "":
		return usagef("--experiment knowledge needs --facts FILE: the facts the neurons were found for (find knowledge --data)")
	case exp == expKnowledge && f.eval != "":
		return usagef("--experiment knowledge reads its prompts from --facts, not --eval")
	case f.permutations < 1:
		return usagef("--permutations %d: want at least 1", f.permutations)
	}
	return nil
}

// checkNonEmpty checks a set's non-empty groups against the model (a finder may leave a group
// empty; verification labels it without a verification).
func checkNonEmpty(set *hooks.NeuronSet, cat hooks.Catalog) error {
	kept := *set
	kept.Groups = slices.DeleteFunc(slices.Clone(set.Groups), func(g hooks.NeuronGroup) bool { return len(g.Neurons) == 0 })
	if len(kept.Groups) == 0 && len(set.Groups) > 0 {
		return fmt.Errorf("group %q is empty, and so is every other group: nothing to verify", set.Groups[0].Name)
	}
	return kept.Check(cat)
}

// loadItemInputs reads what the path or knowledge experiment needs: the paths' prompts
// (--eval) or the facts (--facts), checked against the neuron set and the model.
func loadItemInputs(in *verifyInputs, f *verifyFlags, add func(role, path string) error) error {
	if p := in.set.Provenance; p != nil && p.ConfigHash != "" && p.ConfigHash != in.m.Provenance().ConfigHash {
		return usagef("--neurons %s was found on another model (%s, config sha256 %.12s…), not --model %s (%.12s…)",
			f.neurons, p.ModelDir, p.ConfigHash, in.m.Dir, in.m.Provenance().ConfigHash)
	}
	if strings.HasPrefix(f.experiment, expPath) {
		qs, err := corpus.ReadPromptSet(f.eval, in.enc, corpus.PromptOptions{MultiToken: true})
		if err != nil {
			return usagef("--eval: %v", err)
		}
		if in.paths, err = ablate.PathItems(in.set, qs); err != nil {
			return usagef("--neurons %s with --eval %s: %v", f.neurons, f.eval, err)
		}
		in.compare = splitList(f.compare)
		if len(in.compare) == 0 {
			if st, _ := attribute.PathSettingsOf(in.set); st != nil && st.Similarity != nil {
				in.compare = []string{st.Similarity.Key}
			}
		}
		for _, key := range in.compare {
			for _, it := range in.paths {
				if _, ok := it.Labels[key]; !ok {
					return usagef("--compare %s: item %s of --eval %s has no such label", key, it.ID, f.eval)
				}
			}
		}
		in.key = strings.Join(in.compare, ",")
		return add("eval", f.eval)
	}
	facts, lines, err := readFacts("--facts", f.facts)
	if err != nil {
		return err
	}
	ids := make([]string, len(facts))
	for i, kf := range facts {
		ids[i] = kf.ID
	}
	names := attribute.KnowledgeGroupNames(ids, lines)
	isFact := map[string]bool{}
	for i, kf := range facts {
		ef, err := attribute.EncodeKnowledgeFact(in.m, in.enc, kf)
		if err != nil {
			return usagef("--facts %s:%d: %v", f.facts, lines[i], err)
		}
		if kf.Relation == "" {
			return usagef(`--facts %s:%d: the fact names no "relation" (another relation's fact is the control)`, f.facts, lines[i])
		}
		g, ok := in.set.Group(names[i])
		if !ok {
			return usagef("--neurons %s has no group %q for the fact on --facts %s:%d (knowledge neurons of another facts file?)", f.neurons, names[i], f.facts, lines[i])
		}
		isFact[names[i]] = true
		in.facts = append(in.facts, ablate.KnowledgeItem{Name: names[i], Relation: kf.Relation, Prompts: ef.Prompts, Target: ef.Target, Neurons: g})
	}
	var rel []string
	for _, g := range in.set.Groups {
		switch {
		case isFact[g.Name]:
		case strings.HasPrefix(g.Name, "relation/"):
			rel = append(rel, g.Name)
		default:
			return usagef("--neurons %s: group %q is no fact of --facts %s", f.neurons, g.Name, f.facts)
		}
	}
	if len(rel) > 0 {
		in.notes = append(in.notes, fmt.Sprintf("%d relation-level groups (%s, ...) are not part of the knowledge experiment; "+
			"verify them with --experiment matrix on questions labelled by relation", len(rel), rel[0]))
	}
	in.key = "fact"
	return add("facts", f.facts)
}

// runItemVerify runs the path or knowledge experiment.
func runItemVerify(cmd *cobra.Command, in *verifyInputs, f *verifyFlags, opt ablate.VerifyOptions) (*labels.File, error) {
	var progress func(int)
	if !f.noProgress {
		bar := newBar(cmd, -1, "verify "+f.experiment, "items")
		defer bar.Finish()
		progress = func(n int) { bar.Add(n) }
	}
	if f.experiment == expPath {
		return ablate.VerifyPaths(in.m, in.paths, ablate.PathVerifyOptions{Compare: in.compare, Random: opt.Random, Seed: opt.Seed,
			Resamples: opt.Resamples, Permutations: f.permutations, Verdict: opt.Verdict, BatchSize: f.batch, Workers: f.workers,
			Progress: progress, Source: f.neurons})
	}
	return ablate.VerifyKnowledge(in.m, in.facts, ablate.KnowledgeVerifyOptions{Random: opt.Random, Seed: opt.Seed, Resamples: opt.Resamples,
		Verdict: opt.Verdict, BatchSize: f.batch, Workers: f.workers, Progress: progress, Source: f.neurons})
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
