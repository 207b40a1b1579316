package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newAblateCmd) }

func newAblateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ablate selectivity ...",
		Short:   "Ablate neuron sets and measure what they do to fact accuracy (selectivity vs random sets)",
		Example: `  neuronscope ablate selectivity --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --neurons neurons.json --group relation=capital_of`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("ablate: unknown subcommand %q (have: selectivity)", args[0])
			}
			return usagef("ablate needs a subcommand: selectivity")
		},
	}
	cmd.AddCommand(newAblateSelectivityCmd())
	return cmd
}

type selectivityFlags struct {
	eval, neurons, group string
	setGroup             string
	mode, site, bos      string
	tokenizer            string
	value                float32
	random, batch        int
	seed                 uint64
	minDrop, margin      float64
	asJSON               bool
	skipUnknown          bool
	out                  string
	img                  imageFlags
}

func newAblateSelectivityCmd() *cobra.Command {
	mf := modelFlags{text: "ablate selectivity"}
	var f selectivityFlags
	cmd := &cobra.Command{
		Use:   "selectivity --model DIR (--eval eval_facts.jsonl | --images FILE.jsonl) --neurons FILE --group relation=capital_of [--mode zero|mean|clamp] [--random-seeds 5] [--hook-site mlp.hook_post] [--json] [--out FILE]",
		Short: "Ablate neurons claimed specific to a group (relation or language) and compare the accuracy drop there with the other groups and with random neuron sets",
		Long: `Selectivity ablates a neuron set at a tap point (default blocks.L.mlp.hook_post, "the neuron")
and measures greedy fact-question accuracy (argmax at the last prompt position == answer) per group
of the --group label, before and after. For the target group r:

  drop(g)         = baseline accuracy of g − ablated accuracy of g
  selectivity     = drop(r) − mean over the other groups g of drop(g)

The same is done for --random-seeds random sets with the claimed set's per-layer counts (indices
drawn without replacement outside the claimed set, set i with seed --seed+i), reported as mean ± std.
Verdict: no_effect if drop(r) < --min-drop; selective if selectivity > 0 and > random mean +
--margin·std; else not_selective.

Ablation: --mode zero sets the neurons to 0, mean to their mean over every real position of every
eval prompt (unablated model), clamp to --value, at every position of the prompt.

--neurons is a neuron-set file (neuronscope.neurons/v1, as every finder writes; the group named
by --set-group, by default the --group value or the file's only group), or an older JSON array
[{"layer":L,"index":i}, ...] at the --hook-site tap; --eval is JSONL with "prompt" and "answer" (the world's
eval_facts.jsonl; every other string field is a label usable in --group). Prompts are tokenized with
the model's tokenizer.json under --bos; each answer must be one token.

An image classifier (ViT) takes labelled images instead of --eval: --images FILE.jsonl, a line
{"image": path, "label": name or class id, other string labels}; accuracy is classification
accuracy, the groups are a label's values (--group class=cat, or another field), and the
neurons are ablated at every token (CLS and patches) of every image.`,
		Example: `  neuronscope ablate selectivity --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --neurons neurons.json --group relation=capital_of
  neuronscope ablate selectivity --model testdata/world-llama --eval eval.jsonl --neurons neurons.json --group language=pelan --mode mean --random-seeds 10 --out selectivity.json
  neuronscope ablate selectivity --model testdata/world-llama --eval eval.jsonl --neurons neurons.json --group relation=capital_of --skip-unknown-answers
  neuronscope ablate selectivity --model vit-dir --images val.jsonl --neurons vit-neurons.json --group class=cat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSelectivity(cmd, &mf, &f)
		},
	}
	mf.register(cmd)
	f.img.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&f.eval, "eval", "", "fact questions, JSONL (e.g. the world's eval_facts.jsonl)")
	fl.StringVar(&f.neurons, "neurons", "", `neuron set file (neuronscope.neurons/v1, or a JSON array [{"layer":L,"index":i}, ...])`)
	fl.StringVar(&f.setGroup, "set-group", "", "group of the neuron set to ablate (default: the --group value, or the set's only group)")
	fl.StringVar(&f.group, "group", "", "the claimed group, LABEL=VALUE (relation=capital_of, language=pelan)")
	fl.StringVar(&f.mode, "mode", "zero", "ablation: zero, mean (over the eval set's positions) or clamp (to --value)")
	fl.Float32Var(&f.value, "value", 0, "the value of --mode clamp")
	fl.IntVar(&f.random, "random-seeds", ablate.DefaultRandomSets, "number of random neuron sets (seeds --seed, --seed+1, ...)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the first random set")
	fl.StringVar(&f.site, "hook-site", "mlp.hook_post", "tap point of a bare [{layer,index}] neuron list (mlp.hook_post, mlp.hook_pre, hook_resid_post, ...); sets in the neuronscope.neurons/v1 format name their own")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for the prompts: auto (as HF's add_special_tokens), always, never")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.json (default: the model directory's)")
	fl.IntVar(&f.batch, "batch", corpus.DefaultPromptBatch, "prompts per forward pass")
	fl.Float64Var(&f.minDrop, "min-drop", ablate.DefaultMinDrop, "target accuracy drop below which the verdict is no_effect")
	fl.Float64Var(&f.margin, "margin", ablate.DefaultMargin, "standard deviations above the random mean the selectivity must exceed")
	fl.BoolVar(&f.asJSON, "json", false, "print the report as JSON instead of a table")
	fl.BoolVar(&f.skipUnknown, "skip-unknown-answers", false, "leave out eval items whose answer is not in the vocabulary (encodes to the unknown token), and report how many; without it such an item is an error")
	fl.StringVar(&f.out, "out", "", "also write the JSON report to this file (atomically)")
	return cmd
}

func runSelectivity(cmd *cobra.Command, mf *modelFlags, f *selectivityFlags) error {
	for _, req := range []struct{ name, val string }{{"--eval", f.eval}, {"--neurons", f.neurons}, {"--group", f.group}} {
		if req.val == "" && !(req.name == "--eval" && f.img.given()) {
			return usagef("%s is required", req.name)
		}
	}
	key, target, ok := strings.Cut(f.group, "=")
	if key, target = strings.TrimSpace(key), strings.TrimSpace(target); !ok || key == "" || target == "" {
		return usagef("--group %q: want LABEL=VALUE, e.g. relation=capital_of or language=pelan", f.group)
	}
	mode, err := ablate.ParseMode(f.mode)
	if err != nil {
		return usagef("--mode: %v", err)
	}
	if cmd.Flags().Changed("value") && mode != ablate.Clamp {
		return usagef("--value is only for --mode clamp")
	}
	site, err := hooks.ParseSite(f.site)
	if err != nil {
		return usagef("--hook-site: %v", err)
	}
	bos, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usagef("%v", err)
	}
	switch {
	case f.random < 2:
		return usagef("--random-seeds %d: want at least 2 (5 or more for a trustworthy std)", f.random)
	case f.batch < 1:
		return usagef("--batch %d: want at least 1", f.batch)
	case f.minDrop <= 0 || f.minDrop > 1:
		return usagef("--min-drop %g: want a fraction in (0, 1]", f.minDrop)
	case f.margin <= 0:
		return usagef("--margin %g: want > 0", f.margin)
	}
	if f.random < 5 {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: --random-seeds %d: fewer than 5 random sets make a noisy baseline\n", f.random)
	}
	if f.img.given() {
		if f.eval != "" {
			return usagef("give either --eval (prompts) or --image/--images, not both")
		}
		mf.text = ""
		return runSelectivityImages(cmd, mf, f, key, target, mode, site)
	}
	for _, p := range []struct{ flag, path string }{{"--eval", f.eval}, {"--neurons", f.neurons}} {
		if _, err := os.Stat(p.path); err != nil {
			return usagef("%s: %v", p.flag, err)
		}
	}
	if f.out != "" {
		if err := checkOutFile("--out", f.out); err != nil {
			return err
		}
	}

	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	tokPath := f.tokenizer
	if tokPath == "" {
		tokPath = filepath.Join(m.Dir, "tokenizer.json")
		if _, err := os.Stat(tokPath); err != nil {
			return usagef("%s has no tokenizer.json; give --tokenizer", m.Dir)
		}
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return err
	}
	set, err := corpus.ReadPromptSet(f.eval, corpus.NewEncoder(m, tok, bos), corpus.PromptOptions{SkipUnknownAnswers: f.skipUnknown})
	var unk *corpus.UnknownTokenError
	if errors.As(err, &unk) {
		return usagef("--eval: %v (give --skip-unknown-answers to leave such items out)", err)
	}
	if err != nil {
		return usagef("--eval: %v", err)
	}
	groups, err := set.Groups(key)
	if err != nil {
		return usagef("--group %s: %v", f.group, err)
	}
	if len(groups) < 2 {
		return usagef("--group %s: the eval set has only one %s group (%s); selectivity needs others to compare with", f.group, key, groups[0])
	}
	if !slices.Contains(groups, target) {
		return usagef("--group %s: no question has %s=%s (the %s groups are %s)", f.group, key, target, key, strings.Join(groups, ", "))
	}
	neurons, err := readNeuronGroup(m, f.neurons, f.setGroup, target, site)
	if err != nil {
		return err
	}

	r, err := ablate.Selectivity(m, set, neurons, ablate.SelectivityOptions{Key: key, Target: target, Mode: mode,
		Value: f.value, Random: f.random, Seed: f.seed, MinDrop: f.minDrop, Margin: f.margin, BatchSize: f.batch})
	if err != nil {
		return err
	}
	prov := m.Provenance()
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.BOSPolicy = bos.String()
	prov.Padding = fmt.Sprintf("left (prompts ordered by length, %d per batch)", f.batch)
	prov.Dataset = f.eval
	prov.HooksAsked = r.Ablation.Points
	prov.HooksFired = r.Ablation.Points
	doc := ablate.SelectivityFile{SchemaVersion: ablate.SelectivitySchema, Provenance: prov, EvalFile: f.eval, NeuronsFile: f.neurons,
		SkippedItems: len(set.Skipped), Skipped: set.Skipped, Report: r}
	if f.out != "" {
		if err := report.WriteJSONFile(f.out, doc); err != nil {
			return err
		}
	}
	if f.asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), doc)
	}
	fmt.Fprint(cmd.OutOrStdout(), r.Table())
	if f.skipUnknown {
		fmt.Fprintf(cmd.OutOrStdout(), "skipped %d eval items whose answer is not in the vocabulary (--skip-unknown-answers); accuracies are over the other %d\n",
			len(set.Skipped), len(set.Items))
	}
	if f.out != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	}
	return nil
}

// readNeuronGroup reads one group of a neuron-set file and checks it against the model: the
// group named group (default: fallback if the set has it, else the set's only group). A bare
// [{layer,index}] list reads at site. Every problem is a usage error naming --neurons.
func readNeuronGroup(m *model.Model, path, group, fallback string, site hooks.Site) ([]hooks.Neuron, error) {
	set, err := hooks.ReadNeuronSetAt(path, site)
	if err != nil {
		return nil, usagef("--neurons: %v", err)
	}
	name := group
	if name == "" {
		if _, ok := set.Group(fallback); ok || len(set.Groups) != 1 {
			name = fallback
		} else {
			name = set.Groups[0].Name
		}
	}
	ns, ok := set.Group(name)
	if !ok {
		return nil, usagef("--neurons %s has no group %q (its groups: %s); choose one with --set-group", path, name, strings.Join(set.Names(), ", "))
	}
	plain := hooks.Plain(ns)
	if err := m.Catalog().CheckNeurons(plain); err != nil {
		return nil, usagef("--neurons %s: group %q: %v", path, name, err)
	}
	return plain, nil
}

// runSelectivityImages is ablate selectivity on labelled images of an image classifier.
func runSelectivityImages(cmd *cobra.Command, mf *modelFlags, f *selectivityFlags, key, target string, mode ablate.Mode, site hooks.Site) error {
	if _, err := os.Stat(f.neurons); err != nil {
		return usagef("--neurons: %v", err)
	}
	if f.out != "" {
		if err := checkOutFile("--out", f.out); err != nil {
			return err
		}
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	set, err := f.img.load(m)
	if err != nil {
		return err
	}
	imgs := &ablate.LabelledImages{Pixels: set.pixels, IDs: imageIDs(set.files)}
	for i, file := range set.files {
		if set.labels[i] < 0 {
			return usagef("image %s has no label: selectivity measures accuracy against each image's \"label\" (give --images FILE.jsonl)", file)
		}
		labels := map[string]string{"class": classLabel(m, set.labels[i]), "image": file}
		for k, v := range set.extra[i] {
			labels[k] = v
		}
		if _, ok := labels[key]; !ok {
			return usagef("--group %s: image %s has no label %q", f.group, file, key)
		}
		imgs.Classes, imgs.Labels = append(imgs.Classes, set.labels[i]), append(imgs.Labels, labels)
	}
	neurons, err := readNeuronGroup(m, f.neurons, f.setGroup, target, site)
	if err != nil {
		return err
	}
	r, err := ablate.SelectivityImages(m, imgs, neurons, ablate.SelectivityOptions{Key: key, Target: target, Mode: mode,
		Value: f.value, Random: f.random, Seed: f.seed, MinDrop: f.minDrop, Margin: f.margin, BatchSize: f.batch})
	if err != nil {
		return usageError{err}
	}
	prov := m.Provenance()
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.Dataset = f.img.list
	prov.HooksAsked = r.Ablation.Points
	prov.HooksFired = r.Ablation.Points
	doc := ablate.SelectivityFile{SchemaVersion: ablate.SelectivitySchema, Provenance: prov, EvalFile: f.img.list, NeuronsFile: f.neurons, Report: r}
	if f.out != "" {
		if err := report.WriteJSONFile(f.out, doc); err != nil {
			return err
		}
	}
	if f.asJSON {
		return report.WriteJSON(cmd.OutOrStdout(), doc)
	}
	fmt.Fprint(cmd.OutOrStdout(), r.Table())
	if f.out != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	}
	return nil
}
