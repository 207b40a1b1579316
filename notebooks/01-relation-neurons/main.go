// Notebook 01 — relation neurons in the demo model.
//
// The demo model (testdata/world-llama) was trained on a synthetic world whose facts come in
// ten relations. Which MLP neurons carry each relation, and can we prove it? This program
//
//  1. loads the model and its held-out-template fact questions,
//  2. finds relation neurons with gradient × activation (each hook_post neuron's mean
//     a·∂logit(answer)/∂a on a relation's questions, minus its mean on the other relations),
//  3. verifies each relation's top neurons with the relation × relation matrix: zero-ablate
//     them, measure every relation's accuracy, and compare with random sets of the same
//     per-layer counts (empirical p, effect size, bootstrap CI, verdict),
//  4. runs a cumulativity sweep for two relations: the top k for growing k, with the random
//     band,
//  5. prints the verdicts, and with -out writes neurons.json and labels.json (view them with
//     `neuronscope report --labels labels.json --out labels.html`).
//
// Run it from anywhere in the repository: `go run ./notebooks/01-relation-neurons` (add
// `-tags openblas` with CGO_LDFLAGS=-lopenblas for speed). -budget tiny is the smoke run the
// test suite makes.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
)

// sizes of a run.
type sizes struct {
	perRelation int   // questions attributed per relation
	neurons     int   // neurons per relation in the matrix
	perCell     int   // questions per relation × language evaluated (0: all)
	random      int   // random sets per claimed set
	swept       int   // neurons ranked per swept relation
	ks          []int // the sweep's grid
}

var budgets = map[string]sizes{
	"full": {perRelation: 24, neurons: 32, random: 10, swept: 128, ks: []int{8, 32}},
	"tiny": {perRelation: 2, neurons: 8, perCell: 1, random: 2, swept: 8, ks: []int{2}},
}

func main() {
	budget := flag.String("budget", "full", "full (the demo's sizes) or tiny (a smoke run)")
	out := flag.String("out", "", "directory for neurons.json and labels.json (empty: print only)")
	flag.Parse()
	sz, ok := budgets[*budget]
	if !ok {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(sz, *out); err != nil {
		fmt.Fprintln(os.Stderr, "notebook 01:", err)
		os.Exit(1)
	}
}

func run(sz sizes, out string) error {
	start := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}

	// 1. The model and its questions. Each line of eval_facts.jsonl is a question with its
	// answer and labels (relation, language, ...); BOS always, as the model was trained.
	m, err := model.Load(filepath.Join(root, "testdata", "world-llama"))
	if err != nil {
		return err
	}
	defer m.Close()
	tok, err := corpus.LoadTokenizer(m)
	if err != nil {
		return err
	}
	questions, err := corpus.ReadPromptSet(filepath.Join(root, "testdata", "world", "eval_facts.jsonl"),
		corpus.NewEncoder(m, tok, tokenizer.BOSAlways), corpus.PromptOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d layers × %d neurons at mlp.hook_post; %d questions\n", m.Config.ModelType, m.Config.NLayers, m.Config.DMLP, len(questions.Items))

	// 2. The finder: grad×act contrast, every neuron ranked per relation.
	ranking, err := demo.RankRelationNeurons(demo.Inputs{Model: m, Tokenizer: tok, Questions: questions}, sz.perRelation)
	if err != nil {
		return err
	}
	set := ranking.Set(sz.neurons)
	fmt.Printf("found: the top %d neurons of each of %d relations (%s)\n\n", sz.neurons, len(set.Groups), set.Method)

	// 3. The matrix. The Eval runs the unedited model once and every intervention in the
	// same batches; Verify builds the zero-ablation of each set and of its random controls.
	eval := questions
	if sz.perCell > 0 {
		taken := map[[2]string]int{}
		eval = questions.Filter(func(p corpus.Prompt) bool {
			cell := [2]string{p.Labels["relation"], p.Labels["language"]}
			taken[cell]++
			return taken[cell] <= sz.perCell
		})
	}
	e, err := ablate.NewEval(m, eval, nil, ablate.EvalOptions{BatchSize: 256})
	if err != nil {
		return err
	}
	matrix, err := ablate.Verify(e, set, ablate.VerifyOptions{Key: "relation", Random: sz.random, Seed: 1, Source: "notebook 01"})
	if err != nil {
		return err
	}
	fmt.Println(matrix.File.Matrices[0].Table())

	// 4. Cumulativity for two relations: does the effect grow with k, and does it stay
	// specific? The same Eval: its baseline is reused.
	swept := ranking.Set(sz.swept)
	swept.Groups = swept.Groups[:0]
	for _, rel := range []string{"capital_of", "speaks"} {
		for i, r := range ranking.Relations {
			if r == rel {
				swept.Groups = append(swept.Groups, ranking.Set(sz.swept).Groups[i])
			}
		}
	}
	sweep, err := ablate.Verify(e, swept, ablate.VerifyOptions{Experiment: ablate.ExpSweep, Key: "relation", Random: sz.random, Seed: 1,
		Ks: sz.ks, Source: "notebook 01"})
	if err != nil {
		return err
	}
	for _, s := range sweep.File.Sweeps {
		fmt.Println(s.Table())
	}

	// 5. The verdicts.
	fmt.Print(matrix.File.Table())
	confirmed := 0
	for _, l := range matrix.File.Labels {
		if l.Verdict == labels.Confirmed {
			confirmed++
		}
	}
	fmt.Printf("\n%d of %d relations confirmed (%s)\n", confirmed, len(matrix.File.Labels), time.Since(start).Round(time.Second))
	if out == "" {
		return nil
	}
	lf := matrix.File
	lf.Merge(sweep.File)
	lf.Provenance = m.Provenance()
	in, err := labels.HashInput("eval", filepath.Join(root, "testdata", "world", "eval_facts.jsonl"))
	if err != nil {
		return err
	}
	lf.Inputs = []labels.Input{in}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := set.WriteFile(filepath.Join(out, "neurons.json")); err != nil {
		return err
	}
	if err := lf.WriteFile(filepath.Join(out, "labels.json")); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "neurons.json"), filepath.Join(out, "labels.json"))
	return nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run the notebook inside the neuronscope repository (no go.mod above %s)", dir)
		}
		dir = parent
	}
}
