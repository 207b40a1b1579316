package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/relation"
	"github.com/spf13/cobra"
)

// relationFlags are the flags of `neuronscope find relation`.
type relationFlags struct {
	eval, key, subjectKey, bos, out, heldoutOut string
	taps                                        []string
	top, negatives, heldout, tokens, batch      int
	bothEnds                                    bool
	seed                                        uint64
}

func newFindRelationCmd() *cobra.Command {
	mf := modelFlags{text: "find relation"}
	var f relationFlags
	cmd := &cobra.Command{
		Use:   "relation --model DIR --eval facts.jsonl [--group-key relation] [--taps mlp.hook_pre,mlp.hook_pre_linear,hook_mlp_out] [--top 3000] [--negatives 4] [--heldout 50] [--both-ends] --out neurons.json",
		Short: "Relation-specific neurons (Liu et al. 2025): average precision of mean-pooled responses on a relation's prompts against other relations'",
		Long: `Per relation (the --group-key label of the --eval prompts): --heldout items are held out with
no subject shared (--subject-key) with the rest; of the rest, the prompts the model answers
correctly (--tokens greedy tokens are a prefix of the answer) are the positives, and --negatives
times as many correctly answered prompts of other relations are sampled as negatives. Every unit
of the --taps (gate_proj, up_proj and down_proj outputs by default) responds with its activation
averaged over the prompt's real tokens; a unit's score is the average precision of its responses
(sklearn's definition); the --top units by AP are kept (--both-ends: the top and bottom half).

Writes a neuronscope.neurons/v1 set with one group per relation (score = AP) and, with
--heldout-out, the held-out prompts (JSONL) to verify the sets on.`,
		Example: `  neuronscope find relation --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --heldout 16 --top 200 --out relation-neurons.json --heldout-out heldout.jsonl`,
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runFindRelation(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.eval, "eval", "", "labelled prompts, JSONL with prompt, answer and labels (e.g. the world's eval_facts.jsonl)")
	fl.StringVar(&f.key, "group-key", "relation", "label naming the relations")
	fl.StringVar(&f.subjectKey, "subject-key", "subject", "label naming each prompt's subject (for the held-out split)")
	fl.StringSliceVar(&f.taps, "taps", nil, "tap points of the candidate units (default: mlp.hook_pre, mlp.hook_pre_linear for gated MLPs, hook_mlp_out)")
	fl.IntVar(&f.top, "top", 3000, "units kept per relation (capped at the number of units)")
	fl.IntVar(&f.negatives, "negatives", 4, "negatives per positive")
	fl.IntVar(&f.heldout, "heldout", 50, "items per relation held out for evaluation (0: none)")
	fl.IntVar(&f.tokens, "tokens", 2, "greedy tokens an answer is checked on")
	fl.IntVar(&f.batch, "batch", corpus.DefaultPromptBatch, "prompts per forward pass")
	fl.BoolVar(&f.bothEnds, "both-ends", false, "keep the top and bottom --top/2 by AP (Kojima et al.)")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the held-out split and the negatives")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for the prompts: auto, always, never")
	fl.StringVar(&f.out, "out", "", "output neuron set (.json)")
	fl.StringVar(&f.heldoutOut, "heldout-out", "", "also write the held-out prompts here (.jsonl)")
	return cmd
}

func runFindRelation(cmd *cobra.Command, mf *modelFlags, f *relationFlags) error {
	switch {
	case f.eval == "" || f.out == "":
		return usagef("--eval and --out are required")
	case f.top < 1 || f.negatives < 1 || f.tokens < 1 || f.heldout < 0 || f.batch < 1:
		return usagef("--top, --negatives, --tokens and --batch must be ≥ 1 and --heldout ≥ 0")
	}
	if err := checkOutPath("--out", f.out); err != nil {
		return err
	}
	if f.heldoutOut != "" {
		if err := checkOutPath("--heldout-out", f.heldoutOut); err != nil {
			return err
		}
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	var taps []hooks.Site
	for _, t := range f.taps {
		s, err := hooks.ParseSite(t)
		if err != nil {
			return usagef("--taps: %v", err)
		}
		taps = append(taps, s)
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := loadTokenizer(m)
	if err != nil {
		return err
	}
	set, err := corpus.ReadPromptSet(f.eval, corpus.NewEncoder(m, tok, policy), corpus.PromptOptions{MultiToken: true})
	if err != nil {
		return usagef("--eval: %v", err)
	}
	// the taps and --top against the model, before any forward pass
	check := taps
	if len(check) == 0 {
		check = relation.DefaultTaps(m)
	}
	units := 0
	for _, s := range check {
		p := hooks.At(0, s)
		if !m.Catalog().Has(p) || len(m.Catalog().Shape(p)) != 1 {
			return usagef("--taps %s: the model (%s) has no such per-layer point of [batch, pos, width]", s, m.Config.ModelType)
		}
		units += m.Config.NLayers * m.Catalog().Width(p)
	}
	if f.top > units {
		return usagef("--top %d: the taps %v have only %d units", f.top, check, units)
	}
	heldout := f.heldout
	if heldout == 0 {
		heldout = -1
	}
	opt := relation.Options{Key: f.key, SubjectKey: f.subjectKey, Taps: taps, Top: f.top, BothEnds: f.bothEnds,
		Negatives: f.negatives, Heldout: heldout, Tokens: f.tokens, Seed: f.seed, BatchSize: f.batch,
		Progress: func(stage string) { fmt.Fprintf(cmd.ErrOrStderr(), "find relation: %s\n", stage) }}
	res, err := relation.Find(m, set, opt)
	if err != nil {
		return usagef("--eval %s: %v", f.eval, err)
	}
	sum, err := fileSHA256(f.eval)
	if err != nil {
		return err
	}
	prov := m.Provenance()
	prov.BOSPolicy = policy.String()
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.Dataset = fmt.Sprintf("%s (sha256 %s), %d prompts", f.eval, sum, len(set.Items))
	res.Set.Provenance = &prov
	res.Set.Settings = map[string]any{"finder": res.Set.Settings, "relations": res.Relations, "eval": f.eval}
	files := []report.File{{Path: f.out, Write: res.Set.Write}}
	if f.heldoutOut != "" {
		files = append(files, report.File{Path: f.heldoutOut, Write: func(w io.Writer) error { return writePromptLines(w, res.Heldout) }})
	}
	if err := report.WriteFiles(files...); err != nil {
		return err
	}
	for _, st := range res.Relations {
		fmt.Fprintf(cmd.OutOrStdout(), "%-24s %4d positives, %4d negatives, best AP %.3f, kept AP ≥ %.3f\n",
			st.Relation, st.Correct, st.Negatives, st.BestAP, st.KeptAP)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d relations × %d neurons)\n", f.out, len(res.Relations), f.top)
	return nil
}

// writePromptLines writes a prompt set's items as read, one JSON line each.
func writePromptLines(w io.Writer, s *corpus.PromptSet) error {
	for _, it := range s.Items {
		line, err := json.Marshal(it.Raw)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", line); err != nil {
			return err
		}
	}
	return nil
}

// checkOutPath checks, before any work, that an output file's directory exists.
func checkOutPath(flag, path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s %s: directory %s does not exist", flag, path, dir)
	}
	return nil
}
