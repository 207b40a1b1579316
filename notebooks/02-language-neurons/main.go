// Command 02-language-neurons finds the language neurons of the demo world's models with the
// two published activation-statistics methods and verifies them by perplexity, as
// `neuronscope find language` and `neuronscope verify --text` do.
//
// The world has four constructed languages (pelan, korrak, shivu, tlaxo). For each model
// (testdata/world-llama and testdata/world-gpt2) the program
//
//  1. counts, for every neuron at the published tap (mlp.hook_pre > 0 for the Llama's gated
//     MLP, mlp.hook_post > 0 for GPT-2), the fraction of each language's training-sentence
//     tokens on which it fires (language.Counter.Run: the world's train.txt split by language,
//     regenerated from testdata/world/world.json),
//  2. prints why the selections will look as they do: the 95th-percentile bar τ, how many
//     neurons pass it, how far their entropy is from uniform, how many fire on one language far
//     more than on the others,
//  3. selects with LAPE (top rate 1%, the published default, and 5%) and with the alignment
//     score at its automatically searched λ (language.LAPE, language.SweepLambda),
//  4. verifies each selection (ablate.Verify, Key "language"): each language's neurons are
//     zeroed at every position and the perplexity of every language's 50 held-out filler
//     sentences (testdata/world/eval_fluency.jsonl, never trained on) is measured, against
//     random sets with the same per-layer counts; it prints the language × language matrix of
//     perplexity ratios and the verdicts,
//  5. with -out writes the first model's LAPE 5% set and labels (language.json,
//     language-labels.json; `neuronscope report --labels` shows them).
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/02-language-neurons                 # both models, 10 random sets
//	go run ./notebooks/02-language-neurons -budget tiny    # the GPT-2, LAPE 5% only, 2 random sets
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/probes/labels"
	"github.com/neuronscope/neuronscope/probes/language"
)

// sizes of a run.
type sizes struct {
	models []string  // directories under testdata
	rates  []float64 // LAPE top rates
	align  bool      // also the alignment score
	random int       // random sets per language
}

var budgets = map[string]sizes{
	"full": {models: []string{"world-llama", "world-gpt2"}, rates: []float64{0.01, 0.05}, align: true, random: 10},
	"tiny": {models: []string{"world-gpt2"}, rates: []float64{0.05}, random: 2},
}

func main() {
	budget := flag.String("budget", "full", "full (both models, the demo's sizes) or tiny (GPT-2, LAPE 5%, 2 random sets)")
	out := flag.String("out", "", "directory for language.json and language-labels.json (empty: print only)")
	flag.Parse()
	sz, ok := budgets[*budget]
	if !ok {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, sz, *out); err != nil {
		fmt.Fprintln(os.Stderr, "02-language-neurons:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, sz sizes, out string) error {
	start := time.Now()
	cfgPath, err := nb.Testdata("world", "world.json")
	if err != nil {
		return err
	}
	fluPath, err := nb.Testdata("world", "eval_fluency.jsonl")
	if err != nil {
		return err
	}
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	flu, err := os.ReadFile(fluPath)
	if err != nil {
		return err
	}
	var written bool
	for _, name := range sz.models {
		dir, err := nb.Testdata(name)
		if err != nil {
			return err
		}
		set, lf, err := runModel(w, dir, cfg, flu, fluPath, sz)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if out == "" || written || set == nil {
			continue
		}
		written = true
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if err := set.WriteFile(filepath.Join(out, "language.json")); err != nil {
			return err
		}
		for i, p := range []string{cfgPath, fluPath} {
			in, err := labels.HashInput([]string{"world", "text"}[i], p)
			if err != nil {
				return err
			}
			lf.Inputs = append(lf.Inputs, in)
		}
		if err := lf.WriteFile(filepath.Join(out, "language-labels.json")); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s and %s (%s)\n", filepath.Join(out, "language.json"), filepath.Join(out, "language-labels.json"), name)
	}
	fmt.Fprintf(w, "\n(%s)\n", time.Since(start).Round(time.Second))
	return nil
}

// runModel counts, selects and verifies on one model; it returns the last LAPE selection's set
// and labels (nil when it assigned no neuron).
func runModel(w io.Writer, dir string, cfg, flu []byte, fluPath string, sz sizes) (*hooks.NeuronSet, *labels.File, error) {
	m, enc, err := nb.Load(dir) // the world's tokenizer adds <bos>, as the models were trained
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()

	// 1. The data and the counting pass. WorldLanguageInputs regenerates the world from its
	// config (train.txt carries no language labels) and checks that eval_fluency.jsonl is its.
	li, err := demo.WorldLanguageInputs(cfg, flu, fluPath, enc, m.Config.MaxPos)
	if err != nil {
		return nil, nil, err
	}
	site := language.DefaultTap(m.Catalog())
	c, err := language.NewCounter(li.Languages, site.String(), m.Config.NLayers, m.Catalog().Width(hooks.At(0, site)), false)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	if err := c.Run(m, enc, li.TrainItems(0), language.PassOptions{Tap: site, Ctx: m.Config.MaxPos, Batch: 64, PadID: max(m.Config.Pad, 0)}); err != nil {
		return nil, nil, err
	}
	p, err := c.Probabilities()
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(w, "== %s (%s): %s > 0 counted over %v tokens of %v (%.1f s)\n", filepath.Base(dir), m.Config.ModelType, site,
		c.Full.Tokens, li.Languages, time.Since(t0).Seconds())

	// 2. Why the selections look as they do.
	var d demo.LanguageStage
	d.Diagnose(p)
	fmt.Fprintf(w, "τ (95th percentile of all probabilities) = %.3f; %d neurons exceed it in some language, lowest entropy %.3f (uniform: ln 4 = %.3f)\n",
		d.Threshold, d.FilterPassing, d.FilteredEntropy, d.MaxEntropy)
	fmt.Fprintf(w, "their median min/max probability over languages %.2f; %d neurons fire on > 20%% of one language's tokens and ≥ 4× any other's\n\n",
		d.FilteredRatio, d.Concentrated)

	// 3 and 4. Select, then verify by perplexity on held-out filler text.
	e, err := ablate.NewEval(m, nil, li.Fluency, ablate.EvalOptions{BatchSize: 256})
	if err != nil {
		return nil, nil, err
	}
	var keep *hooks.NeuronSet
	var keepLabels *labels.File
	verify := func(name string, sel *language.Selection, sw *language.Sweep) error {
		lambda := ""
		if sw != nil {
			lambda = fmt.Sprintf(", λ* = %.6g", sel.Settings.Lambda)
		}
		fmt.Fprintf(w, "-- %s: K = %d%s; language-specific %d, related %d, agnostic %d, unassigned %d; median max_g p of the selected %.3f\n",
			name, sel.Settings.K, lambda, sel.Specific(), sel.Related(), sel.Agnostic(), sel.Unassigned(), demo.MedianMaxProbability(p, sel))
		if sel.Assignments() == 0 {
			fmt.Fprintf(w, "no selected neuron is above τ in any language: nothing to verify\n\n")
			return nil
		}
		set, err := sel.NeuronSet(language.NewReport(p, sel, sw), "the world's training sentences by language")
		if err != nil {
			return err
		}
		res, err := ablate.Verify(e, set, ablate.VerifyOptions{Key: "language", Random: sz.random, Seed: 1, Source: "notebook 02"})
		if err != nil {
			return err
		}
		fmt.Fprintln(w, res.Matrix.Texts.Table())
		fmt.Fprintln(w, res.File.Table())
		if sw == nil {
			keep, keepLabels = set, res.File
			keepLabels.Provenance = m.Provenance()
		}
		return nil
	}
	for _, rate := range sz.rates {
		sel, err := language.LAPE(p, language.LAPEOptions{TopRate: rate})
		if err != nil {
			return nil, nil, err
		}
		if err := verify(fmt.Sprintf("LAPE, top %g%%", 100*rate), sel, nil); err != nil {
			return nil, nil, err
		}
	}
	if sz.align {
		sw, err := language.SweepLambda(p, language.AlignmentOptions{}, language.SweepOptions{})
		if err != nil {
			return nil, nil, err
		}
		if !sw.Found {
			fmt.Fprintf(w, "-- alignment: no λ in [0, 0.2] leaves every selected neuron out of some language\n\n")
		} else if err := verify("alignment score, top 1%", sw.Selection, sw); err != nil {
			return nil, nil, err
		}
	}
	return keep, keepLabels, nil
}
