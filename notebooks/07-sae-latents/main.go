// Command 07-sae-latents trains the three SAE architectures of package sae on the demo world
// model and finds their latents for the world's planted concepts (issue 17, item 7).
//
// On blocks.2.mlp.hook_post of the world Llama (testdata/world-llama), over the
// mixed-language, mixed-relation fit text of ablate/steering.FromWorld, it trains a TopK SAE
// (OpenAI), a ReLU + L1 SAE (Anthropic April 2024, "standard") and a JumpReLU SAE from one
// pass over the same shuffled batches (sae.Train), and reports for each the standard metrics
// on the fit tokens — FVU, L0, dead fraction, and the CE increase and fraction of loss
// recovered when the reconstruction is spliced into the model (sae.EvaluateInModel). Then,
// for each language and relation of the world, the latent whose decoder direction detects the
// concept best: ROC-AUC of the max-over-tokens cosine between a text's activations and the
// direction, concept texts against neutral texts, picked on a selection half and reported on
// the held-out half (steering.Detector; the same rule the steering comparison uses, notebook 08).
//
// Settings: 4·d_mlp latents, batch 256; each architecture's reference recipe
// (sae.DefaultTrainConfig) with k 16 for TopK and the learning rate raised to 1e-3 for TopK
// and ReLU-L1 (the references' 1e-4 and 5e-5 are tuned for millions of steps), JumpReLU at its
// default 3e-3.
//
// Run from anywhere in the repository:
//
//	go run ./notebooks/07-sae-latents                 # 2048 latents, 2000 steps
//	go run ./notebooks/07-sae-latents -budget tiny    # 128 latents, 30 steps
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/notebooks/internal/nb"
	"github.com/neuronscope/neuronscope/sae"
)

func main() {
	budget := flag.String("budget", "full", "full, or tiny: 128 latents, 30 steps, a small fit text")
	modelDir := flag.String("model", "", "model directory (default: testdata/world-llama of this repository)")
	worldDir := flag.String("world", "", "world directory with ground_truth.json (default: testdata/world of this repository)")
	layer := flag.Int("layer", 2, "block whose mlp.hook_post the SAEs read")
	out := flag.String("out", "", "directory to write the three SAEs to, in SAELens format (empty: print only)")
	flag.Parse()
	if *budget != "full" && *budget != "tiny" {
		fmt.Fprintf(os.Stderr, "-budget %q: want full or tiny\n", *budget)
		os.Exit(2)
	}
	if err := run(os.Stdout, *modelDir, *worldDir, *out, *layer, *budget == "tiny"); err != nil {
		fmt.Fprintln(os.Stderr, "07-sae-latents:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, modelDir, worldDir, out string, layer int, tiny bool) error {
	wo := steering.WorldOptions{FitFacts: 12, FitFiller: 80}
	latentsPerNeuron, steps, batch := 4, 2000, 256
	if tiny {
		wo = steering.WorldOptions{FitFacts: 1, FitFiller: 5, DetectFacts: 2, DetectFiller: 4}
		latentsPerNeuron, steps, batch = 0, 30, 64
	}
	m, _, task, err := nb.WorldTask(modelDir, worldDir, wo)
	if err != nil {
		return err
	}
	defer m.Close()
	latents := latentsPerNeuron * m.Config.DMLP
	if tiny {
		latents = 128
	}
	acts, err := steering.FitActivations(m, task, layer, 64)
	if err != nil {
		return err
	}
	hook := fmt.Sprintf("blocks.%d.mlp.hook_post", layer)
	fmt.Fprintf(w, "%d fit tokens of %s (%d texts); %d detection texts, %d concepts\n", acts.N(), hook, len(task.Fit), len(task.Texts), len(task.Concepts))
	archs := []sae.Arch{sae.TopK, sae.Standard, sae.JumpReLU}
	var trainers []*sae.Trainer
	for _, a := range archs {
		c := sae.DefaultTrainConfig(a, acts.DMLP, latents, steps, batch)
		switch a {
		case sae.TopK:
			c.K, c.LR = 16, 1e-3
		case sae.Standard:
			c.LR = 1e-3
		}
		c.Seed = 1
		c.DeadTokens = int64(batch) * int64(max(1, steps/4))
		c.StatsRows = min(c.StatsRows, acts.N())
		t, err := sae.NewTrainer(c)
		if err != nil {
			return err
		}
		trainers = append(trainers, t)
	}
	start := time.Now()
	if err := sae.Train(sae.NewShuffled(sae.NewRows(acts.Rows, acts.DMLP, "fit text at "+hook), 1), trainers, sae.RunOptions{}); err != nil {
		return err
	}
	fmt.Fprintf(w, "trained %d SAEs × %d latents × %d steps of %d tokens in %.1f s\n\n", len(archs), latents, steps, batch, time.Since(start).Seconds())
	det, err := steering.NewDetector(m, task, layer, 64)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-9s %7s %7s %7s %7s %11s %10s %14s\n", "arch", "FVU", "NMSE", "L0", "dead", "CE increase", "loss rec.", "detection AUC")
	var picks [][]steering.Pick
	for i, t := range trainers {
		s := t.SAE(hook, layer, m.Config.ModelType)
		met, lm, err := sae.EvaluateInModel(m, s, task.Fit, 64, 0)
		if err != nil {
			return err
		}
		dirs := make([][]float32, s.DSAE)
		for j := range dirs {
			dirs[j] = s.Direction(j)
		}
		p := det.Best(string(archs[i]), dirs)
		picks = append(picks, p)
		var auc float64
		for _, pk := range p {
			auc += pk.TestAUC
		}
		fmt.Fprintf(w, "%-9s %7.3f %7.3f %7.1f %6.1f%% %+11.4f %10.3f %14.3f\n", archs[i], met.FVU, met.NMSE, met.L0, 100*met.DeadFraction, lm.CEIncrease, lm.LossRecovered, auc/float64(len(p)))
		if out != "" {
			if err := s.Save(filepath.Join(out, string(archs[i])), sae.SaveOptions{}); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(w, "(FVU = Σ‖x − x̂‖² / Σ‖x − x̄‖²; NMSE is OpenAI's per-token ‖x − x̂‖²/‖x‖²; CE in nats on the fit text; detection AUC: mean over concepts, held-out half)\n\n")
	fmt.Fprintf(w, "best latent per concept (decoder direction; held-out ROC-AUC):\n%-30s", "concept")
	for _, a := range archs {
		fmt.Fprintf(w, " %17s", a)
	}
	fmt.Fprintln(w)
	for ci, c := range task.Concepts {
		fmt.Fprintf(w, "%-30s", c.Name)
		for i := range archs {
			fmt.Fprintf(w, "  #%-4d AUC %.3f", picks[i][ci].Index, picks[i][ci].TestAUC)
		}
		fmt.Fprintln(w)
	}
	if out != "" {
		fmt.Fprintf(w, "\nwrote the SAEs (SAELens cfg.json + sae_weights.safetensors) to %s/{topk,standard,jumprelu}\n", out)
	}
	return nil
}
