// Command 04-neuron-path finds the influential neuron path (NeuronPath) of fact questions on the
// demo world model and checks the paths by intervention, as the published evaluation does.
//
// For each question the program runs the layer-progressive search (one neuron per layer at the
// last prompt position, m = 20 steps, the answer's probability) with its two baselines, the
// per-layer activation argmax and the per-layer activation top-5, then verifies them through
// ablate.VerifyPaths (the code of `neuronscope verify --experiment path`):
//
//   - each question's path (and each baseline) removed (set to 0 at that position) and
//     enhanced (×2); NeuronPath's probability deviation mean(P_after/P_before) − 1 and the
//     change in top-1 accuracy, against random paths (per question, one random neuron per
//     layer at the same position), with empirical and bootstrap p-values and verdicts;
//   - the path against each baseline, question by question (bootstrap interval and p);
//   - the joint attribution scores of the search's path and of the activation path, and the
//     chosen neurons whose two score factors were both negative;
//   - paths of questions with the same and with different relations (and languages), with a
//     permutation p-value.
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/04-neuron-path                    # 3 questions per relation and language, 10 random paths
//	go run ./notebooks/04-neuron-path -budget tiny       # 1 question per relation and language, 10 steps, 3 random paths
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: 1 question per relation and language, 10 steps, 3 random paths")
	out := flag.String("out", "", "directory to write paths.json and path-labels.json to (empty: print only)")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	evalFile := flag.String("eval", "", "questions (default: testdata/world/eval_facts.jsonl of this repository)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, *modelDir, *evalFile, *out, *budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "04-neuron-path:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, modelDir, evalFile, out string, tiny bool) error {
	if evalFile == "" {
		var err error
		if evalFile, err = nb.Testdata("world", "eval_facts.jsonl"); err != nil {
			return err
		}
	}
	m, enc, err := nb.Load(modelDir)
	if err != nil {
		return err
	}
	defer m.Close()
	set, err := corpus.ReadPromptSet(evalFile, enc, corpus.PromptOptions{})
	if err != nil {
		return err
	}
	perCell, steps, random := 3, 20, 10
	if tiny {
		perCell, steps, random = 1, 10, 3
	}
	// Every 7th question until each relation × language cell has its share.
	count := map[[2]string]int{}
	var items []corpus.Prompt
	for i := 0; i < len(set.Items); i += 7 {
		it := set.Items[i]
		if c := [2]string{it.Labels["relation"], it.Labels["language"]}; count[c] < perCell {
			count[c]++
			items = append(items, it)
		}
	}
	paths := &hooks.NeuronSet{Method: "neuronpath", Tap: hooks.MLPPost}
	st := &attribute.PathSettings{Procedure: attribute.PathProcedure, Steps: steps, Target: "prob", Site: "mlp.hook_post", Position: "last", Width: 1, TopK: 5}
	var pitems []ablate.PathItem
	var seconds, jasPath, jasAct float64
	actHigher, negneg, chosen := 0, 0, 0
	for _, it := range items {
		pos, ans := len(it.IDs)-1, it.AnswerIDs[0]
		t0 := time.Now()
		res, err := attribute.NeuronPath(m, it.IDs, pos, ans, attribute.PathOptions{Steps: steps})
		if err != nil {
			return fmt.Errorf("%s: %w", it.ID, err)
		}
		s := time.Since(t0).Seconds()
		seconds += s
		jasPath += res.JAS
		jasAct += res.ActivationJAS
		if res.ActivationJAS > res.JAS {
			actHigher++
		}
		for _, f := range res.Factors {
			chosen++
			if f.Gradient < 0 && f.Activation < 0 {
				negneg++
			}
		}
		paths.Groups = append(paths.Groups, res.PathGroups("/"+it.ID)...)
		st.Items = append(st.Items, res.Item(it.ID, it.Labels, s))
		pitems = append(pitems, ablate.PathItemOf(it, res))
	}
	paths.Settings = st
	n := float64(len(items))
	fmt.Fprintf(w, "%d questions (%d per relation and language), m = %d: %.3f s per question\n", len(items), perCell, steps, seconds/n)
	fmt.Fprintf(w, "mean JAS: path %.4g, activation argmax %.4g; activation argmax higher on %d of %d questions\n", jasPath/n, jasAct/n, actHigher, len(items))
	fmt.Fprintf(w, "chosen path neurons with both score factors negative: %d of %d\n\n", negneg, chosen)

	lf, err := ablate.VerifyPaths(m, pitems, ablate.PathVerifyOptions{Compare: []string{"relation", "language"}, Random: random, Seed: 1,
		Source: "notebook 04"})
	if err != nil {
		return err
	}
	fmt.Fprint(w, lf.ItemEffects[0].Table())
	fmt.Fprintf(w, "\n%-16s %-8s %9s %18s %7s %7s  %s\n", "neurons", "", "effect", "random", "p", "p boot", "verdict")
	for _, l := range lf.Labels {
		for k, v := range l.Verifications {
			op, sign := "remove", -1.0
			if k == 1 {
				op, sign = "enhance", 1
			}
			fmt.Fprintf(w, "%-16s %-8s %+8.2f%% %+9.2f ± %5.2f%% %7.3f %7.2g  %s\n", l.Set, op, 100*sign*v.Target, 100*sign*v.Random.Mean,
				100*v.Random.Std, v.P, *v.PBootstrap, v.Verdict)
		}
	}
	if out != "" {
		prov := m.Provenance()
		paths.Provenance = &prov
		lf.Provenance = prov
		if err := paths.WriteFile(filepath.Join(out, "paths.json")); err != nil {
			return err
		}
		if err := lf.WriteFile(filepath.Join(out, "path-labels.json")); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s and %s\n", filepath.Join(out, "paths.json"), filepath.Join(out, "path-labels.json"))
	}
	return nil
}
