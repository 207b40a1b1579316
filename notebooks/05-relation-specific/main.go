// Command 05-relation-specific finds the relation-specific neurons of the demo model (Liu et
// al. 2025: average precision of mean-pooled responses) and verifies them, as `neuronscope find
// relation` and `neuronscope verify --experiment matrix,sweep --text` do.
//
// For testdata/world-llama (or -model) and its fact questions the program
//
//  1. holds out 16 questions per relation with no subject shared with the rest (the detection
//     questions), keeps the detection questions the model answers correctly (2 greedy tokens)
//     as positives and draws 4× as many negatives from the other relations,
//  2. scores every gate, up and down unit (mlp.hook_pre, mlp.hook_pre_linear, hook_mlp_out) by
//     the average precision of its mean response over the prompt's tokens, positives against
//     negatives, and keeps each relation's top units (relation.Find),
//  3. verifies each relation's units (ablate.Verify): zeroed at every position, the relative
//     accuracy drop on every relation's held-out questions (the relation × relation matrix)
//     and the perplexity of every language's relation-free filler sentences
//     (testdata/world/eval_fluency.jsonl), against random sets with the same per-layer,
//     per-tap counts; then the cumulativity sweep (the top k for growing k),
//  4. prints the matrices, the sweeps and the verdicts, and with -out writes
//     relation-specific.json and relation-specific-labels.json.
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/05-relation-specific                 # top 200 units, 10 random sets
//	go run ./notebooks/05-relation-specific -budget tiny    # every 4th question, 8 held out, top 50, 2 random sets, k = 50, 10 filler sentences per language
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/relation"
)

// sizes of a run.
type sizes struct {
	top     int   // units kept per relation
	random  int   // random sets per relation
	ks      []int // the sweep's grid
	filler  int   // filler sentences per language (0: all)
	every   int   // use every n-th question (1: all)
	heldout int   // questions held out per relation
}

var budgets = map[string]sizes{
	"full": {top: 200, random: 10, ks: []int{10, 50, 200}, every: 1, heldout: 16},
	"tiny": {top: 50, random: 2, ks: []int{50}, filler: 10, every: 4, heldout: 8},
}

func main() {
	budget := flag.String("budget", "full", "full (top 200, 10 random sets, all filler) or tiny (a quarter of the questions, top 50, 2 random sets, 10 filler sentences per language)")
	out := flag.String("out", "", "directory for relation-specific.json and relation-specific-labels.json (empty: print only)")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	flag.Parse()
	sz, ok := budgets[*budget]
	if !ok {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, sz, *modelDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "05-relation-specific:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, sz sizes, modelDir, out string) error {
	start := time.Now()
	evalPath, err := nb.Testdata("world", "eval_facts.jsonl")
	if err != nil {
		return err
	}
	fluPath, err := nb.Testdata("world", "eval_fluency.jsonl")
	if err != nil {
		return err
	}
	m, enc, err := nb.Load(modelDir) // the world's tokenizer adds <bos>, as the model was trained
	if err != nil {
		return err
	}
	defer m.Close()
	questions, err := corpus.ReadPromptSet(evalPath, enc, corpus.PromptOptions{})
	if err != nil {
		return err
	}
	if sz.every > 1 {
		k := 0
		questions = questions.Filter(func(corpus.Prompt) bool { k++; return k%sz.every == 1 })
	}
	filler, err := ablate.ReadTextSet(fluPath, enc, m.Config.MaxPos, "", "")
	if err != nil {
		return err
	}
	filler = demo.FirstTexts(filler, "language", sz.filler)

	// 1 and 2. The finder.
	t0 := time.Now()
	res, err := relation.Find(m, questions, relation.Options{Heldout: sz.heldout, Top: sz.top})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d candidate units (%d taps); %d questions, %d held out per relation; top %d by AP (%.1f s)\n",
		m.Config.ModelType, res.Layout.Neurons(), len(res.Layout), len(questions.Items), sz.heldout, sz.top, time.Since(t0).Seconds())
	fmt.Fprintf(w, "%-22s %9s %9s %8s %8s\n", "relation", "positives", "negatives", "best AP", "kept AP")
	for _, s := range res.Relations {
		fmt.Fprintf(w, "%-22s %9d %9d %8.3f %8.3f\n", s.Relation, s.Correct, s.Negatives, s.BestAP, s.KeptAP)
	}
	fmt.Fprintln(w)

	// 3. The matrix on the held-out questions and the filler, then the sweep (questions only).
	vo := ablate.VerifyOptions{Key: "relation", TextKey: "language", Random: sz.random, Seed: 1, Source: "notebook 05"}
	e, err := ablate.NewEval(m, res.Heldout, filler, ablate.EvalOptions{BatchSize: 256})
	if err != nil {
		return err
	}
	matrix, err := ablate.Verify(e, res.Set, vo)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, matrix.Matrix.Questions.Table())
	fmt.Fprintln(w, matrix.Matrix.Texts.Table())
	eq, err := ablate.NewEval(m, res.Heldout, nil, ablate.EvalOptions{BatchSize: 256})
	if err != nil {
		return err
	}
	vo.Experiment, vo.Ks = ablate.ExpSweep, sz.ks
	sweep, err := ablate.Verify(eq, res.Set, vo)
	if err != nil {
		return err
	}
	for _, s := range sweep.File.Sweeps {
		fmt.Fprintln(w, s.Table())
	}

	// 4. The verdicts.
	lf := matrix.File
	lf.Merge(sweep.File)
	fmt.Fprint(w, lf.Table())
	confirmed := 0
	for _, l := range matrix.File.Labels {
		if l.Verdict == labels.Confirmed {
			confirmed++
		}
	}
	fmt.Fprintf(w, "\n%d of %d relations confirmed by the matrix (%s)\n", confirmed, len(matrix.File.Labels), time.Since(start).Round(time.Second))
	if out == "" {
		return nil
	}
	lf.Provenance = m.Provenance()
	for i, p := range []string{evalPath, fluPath} {
		in, err := labels.HashInput([]string{"eval", "text"}[i], p)
		if err != nil {
			return err
		}
		lf.Inputs = append(lf.Inputs, in)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := res.Set.WriteFile(filepath.Join(out, "relation-specific.json")); err != nil {
		return err
	}
	if err := lf.WriteFile(filepath.Join(out, "relation-specific-labels.json")); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s and %s\n", filepath.Join(out, "relation-specific.json"), filepath.Join(out, "relation-specific-labels.json"))
	return nil
}
