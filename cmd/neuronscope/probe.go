package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/model/tokenizer"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/linear"
	"github.com/neuronscope/neuronscope/sae"
	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, newProbeCmd) }

// probeSchema is the schema_version of probe.json.
const probeSchema = "neuronscope.probe/v1"

// probeFlags are the flags of `neuronscope probe`.
type probeFlags struct {
	eval, labelKey, site, layers, method, pool, multiclass string
	bos, out                                               string
	units                                                  unitFlags
	folds, perClass, batch                                 int
	seed                                                   uint64
	c                                                      float64
}

// probeSettings are the settings recorded in probe.json.
type probeSettings struct {
	LabelKey   string   `json:"label_key"`
	Classes    []string `json:"classes"`
	Counts     []int    `json:"class_counts"`
	Method     string   `json:"method"`
	C          float64  `json:"c,omitempty"`
	Multiclass string   `json:"multiclass,omitempty"`
	Pool       string   `json:"pool"`
	Folds      int      `json:"folds"`
	Seed       uint64   `json:"seed"`
	PerClass   int      `json:"items_per_class,omitempty"`
}

// probeEntry is the probe of one tap (neurons, or a decomposition's units).
type probeEntry struct {
	Point string `json:"point"`
	// Units is "neurons", "snmf" for the coefficients of --features or "sae" for the latents of
	// --sae.
	Units string `json:"units"`
	Width int    `json:"width"`
	// MeanAccuracy ± StdAccuracy is the held-out accuracy over the folds; Majority the mean
	// majority-class baseline of the folds.
	MeanAccuracy float64 `json:"mean_accuracy"`
	StdAccuracy  float64 `json:"std_accuracy"`
	Majority     float64 `json:"majority_baseline"`
	// Directions are the files (under directions/) of the probe's steering directions at
	// Point, one per class (one toward the second class for two classes).
	Directions []string       `json:"directions"`
	Result     *linear.Result `json:"result"`
}

// probeFile is probe.json.
type probeFile struct {
	SchemaVersion string            `json:"schema_version"`
	Provenance    report.Provenance `json:"provenance"`
	Inputs        []labels.Input    `json:"inputs"`
	Settings      probeSettings     `json:"settings"`
	Probes        []probeEntry      `json:"probes"`
}

func newProbeCmd() *cobra.Command {
	var mf modelFlags
	var f probeFlags
	cmd := &cobra.Command{
		Use: "probe --model DIR --eval FILE --label-key KEY [--hook mlp.hook_post] [--layers 0-3] [--folds 5] [--seed 1] " +
			"[--method logistic|diff-means] [--features DIR | --sae DIR] --out DIR",
		Short: "Train linear probes for a label of the eval items at every layer, with held-out accuracy and steering directions",
		Long: `Probe reads each --eval item's activation at a tap of every --layers layer (--hook, default mlp.hook_post;
the prompt's last position, or with --pool mean|max the mean or maximum over its positions after BOS)
and trains a linear probe for the item's --label-key label (relation, language, ...) per layer
(package probes/linear):

  logistic    L2-regularised logistic regression on standardised inputs (scikit-learn's objective,
              C = --c, multinomial or one-vs-rest), solved to a gradient of 1e-8
  diff-means  the nearest class mean in raw activation space (directions μ_c − μ_rest)

Accuracy is held out: seeded stratified --folds-fold cross-validation (standardisation fitted on the
training folds only), reported as mean ± sd over folds next to the majority-class baseline. The probe
refitted on every item gives one steering direction per class (one toward the second class for two),
mapped back to raw activations and written as neuronscope.direction/v1 files that 'neuronscope steer
--direction' reads.

--features DIR (a 'neuronscope decompose snmf' output) also probes that tap's SNMF coefficients (each
token's exact non-negative least-squares code, decompose.Features.Coefficients); their directions are
written in activation space as F·d. --sae DIR (a SAELens-format SAE, e.g. from 'neuronscope sae
train') probes its latents (hook_sae_acts_post) at its hook instead; their directions are Σ d_j·W_dec[j].

Output (--out DIR): probe.json (neuronscope.probe/v1: per tap the folds, accuracy, baseline, the
probe's weights, settings, provenance) and directions/TAP.CLASS.json.`,
		Example: `  neuronscope probe --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --label-key relation --out probe-relation
  neuronscope probe --model testdata/world-llama --eval testdata/world/eval_facts.jsonl --label-key language --method diff-means --hook hook_resid_post --out probe-language
  neuronscope steer --model testdata/world-llama --direction probe-relation/directions/blocks.2.mlp.hook_post.capital_of.json --prompt "Rofa bilo" --out steer.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProbe(cmd, &mf, &f) },
	}
	mf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.eval, "eval", "", "labelled prompts, JSONL with prompt, answer and labels (e.g. the world's eval_facts.jsonl)")
	fl.StringVar(&f.labelKey, "label-key", "", "the label the probes predict, e.g. relation or language")
	fl.StringVar(&f.site, "hook", "mlp.hook_post", "the tap read at each layer (mlp.hook_post, mlp.hook_pre, hook_resid_post, ...)")
	fl.StringVar(&f.layers, "layers", "", "layers to probe, e.g. 0,2 or 1-3 (default: all)")
	fl.StringVar(&f.method, "method", "logistic", "logistic or diff-means")
	fl.Float64Var(&f.c, "c", 1, "logistic: inverse L2 strength C (scikit-learn's)")
	fl.StringVar(&f.multiclass, "multiclass", "multinomial", "logistic with more than two classes: multinomial or ovr")
	fl.StringVar(&f.pool, "pool", "last", "positions read: last (the prompt's last), mean or max (over every position after BOS)")
	fl.IntVar(&f.folds, "folds", 5, "stratified cross-validation folds")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the fold assignment")
	fl.IntVar(&f.perClass, "per-class", 0, "use at most N items of each class (the first in file order; 0: all)")
	f.units.register(cmd, "also probe")
	fl.IntVar(&f.batch, "batch", corpus.DefaultPromptBatch, "items per forward pass")
	fl.StringVar(&f.bos, "bos", "auto", "BOS policy for prompts: auto, always, never")
	fl.StringVar(&f.out, "out", "", "output directory")
	return cmd
}

// fileName keeps the characters of s that are safe in a file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

func runProbe(cmd *cobra.Command, mf *modelFlags, f *probeFlags) (rerr error) {
	switch {
	case f.eval == "":
		return usagef("--eval is required (the labelled items)")
	case f.labelKey == "":
		return usagef("--label-key is required (the label the probes predict)")
	case f.method != "logistic" && f.method != "diff-means":
		return usagef("--method %q: want logistic or diff-means", f.method)
	case f.multiclass != "multinomial" && f.multiclass != "ovr":
		return usagef("--multiclass %q: want multinomial or ovr", f.multiclass)
	case !(f.c > 0):
		return usagef("--c %g: want > 0", f.c)
	}
	if err := checkRanges(intAtLeast("--folds", f.folds, 2), intAtLeast("--per-class", f.perClass, 0), intAtLeast("--batch", f.batch, 1)); err != nil {
		return err
	}
	pool, err := linear.ParsePool(f.pool)
	if err != nil {
		return usagef("--pool: %v", err)
	}
	site, err := hooks.ParseSite(f.site)
	if err != nil || !site.PerLayer() || !site.PerPosition() {
		return usagef("--hook %q: want a per-layer, per-token tap such as mlp.hook_post", f.site)
	}
	policy, err := tokenizer.ParseBOSPolicy(f.bos)
	if err != nil {
		return usageError{err}
	}
	if _, err := os.Stat(f.eval); err != nil {
		return usagef("--eval: %v", err)
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
	if layers == nil {
		for l := range m.Config.NLayers {
			layers = append(layers, l)
		}
	}
	cat := m.Catalog()
	var points []hooks.Point
	for _, l := range layers {
		p := hooks.At(l, site)
		if !cat.Has(p) || len(cat.Shape(p)) != 1 {
			return usagef("--hook %s: this model has no per-token tap %s", f.site, p)
		}
		points = append(points, p)
	}
	units, err := f.units.codes(m)
	if err != nil {
		return err
	}
	tok, err := loadTokenizer(m)
	if err != nil {
		return err
	}
	enc := corpus.NewEncoder(m, tok, policy)
	qs, classes, err := readGroupedPrompts("--eval", f.eval, enc, f.labelKey, f.perClass)
	if err != nil {
		return err
	}
	if len(classes) < 2 {
		return usagef("--eval %s: every item has %s=%s; a probe needs two classes at least", f.eval, f.labelKey, classes[0])
	}
	y := make([]int, len(qs.Items))
	counts := make([]int, len(classes))
	for i, it := range qs.Items {
		y[i], _ = slices.BinarySearch(classes, it.Labels[f.labelKey])
		counts[y[i]]++
	}
	for c, n := range counts {
		if n < f.folds {
			return usagef("--folds %d: class %s=%s has only %d items (every fold needs one): lower --folds or give more items", f.folds, f.labelKey, classes[c], n)
		}
	}
	inputs, err := hashInputs(units, [2]string{"eval", f.eval})
	if err != nil {
		return err
	}

	// Activations of every item at every tap (and the feature codes), in one pass each.
	copt := linear.CollectOptions{Pool: pool, BOS: m.Config.BOS, Batch: f.batch}
	acts, err := linear.Collect(m, qs.Prompts(), points, copt)
	if err != nil {
		return err
	}
	type job struct {
		pt    hooks.Point
		units string
		x     []float32
		width int
	}
	var jobs []job
	for i, p := range points {
		jobs = append(jobs, job{p, "neurons", acts[i], cat.Width(p)})
	}
	if units != nil {
		copt.Codes = map[hooks.Point]linear.Codes{units.Point: units.Codes}
		fx, err := linear.Collect(m, qs.Prompts(), []hooks.Point{units.Point}, copt)
		if err != nil {
			return err
		}
		jobs = append(jobs, job{units.Point, units.Kind, fx[0], units.Codes.Units()})
	}
	set := probeSettings{LabelKey: f.labelKey, Classes: classes, Counts: counts, Method: f.method, Pool: pool.String(), Folds: f.folds,
		Seed: f.seed, PerClass: f.perClass}
	lopt := linear.LogisticOptions{C: f.c, Folds: f.folds, Seed: f.seed}
	if f.method == "logistic" {
		set.C, set.Multiclass = f.c, f.multiclass
		if f.multiclass == "ovr" {
			lopt.Multiclass = linear.OneVsRest
		}
	}
	pf := probeFile{SchemaVersion: probeSchema, Inputs: inputs, Settings: set}
	files := []report.File{}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%d items, %s: %d classes (%s); %s probes, %d-fold held-out accuracy (mean ± sd over folds)\n",
		len(qs.Items), f.labelKey, len(classes), strings.Join(classes, ", "), f.method, f.folds)
	fmt.Fprintf(w, "%-28s %-8s %6s %18s %10s\n", "tap", "units", "width", "accuracy", "majority")
	for _, j := range jobs {
		d := linear.Data{X: j.x, N: len(qs.Items), P: j.width, Labels: y, Classes: len(classes)}
		var res *linear.Result
		if f.method == "logistic" {
			res, err = linear.Logistic(d, lopt)
		} else {
			res, err = linear.DiffMeans(d, linear.DiffMeansOptions{Folds: f.folds, Seed: f.seed})
		}
		if err != nil {
			return fmt.Errorf("%s (%s): %w", j.pt, j.units, err)
		}
		e := probeEntry{Point: j.pt.String(), Units: j.units, Width: j.width, MeanAccuracy: res.MeanAccuracy, StdAccuracy: res.StdAccuracy, Result: res}
		for _, fo := range res.Folds {
			e.Majority += fo.Majority / float64(len(res.Folds))
		}
		for c, dir := range res.Probe.Directions {
			class := classes[c]
			if len(res.Probe.Directions) == 1 {
				class = classes[1]
			}
			vec := make([]float32, cat.Width(j.pt))
			if j.units != "neurons" {
				units.Codes.Direction(vec, dir)
			} else {
				for i, v := range dir {
					vec[i] = float32(v)
				}
			}
			name := fmt.Sprintf("%s probe toward %s=%s at %s", res.Method, f.labelKey, class, j.pt)
			if j.units != "neurons" {
				name = fmt.Sprintf("%s probe on %s, toward %s=%s", res.Method, units.describe(), f.labelKey, class)
			}
			if len(res.Probe.Directions) == 1 {
				name += " (from " + classes[0] + ")"
			}
			dirn, err := (ablate.Direction{Name: name, Parts: []ablate.DirectionPart{{Point: j.pt, Vector: vec}}}).Unit()
			if err != nil {
				return fmt.Errorf("%s (%s): %w", j.pt, j.units, err)
			}
			base := j.pt.String()
			if j.units != "neurons" {
				base += "." + j.units
			}
			rel := filepath.Join("directions", fileName(base+"."+class)+".json")
			e.Directions = append(e.Directions, rel)
			files = append(files, report.File{Path: filepath.Join(f.out, rel), Write: dirn.Write})
		}
		pf.Probes = append(pf.Probes, e)
		fmt.Fprintf(w, "%-28s %-8s %6d %9.1f%% ± %4.1f%% %9.1f%%\n", j.pt, j.units, j.width, 100*res.MeanAccuracy, 100*res.StdAccuracy, 100*e.Majority)
	}
	prov := m.Provenance()
	seed := int64(f.seed)
	prov.Seed = &seed
	prov.BOSPolicy = enc.PolicyNote()
	prov.Padding = fmt.Sprintf("left (items ordered by length, %d per batch)", f.batch)
	prov.Dataset = fmt.Sprintf("%s, %d items", f.eval, len(qs.Items))
	for _, j := range jobs {
		prov.HooksFired = append(prov.HooksFired, j.pt.String())
	}
	pf.Provenance = prov
	files = append(files, report.File{Path: filepath.Join(f.out, "probe.json"), Write: func(w io.Writer) error { return report.WriteJSON(w, pf) }})
	cleanup, err := makeOutDir(filepath.Join(f.out, "directions"))
	if err != nil {
		return err
	}
	defer func() {
		if rerr != nil {
			cleanup()
		}
	}()
	if err := report.WriteFiles(files...); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote probe.json and %d directions to %s\n", len(files)-1, f.out)
	return nil
}

// unitCodes are a decomposition's units that probe and select read instead of (or beside)
// neurons: the SNMF coefficients of a 'decompose snmf' output (--features) or the latents of a
// SAELens-format SAE (--sae).
type unitCodes struct {
	// Kind is "snmf" or "sae"; Flag and Dir the flag that named it and its value.
	Kind, Flag, Dir string
	// Point is the tap the units read; Codes encodes its activations.
	Point hooks.Point
	Codes linear.Codes
	// Factors is the file of the decomposition's weights (hashed into the inputs).
	Factors string
}

// codes reads --features or --sae (at most one; nil when neither is given) as linear.Codes
// for model m: units of a tap the model lacks, or of another width, are an error naming the
// flag.
func (u *unitFlags) codes(m *model.Model) (*unitCodes, error) {
	features, saeDir := u.features, u.sae
	if err := u.one(); err != nil {
		return nil, err
	}
	switch {
	case features != "":
		o, p, err := loadFeatures(features, m)
		if err != nil {
			return nil, err
		}
		if len(m.Catalog().Shape(p)) != 1 {
			return nil, usagef("--features %s: %s is not a per-token tap", features, p)
		}
		return &unitCodes{Kind: "snmf", Flag: "--features", Dir: features, Point: p, Codes: linear.SNMFCodes(o.Features()),
			Factors: filepath.Join(features, decompose.FactorsFile)}, nil
	case saeDir != "":
		s, p, err := loadSAE(saeDir, m)
		if err != nil {
			return nil, err
		}
		if len(m.Catalog().Shape(p)) != 1 {
			return nil, usagef("--sae %s: its hook %s is not a per-token tap", saeDir, p)
		}
		return &unitCodes{Kind: "sae", Flag: "--sae", Dir: saeDir, Point: p, Codes: linear.EncoderCodes(s, s.DIn, s.DSAE, s.WDec),
			Factors: filepath.Join(saeDir, sae.WeightsFile)}, nil
	}
	return nil, nil
}

// describe names the units in a direction's name.
func (u *unitCodes) describe() string {
	if u.Kind == "sae" {
		return "the SAE latents of " + u.Dir + ", as Σ d_j·W_dec[j]"
	}
	return "the SNMF coefficients of " + u.Dir + ", as F·d"
}

// hashInputs hashes the input files given as {role, path} (the role is the flag's name) and,
// when units is set, its decomposition's weights, for an output's inputs.
func hashInputs(units *unitCodes, files ...[2]string) ([]labels.Input, error) {
	if units != nil {
		files = append(files, [2]string{strings.TrimPrefix(units.Flag, "--"), units.Factors})
	}
	inputs := []labels.Input{}
	for _, f := range files {
		h, err := labels.HashInput(f[0], f[1])
		if err != nil {
			return nil, usagef("--%s: %v", f[0], err)
		}
		inputs = append(inputs, h)
	}
	return inputs, nil
}
