package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/language"
	"github.com/spf13/cobra"
)

// languageFlags are the flags of `neuronscope find language`.
type languageFlags struct {
	probs, method, lambda, out    string
	reportOut                     string
	topRate, filterRate, barRatio float64
	appear10                      bool
	count                         countFlags
}

// languageReport is the JSON document `find language --report` writes.
type languageReport struct {
	Provenance report.Provenance `json:"provenance"`
	Probs      string            `json:"probs"`
	*language.Report
}

func newFindLanguageCmd() *cobra.Command {
	var f languageFlags
	cmd := &cobra.Command{
		Use:   "language (--probs FILE | --model DIR --data GROUP=FILE ... | --model DIR --data FILE.jsonl --group-key KEY) --method lape|alignment [--top-rate 0.01] [--filter-rate 0.95] [--bar-ratio 0.95] [--lambda auto|X] --out neurons.json [--report report.json]",
		Short: "Language neurons from per-language activation probabilities: LAPE (Tang et al. 2024) or the alignment score (Zhang et al. 2026)",
		Long: `Selects language neurons from an activation-probability file (safetensors, tensor
activation_probability [languages, layers, width], metadata "languages" and "tap") exactly as
the published code does:

  lape       lowest entropy of the per-language probabilities over all layers (--top-rate),
             neurons with no language above the --filter-rate percentile excluded, assigned to
             every language above the --bar-ratio percentile;
  alignment  lowest H/ln K − λ·max p / norm_max over all layers, assigned the same way; with
             --lambda auto, λ is the published binary search on [0, 0.2] (eps 1e-3) for the
             largest λ with no selected neuron in all K languages.

Instead of --probs, the probabilities can be counted from a model in one streaming pass:
--model DIR with --data GROUP=FILE per group (or --data FILE.jsonl --group-key KEY, groups in
order of first appearance or as --groups lists them) counts, per layer's neuron at --tap
(default: mlp.hook_pre for gated MLPs, whose silu(gate) > 0 exactly when gate > 0, and
mlp.hook_post otherwise), the tokens where it is > 0. --response-only counts only the tokens
after each document's prompt (JSONL field --prefix-key) as the alignment paper's full −
prefix. --save-probs FILE writes the activation-probability file; --checkpoint FILE makes the
pass resumable (--resume).

--out is a neuron set (neuronscope.neurons/v1) with one group per language: its selected
neurons at the counting tap (the file's "tap"; --tap names it for a file without one), each
language's neurons by ascending score (the most specific first). For gated MLPs the entries
are mlp.hook_pre units, the gate's output: zeroing one (neuronscope verify's zero
intervention) makes silu(gate) = 0, LAPE's deactivation. The set's settings hold the report:
K, the percentile thresholds, λ (and the sweep), per-language and per-layer counts, the
multiplicity histogram and the language-specific / related / agnostic split. --report also
writes that report with every group's neurons (the pre-set format). Verify the set with
  neuronscope verify --model DIR --neurons neurons.json --text FILE.jsonl (per-language text)
which zeroes each language's neurons and measures every language's perplexity against random
sets of the same per-layer counts.`,
		Example: `  neuronscope find language --probs probs.safetensors --method lape --out lape.json
  neuronscope find language --model testdata/world-llama --data pelan=pelan.txt --data zhiyi=zhiyi.txt --method lape --save-probs probs.safetensors --out lape.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFindLanguage(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.probs, "probs", "", "activation-probability file (safetensors)")
	fl.StringVar(&f.method, "method", "", "lape or alignment")
	fl.Float64Var(&f.topRate, "top-rate", 0.01, "fraction of all neurons selected (lowest score over all layers)")
	fl.Float64Var(&f.filterRate, "filter-rate", 0.95, "lape: percentile a neuron's largest probability must exceed, else entropy +Inf")
	fl.Float64Var(&f.barRatio, "bar-ratio", 0.95, "percentile a language's probability must exceed for the neuron to count for it")
	fl.StringVar(&f.lambda, "lambda", "auto", "alignment: λ ≥ 0, or auto (binary search)")
	fl.BoolVar(&f.appear10, "published-appear10", false, "alignment --lambda auto: test appear[10] == 0 as autosweep.py does (differs from appear[K] unless K = 10)")
	fl.StringVar(&f.out, "out", "", "output neuron set (neuronscope.neurons/v1): one group per language")
	fl.StringVar(&f.reportOut, "report", "", "also write the method's report with every language's neurons (JSON)")
	f.count.register(cmd)
	return cmd
}

// loadLanguageProbs returns the activation probabilities the finder runs on, and a name for
// the report: read from --probs, or counted from --model over --data (countProbs).
func loadLanguageProbs(cmd *cobra.Command, f *languageFlags) (*language.Probabilities, string, error) {
	if f.count.model.dir != "" || len(f.count.data) > 0 {
		if f.probs != "" {
			return nil, "", usagef("give --probs FILE or --model DIR with --data, not both")
		}
		return countProbs(cmd, &f.count)
	}
	if f.probs == "" {
		return nil, "", usagef("--probs is required (or --model DIR with --data GROUP=FILE ...)")
	}
	p, err := language.ReadProbabilities(f.probs)
	if err != nil {
		return nil, "", usagef("--probs: %v", err)
	}
	switch {
	case f.count.tap != "" && p.Tap == "":
		p.Tap = f.count.tap
	case f.count.tap != "" && f.count.tap != p.Tap:
		return nil, "", usagef("--tap %s: --probs %s was counted at %s", f.count.tap, f.probs, p.Tap)
	case p.Tap == "":
		return nil, "", usagef("--probs %s names no tap point (metadata %q); give --tap (e.g. mlp.hook_pre)", f.probs, language.MetaTap)
	}
	return p, f.probs, nil
}

func runFindLanguage(cmd *cobra.Command, f *languageFlags) error {
	if err := checkOutFile("--out", f.out); err != nil {
		return err
	}
	if f.reportOut != "" {
		if err := checkOutPath("--report", f.reportOut); err != nil {
			return err
		}
	}
	rate := func(name string, v float64) error {
		if !(v > 0 && v <= 1) {
			return usagef("--%s %g is not in (0, 1]", name, v)
		}
		return nil
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"top-rate", f.topRate}, {"filter-rate", f.filterRate}, {"bar-ratio", f.barRatio}} {
		if err := rate(r.name, r.v); err != nil {
			return err
		}
	}
	var lambda float64
	auto := strings.EqualFold(f.lambda, "auto")
	switch f.method {
	case "lape":
		if cmd.Flags().Changed("lambda") || f.appear10 {
			return usagef("--lambda and --published-appear10 apply to --method alignment only")
		}
	case "alignment":
		if cmd.Flags().Changed("filter-rate") {
			return usagef("--filter-rate applies to --method lape only (the alignment method has no filter)")
		}
		if !auto {
			v, err := strconv.ParseFloat(f.lambda, 64)
			if err != nil || !(v >= 0) || math.IsInf(v, 1) {
				return usagef("--lambda %q is neither auto nor a number ≥ 0", f.lambda)
			}
			if f.appear10 {
				return usagef("--published-appear10 applies to --lambda auto only")
			}
			lambda = v
		}
	case "":
		return usagef("--method is required: lape or alignment")
	default:
		return usagef("--method %q is neither lape nor alignment", f.method)
	}
	p, source, err := loadLanguageProbs(cmd, f)
	if err != nil {
		return err
	}
	var (
		sel   *language.Selection
		sweep *language.Sweep
	)
	if f.method == "lape" {
		sel, err = language.LAPE(p, language.LAPEOptions{TopRate: f.topRate, FilterRate: f.filterRate, BarRatio: f.barRatio})
	} else {
		opt := language.AlignmentOptions{TopRate: f.topRate, BarRatio: f.barRatio, Lambda: lambda}
		if auto {
			sweep, err = language.SweepLambda(p, opt, language.SweepOptions{PublishedAppear10: f.appear10})
			if err == nil && !sweep.Found {
				last := sweep.Steps[len(sweep.Steps)-1]
				return fmt.Errorf("--probs %s: no λ in [0, 0.2] leaves every selected neuron out of some language (multiplicity at the last λ=%g: %v); give --lambda", source, last.Lambda, last.Multiplicity)
			}
			if err == nil {
				sel = sweep.Selection
			}
		} else {
			sel, err = language.Alignment(p, opt)
		}
	}
	if err != nil {
		return usagef("--probs %s: %v", source, err)
	}
	full := language.NewReport(p, sel, sweep)
	set, err := sel.NeuronSet(full, source)
	if err != nil {
		return usagef("--probs %s: %v", source, err)
	}
	prov := report.New()
	if f.count.provenance != nil {
		prov = *f.count.provenance
	}
	prov.Dataset = source
	set.Provenance = &prov
	files := []report.File{{Path: f.out, Write: set.Write}}
	if f.reportOut != "" {
		rep := languageReport{Provenance: prov, Probs: source, Report: full}
		files = append(files, report.File{Path: f.reportOut, Write: func(w io.Writer) error { return report.WriteJSON(w, rep) }})
	}
	if err := report.WriteFiles(files...); err != nil {
		return err
	}
	method := f.method
	if f.method == "alignment" {
		method = fmt.Sprintf("alignment λ=%g", sel.Settings.Lambda)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d selected, %d unique neurons in %d languages (specific %d, related %d, agnostic %d, unassigned %d)\n",
		f.out, method, len(sel.Selected), sel.Unique(), len(sel.Groups), sel.Specific(), sel.Related(), sel.Agnostic(), sel.Unassigned())
	return nil
}
