package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/linear"
	"github.com/neuronscope/neuronscope/probes/selection"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newSelectCmd) }

// selectSchema is the schema_version of selection.json.
const selectSchema = "neuronscope.selection/v1"

// selectFlags are the flags of `neuronscope select`.
type selectFlags struct {
	data, target, layers, pool, bos, out string
	units                                unitFlags
	n, topK, batch                       int
	normalise                            bool
}

// selectedItem is one selected candidate.
type selectedItem struct {
	// Index is the candidate's 0-based document ordinal in --data; Line its line.
	Index int     `json:"index"`
	Line  int     `json:"line"`
	Score float64 `json:"score"`
	Text  string  `json:"text,omitempty"`
}

// selectionFile is selection.json.
type selectionFile struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Inputs        []labels.Input    `json:"inputs"`
	Settings      struct {
		Points    []string `json:"points"`
		Units     string   `json:"units"`
		Width     int      `json:"units_total"`
		Pool      string   `json:"pool"`
		TopK      int      `json:"top_k"`
		Normalise bool     `json:"normalise_by_unit_mean"`
		N         int      `json:"n"`
		Rule      string   `json:"rule"`
	} `json:"settings"`
	Candidates int            `json:"candidates"`
	Targets    int            `json:"targets"`
	Selected   []selectedItem `json:"selected"`
	// Scores is every candidate's similarity, in --data order.
	Scores []float64 `json:"scores"`
}

func newSelectCmd() *cobra.Command {
	var mf modelFlags
	var f selectFlags
	cmd := &cobra.Command{
		Use: "select --model DIR --data FILE --target FILE --n N [--top-k 64] [--pool max|mean] [--normalise] " +
			"[--layers 0-3] [--features DIR | --sae DIR] --out DIR",
		Short: "Select the training examples whose sparse activation profiles are closest to a small target set",
		Long: `Select represents every --data example (a candidate training text) and every --target example (a
few examples of the task to improve) by its sparse activation profile under --model (package
probes/selection, after MoNA, "Task-Specific Data Selection for Instruction Tuning via
Monosemantic Neuronal Activations"): per unit, the maximum (--pool mean: the mean) of |activation|
over the example's tokens after BOS, at blocks.L.mlp.hook_post of every --layers layer, or the
SNMF coefficients of a 'decompose snmf' output (--features), or the latents of a SAELens-format SAE
at its hook (--sae); optionally divided by the unit's
mean over the candidates (--normalise); the --top-k largest kept. The target profiles are
averaged into a prototype, and the --n candidates with the largest generalized Jaccard
similarity Σ min(r, p) / Σ max(r, p) to it are selected.

Writes selected.txt (the selected texts, most similar first, one per line: a dataset that
'neuronscope train' or model/train can fine-tune on) and selection.json (every candidate's score,
the selection, settings, provenance). Whether the selection helps is an experiment: fine-tune on
it and on random selections of the same size with several seeds (notebooks/13-data-selection
does this on the synthetic world).`,
		Example: `  neuronscope select --model testdata/world-llama --data testdata/world/train.txt --target born_in-examples.txt --n 256 --out sel
  neuronscope select --model DIR --data pool.jsonl --target task.txt --n 1000 --pool mean --normalise --out sel`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSelect(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "candidate examples (.txt one per line, or .jsonl)")
	fl.StringVar(&f.target, "target", "", "target-task examples (.txt or .jsonl)")
	fl.IntVar(&f.n, "n", 0, "number of candidates to select")
	fl.IntVar(&f.topK, "top-k", selection.DefaultTopK, "units kept per profile")
	fl.StringVar(&f.pool, "pool", "max", "pooling over an example's tokens: max or mean (of |activation|)")
	fl.BoolVar(&f.normalise, "normalise", false, "divide each unit's activity by its mean over the candidates")
	fl.StringVar(&f.layers, "layers", "", "layers whose mlp.hook_post neurons are read (default: all)")
	f.units.register(cmd, "read, instead of neurons,")
	fl.IntVar(&f.batch, "batch", corpus.DefaultPromptBatch, "examples per forward pass")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy: auto, always, never")
	fl.StringVar(&f.out, "out", "", "output directory")
	return cmd
}

// readExamples encodes every document of a dataset file; it returns the ids, texts and lines.
func readExamples(flag, path string, enc corpus.Encoder) (ids [][]int, texts []string, lines []int, err error) {
	err = corpus.ReadDocuments(path, func(d corpus.Document) error {
		e, err := enc.Encode(d)
		if err != nil {
			return err
		}
		if len(e) == 0 {
			return fmt.Errorf("%s:%d: no tokens", path, d.Line)
		}
		ids, texts, lines = append(ids, e), append(texts, d.Text), append(lines, d.Line)
		return nil
	})
	if err != nil {
		return nil, nil, nil, usagef("%s: %v", flag, err)
	}
	if len(ids) == 0 {
		return nil, nil, nil, usagef("%s %s has no examples", flag, path)
	}
	return ids, texts, lines, nil
}

func runSelect(cmd *cobra.Command, mf *modelFlags, f *selectFlags) (rerr error) {
	switch {
	case f.data == "":
		return usagef("--data is required (the candidate examples)")
	case f.target == "":
		return usagef("--target is required (a few examples of the target task)")
	case f.pool != "max" && f.pool != "mean":
		return usagef("--pool %q: want max or mean", f.pool)
	}
	if err := checkRanges(intAtLeast("--n", f.n, 1), intAtLeast("--top-k", f.topK, 1), intAtLeast("--batch", f.batch, 1)); err != nil {
		return err
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	for _, p := range []struct{ flag, path string }{{"--data", f.data}, {"--target", f.target}} {
		if _, err := os.Stat(p.path); err != nil {
			return usagef("%s: %v", p.flag, err)
		}
	}
	if err := checkOutDir("--out", f.out); err != nil {
		return err
	}
	if err := f.units.one(); err != nil {
		return err
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	layers, err := parseLayers(f.layers, m.Config.NLayers)
	if err != nil {
		return err
	}
	opt := selection.ActivityOptions{BOS: m.Config.BOS, MeanPool: f.pool == "mean", Batch: f.batch}
	codes, err := f.units.codes(m)
	if err != nil {
		return err
	}
	units := "neurons"
	switch {
	case codes != nil:
		if f.layers != "" {
			return usagef("--layers and %s: the decomposition fixes its tap; give one of them", codes.Flag)
		}
		opt.Points = []hooks.Point{codes.Point}
		opt.Codes = map[hooks.Point]linear.Codes{codes.Point: codes.Codes}
		units = codes.Kind
	case layers != nil:
		for _, l := range layers {
			opt.Points = append(opt.Points, hooks.At(l, hooks.MLPPost))
		}
	}
	tok, err := loadTokenizer(m)
	if err != nil {
		return err
	}
	enc := corpus.NewEncoder(m, tok, policy)
	cands, texts, lines, err := readExamples("--data", f.data, enc)
	if err != nil {
		return err
	}
	targets, _, _, err := readExamples("--target", f.target, enc)
	if err != nil {
		return err
	}
	if f.n > len(cands) {
		return usagef("--n %d: --data %s has %d examples", f.n, f.data, len(cands))
	}
	inputs, err := hashInputs(codes, [2]string{"data", f.data}, [2]string{"target", f.target})
	if err != nil {
		return err
	}

	act, width, err := selection.Activity(m, cands, opt)
	if err != nil {
		return inputError(err)
	}
	tact, _, err := selection.Activity(m, targets, opt)
	if err != nil {
		return inputError(err)
	}
	var scale []float64
	if f.normalise {
		scale = selection.UnitMeans(act, len(cands), width)
	}
	proto := selection.Prototype(selection.Sparsify(tact, len(targets), width, scale, f.topK), width)
	chosen, scores, err := selection.Select(selection.Sparsify(act, len(cands), width, scale, f.topK), proto, f.n)
	if err != nil {
		return err
	}

	sf := selectionFile{SchemaVersion: selectSchema, Provenance: m.Provenance(), Inputs: inputs, Candidates: len(cands),
		Targets: len(targets), Scores: scores}
	sf.Provenance.BOSPolicy = enc.PolicyNote()
	sf.Provenance.Dataset = f.data
	s := &sf.Settings
	s.Units, s.Width, s.Pool, s.TopK, s.Normalise, s.N = units, width, f.pool, f.topK, f.normalise, f.n
	s.Rule = "per unit max (or mean) of |activation| over the tokens after BOS; ÷ the unit's candidate mean if normalised; top-k units; generalized Jaccard to the targets' mean profile"
	if opt.Points == nil {
		for l := range m.Config.NLayers {
			s.Points = append(s.Points, hooks.At(l, hooks.MLPPost).String())
		}
	}
	for _, p := range opt.Points {
		s.Points = append(s.Points, p.String())
	}
	var txt strings.Builder
	for _, i := range chosen {
		sf.Selected = append(sf.Selected, selectedItem{Index: i, Line: lines[i], Score: scores[i], Text: texts[i]})
		fmt.Fprintln(&txt, strings.ReplaceAll(texts[i], "\n", " "))
	}
	cleanup, err := makeOutDir(f.out)
	if err != nil {
		return err
	}
	defer func() {
		if rerr != nil {
			cleanup()
		}
	}()
	if err := report.WriteFiles(
		report.File{Path: filepath.Join(f.out, "selection.json"), Write: func(w io.Writer) error { return report.WriteJSON(w, sf) }},
		report.File{Path: filepath.Join(f.out, "selected.txt"), Write: func(w io.Writer) error { _, err := io.WriteString(w, txt.String()); return err }},
	); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%d of %d candidates selected for %d target examples (%s, %d units, pool %s, top-%d); scores %.4f … %.4f\n",
		f.n, len(cands), len(targets), units, width, f.pool, f.topK, scores[chosen[0]], scores[chosen[len(chosen)-1]])
	for _, it := range sf.Selected[:min(5, len(sf.Selected))] {
		fmt.Fprintf(out, "  %.4f  %s\n", it.Score, it.Text)
	}
	fmt.Fprintf(out, "wrote selection.json and selected.txt to %s\n", f.out)
	return nil
}
