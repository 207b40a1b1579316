package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/ablate/steering"
	"github.com/neuronscope/neuronscope/sae"
)

// SteeringInputs are what the steering stage needs beyond the model: the world's
// ground_truth.json (its lexicons, facts and templates) and where it came from.
type SteeringInputs struct {
	GroundTruth []byte
	Source      string
}

// SteeringSizes size the steering stage (see DemoSteeringSizes).
type SteeringSizes struct {
	World steering.WorldOptions
	// Rank and Iters size the SNMF; Latents, K and Steps the TopK SAE (batch 128).
	Rank, Iters       int
	Latents, K, Steps int
	Targets           []float64
	MaxNew            int
}

// DemoSteeringSizes are the demo's: 3 facts per (language, relation) and train template and
// 20 filler sentences per language to fit on (about 1,700 tokens), SNMF rank 30 for 60
// iterations, a TopK SAE with 512 latents (k 8) for 150 steps, 4 prompts of 12 new tokens, KL
// targets 0.003 and 0.03, one random direction per concept.
func DemoSteeringSizes() SteeringSizes {
	return SteeringSizes{World: steering.WorldOptions{FitFacts: 3, FitFiller: 20, DetectFacts: 4, DetectFiller: 12, Prompts: 4},
		Rank: 30, Iters: 60, Latents: 512, K: 8, Steps: 150, Targets: []float64{0.003, 0.03}, MaxNew: 12}
}

// SteeringStage is the steering comparison of the SNMF paper on the world's ground truth
// (ablate/steering.Compare): the SNMF feature, the TopK SAE latent and the difference in
// means picked for each language and relation, and random directions, steered at matched KL
// at blocks.L.mlp.hook_post of the middle layer, scored by the world's lexicons (concept
// score) and the unsteered model's NLL (fluency).
type SteeringStage struct {
	*steering.Result
	Seconds float64 `json:"seconds"`
}

// RunSteering runs the steering stage at the model's middle layer with the given sizes.
func RunSteering(in Inputs, sz SteeringSizes, say func(string, ...any)) (*SteeringStage, error) {
	if in.Steering == nil {
		return nil, fmt.Errorf("demo: the steering stage needs the world's ground_truth.json")
	}
	start := time.Now()
	m := in.Model
	task, err := steering.FromWorld(in.Steering.GroundTruth, in.Steering.Source, in.Tokenizer.TokenToID, m.Config.BOS, sz.World)
	if err != nil {
		return nil, err
	}
	opt := steering.DefaultOptions(m.Config.NLayers / 2)
	opt.SNMF.Rank, opt.SNMF.MaxIter = sz.Rank, sz.Iters
	opt.SAE = sae.TrainConfig{Arch: sae.TopK, DSAE: sz.Latents, K: sz.K, Steps: sz.Steps, BatchSize: 128, LR: 1e-3}
	opt.Targets = sz.Targets
	opt.Generate = ablate.SampleOptions{MaxNew: sz.MaxNew, TopK: 30, TopP: 0.3, Seed: 1}
	opt.RandomDirections, opt.Bootstrap = 1, 500
	opt.Progress = func(s string) { say("  %s", s) }
	res, err := steering.Compare(context.Background(), m, task, opt)
	if err != nil {
		return nil, err
	}
	return &SteeringStage{Result: res, Seconds: time.Since(start).Seconds()}, nil
}

// steeringStage runs the stage unless skipped or without ground truth.
func (r *Report) steeringStage(in Inputs, opt Options, say func(string, ...any)) error {
	if opt.SkipSteering || in.Steering == nil {
		return nil
	}
	say("steering comparison: SNMF features, SAE latents, diff-in-means and random directions at matched KL (ablate/steering)")
	st, err := RunSteering(in, DemoSteeringSizes(), say)
	if err != nil {
		return err
	}
	r.Steering = st
	return nil
}

// steeringSummary renders the stage.
func (r *Report) steeringSummary(b *strings.Builder) {
	s := r.Steering
	if s == nil {
		return
	}
	fmt.Fprintf(b, "\nsteering comparison (the SNMF paper's, scored by the world's lexicons; %d fit tokens at %s, %.0f s):\n", s.Tokens, s.Point, s.Seconds)
	fmt.Fprintf(b, "  SNMF rank %d (%d neurons per feature), FVU %.3f", s.SNMF.Rank, s.SNMF.Kept, s.SNMF.FVU)
	if s.SAE != nil {
		fmt.Fprintf(b, "; TopK SAE %d latents, FVU %.3f, L0 %.1f, dead %.1f%%, CE increase %.4f nats", s.SAE.Latents, s.SAE.Metrics.FVU, s.SAE.Metrics.L0, 100*s.SAE.Metrics.DeadFraction, s.SAE.Loss.CEIncrease)
	}
	fmt.Fprintf(b, "\n")
	for _, line := range strings.Split(strings.TrimRight(s.TableText(), "\n"), "\n") {
		fmt.Fprintf(b, "  %s\n", line)
	}
}
