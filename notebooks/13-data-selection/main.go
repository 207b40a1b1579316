// Notebook 13 — monosemantic data selection: pick the training sentences whose sparse
// activation profiles are closest to a small target set, and check that fine-tuning on them
// helps the target more than fine-tuning on random sentences.
//
// The question (after Ma et al., "Task-Specific Data Selection for Instruction Tuning via
// Monosemantic Neuronal Activations", MoNA): can a model's own sparse activations find the
// training data that matters for one task? On the synthetic world the answer can be checked
// against the ground truth, because every training sentence's relation and language are known.
// The program
//
//  1. trains a base model from scratch for a few hundred steps on the whole mixed corpus
//     (train.txt: 10 relations × 4 languages): it has learnt the languages' word order but few
//     facts (measured: 4.4% held-out-template accuracy on born_in, 11.1% on the others),
//  2. takes a small target set: 16 held-out questions of the -target relation (prompt
//     and answer as one sentence, spread over the languages),
//  3. represents every training sentence and every exemplar by its sparse activation profile
//     under the base model (package probes/selection: per hook_post neuron of every layer, the
//     maximum |activation| over the sentence's tokens after BOS, the 64 largest kept) and
//     selects the 256 sentences with the largest generalized Jaccard similarity to the
//     exemplars' mean profile; a table shows how the share of target sentences in the
//     selection depends on that rule (mean pooling, per-neuron normalisation, k),
//  4. fine-tunes a copy of the base on the selection (AdamW, 60 steps of 32 sentences,
//     deterministic) and, for comparison, on 5 random selections of the same size, each
//     with its own batch-order seed (the selection is fine-tuned with the same seeds),
//  5. measures greedy held-out-template accuracy on the target relation's other questions and
//     on the other relations, before and after, and prints the mean ± sd over seeds, the
//     difference, Cohen's d and the exact permutation p-value (selection.Compare).
//
// Run it from the repository: `go run ./notebooks/13-data-selection` (OpenBLAS: add -tags
// openblas with CGO_LDFLAGS=-lopenblas). The sizes are the full budget's; -budget tiny is the
// smoke run of the test suite.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/internal/world"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/model/train"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/probes/selection"
)

// sizes of a run.
type sizes struct {
	baseSteps int // steps of the base model's training
	exemplars int // target questions the selection is given
	n         int // sentences selected
	topK      int // units kept per profile
	steps     int // fine-tuning steps
	batch     int // sentences per fine-tuning step
	seeds     int // fine-tuning seeds (and random selections)
	others    int // questions per other relation evaluated (0: all)
	pool      int // candidate sentences drawn from train.txt (0: all)
	targets   int // target questions evaluated (0: all but the exemplars)
}

var budgets = map[string]sizes{
	"full": {baseSteps: 400, exemplars: 16, n: 256, topK: 64, steps: 60, batch: 32, seeds: 5},
	"tiny": {baseSteps: 2, exemplars: 4, n: 16, topK: 16, steps: 2, batch: 8, seeds: 2, others: 2, pool: 240, targets: 16},
}

func main() {
	budget := flag.String("budget", "full", "full or tiny (a smoke run)")
	key := flag.String("key", "relation", "the label the target is a value of: relation or language")
	target := flag.String("target", "born_in", "the target group (a relation, or with -key language a language)")
	out := flag.String("out", "", "directory for selection.txt (the selected sentences) (empty: print only)")
	flag.Parse()
	sz, ok := budgets[*budget]
	if !ok {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if *key != "relation" && *key != "language" {
		fmt.Fprintf(os.Stderr, "-key %q: want relation or language\n", *key)
		os.Exit(2)
	}
	if err := run(sz, *key, *target, *out); err != nil {
		fmt.Fprintln(os.Stderr, "notebook 13:", err)
		os.Exit(1)
	}
}

func run(sz sizes, key, target, out string) error {
	otherKey := map[string]string{"relation": "language", "language": "relation"}[key]
	label := func(s world.Sentence) string {
		if key == "language" {
			return s.Language
		}
		return s.Relation
	}
	start := time.Now()
	dir, err := nb.Testdata("world-llama")
	if err != nil {
		return err
	}
	cfgJSON, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return err
	}
	cfg, err := model.ParseConfig(cfgJSON, "world-llama config")
	if err != nil {
		return err
	}
	enc := corpus.Encoder{Tok: tok, Policy: tokenizer.BOSAlways, BOS: cfg.BOS, Vocab: cfg.DVocab}

	// The world with its ground truth: the generator reproduces train.txt line for line, and
	// knows each sentence's relation (the selection never sees it).
	w, err := world.Generate(world.DefaultConfig())
	if err != nil {
		return err
	}
	trainPath, _ := nb.Testdata("world", "train.txt")
	lines, err := os.ReadFile(trainPath)
	if err != nil {
		return err
	}
	if got := strings.Split(strings.TrimRight(string(lines), "\n"), "\n"); len(got) != len(w.Train) || got[0] != w.Train[0].Text {
		return fmt.Errorf("world.Generate(DefaultConfig()) does not reproduce %s", trainPath)
	}
	sents := w.Train
	if sz.pool > 0 && sz.pool < len(sents) { // a fixed sample of the corpus (tiny budget)
		rng := rand.New(rand.NewPCG(0, 13))
		idx := rng.Perm(len(sents))[:sz.pool]
		slices.Sort(idx)
		sents = make([]world.Sentence, len(idx))
		for k, i := range idx {
			sents[k] = w.Train[i]
		}
	}
	var cands [][]int
	for _, s := range sents {
		e, err := enc.EncodeText(s.Text)
		if err != nil {
			return err
		}
		cands = append(cands, e.IDs)
	}
	evalPath, _ := nb.Testdata("world", "eval_facts.jsonl")
	questions, err := corpus.ReadPromptSet(evalPath, enc, corpus.PromptOptions{})
	if err != nil {
		return err
	}
	if _, err := questions.Groups("relation"); err != nil {
		return err
	}

	// 1. The base model: the demo model's shape, fresh weights, a few hundred steps.
	base, err := model.NewRandom(cfg, 1)
	if err != nil {
		return err
	}
	train.Init(base, 1)
	bc := train.DefaultConfig()
	bc.Steps, bc.Warmup, bc.PadID = sz.baseSteps, min(40, sz.baseSteps), max(cfg.Pad, 0)
	tr, err := train.New(base, bc)
	if err != nil {
		return err
	}
	if err := tr.Run(cands, nil); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nb13-base-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := base.Save(tmp, cfgJSON, "F32"); err != nil {
		return err
	}
	fmt.Printf("base: %s of the demo model's shape trained %d steps of %d sentences on the mixed corpus (%d sentences)\n",
		cfg.ModelType, bc.Steps, bc.BatchSize, len(cands))

	// 2. The target set and the evaluation split: exemplars spread over the languages; the
	// target's other questions and (a sample of) every other relation's.
	var exemplars, targetEval, otherEval []int
	others, err := questions.Groups(otherKey)
	if err != nil {
		return err
	}
	perOther := map[string]int{}
	perGroup := map[string]int{}
	for i, q := range questions.Items {
		g, o := q.Labels[key], q.Labels[otherKey]
		switch {
		case g == target && perOther[o] < (sz.exemplars+len(others)-1)/len(others) && len(exemplars) < sz.exemplars:
			perOther[o]++
			exemplars = append(exemplars, i)
		case g == target && (sz.targets == 0 || len(targetEval) < sz.targets):
			targetEval = append(targetEval, i)
		case g == target:
		case sz.others == 0 || perGroup[g] < sz.others:
			perGroup[g]++
			otherEval = append(otherEval, i)
		}
	}
	if len(exemplars) == 0 || len(targetEval) == 0 {
		return fmt.Errorf("-target %s: no such %s in %s", target, key, evalPath)
	}
	var exSeqs [][]int
	for _, i := range exemplars {
		q := questions.Items[i]
		exSeqs = append(exSeqs, append(slices.Clone(q.IDs), q.AnswerIDs...))
	}

	// 3. Profiles under the base model and the selection. The rule: per hook_post neuron of every
	// layer, the maximum |activation| over the sentence's tokens after BOS; the top-k neurons
	// kept; the generalized Jaccard similarity to the exemplars' mean profile; the n best.
	share := func(idx []int) float64 {
		k := 0
		for _, i := range idx {
			if label(sents[i]) == target {
				k++
			}
		}
		return float64(k) / float64(len(idx))
	}
	var chosen []int
	var scores []float64
	fmt.Printf("selection of %d of %d sentences for %d %s exemplars: share of %s sentences by rule (the corpus has %.1f%%)\n",
		sz.n, len(cands), len(exemplars), target, target, 100*float64(count(sents, label, target))/float64(len(cands)))
	fmt.Printf("  %-6s %-12s", "pool", "scale")
	ks := []int{sz.topK / 4, sz.topK, 4 * sz.topK}
	for _, k := range ks {
		fmt.Printf(" %8s", fmt.Sprintf("top-%d", k))
	}
	fmt.Println()
	for _, meanPool := range []bool{false, true} {
		opt := selection.ActivityOptions{BOS: cfg.BOS, Batch: 256, MeanPool: meanPool}
		act, units, err := selection.Activity(base, cands, opt)
		if err != nil {
			return err
		}
		exAct, _, err := selection.Activity(base, exSeqs, opt)
		if err != nil {
			return err
		}
		for _, normalise := range []bool{false, true} {
			var scale []float64
			if normalise {
				scale = selection.UnitMeans(act, len(cands), units)
			}
			fmt.Printf("  %-6s %-12s", map[bool]string{false: "max", true: "mean"}[meanPool], map[bool]string{false: "raw", true: "÷ unit mean"}[normalise])
			for _, k := range ks {
				profiles := selection.Sparsify(act, len(cands), units, scale, k)
				proto := selection.Prototype(selection.Sparsify(exAct, len(exSeqs), units, scale, k), units)
				idx, sc, err := selection.Select(profiles, proto, sz.n)
				if err != nil {
					return err
				}
				mark := " "
				if !meanPool && !normalise && k == sz.topK { // the rule
					chosen, scores, mark = idx, sc, "*"
				}
				fmt.Printf(" %7.1f%%%s", 100*share(idx), mark)
			}
			fmt.Println()
		}
	}
	fmt.Printf("  * the rule used below: max pooling, raw |activation|, top-%d of %d hook_post neurons, generalized Jaccard to the exemplars' mean profile\n", sz.topK, cfg.NLayers*cfg.DMLP)

	// 4–5. Fine-tunes: the selection and random selections of the same size, seed by seed.
	accuracy := func(m *model.Model, idx []int) (float64, error) {
		prompts := make([][]int, len(idx))
		for k, i := range idx {
			prompts[k] = questions.Items[i].IDs
		}
		pred, err := corpus.Next(m, prompts, 256)
		if err != nil {
			return 0, err
		}
		hit := 0
		for k, i := range idx {
			if questions.Items[i].AnswerIDs[0] == pred[k] {
				hit++
			}
		}
		return float64(hit) / float64(len(idx)), nil
	}
	t0, err := accuracy(base, targetEval)
	if err != nil {
		return err
	}
	o0, err := accuracy(base, otherEval)
	if err != nil {
		return err
	}
	base.Close()
	fineTune := func(idx []int, seed uint64) (dt, do float64, err error) {
		m, err := model.Load(tmp)
		if err != nil {
			return 0, 0, err
		}
		defer m.Close()
		fc := train.DefaultConfig()
		fc.Steps, fc.BatchSize, fc.LR, fc.MinLR, fc.Warmup, fc.Seed, fc.PadID = sz.steps, sz.batch, 1e-3, 1e-4, min(5, sz.steps), seed, max(cfg.Pad, 0)
		seqs := make([][]int, len(idx))
		for k, i := range idx {
			seqs[k] = cands[i]
		}
		tr, err := train.New(m, fc)
		if err != nil {
			return 0, 0, err
		}
		if err := tr.Run(seqs, nil); err != nil {
			return 0, 0, err
		}
		t1, err := accuracy(m, targetEval)
		if err != nil {
			return 0, 0, err
		}
		o1, err := accuracy(m, otherEval)
		return t1 - t0, o1 - o0, err
	}
	fmt.Printf("\nfine-tune: %d steps of %d sentences (AdamW, lr 1e-3 → 1e-4), from the base; held-out-template accuracy before: %s %.1f%% (%d questions), other %ss %.1f%% (%d)\n",
		sz.steps, sz.batch, target, 100*t0, len(targetEval), key, 100*o0, len(otherEval))
	fmt.Printf("%6s  %28s  %28s\n", "seed", "selected: Δ target / Δ other", "random: Δ target / Δ other")
	var selT, selO, rndT, rndO, rndShare []float64
	for s := range sz.seeds {
		seed := uint64(s + 1)
		st, so, err := fineTune(chosen, seed)
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(seed, 13))
		random := rng.Perm(len(cands))[:sz.n]
		rt, ro, err := fineTune(random, seed)
		if err != nil {
			return err
		}
		selT, selO, rndT, rndO = append(selT, st), append(selO, so), append(rndT, rt), append(rndO, ro)
		rndShare = append(rndShare, share(random))
		fmt.Printf("%6d  %+12.1f%% / %+12.1f%%  %+12.1f%% / %+12.1f%%\n", seed, 100*st, 100*so, 100*rt, 100*ro)
	}
	cmpT, err := selection.Compare(selT, rndT)
	if err != nil {
		return err
	}
	mso, _ := meanSD(selO)
	mro, _ := meanSD(rndO)
	msh, _ := meanSD(rndShare)
	fmt.Printf("target %s, mean ± sd over %d seeds: %+.1f ± %.1f points after the selection, %+.1f ± %.1f after random selections (%.1f%% %s sentences)\n",
		target, sz.seeds, 100*cmpT.MeanSelected, 100*cmpT.SDSelected, 100*cmpT.MeanRandom, 100*cmpT.SDRandom, 100*msh, target)
	fmt.Printf("selection − random: %+.1f points, Cohen's d %.2f, exact one-sided permutation p = %.4f (%d splits; the smallest possible p is %.4f)\n",
		100*cmpT.Diff, cmpT.CohenD, cmpT.P, cmpT.Splits, 1/float64(cmpT.Splits))
	fmt.Printf("other %ss: %+.1f points after the selection, %+.1f after random selections\n", key, 100*mso, 100*mro)
	wins := 0
	for i := range selT {
		if selT[i] > rndT[i] {
			wins++
		}
	}
	fmt.Printf("the selection beats the random selection of the same seed on the target in %d of %d seeds (%s)\n", wins, sz.seeds, time.Since(start).Round(time.Second))
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	for _, i := range chosen {
		fmt.Fprintf(&b, "%.4f\t%s\t%s\n", scores[i], label(sents[i]), sents[i].Text)
	}
	path := filepath.Join(out, "selection.txt")
	if err := report.WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, b.String()); return err }); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}

// meanSD is the mean and the sample standard deviation.
func meanSD(x []float64) (float64, float64) {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var v float64
	for _, y := range x {
		v += (y - m) * (y - m)
	}
	if len(x) < 2 {
		return m, 0
	}
	return m, math.Sqrt(v / float64(len(x)-1))
}

// count is the number of sentences whose label is the target.
func count(ss []world.Sentence, label func(world.Sentence) string, target string) int {
	n := 0
	for _, s := range ss {
		if label(s) == target {
			n++
		}
	}
	return n
}
