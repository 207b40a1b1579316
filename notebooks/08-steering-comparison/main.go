// Command 08-steering-comparison runs the SNMF paper's steering comparison on the demo world,
// where the ground truth is known (package ablate/steering).
//
// On blocks.2.mlp.hook_post of the world Llama (testdata/world-llama), over mixed-language,
// mixed-relation text, it fits SNMF (package decompose, the published algorithm) and trains a
// TopK SAE (package sae). For each concept the world plants — its 4 languages and 10
// relations — it picks the SNMF feature and the SAE latent that detect the concept best
// (ROC-AUC of the max-over-tokens cosine, concept texts against neutral texts, on a selection
// half) and the difference in means, and adds random directions as the control. Each
// direction is steered at matched KL (ablate.Calibrate) and its generations are scored by the
// world's lexicons (concept score: fraction of generated tokens that are the concept's words)
// and by the unsteered model's NLL (fluency, reported as exp(−NLL)); the harmonic mean
// combines them. Detection ROC-AUCs are reported on the held-out half. Intervals are 95%
// bootstraps over the 14 concepts.
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/08-steering-comparison                 # rank-50 SNMF, 2048-latent SAE, 5 KL targets
//	go run ./notebooks/08-steering-comparison -budget tiny    # a few seconds: tiny fits, one KL target
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/sae"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: tiny fits, 2 prompts, one KL target")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	worldDir := flag.String("world", "", "world directory with ground_truth.json (default: testdata/world of this repository)")
	layer := flag.Int("layer", 2, "block whose mlp.hook_post is decomposed and steered")
	out := flag.String("out", "", "directory to write steering.json, steering.png and steering.svg to (empty: print only)")
	seeds := flag.Int("seeds", 1, "also rerun the comparison with this many further seeds (SNMF init, SAE init and batches, random directions, sampling) and summarise the spread")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if *seeds < 0 {
		fmt.Fprintf(os.Stderr, "-seeds %d: want ≥ 0\n", *seeds)
		os.Exit(2)
	}
	if err := run(os.Stdout, *modelDir, *worldDir, *out, *layer, *seeds, *budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "08-steering-comparison:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, modelDir, worldDir, out string, layer, seeds int, tiny bool) error {
	wo := steering.WorldOptions{}
	opt := steering.DefaultOptions(layer)
	if tiny {
		wo = steering.WorldOptions{FitFacts: 1, FitFiller: 5, DetectFacts: 2, DetectFiller: 4, Prompts: 2}
		opt.SNMF.Rank, opt.SNMF.MaxIter = 8, 10
		opt.SAE = sae.TrainConfig{Arch: sae.TopK, DSAE: 128, K: 4, Steps: 20, BatchSize: 64, LR: 1e-3}
		opt.Targets = []float64{0.01}
		opt.Generate = ablate.SampleOptions{MaxNew: 4, TopK: 30, TopP: 0.3, Seed: 1}
		opt.RandomDirections, opt.Bootstrap = 1, 200
	}
	m, enc, task, err := nb.WorldTask(modelDir, worldDir, wo)
	if err != nil {
		return err
	}
	defer m.Close()
	fmt.Fprintf(w, "task: %d fit texts, %d detection texts, %d concepts, %d prompts\n", len(task.Fit), len(task.Texts), len(task.Concepts), len(task.Prompts))
	start := time.Now()
	opt.Progress = func(s string) { fmt.Fprintf(os.Stderr, "%6.1fs %s\n", time.Since(start).Seconds(), s) }
	res, err := steering.Compare(context.Background(), m, task, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nSNMF: rank %d, %d neurons kept per feature, %d iterations (best %d), FVU %.3f on %d tokens\n",
		res.SNMF.Rank, res.SNMF.Kept, res.SNMF.Iters, res.SNMF.BestIter+1, res.SNMF.FVU, res.Tokens)
	if s := res.SAE; s != nil {
		fmt.Fprintf(w, "SAE: %s, %d latents, k %d, %d steps: FVU %.3f, L0 %.1f, dead %.1f%%, CE %.4f → %.4f nats spliced (increase %+.4f, loss recovered %.3f)\n",
			s.Arch, s.Latents, s.K, s.Steps, s.Metrics.FVU, s.Metrics.L0, 100*s.Metrics.DeadFraction, s.Loss.CEClean, s.Loss.CESpliced, s.Loss.CEIncrease, s.Loss.LossRecovered)
	}
	fmt.Fprintf(w, "\n%s\nper concept: the picked feature / latent and its held-out detection AUC\n%s", res.TableText(), res.ConceptText())
	fmt.Fprintf(w, "\nexample generations (first prompt, highest KL target reached):\n")
	for _, c := range res.Concepts[:min(3, len(res.Concepts))] {
		for _, meth := range res.Methods {
			var last *steering.Run
			for i := range res.Runs {
				r := &res.Runs[i]
				if r.Concept == c.Name && r.Method == meth && r.Direction == 0 && r.Reached {
					last = r
				}
			}
			if last == nil {
				continue
			}
			text, _ := enc.Tok.Decode(last.Sample, false)
			fmt.Fprintf(w, "  %-20s %-10s KL %.3g α %6.1f  %q\n", c.Name, meth, last.TargetKL, last.Alpha, text)
		}
	}
	if seeds > 0 {
		results := []*steering.Result{res}
		for k := 1; k <= seeds; k++ {
			o := opt
			o.SNMF.Seed, o.SAE.Seed, o.Seed, o.Generate.Seed = opt.SNMF.Seed+uint64(k), opt.Seed+uint64(k), opt.Seed+uint64(k), opt.Generate.Seed+uint64(k)
			r, err := steering.Compare(context.Background(), m, task, o)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		seedSummary(w, results)
	}
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := report.WriteFile(filepath.Join(out, "steering.json"), func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(res)
	}); err != nil {
		return err
	}
	for _, f := range []string{"steering.png", "steering.svg"} {
		if err := res.SavePlot(filepath.Join(out, f)); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nwrote steering.json, steering.png and steering.svg to %s\n", out)
	return nil
}

// seedSummary prints, per method and KL target, the mean over seeds of the concept-score lift,
// of the difference to the random directions and of the harmonic mean, with the range over
// seeds; and the detection AUCs likewise.
func seedSummary(w io.Writer, rs []*steering.Result) {
	fmt.Fprintf(w, "\nacross %d seeds (SNMF init, SAE init and batches, random directions, sampling): mean [min, max]\n", len(rs))
	fmt.Fprintf(w, "%-11s %6s %24s %24s %24s\n", "method", "KL", "lift", "−random", "harmonic")
	stat := func(xs []float64) string {
		lo, hi, s := xs[0], xs[0], 0.0
		for _, x := range xs {
			lo, hi, s = min(lo, x), max(hi, x), s+x
		}
		return fmt.Sprintf("%+.3f [%+.3f, %+.3f]", s/float64(len(xs)), lo, hi)
	}
	for i, c := range rs[0].Table {
		var lift, vs, hm []float64
		for _, r := range rs {
			if x := r.Table[i]; x.Concepts > 0 {
				lift, vs, hm = append(lift, x.Lift), append(vs, x.VsRandom), append(hm, x.HarmonicMean)
			}
		}
		if len(lift) == 0 {
			continue
		}
		v := stat(vs)
		if c.Method == steering.MethodRandom {
			v = ""
		}
		fmt.Fprintf(w, "%-11s %6.3g %24s %24s %24s\n", c.Method, c.TargetKL, stat(lift), v, stat(hm))
	}
	fmt.Fprintf(w, "detection AUC:")
	for i, d := range rs[0].Detection {
		var a []float64
		for _, r := range rs {
			a = append(a, r.Detection[i].AUC)
		}
		fmt.Fprintf(w, "  %s %s", d.Method, stat(a))
	}
	fmt.Fprintln(w)
}
