package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/spf13/cobra"
)

// pathFlags are the flags of `neuronscope find path`.
type pathFlags struct {
	eval, group, item, position, target, site, compare, bos, out string
	steps, topK, width, limit                                    int
}

func newFindPathCmd() *cobra.Command {
	var mf modelFlags
	var f pathFlags
	var im imageFlags
	cmd := &cobra.Command{
		Use:   "path --model DIR (--eval FILE | --image FILE | --images FILE) [--group KEY=VALUE] [--item ID] [--position last|N] [--steps 20] [--target prob] --out neurons.json",
		Short: "The influential neuron path of each prompt or image (NeuronPath, Wang et al. 2025)",
		Example: `  neuronscope find path --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --item q00000 --out path.json
  neuronscope find path --model vit-dir --images val.jsonl --compare class --out paths.json`,
		Long: `For each selected item of the prompt set (JSONL: prompt, answer, labels) finds one neuron per
layer (mlp.hook_post by default) by NeuronPath's layer-progressive search on the joint attribution
score, as the published code computes it: the product of the gradients summed over the left
Riemann steps α = i/m and the summed scaled activations, only the path neuron of each earlier
layer moving while every other unit of the layers up to the target is held at its clean value.
The target is the answer's probability at the last prompt position (--position last), or at
position N the next prompt token's. Baselines: the per-layer activation argmax (with its JAS)
and the per-layer activation top-K.

Writes a neuron set (neuronscope.neurons/v1): for one item the groups "path" (one neuron per
layer, in layer order), "activation" and "activation_topk"; for several, the same names
followed by "/<item id>". Settings hold each item's position, target, JAS and seconds, and with
--compare KEY the mean path similarity of item pairs with the same and different KEY values.

For an image classifier (ViT) give images instead of --eval, as the published code runs: --image
FILE (repeatable) or --images FILE.jsonl ({"image": path, "label": name or class id} a line).
The units are the CLS token's, the target is the probability of the image's label (the
predicted class where it has none); each item's id is its file name, its labels "class" (and
"image"), so --group class=NAME and --compare class apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if im.given() {
				return runFindPathImages(cmd, &mf, &f, &im)
			}
			return runFindPath(cmd, &mf, &f)
		},
	}
	im.register(cmd, true)
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.eval, "eval", "", "prompt set (JSONL: prompt, answer, labels)")
	fl.StringVar(&f.group, "group", "", "only the items with label KEY=VALUE (e.g. relation=capital_of)")
	fl.StringVar(&f.item, "item", "", "only the item with this id")
	fl.IntVar(&f.limit, "limit", 0, "at most this many items (0: all selected)")
	fl.StringVar(&f.position, "position", "last", "position attributed: last, or a 0-based index into the prompt's tokens")
	fl.IntVar(&f.steps, "steps", 20, "Riemann steps m")
	fl.StringVar(&f.target, "target", "prob", "target: prob, logprob or logit of the target token")
	fl.StringVar(&f.site, "site", "mlp.hook_post", "unit: mlp.hook_post, mlp.hook_pre or mlp.hook_pre_linear")
	fl.IntVar(&f.width, "width", 1, "neurons kept per layer (K > 1: the published top-K search)")
	fl.IntVar(&f.topK, "top-k", 5, "size of the per-layer activation top-K baseline")
	fl.StringVar(&f.compare, "compare", "", "label whose same/different values the path similarity compares")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for the prompts: auto, always, never")
	fl.StringVar(&f.out, "out", "", "output neuron set (JSON)")
	return cmd
}

// check validates the flags shared by prompts and images and returns the target and site.
func (f *pathFlags) check() (attribute.PathTarget, hooks.Site, error) {
	if f.steps < 1 {
		return 0, 0, usagef("--steps %d: want at least 1", f.steps)
	}
	if f.width < 1 || f.topK < 1 || f.limit < 0 {
		return 0, 0, usagef("--width and --top-k must be at least 1, --limit at least 0")
	}
	target, err := attribute.ParsePathTarget(f.target)
	if err != nil {
		return 0, 0, usagef("--target: %v", err)
	}
	site, err := hooks.ParseSite(f.site)
	if err != nil {
		return 0, 0, usagef("--site: %v", err)
	}
	if site != hooks.MLPPost && site != hooks.MLPPre && site != hooks.MLPPreLinear {
		return 0, 0, usagef("--site %s: want mlp.hook_post, mlp.hook_pre or mlp.hook_pre_linear", f.site)
	}
	return target, site, nil
}

// groupFilter parses --group KEY=VALUE (empty key: no filter).
func (f *pathFlags) groupFilter() (key, value string, err error) {
	if f.group != "" {
		var ok bool
		key, value, ok = strings.Cut(f.group, "=")
		if key, value = strings.TrimSpace(key), strings.TrimSpace(value); !ok || key == "" || value == "" {
			return "", "", usagef("--group %q: want LABEL=VALUE, e.g. relation=capital_of", f.group)
		}
	}
	return key, value, nil
}

func runFindPath(cmd *cobra.Command, mf *modelFlags, f *pathFlags) error {
	if f.eval == "" || f.out == "" {
		return usagef("--eval and --out are required (an image classifier takes --image or --images instead of --eval)")
	}
	target, site, err := f.check()
	if err != nil {
		return err
	}
	fixed := -1
	if f.position != "last" {
		if fixed, err = strconv.Atoi(f.position); err != nil || fixed < 0 {
			return usagef("--position %q: want last or a position >= 0", f.position)
		}
	}
	key, value, err := f.groupFilter()
	if err != nil {
		return err
	}
	bos, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	if _, err := os.Stat(f.eval); err != nil {
		return usagef("--eval: %v", err)
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := requireImageModel(m, false); err != nil {
		return err
	}
	if !m.Catalog().Has(hooks.At(0, site)) {
		return usagef("--site %s: this model has none", site)
	}
	tok, err := loadTokenizer(m)
	if err != nil {
		return err
	}
	set, err := corpus.ReadPromptSet(f.eval, corpus.NewEncoder(m, tok, bos), corpus.PromptOptions{})
	if err != nil {
		return usagef("--eval: %v", err)
	}
	items := set.Filter(func(p corpus.Prompt) bool {
		return (key == "" || p.Labels[key] == value) && (f.item == "" || p.ID == f.item)
	}).Items
	if len(items) == 0 {
		return usagef("--eval %s: no item matches --group %q --item %q", f.eval, f.group, f.item)
	}
	if f.limit > 0 && len(items) > f.limit {
		items = items[:f.limit]
	}
	// Check every item's position before running any.
	pos := make([]int, len(items))
	toks := make([]int, len(items))
	for i, it := range items {
		last := len(it.IDs) - 1
		switch {
		case fixed < 0:
			pos[i], toks[i] = last, it.AnswerIDs[0]
		case fixed > last:
			return usagef("--position %d is outside the prompt of item %s (%d tokens, positions 0..%d)", fixed, it.ID, len(it.IDs), last)
		case fixed == last:
			pos[i], toks[i] = fixed, it.AnswerIDs[0]
		default:
			pos[i], toks[i] = fixed, it.IDs[fixed+1]
		}
	}
	opt := attribute.PathOptions{Steps: f.steps, Site: site, Target: target, Width: f.width, TopK: f.topK}
	st := &attribute.PathSettings{Procedure: attribute.PathProcedure, Steps: f.steps, Target: target.String(), Site: site.String(), Position: f.position,
		Width: f.width, TopK: f.topK, Group: f.group}
	set2 := &hooks.NeuronSet{Method: "neuronpath", Tap: site, Settings: st}
	bar := newBar(cmd, int64(len(items)), "neuron paths", "prompts")
	var paths [][]hooks.ScoredNeuron
	for i, it := range items {
		t0 := time.Now()
		res, err := attribute.NeuronPath(m, it.IDs, pos[i], toks[i], opt)
		if err != nil {
			return fmt.Errorf("--eval %s item %s: %w", f.eval, it.ID, err)
		}
		suffix := ""
		if len(items) > 1 {
			suffix = "/" + it.ID
		}
		set2.Groups = append(set2.Groups, res.PathGroups(suffix)...)
		st.Items = append(st.Items, res.Item(it.ID, it.Labels, time.Since(t0).Seconds()))
		paths = append(paths, res.Path)
		bar.Add(1)
	}
	bar.Finish()
	prov := m.Provenance()
	prov.BOSPolicy = bos.String()
	prov.Dataset = f.eval
	return writePaths(cmd, f, set2, paths, prov)
}

// writePaths adds the path similarity (--compare) to the set's settings, writes the set with
// the provenance and prints a summary.
func writePaths(cmd *cobra.Command, f *pathFlags, set2 *hooks.NeuronSet, paths [][]hooks.ScoredNeuron, prov report.Provenance) error {
	st := set2.Settings.(*attribute.PathSettings)
	if f.compare != "" {
		values := make([]string, len(st.Items))
		for i, it := range st.Items {
			v, ok := it.Labels[f.compare]
			if !ok {
				return usagef("--compare %s: item %s has no such label", f.compare, it.ID)
			}
			values[i] = v
		}
		s := attribute.ComparePaths(paths, values, f.compare, 0, 0)
		st.Similarity = &s
	}
	if f.group != "" {
		prov.Dataset += " (" + f.group + ")"
	}
	set2.Provenance = &prov
	if err := set2.WriteFile(f.out); err != nil {
		return err
	}
	var secs []float64
	for _, it := range st.Items {
		secs = append(secs, it.Seconds)
	}
	slices.Sort(secs)
	unit := "prompt"
	if st.Position == imagePathPosition {
		unit = "image"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d %ss, %.3g s per %s (median)\n", len(st.Items), unit, secs[len(secs)/2], unit)
	for i, it := range st.Items[:min(5, len(st.Items))] {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: path %v (JAS %.4g), activation argmax JAS %.4g\n", it.ID, pathIndices(paths[i]), it.JAS, it.ActivationJAS)
	}
	if st.Similarity != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "path similarity by %s: same %.3f (%d pairs), different %.3f (%d pairs)\n", f.compare,
			st.Similarity.Same, st.Similarity.SamePairs, st.Similarity.Different, st.Similarity.DifferentPair)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	return nil
}

func pathIndices(ns []hooks.ScoredNeuron) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = fmt.Sprintf("%d:%d", n.Layer, n.Index)
	}
	return out
}
