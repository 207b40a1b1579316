package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/profile"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newVerifyCmd) }

// verifyFlags are the flags of `neuronscope verify`.
type verifyFlags struct {
	klFlags
	units                                      unitFlags
	neurons, eval, groupKey, textKey, site     string
	texts                                      []string
	experiment, intervention, statistic, force string
	measure                                    string
	value, factor                              float32
	positions, groups                          string
	top                                        int
	random, resamples, batch, workers, answers int
	seed                                       uint64
	minEffect, margin, alpha                   float64
	ks                                         string
	pairs, patchPoints                         string
	back                                       bool
	bos, tokenizer, profileDir, out            string
	asJSON, noProgress                         bool
	img                                        imageFlags
	general, randomPool, facts, compare        string
	permutations                               int
}

func newVerifyCmd() *cobra.Command {
	var mf modelFlags
	var f verifyFlags
	cmd := &cobra.Command{
		Use: "verify --model DIR --neurons FILE (--eval FILE [--group-key KEY] | --text GROUP=FILE ... | --facts FILE | --images FILE) " +
			"[--experiment matrix|sweep|enhance|steer|patch|path|knowledge] [--intervention zero|mean|resample|clamp|scale|force] --out labels.json",
		Short: "Verify a finder's neuron groups with causal experiments against random neuron sets, and write labels",
		Example: `  neuronscope demo --out demo
  neuronscope verify --model testdata/world-llama --neurons demo/neurons.json --eval testdata/world/eval_facts.jsonl --experiment matrix,sweep --out labels.json
  neuronscope verify --model testdata/world-llama --neurons demo/neurons.json --eval testdata/world/eval_facts.jsonl --experiment enhance --intervention scale --json
  neuronscope verify --model testdata/world-llama --neurons demo/concept.json --eval testdata/world/concept_task.jsonl --group-key continent --experiment matrix,enhance --measure answer_prob --out concept-labels.json
  neuronscope verify --model testdata/world-llama --neurons demo/paths.json --eval testdata/world/eval_facts.jsonl --experiment path --compare relation,language --out path-labels.json
  neuronscope verify --model vit-dir --neurons vit-paths.json --images val.jsonl --experiment path --out vit-path-labels.json
  neuronscope verify --model testdata/world-llama --neurons feature-set.json --features snmf --eval testdata/world/eval_facts.jsonl --out feature-labels.json
  neuronscope verify --model testdata/world-llama --neurons latent-set.json --sae sae-topk --eval testdata/world/eval_facts.jsonl --intervention clamp --value 0 --out latent-labels.json`,
		Long: `Verify reads a neuron set (neuronscope.neurons/v1: named groups, as every finder writes) and checks
each group's claim with one experiment, against --random random sets with the same per-layer counts at
the same tap (seeds --seed, --seed+1, ...). It writes a label file (neuronscope.labels/v1): per group the
claim, the finder's evidence (score, rank, percentile; top examples and LM-head/DLA tokens with
--profile) and the verification (effect, random mean ± sd, empirical p = (#random ≥ effect + 1)/(n + 1),
effect size, bootstrap 95% CI over items, verdict), plus the experiment's full results.

Experiments:
  matrix   intervene on each group's neurons, measure every group of the eval items (greedy accuracy:
           relative drop (acc_before − acc_after)/acc_before) and of the --text items (perplexity ratio);
           interference (other groups improving) is listed
  sweep    the same for the top k of each group, k over --ks (cumulativity), with the random band
  enhance  the matrix of scaling each group ×--factor (default 2), on the answer probability
           (ratio of means mean(P_after − P_before)/mean(P_before))
  steer    add α × (unit direction along the group's neurons), α found by binary search so that
           KL(base ‖ steered) at --prompt reaches each --kl target, both signs; unreachable targets
           are reported
  patch    activation patching on --pairs: the corrupted prompts run with each group's neurons
           (and every unit of each --patch-points point) taken from the clean run of the pair,
           recovered = (M_patched − M_corrupt)/(M_clean − M_corrupt) with M = log P(answer) or
           logit(answer) − logit(corrupt_answer) at the last position; --back noises instead
  path     a find path set (its settings hold each prompt's position and target; --eval is the
           file it was found on): each prompt's path, activation-argmax and top-K lists removed
           (×0) and enhanced (×2) at its position, NeuronPath's probability deviation
           mean(P_after/P_before) − 1 and the top-1 change against --random random paths per
           prompt (same per-layer counts), the path against each baseline item by item
           (bootstrap CI and p), and the path similarity by --compare labels (permutation p).
           For an image classifier give the images instead of --eval (--images FILE.jsonl or
           --image FILE, as find path ran on): the paths act at each image's CLS token and
           top-1 is classification accuracy
  knowledge  a find knowledge set on its --facts: each fact's neurons removed and enhanced at
           the last position of its own prompts and of another relation's fact's, Dai et al.'s
           ratio of means mean(P_after − P_before)/mean(P_before) per relation, own − other
           against random lists per fact; a label per fact

Interventions (--intervention, at --positions all|last|0,2,-1): zero; mean (over every real position of
the eval items); resample (from a random item of another group, same position counted from the end of
the prompt); clamp (to --value); scale (×--factor); force (to the --statistic median|mean of each item's
mean activation over the items of --force-group, default each set's own group).

Verdicts (see package ablate): no_effect if the effect on the claimed group is below --min-effect;
confirmed if the selectivity (effect on the group minus the mean effect on the others) is ≥ --margin
random std above the random mean, p ≤ --alpha and the CI's lower end is above the random mean;
inconclusive if it clears the margin but the random sets or items are too few; else not_selective.
With the default 10 random sets the smallest p is 1/11 ≈ 0.091 (use --random 19 --alpha 0.05 for the
conventional level).

--group-key is inferred when the set's group names are values of exactly one label of the eval file.
--general names a group claimed for every group of items (CULNIG's culture-general neurons; default
"general" for a find concept set): it is verified on all items pooled. Empty groups are labelled
without a verification. Random sets keep the claimed set's count at every layer and tap;
--random-pool draws them as CULNIG's code does, the same total size from every unit of the named taps.

Features and latents are units too: a set whose tap (or entry tap) is mlp.hook_post.snmf names SNMF
features by index (give --features DIR, fitted at that layer's mlp.hook_post), one whose tap is
mlp.hook_post.sae.hook_sae_acts_post names SAE latents (give --sae DIR, an SAE at mlp.hook_post).
The matrix, sweep and enhance experiments then zero features by projecting their span out of
mlp.hook_post (scale multiplies that component; clamp is refused, having no unique meaning for
non-orthogonal features), and zero, clamp or scale latents through the SAE spliced in with its error
term (at every position); random controls are random units of the same decomposition. Labels and
verdicts name the units (e.g. blocks.2.mlp.hook_post.snmf[7]). To steer along one feature or latent use
'neuronscope steer --features/--sae'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerify(cmd, &mf, &f) },
	}
	mf.register(cmd)
	f.img.register(cmd, true)
	fl := cmd.Flags()
	f.units.register(cmd, "--neurons holds units of")
	fl.StringVar(&f.neurons, "neurons", "", "neuron set file (neuronscope.neurons/v1, or a bare [{layer,index}] list at --hook-site)")
	fl.StringVar(&f.eval, "eval", "", "labelled questions, JSONL with prompt, answer and labels (e.g. the world's eval_facts.jsonl)")
	fl.StringVar(&f.groupKey, "group-key", "", "the eval label that names the groups (default: inferred from the set's group names)")
	fl.StringArrayVar(&f.texts, "text", nil, "free text per group for perplexity: GROUP=FILE (.txt or .jsonl), or a .jsonl FILE whose lines carry labels (repeatable)")
	fl.StringVar(&f.textKey, "text-key", "", "the text label that names the groups (default: the group key, or the texts' only label)")
	fl.StringVar(&f.site, "hook-site", "mlp.hook_post", "tap point of a bare [{layer,index}] neuron list")
	fl.StringVar(&f.experiment, "experiment", "matrix", "matrix, sweep, enhance or steer, or several comma-separated (one label file)")
	fl.StringVar(&f.intervention, "intervention", "", "zero (default; scale for enhance), mean, resample, clamp, scale or force")
	fl.Float32Var(&f.value, "value", 0, "the value of --intervention clamp")
	fl.Float32Var(&f.factor, "factor", 2, "the factor of --intervention scale")
	fl.StringVar(&f.statistic, "statistic", "median", "force: median or mean of the per-item mean activation")
	fl.StringVar(&f.force, "force-group", "", "force: the group whose statistic is used (default: each set's own)")
	fl.StringVar(&f.measure, "measure", "", "what the matrix, sweep or enhance reads on the questions: accuracy (default; answer_prob for enhance), answer_prob (ratio of means) or answer_logprob")
	fl.StringVar(&f.positions, "positions", "all", "where to intervene: all, last (the last prompt position) or prompt positions 0,2,-1")
	fl.StringVar(&f.groups, "groups", "", "verify only these groups of the set (comma-separated)")
	fl.IntVar(&f.top, "top", 0, "use only each group's first N neurons (0: all)")
	fl.IntVar(&f.random, "random", ablate.DefaultRandom, "random neuron sets per group (at least 2)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the first random set (and of the bootstrap and resampling)")
	fl.IntVar(&f.resamples, "resamples", ablate.DefaultResamples, "bootstrap resamples of the 95% CI")
	fl.Float64Var(&f.minEffect, "min-effect", ablate.DefaultMinEffect, "effect on the claimed group below which the verdict is no_effect")
	fl.Float64Var(&f.margin, "margin", ablate.DefaultMargin, "random standard deviations the selectivity must clear")
	fl.Float64Var(&f.alpha, "alpha", ablate.DefaultAlpha, "level the empirical p-value must reach")
	fl.StringVar(&f.pairs, "pairs", "", `patch: clean/corrupted prompt pairs, JSONL {"clean","corrupt","answer"[,"corrupt_answer"]}`)
	fl.StringVar(&f.patchPoints, "patch-points", "", "patch: also patch every unit of each hook point these patterns name (e.g. 'blocks.*.mlp.hook_post'), without random controls")
	fl.BoolVar(&f.back, "back", false, "patch: write corrupted values into the clean runs (noising) instead of clean into corrupted")
	fl.StringVar(&f.ks, "ks", "", "sweep: the k grid, comma-separated (default 10,50,200,500,1000,3000,... up to the group's size)")
	f.klFlags.register(fl, "steer: ", 0)
	fl.IntVar(&f.answers, "answer-tokens", 1, "greedy tokens generated per question; right when they are a prefix of the answer")
	fl.IntVar(&f.batch, "batch", corpus.DefaultPromptBatch, "items per forward pass")
	fl.IntVar(&f.workers, "workers", 1, "interventions run at once")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for prompts and texts: auto, always, never")
	fl.StringVar(&f.tokenizer, "tokenizer", "", "tokenizer.json (default: the model directory's)")
	fl.StringVar(&f.profileDir, "profile", "", "a profile of the model (neuronscope profile --out DIR): adds top examples and LM-head/DLA tokens to the evidence")
	fl.StringVar(&f.out, "out", "", "label file to write (atomically)")
	fl.BoolVar(&f.asJSON, "json", false, "print the label file to stdout instead of tables")
	fl.BoolVar(&f.noProgress, "no-progress", false, "no progress bar")
	fl.StringVar(&f.general, "general", "", `a group claimed for every group of items, verified on all of them pooled (default: "general" for a find concept set)`)
	fl.StringVar(&f.randomPool, "random-pool", "", "draw random sets as CULNIG does: the set's size from every unit of these taps at every layer (e.g. mlp.hook_pre,attn.q,attn.k,attn.v), instead of per layer and tap")
	fl.StringVar(&f.facts, "facts", "", "knowledge: the facts the knowledge neurons were found for (find knowledge --data)")
	fl.StringVar(&f.compare, "compare", "", "path: labels whose same/different values the path similarity compares (comma-separated; default: find path's --compare)")
	fl.IntVar(&f.permutations, "permutations", 1000, "path: label shuffles of the path-similarity test")
	return cmd
}

// verifyInputs are the loaded inputs of verify.
type verifyInputs struct {
	m      *model.Model
	units  *ablate.Decompositions // the set's features or latents (--features, --sae), or nil
	enc    corpus.Encoder
	tok    *tokenizer.Tokenizer
	set    *hooks.NeuronSet
	qs     *corpus.PromptSet
	texts  *ablate.TextSet
	key    string
	tkey   string
	inputs []labels.Input
	notes  []string
	// paths, facts and compare are the inputs of the path and knowledge experiments.
	paths   []ablate.PathItem
	facts   []ablate.KnowledgeItem
	compare []string
}

func runVerify(cmd *cobra.Command, mf *modelFlags, f *verifyFlags) error {
	if f.img.given() {
		return runVerifyImages(cmd, mf, f)
	}
	mf.text = "verify with --eval, --text or --facts"
	if err := checkVerifyFlags(f); err != nil {
		return err
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	in, err := loadVerifyInputs(cmd, mf, f)
	if err != nil {
		return err
	}
	defer in.m.Close()
	opt, err := verifyOptions(f, in)
	if err != nil {
		return err
	}
	exps := strings.Split(f.experiment, ",")
	exps0 := exps
	var lf *labels.File
	if itemExperiment(exps) {
		if lf, err = runItemVerify(cmd, in, f, opt); err != nil {
			return err
		}
		exps = nil
	}
	if slices.Contains(exps, expPatch) {
		if lf, err = runPatch(in, f, opt); err != nil {
			return err
		}
		exps = slices.DeleteFunc(exps, func(e string) bool { return e == expPatch })
	}
	eo := ablate.EvalOptions{BatchSize: f.batch, AnswerTokens: f.answers, Workers: f.workers,
		LogProb: slices.Contains(exps, ablate.ExpEnhance) || slices.Contains(exps, ablate.ExpSteer) || strings.HasPrefix(f.measure, "answer_")}
	if !f.noProgress {
		bar := newBar(cmd, -1, "verify", "items")
		defer bar.Finish()
		eo.Progress = func(n int) { bar.Add(n) }
	}
	var e *ablate.Eval
	if len(exps) > 0 {
		if e, err = ablate.NewEval(in.m, in.qs, in.texts, eo); err != nil {
			return usageError{err}
		}
	}
	if len(exps) > 0 {
		res, err := ablate.VerifyExperiments(e, in.set, exps, opt)
		var ue *ablate.UnreachableError
		if errors.As(err, &ue) {
			return usagef("--alpha-lo/--alpha-hi: %v", err)
		}
		if err != nil {
			return err
		}
		if lf == nil {
			lf = res
		} else {
			lf.Merge(res)
		}
	}
	if f.profileDir != "" {
		rep, err := profile.ReadReport(filepath.Join(f.profileDir, "profile.json"))
		if err != nil {
			return usagef("--profile: %v", err)
		}
		if a, b := rep.Provenance.ConfigHash, in.m.Provenance().ConfigHash; a != "" && a != b {
			return usagef("--profile %s: a profile of a different model (config sha256 %.12s…, model dir %s; --model's is %.12s…)",
				f.profileDir, a, rep.Provenance.ModelDir, b)
		}
		if miss := ablate.AttachProfile(lf, rep, 3); miss > 0 {
			in.notes = append(in.notes, fmt.Sprintf("the profile covers %d fewer units than the labels", miss))
		}
	}
	lf.Provenance = in.m.Provenance()
	seed := int64(f.seed)
	lf.Provenance.Seed = &seed
	lf.Provenance.BOSPolicy = in.enc.PolicyNote()
	lf.Provenance.Padding = fmt.Sprintf("left (items ordered by length, %d per batch)", f.batch)
	lf.Provenance.Dataset = strings.Join(inputPaths(in.inputs, "neurons"), ", ")
	lf.Inputs = in.inputs
	positions := opt.At.String()
	if itemExperiment(exps0) {
		positions = map[string]string{expPath: "each prompt's attributed position", expKnowledge: "last"}[f.experiment]
	}
	lf.Settings = verifySettings{Experiment: f.experiment, Intervention: f.intervention, Positions: positions, GroupKey: in.key,
		TextKey: in.tkey, Random: opt.Random, Seed: f.seed, Resamples: f.resamples, MinEffect: f.minEffect, Margin: f.margin,
		Alpha: f.alpha, AnswerTokens: f.answers, Notes: in.notes}
	if f.out != "" {
		if err := lf.WriteFile(f.out); err != nil {
			return err
		}
	}
	if f.asJSON {
		return lf.Write(cmd.OutOrStdout())
	}
	printLabels(cmd.OutOrStdout(), lf, in.notes)
	if f.out != "" {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", f.out)
	}
	return nil
}

// expPatch is the activation-patching experiment (verify's only experiment outside ablate.Verify).
const expPatch = "patch"

// runPatch runs the patching experiment on --pairs.
func runPatch(in *verifyInputs, f *verifyFlags, opt ablate.VerifyOptions) (*labels.File, error) {
	pairs, err := ablate.ReadPairs(f.pairs, in.enc)
	if err != nil {
		return nil, usagef("--pairs: %v", err)
	}
	h, err := labels.HashInput("pairs", f.pairs)
	if err != nil {
		return nil, usagef("--pairs: %v", err)
	}
	in.inputs = append(in.inputs, h)
	var points []hooks.Point
	if f.patchPoints != "" {
		if points, err = in.m.Catalog().MatchAll(splitPatterns([]string{f.patchPoints})); err != nil {
			return nil, usagef("--patch-points: %v", err)
		}
		for _, p := range points {
			if !p.Site.PerLayer() {
				return nil, usagef("--patch-points: %s is not a per-layer hook point", p)
			}
		}
	}
	lf, err := ablate.VerifyPatch(in.m, in.set, pairs, points, ablate.PatchOptions{At: opt.At, Back: f.back, Random: opt.Random,
		Seed: opt.Seed, Resamples: opt.Resamples, Verdict: opt.Verdict, BatchSize: f.batch}, "", f.neurons)
	if err != nil {
		return nil, err
	}
	return lf, nil
}

// verifySettings are the settings recorded in the label file.
type verifySettings struct {
	Experiment   string   `json:"experiment"`
	Intervention string   `json:"intervention,omitempty"`
	Positions    string   `json:"positions"`
	GroupKey     string   `json:"group_key,omitempty"`
	TextKey      string   `json:"text_key,omitempty"`
	Random       int      `json:"random_sets"`
	Seed         uint64   `json:"seed"`
	Resamples    int      `json:"bootstrap_resamples"`
	MinEffect    float64  `json:"min_effect"`
	Margin       float64  `json:"margin"`
	Alpha        float64  `json:"alpha"`
	AnswerTokens int      `json:"answer_tokens"`
	Notes        []string `json:"notes,omitempty"`
}

func inputPaths(in []labels.Input, skip string) []string {
	var out []string
	for _, i := range in {
		if i.Role != skip {
			out = append(out, i.Path)
		}
	}
	return out
}

// printLabels prints the experiment tables and the labels.
func printLabels(w io.Writer, lf *labels.File, notes []string) {
	for i := range lf.Matrices {
		fmt.Fprintln(w, lf.Matrices[i].Table())
	}
	for i := range lf.Sweeps {
		fmt.Fprintln(w, lf.Sweeps[i].Table())
	}
	for _, st := range lf.Steering {
		fmt.Fprint(w, steeringTable(st))
	}
	for _, p := range lf.Patching {
		fmt.Fprintf(w, "activation patching (%s, %d pairs, positions %s): metric clean %.4g, corrupt %.4g\n", p.Direction, p.Pairs, p.Positions, p.Clean, p.Corrupt)
		for _, s := range p.Sites {
			fmt.Fprintf(w, "  %-40s %8.1f%%  [%+.1f%%, %+.1f%%]\n", s.Site, 100*s.Recovered, 100*s.CI95[0], 100*s.CI95[1])
		}
		fmt.Fprintln(w)
	}
	for i := range lf.ItemEffects {
		fmt.Fprintln(w, lf.ItemEffects[i].Table())
	}
	fmt.Fprint(w, lf.Table())
	for _, l := range lf.Labels {
		for _, v := range l.Verifications {
			for _, n := range v.Notes {
				fmt.Fprintf(w, "note (%s): %s\n", l.Set, n)
			}
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// steeringTable renders a calibration.
func steeringTable(st labels.Steering) string {
	var b strings.Builder
	name := st.Direction
	if st.Set != "" {
		name = st.Set
	}
	fmt.Fprintf(&b, "steering %s at %q (α in [%g, %g], tolerance %g)\n", name, st.BasePrompt, st.Bounds[0], st.Bounds[1], st.Tolerance)
	fmt.Fprintf(&b, "%10s %5s %10s %10s  %s\n", "target KL", "sign", "α", "KL", "reached")
	for _, sp := range st.Targets {
		r := "yes"
		if !sp.Reached {
			r = "NO: " + sp.Why
		}
		fmt.Fprintf(&b, "%10g %+5d %10.4g %10.4g  %s\n", sp.TargetKL, sp.Sign, sp.Alpha, sp.KL, r)
		for _, g := range sp.Generations {
			fmt.Fprintf(&b, "%28s %q → %q\n", "", g.Prompt, g.Text)
		}
	}
	return b.String()
}

func checkVerifyFlags(f *verifyFlags) error {
	if f.neurons == "" {
		return usagef("--neurons is required")
	}
	exps := strings.Split(f.experiment, ",")
	onlyPatch := len(exps) == 1 && exps[0] == expPatch
	if err := checkItemFlags(f, exps); err != nil {
		return err
	}
	if f.eval == "" && len(f.texts) == 0 && !onlyPatch && !slices.Contains(exps, expKnowledge) {
		return usagef("give --eval FILE (questions) or --text GROUP=FILE (texts)")
	}
	if slices.Contains(exps, expPatch) && f.pairs == "" {
		return usagef("--experiment patch needs --pairs FILE")
	}
	if f.out == "" && !f.asJSON {
		return usagef("--out is required (or --json)")
	}
	for _, e := range exps {
		switch e {
		case ablate.ExpMatrix, ablate.ExpSweep, ablate.ExpEnhance, ablate.ExpSteer, expPatch, expPath, expKnowledge:
		default:
			return usagef("--experiment %q: want matrix, sweep, enhance, steer, patch, path or knowledge (or several of the first five, comma-separated)", e)
		}
	}
	switch f.intervention {
	case "", ablate.IvZero, ablate.IvMean, ablate.IvResample, ablate.IvClamp, ablate.IvScale, ablate.IvForce:
	default:
		return usagef("--intervention %q: want zero, mean, resample, clamp, scale or force", f.intervention)
	}
	switch {
	case f.random < 2:
		return usagef("--random %d: want at least 2 (10 or more for a p-value below 0.1)", f.random)
	case f.resamples < 1:
		return usagef("--resamples %d: want at least 1", f.resamples)
	case f.batch < 1:
		return usagef("--batch %d: want at least 1", f.batch)
	case f.workers < 1:
		return usagef("--workers %d: want at least 1", f.workers)
	case f.answers < 1:
		return usagef("--answer-tokens %d: want at least 1", f.answers)
	case f.top < 0:
		return usagef("--top %d: want ≥ 0", f.top)
	case !(f.minEffect > 0):
		return usagef("--min-effect %g: want > 0", f.minEffect)
	case !(f.margin > 0):
		return usagef("--margin %g: want > 0", f.margin)
	case !(f.alpha > 0 && f.alpha < 1):
		return usagef("--alpha %g: want a level in (0, 1)", f.alpha)
	case f.measure != "" && f.measure != "accuracy" && f.measure != "answer_prob" && f.measure != "answer_logprob":
		return usagef("--measure %q: want accuracy, answer_prob or answer_logprob", f.measure)
	case f.statistic != "median" && f.statistic != "mean":
		return usagef("--statistic %q: want median or mean", f.statistic)
	case slices.Contains(strings.Split(f.experiment, ","), ablate.ExpSteer) && f.prompt == "":
		return usagef("--experiment steer needs --prompt (the base prompt the KL is measured at)")
	}
	return nil
}

// checkOut fails early when the output file cannot be written: its directory must exist.
func checkOut(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--out %s: directory %s does not exist", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("--out %s is a directory", path)
	}
	return nil
}

// loadVerifyInputs loads the model, tokenizer, neuron set, questions and texts, and infers the
// group keys.
func loadVerifyInputs(cmd *cobra.Command, mf *modelFlags, f *verifyFlags) (*verifyInputs, error) {
	for _, p := range []struct{ flag, path string }{{"--neurons", f.neurons}, {"--eval", f.eval}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			return nil, usagef("%s: %v", p.flag, err)
		}
	}
	site, err := hooks.ParseSite(f.site)
	if err != nil {
		return nil, usagef("--hook-site: %v", err)
	}
	bos, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return nil, usagef("--bos: %v", err)
	}
	m, err := mf.load(cmd)
	if err != nil {
		return nil, err
	}
	in := &verifyInputs{m: m}
	fail := func(err error) (*verifyInputs, error) { m.Close(); return nil, err }
	if in.tok, err = loadTokenizerFlag(m, f.tokenizer); err != nil {
		return fail(err)
	}
	in.enc = corpus.NewEncoder(m, in.tok, bos)
	if in.set, err = hooks.ReadNeuronSetAt(f.neurons, site); err != nil {
		return fail(usagef("--neurons: %v", err))
	}
	if err := selectGroups(in.set, f.groups, f.top); err != nil {
		return fail(usagef("--neurons %s: %v", f.neurons, err))
	}
	if in.units, err = f.units.decompositions(m, in.set.All()); err != nil {
		return fail(err)
	}
	cat := m.Catalog()
	if in.units != nil {
		cat = ablate.WithUnits(cat, in.units, in.set.All())
	}
	if err := checkNonEmpty(in.set, cat); err != nil {
		return fail(usagef("--neurons %s: %v", f.neurons, err))
	}
	add := func(role, path string) error {
		h, err := labels.HashInput(role, path)
		if err != nil {
			return usagef("%s: %v", role, err)
		}
		in.inputs = append(in.inputs, h)
		return nil
	}
	if err := add("neurons", f.neurons); err != nil {
		return fail(err)
	}
	if itemExperiment(strings.Split(f.experiment, ",")) {
		if err := loadItemInputs(in, f, add); err != nil {
			return fail(err)
		}
		return in, nil
	}
	if f.eval != "" {
		if in.qs, err = corpus.ReadPromptSet(f.eval, in.enc, corpus.PromptOptions{MultiToken: true}); err != nil {
			return fail(usagef("--eval: %v", err))
		}
		if err := add("eval", f.eval); err != nil {
			return fail(err)
		}
		if in.key, err = inferKey(f.groupKey, in.set.Names(), keysOf(in.qs), "--eval "+f.eval, "--group-key"); err != nil {
			return fail(err)
		}
		if _, err := in.qs.Groups(in.key); err != nil {
			return fail(usagef("--eval: %v", err))
		}
	}
	for _, t := range f.texts {
		group, path, ok := strings.Cut(t, "=")
		if !ok || corpus.IsDataFile(t) && !corpus.IsDataFile(path) {
			group, path = "", t
		}
		if path == "" {
			return fail(usagef("--text %q: want GROUP=FILE or FILE.jsonl", t))
		}
		key := f.textKey
		if key == "" {
			key = in.key
		}
		if key == "" {
			key = f.groupKey
		}
		if group != "" && key == "" {
			key = "group"
		}
		ts, err := ablate.ReadTextSet(path, in.enc, m.Config.MaxPos, key, group)
		if err != nil {
			return fail(usagef("--text: %v", err))
		}
		if in.texts == nil {
			in.texts = ts
		} else {
			in.texts.Append(ts)
		}
		if err := add("text", path); err != nil {
			return fail(err)
		}
	}
	if in.texts != nil {
		if in.texts.Truncated > 0 {
			in.notes = append(in.notes, fmt.Sprintf("%d texts were cut to the model's %d positions", in.texts.Truncated, m.Config.MaxPos))
		}
		tk := f.textKey
		if tk == "" && in.key != "" {
			if _, err := in.texts.Groups(in.key); err == nil {
				tk = in.key
			}
		}
		if tk == "" {
			keys := textKeys(in.texts)
			if len(keys) == 1 {
				for k := range keys {
					tk = k
				}
			} else if tk, err = inferKey(f.groupKey, in.set.Names(), keys, "--text", "--text-key"); err != nil {
				return fail(err)
			}
		}
		if _, err := in.texts.Groups(tk); err != nil {
			return fail(usagef("--text: %v (name the label with --text-key)", err))
		}
		in.tkey = tk
		if in.key == "" {
			in.key = tk
		}
	}
	if f.profileDir != "" {
		if err := add("profile", filepath.Join(f.profileDir, "profile.json")); err != nil {
			return fail(err)
		}
	}
	return in, nil
}

// loadTokenizerFlag loads --tokenizer, or the model directory's tokenizer.json.
func loadTokenizerFlag(m *model.Model, path string) (*tokenizer.Tokenizer, error) {
	if path == "" {
		path = filepath.Join(m.Dir, "tokenizer.json")
		if _, err := os.Stat(path); err != nil {
			return nil, usagef("%s has no tokenizer.json; give --tokenizer", m.Dir)
		}
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		return nil, usagef("--tokenizer: %v", err)
	}
	return tok, nil
}

// selectGroups keeps the named groups (comma-separated; empty keeps all) and cuts each to
// its first top neurons (0: all).
func selectGroups(set *hooks.NeuronSet, names string, top int) error {
	if names != "" {
		var keep []hooks.NeuronGroup
		for _, n := range strings.Split(names, ",") {
			n = strings.TrimSpace(n)
			g, ok := set.Group(n)
			if !ok {
				return fmt.Errorf("no group %q (the set has %s)", n, strings.Join(set.Names(), ", "))
			}
			keep = append(keep, hooks.NeuronGroup{Name: n, Neurons: g})
		}
		set.Groups = keep
	}
	if top > 0 {
		*set = *set.Top(top)
	}
	return nil
}

// keysOf lists the label keys every question has, with their values.
func keysOf(qs *corpus.PromptSet) map[string]map[string]bool {
	return labelKeys(len(qs.Items), func(i int) map[string]string { return qs.Items[i].Labels })
}

// textKeys lists the label keys every text has, with their values.
func textKeys(ts *ablate.TextSet) map[string]map[string]bool {
	return labelKeys(len(ts.Items), func(i int) map[string]string { return ts.Items[i].Labels })
}

// labelKeys lists the keys every one of n label maps has, with their values.
func labelKeys(n int, labelsOf func(i int) map[string]string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for k := range labelsOf(0) {
		out[k] = map[string]bool{}
	}
	for i := 0; i < n; i++ {
		ls := labelsOf(i)
		for k := range out {
			v, ok := ls[k]
			if !ok {
				delete(out, k)
				continue
			}
			out[k][v] = true
		}
	}
	return out
}

// inferKey returns the given key, or the one label key whose values include every group name
// (failing that, the one whose values include some of them).
func inferKey(given string, names []string, values map[string]map[string]bool, what, flag string) (string, error) {
	if given != "" {
		return given, nil
	}
	var all, some []string
	for k, vs := range values {
		n := 0
		for _, name := range names {
			if vs[name] {
				n++
			}
		}
		if n == len(names) {
			all = append(all, k)
		}
		if n > 0 {
			some = append(some, k)
		}
	}
	switch {
	case len(all) == 1:
		return all[0], nil
	case len(all) == 0 && len(some) == 1:
		return some[0], nil
	}
	var keys []string
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "", usagef("%s: cannot tell which label names the groups %s (labels: %s); give %s",
		what, strings.Join(names, ", "), strings.Join(keys, ", "), flag)
}

// verifyOptions turns the flags into ablate.VerifyOptions.
func verifyOptions(f *verifyFlags, in *verifyInputs) (ablate.VerifyOptions, error) {
	at, err := ablate.ParsePositions(f.positions)
	if err != nil {
		return ablate.VerifyOptions{}, usagef("--positions: %v", err)
	}
	opt := ablate.VerifyOptions{Key: in.key, Measure: f.measure, TextKey: in.tkey, Intervention: f.intervention,
		Value: f.value, Factor: f.factor, Statistic: f.statistic, ForceGroup: f.force, At: at, Random: f.random,
		Seed: f.seed, Resamples: f.resamples, Source: f.neurons,
		Verdict: ablate.VerdictOptions{MinEffect: f.minEffect, Margin: f.margin, Alpha: f.alpha}}
	if in.units != nil {
		opt.Units = in.units
	}
	if opt.General = f.general; opt.General == "" && in.set.Method == "culnig" {
		opt.General = attribute.ConceptGeneral
	}
	if f.randomPool != "" {
		if opt.RandomPool, err = conceptTaps(in.m, "--random-pool", f.randomPool); err != nil {
			return opt, err
		}
	}
	if f.ks != "" {
		if opt.Ks, err = parseInts(f.ks); err != nil {
			return opt, usagef("--ks: %v", err)
		}
	}
	if f.prompt != "" {
		targets, err := f.klFlags.check()
		if err != nil {
			return opt, err
		}
		prompt, gens, texts, err := f.klFlags.encode(in.enc)
		if err != nil {
			return opt, err
		}
		opt.Steer = ablate.SteerOptions{Prompt: prompt, PromptText: f.prompt, Prompts: gens, Texts: texts,
			Calibrate: ablate.CalibrateOptions{Targets: targets, Lo: f.alphaLo, Hi: f.alphaHi, Tolerance: f.tolerance},
			Generate:  ablate.SampleOptions{MaxNew: f.maxNew, TopK: f.topK, TopP: f.topP, Seed: f.seed, StopAtEOS: true},
			Decode:    decoder(in.tok)}
	}
	return opt, nil
}

func decoder(tok *tokenizer.Tokenizer) func([]int) string {
	return func(ids []int) string {
		s, err := tok.Decode(ids, true)
		if err != nil {
			return fmt.Sprint(ids)
		}
		return s
	}
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", p)
		}
		if v < 1 {
			return nil, fmt.Errorf("%d: want ≥ 1", v)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}
