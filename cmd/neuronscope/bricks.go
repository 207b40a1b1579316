package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/bricks"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/spectra"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newBricksCmd) }

// bricksSchema is the schema_version of bricks.json.
const bricksSchema = "neuronscope.bricks/v1"

// bricksFlags are the flags of `neuronscope bricks`.
type bricksFlags struct {
	data, eval, text, groupKey, site, pattern, mass, bos, out string
	claim                                                     string
	layer, k, restarts, random, partitions, resamples         int
	perGroup, ctx, batch, evalBatch, workers                  int
	threshold                                                 float32
	maxTokens                                                 int64
	seed                                                      uint64
	includeBOS, noProgress                                    bool
}

// bricksSettings are the settings recorded in bricks.json and labels.json.
type bricksSettings struct {
	Tap              string   `json:"tap"`
	Bricks           int      `json:"bricks"`
	Pattern          string   `json:"pattern"`
	Threshold        *float32 `json:"threshold,omitempty"`
	Restarts         int      `json:"restarts"`
	Seed             uint64   `json:"seed"`
	Mass             string   `json:"mass"`
	GroupKey         string   `json:"group_key"`
	PerGroup         int      `json:"questions_per_group,omitempty"`
	RandomSets       int      `json:"random_sets"`
	RandomPartitions int      `json:"random_partitions"`
	Resamples        int      `json:"bootstrap_resamples"`
	Ctx              int      `json:"ctx"`
	MaxTokens        int64    `json:"max_tokens,omitempty"`
	IncludeBOS       bool     `json:"include_bos"`
	Intervention     string   `json:"intervention"`
	ClaimMeasure     string   `json:"claim_measure"`
}

// bricksFile is bricks.json: the partition, its brick × group analysis against random
// partitions, and the brick × group ablation matrices.
type bricksFile struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Inputs        []labels.Input    `json:"inputs"`
	Settings      bricksSettings    `json:"settings"`
	// CoActivation counts the dataset's tokens the partition was computed from.
	CoActivation spectra.Stats     `json:"coactivation"`
	Partition    *bricks.Partition `json:"partition"`
	Analysis     *bricks.Report    `json:"analysis"`
	Matrices     []labels.Matrix   `json:"matrices"`
}

func newBricksCmd() *cobra.Command {
	var mf modelFlags
	var f bricksFlags
	cmd := &cobra.Command{
		Use: "bricks --model DIR --data FILE [--layer L] [--k 16] [--seed 1] --group-key KEY --eval FILE " +
			"[--text FILE.jsonl] [--random 10] [--per-group N] --out DIR",
		Short: "Partition a layer's neurons into functional bricks by co-activation, and test which groups each brick serves",
		Long: `Bricks partitions the neurons of one layer (blocks.L.mlp.hook_post, or --hook-site) into --k functional
groups from how they co-activate over --data (package probes/bricks): k-means on the neurons' normalised
activation patterns (Pearson correlation of the values, or with --pattern firing of the indicators
x > --threshold), seeded k-means++ with --restarts restarts; neurons constant over the data belong to
no brick. BOS positions are left out unless --include-bos.

Each brick is then characterised by the groups of the --eval items (--group-key: relation, language,
...): its share of activation mass per group (mean |x| per token, or max(x, 0) with --mass positive)
and its specialisation 1 − H(share)/ln G; each group's sparsity over the bricks; both compared with
--random-partitions random partitions of the same brick sizes (empirical p-values). Then every brick
is zero-ablated and every group's questions measured (relative accuracy drop; perplexity ratio of the
--text groups): the brick × group matrix of package ablate, against --random random neuron sets of
the brick's size at the same layer. Each brick is labelled with the group it serves most, and that
claim is verified from its row (selectivity against the random sets, p-value, bootstrap CI, verdict),
as 'neuronscope verify' verifies a finder's group.

Output (--out DIR): bricks.json (neuronscope.bricks/v1: partition, analysis, matrices, settings,
provenance), labels.json (neuronscope.labels/v1: a label per brick; 'neuronscope report --labels'
draws it) and neurons.json (the bricks as a neuronscope.neurons/v1 set, for verify and steer).`,
		Example: `  neuronscope bricks --model testdata/world-llama --data testdata/world/train.txt --layer 2 --k 16 --group-key language --eval testdata/world/eval_facts.jsonl --text testdata/world/eval_fluency.jsonl --out bricks-language
  neuronscope bricks --model testdata/world-llama --data testdata/world/train.txt --group-key relation --eval testdata/world/eval_facts.jsonl --per-group 40 --pattern firing --out bricks-relation`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBricks(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "dataset the co-activation is measured on: FILE.txt (a document per line) or FILE.jsonl")
	fl.IntVar(&f.layer, "layer", -1, "the layer to partition (default: the middle layer, n_layers/2)")
	fl.StringVar(&f.site, "hook-site", "mlp.hook_post", "the tap whose units are partitioned")
	fl.IntVar(&f.k, "k", 16, "number of bricks")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of k-means++, the random partitions, the random neuron sets and the bootstrap")
	fl.IntVar(&f.restarts, "restarts", 10, "k-means++ initialisations (the lowest inertia wins)")
	fl.StringVar(&f.pattern, "pattern", "values", "activation pattern compared: values (Pearson correlation) or firing (x > --threshold)")
	fl.Float32Var(&f.threshold, "threshold", 0, "firing threshold of --pattern firing")
	fl.StringVar(&f.groupKey, "group-key", "", "the label of the --eval items (and --text lines) that names the groups, e.g. language or relation")
	fl.StringVar(&f.eval, "eval", "", "labelled questions, JSONL with prompt, answer and labels (e.g. the world's eval_facts.jsonl)")
	fl.StringVar(&f.text, "text", "", "labelled texts (.jsonl whose lines carry the group label) for a perplexity column per group")
	fl.StringVar(&f.claim, "claim-measure", "accuracy", "the verification that gives each brick's verdict: accuracy (the questions) or perplexity (the --text groups); both are recorded")
	fl.StringVar(&f.mass, "mass", "abs", "activation mass per token: abs (|x|) or positive (max(x, 0))")
	fl.IntVar(&f.perGroup, "per-group", 0, "use at most N questions of each group (the first in file order; 0: all)")
	fl.IntVar(&f.random, "random", ablate.DefaultRandom, "random neuron sets of each brick's size per brick (at least 2)")
	fl.IntVar(&f.partitions, "random-partitions", 1000, "random partitions of the bricks' sizes for the specialisation and sparsity controls")
	fl.IntVar(&f.resamples, "resamples", ablate.DefaultResamples, "bootstrap resamples of each verification's 95% CI")
	fl.IntVar(&f.ctx, "ctx", 64, "context length of --data in tokens")
	fl.IntVar(&f.batch, "batch", 8, "contexts of --data per forward pass")
	fl.Int64Var(&f.maxTokens, "max-tokens", 0, "read at most this many tokens of --data (0: all)")
	fl.IntVar(&f.evalBatch, "eval-batch", corpus.DefaultPromptBatch, "questions per forward pass of the matrix")
	fl.IntVar(&f.workers, "workers", 1, "interventions run at once")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for text: auto, always, never")
	fl.BoolVar(&f.includeBOS, "include-bos", false, "count BOS positions in the co-activation and the group masses")
	fl.StringVar(&f.out, "out", "", "output directory")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	return cmd
}

// checkBricksFlags checks the flags that need no model.
func checkBricksFlags(f *bricksFlags) (bricks.Pattern, bricks.Mass, error) {
	switch {
	case f.data == "":
		return 0, 0, usagef("--data is required (the dataset the co-activation is measured on)")
	case f.eval == "":
		return 0, 0, usagef("--eval is required (the labelled questions the bricks are characterised on)")
	case f.groupKey == "":
		return 0, 0, usagef("--group-key is required (the --eval label that names the groups)")
	case !corpus.IsDataFile(f.data):
		return 0, 0, usagef("--data %s: must end in .jsonl or .txt", f.data)
	}
	if err := checkRanges(intAtLeast("--k", f.k, 1), intAtLeast("--restarts", f.restarts, 1), intAtLeast("--random", f.random, 2),
		intAtLeast("--random-partitions", f.partitions, 1), intAtLeast("--resamples", f.resamples, 1), intAtLeast("--per-group", f.perGroup, 0),
		intAtLeast("--ctx", f.ctx, 2), intAtLeast("--batch", f.batch, 1), intAtLeast("--eval-batch", f.evalBatch, 1),
		intAtLeast("--workers", f.workers, 1), intAtLeast("--max-tokens", int(min(f.maxTokens, 1<<40)), 0), intAtLeast("--layer", f.layer, -1)); err != nil {
		return 0, 0, err
	}
	var pat bricks.Pattern
	switch f.pattern {
	case "values":
	case "firing":
		pat = bricks.Firing
	default:
		return 0, 0, usagef("--pattern %q: want values or firing", f.pattern)
	}
	switch {
	case f.claim != "accuracy" && f.claim != "perplexity":
		return 0, 0, usagef("--claim-measure %q: want accuracy or perplexity", f.claim)
	case f.claim == "perplexity" && f.text == "":
		return 0, 0, usagef("--claim-measure perplexity needs --text (the texts whose perplexity is measured)")
	}
	var mass bricks.Mass
	switch f.mass {
	case "abs":
	case "positive":
		mass = bricks.PositiveMass
	default:
		return 0, 0, usagef("--mass %q: want abs or positive", f.mass)
	}
	for _, p := range []struct{ flag, path string }{{"--data", f.data}, {"--eval", f.eval}, {"--text", f.text}} {
		if p.path != "" {
			if _, err := os.Stat(p.path); err != nil {
				return 0, 0, usagef("%s: %v", p.flag, err)
			}
		}
	}
	return pat, mass, nil
}

// readGroupedPrompts reads a labelled prompt set whose items are grouped by key: an item
// without the label, or with an empty value, is a usage error naming flag and the file; with
// perGroup > 0 only the first perGroup items of each group are kept. It returns the set and
// the sorted group names.
func readGroupedPrompts(flag, path string, enc corpus.Encoder, key string, perGroup int) (*corpus.PromptSet, []string, error) {
	qs, err := corpus.ReadPromptSet(path, enc, corpus.PromptOptions{MultiToken: true})
	if err != nil {
		return nil, nil, usagef("%s: %v", flag, err)
	}
	names, err := qs.Groups(key)
	if err != nil {
		return nil, nil, usagef("%s: %v (give the label with --group-key / --label-key)", flag, err)
	}
	for i, it := range qs.Items {
		if strings.TrimSpace(it.Labels[key]) == "" {
			return nil, nil, usagef("%s %s: item %d (%s) has an empty %q label: an empty group", flag, path, i, it.ID, key)
		}
	}
	if perGroup > 0 {
		taken := map[string]int{}
		qs = qs.Filter(func(p corpus.Prompt) bool {
			taken[p.Labels[key]]++
			return taken[p.Labels[key]] <= perGroup
		})
	}
	return qs, names, nil
}

func runBricks(cmd *cobra.Command, mf *modelFlags, f *bricksFlags) (rerr error) {
	pat, mass, err := checkBricksFlags(f)
	if err != nil {
		return err
	}
	site, err := hooks.ParseSite(f.site)
	if err != nil || !site.PerLayer() {
		return usagef("--hook-site %q: want a per-layer tap such as mlp.hook_post", f.site)
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	if err := checkOutDir("--out", f.out); err != nil {
		return err
	}
	m, err := mf.load(cmd)
	if err != nil {
		return err
	}
	defer m.Close()
	if f.layer < 0 {
		f.layer = m.Config.NLayers / 2
	}
	if f.layer >= m.Config.NLayers {
		return usagef("--layer %d: the model has layers 0..%d", f.layer, m.Config.NLayers-1)
	}
	pt := hooks.At(f.layer, site)
	if cat := m.Catalog(); !cat.Has(pt) || len(cat.Shape(pt)) != 1 {
		return usagef("--hook-site %s: this model has no per-token tap %s", f.site, pt)
	}
	width := m.Catalog().Width(pt)
	if f.k > width {
		return usagef("--k %d: %s has only %d units", f.k, pt, width)
	}
	if f.ctx > m.Config.MaxPos {
		if cmd.Flags().Changed("ctx") {
			return usagef("--ctx %d is longer than the model's %d positions", f.ctx, m.Config.MaxPos)
		}
		f.ctx = m.Config.MaxPos
	}
	tok, err := loadTokenizer(m)
	if err != nil {
		return err
	}
	enc := corpus.NewEncoder(m, tok, policy)
	qs, names, err := readGroupedPrompts("--eval", f.eval, enc, f.groupKey, f.perGroup)
	if err != nil {
		return err
	}
	var texts *ablate.TextSet
	if f.text != "" {
		if texts, err = ablate.ReadTextSet(f.text, enc, m.Config.MaxPos, f.groupKey, ""); err != nil {
			return usagef("--text: %v", err)
		}
		if _, err := texts.Groups(f.groupKey); err != nil {
			return usagef("--text: %v", err)
		}
	}
	var inputs []labels.Input
	for _, in := range []struct{ role, path string }{{"data", f.data}, {"eval", f.eval}, {"text", f.text}} {
		if in.path == "" {
			continue
		}
		h, err := labels.HashInput(in.role, in.path)
		if err != nil {
			return usagef("--%s: %v", in.role, err)
		}
		inputs = append(inputs, h)
	}
	copt := corpus.ContextOptions{Ctx: f.ctx, MaxTokens: f.maxTokens}
	contexts := func(yield func(corpus.Context) error) error {
		return corpus.Contexts(corpus.FileDocuments(f.data), enc, copt, yield)
	}
	total, _, err := corpus.CountTokens(corpus.FileDocuments(f.data), enc, copt)
	if err != nil {
		return inputError(err)
	}
	if total < 2 {
		return usagef("--data %s has %d tokens: the co-activation needs more", f.data, total)
	}
	// Everything is read: only now does the output directory appear.
	cleanup, err := makeOutDir(f.out)
	if err != nil {
		return err
	}
	defer func() {
		if rerr != nil {
			cleanup()
		}
	}()

	// 1. Co-activation over the dataset, and the partition.
	co := bricks.NewCoActivation(width, bricks.CoActivationOptions{Pattern: pat, Threshold: f.threshold})
	sopt := spectra.StreamOptions{Batch: f.batch, PadID: max(m.Config.Pad, 0), IncludeBOS: f.includeBOS}
	if !f.noProgress {
		bar := newBar(cmd, total, "co-activation", "tok")
		sopt.After = func(b *corpus.Batch, _ spectra.Stats) error { return bar.Add64(b.Tokens()) }
		defer bar.Finish()
	}
	st, err := bricks.CoActivate(m, pt, co, contexts, sopt)
	if err != nil {
		return inputError(err)
	}
	corr, constant, err := co.Correlation()
	if err != nil {
		return usagef("--data %s: %v", f.data, err)
	}
	part, err := bricks.Cluster(corr, constant, bricks.PartitionOptions{Bricks: f.k, Seed: f.seed, Restarts: f.restarts})
	if err != nil {
		return usagef("--k %d: %v", f.k, err)
	}

	// 2. The brick × group activation share against random partitions.
	groupOf := make([]int, len(qs.Items))
	for i, it := range qs.Items {
		groupOf[i], _ = slices.BinarySearch(names, it.Labels[f.groupKey])
	}
	gm := bricks.NewGroupMass(width, len(names), mass)
	bos := m.Config.BOS
	if f.includeBOS {
		bos = -1
	}
	if err := bricks.AddGroupMass(gm, m, pt, qs.Prompts(), groupOf, bos, f.evalBatch); err != nil {
		return err
	}
	analysis, err := bricks.Analyze(part, gm, bricks.AnalyzeOptions{RandomPartitions: f.partitions, Seed: f.seed, Groups: names, Layer: f.layer})
	if err != nil {
		return usagef("--eval %s: %v", f.eval, err)
	}

	// 3. The ablation matrix (zero each brick at every position) against random sets.
	eo := ablate.EvalOptions{BatchSize: f.evalBatch, Workers: f.workers}
	if !f.noProgress {
		bar := newBar(cmd, -1, "ablation matrix", "items")
		defer bar.Finish()
		eo.Progress = func(n int) { bar.Add(n) }
	}
	e, err := ablate.NewEval(m, qs, texts, eo)
	if err != nil {
		return usageError{err}
	}
	sets := part.Sets(pt, nil)
	mo := ablate.MatrixOptions{Key: f.groupKey, TextKey: f.groupKey, Random: f.random, Seed: f.seed, Resamples: f.resamples}
	mr, err := ablate.Matrix(e, sets, mo)
	if err != nil {
		return err
	}
	var matrices []labels.Matrix
	for _, t := range []*labels.Matrix{mr.Questions, mr.Texts} {
		if t != nil {
			t.Name = fmt.Sprintf("%d bricks of %s × %s groups (%s)", len(sets), pt, f.groupKey, t.Measure)
			matrices = append(matrices, *t)
		}
	}

	// 4. A label per brick: the group it serves most, verified from its row.
	lf := &labels.File{SchemaVersion: labels.Schema, Inputs: inputs, Matrices: matrices}
	kind := labels.KindConcept
	switch f.groupKey {
	case "relation":
		kind = labels.KindRelation
	case "language":
		kind = labels.KindLanguage
	}
	finder := fmt.Sprintf("bricks: k-means (k=%d, seed %d) of the %s co-activation of %s over %s", f.k, f.seed, pat, pt, f.data)
	for b, br := range analysis.Bricks {
		group := names[br.Top]
		var vs []labels.Verification
		for _, onTexts := range []bool{f.claim == "perplexity", f.claim != "perplexity"} {
			if onTexts && texts == nil {
				continue
			}
			if onTexts && !slices.Contains(mr.Texts.Groups, group) {
				continue // no text of the group: the claim is verified on the questions only
			}
			v, err := mr.VerifyClaim(e, b, group, onTexts, mo)
			if err != nil {
				return err
			}
			vs = append(vs, *v)
		}
		l := labels.Label{Set: sets[b].Name, Claim: labels.Claim{Kind: kind, Key: f.groupKey, Value: group},
			Evidence: labels.Evidence{Finder: finder, Source: "neurons.json", Population: width,
				PerLayer: fmt.Sprintf("L%d:%d", f.layer, br.Size)},
			Verifications: vs}
		for i, n := range sets[b].Neurons {
			share := br.TopShare
			u := labels.UnitOf(n.Neuron, i+1, width)
			u.Score = &share
			l.Units = append(l.Units, u)
		}
		l.Claim.Description = fmt.Sprintf("%s: %d units of %s, %.0f%% of its activation mass on %s=%s (specialisation %.2f)",
			l.Set, br.Size, pt, 100*br.TopShare, f.groupKey, group, br.Specialisation)
		if len(vs) > 0 {
			v := vs[0]
			l.Verdict = v.Verdict
			l.Claim.Description += fmt.Sprintf("; zero-ablating it changes %s by %+.1f%% on %s vs %+.1f%% on the other groups: %s (p %.3g)",
				v.Measure, 100*v.Target, group, 100*others(&v), v.Verdict, v.P)
		}
		lf.Labels = append(lf.Labels, l)
	}

	// 5. Outputs, all or none.
	prov := m.Provenance()
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.BOSPolicy = enc.PolicyNote()
	prov.Padding = fmt.Sprintf("data: right (pads never counted); questions: left (%d per batch)", f.evalBatch)
	prov.Dataset = fmt.Sprintf("co-activation: %s, %d tokens in %d contexts (%d BOS positions left out); groups: %s, %d questions",
		f.data, st.Tokens, st.Contexts, st.BOSExcluded, f.eval, len(qs.Items))
	prov.HooksAsked, prov.HooksFired = []string{pt.String()}, []string{pt.String()}
	lf.Provenance = prov
	set := bricksSettings{Tap: pt.String(), Bricks: f.k, Pattern: pat.String(), Restarts: f.restarts, Seed: f.seed, Mass: mass.String(),
		GroupKey: f.groupKey, PerGroup: f.perGroup, RandomSets: f.random, RandomPartitions: f.partitions, Resamples: f.resamples,
		Ctx: f.ctx, MaxTokens: f.maxTokens, IncludeBOS: f.includeBOS, Intervention: "zero at every position", ClaimMeasure: f.claim}
	if pat == bricks.Firing {
		th := f.threshold
		set.Threshold = &th
	}
	lf.Settings = set
	ns := &hooks.NeuronSet{Method: finder, Tap: site, Groups: sets, Settings: set, Provenance: &prov}
	out := bricksFile{SchemaVersion: bricksSchema, Provenance: prov, Inputs: inputs, Settings: set, CoActivation: st,
		Partition: part, Analysis: analysis, Matrices: matrices}
	if err := report.WriteFiles(
		report.File{Path: filepath.Join(f.out, "bricks.json"), Write: func(w io.Writer) error { return report.WriteJSON(w, out) }},
		report.File{Path: filepath.Join(f.out, "labels.json"), Write: lf.Write},
		report.File{Path: filepath.Join(f.out, "neurons.json"), Write: ns.Write}); err != nil {
		return err
	}
	printBricks(cmd.OutOrStdout(), analysis, names, f.groupKey, matrices, lf)
	fmt.Fprintf(cmd.OutOrStdout(), "wrote bricks.json, labels.json and neurons.json to %s\n", f.out)
	return nil
}

// others is the mean effect on the other groups of a verification (0 without others).
func others(v *labels.Verification) float64 {
	if v.Others == nil {
		return 0
	}
	return *v.Others
}

// printBricks prints the bricks with their shares, the layer statistics, the matrices and
// the label verdicts.
func printBricks(w io.Writer, a *bricks.Report, names []string, key string, matrices []labels.Matrix, lf *labels.File) {
	fmt.Fprintf(w, "activation share per brick (rows) and %s (columns); * the brick's top group\n%-9s %5s", key, "brick", "size")
	for _, n := range names {
		fmt.Fprintf(w, " %9.9s", n)
	}
	fmt.Fprintf(w, " %7s\n", "spec.")
	for _, b := range a.Bricks {
		fmt.Fprintf(w, "%-9s %5d", bricks.BrickName(b.Index), b.Size)
		for g, s := range b.Share {
			mark := " "
			if g == b.Top {
				mark = "*"
			}
			fmt.Fprintf(w, " %7.1f%%%s", 100*s, mark)
		}
		fmt.Fprintf(w, " %7.3f\n", b.Specialisation)
	}
	c := func(name string, x bricks.Control) {
		fmt.Fprintf(w, "%s %.4f vs %.4f ± %.4f over %d random partitions of the same sizes (p %.3g)\n", name, x.Observed, x.Mean, x.SD, x.R, x.P)
	}
	fmt.Fprintln(w)
	c("mean specialisation of the bricks:", a.Specialisation)
	c("mean sparsity of the groups:      ", a.Sparsity)
	fmt.Fprintln(w)
	for i := range matrices {
		fmt.Fprintln(w, matrices[i].Table())
	}
	fmt.Fprint(w, lf.Table())
}
