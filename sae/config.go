package sae

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
)

// TrainConfig is everything that determines one SAE's training. Two runs with equal
// TrainConfigs on the same batches give bit-identical weights (see Determinism in the package
// doc); a resumed run must use the TrainConfig its checkpoint was written with.
type TrainConfig struct {
	Arch Arch `json:"architecture"` // topk, standard or jumprelu
	DIn  int  `json:"d_in"`         // input width
	DSAE int  `json:"d_sae"`        // latents
	// Column is where this SAE's input starts within a batch row, for several taps trained
	// from one pass (rows hold the taps side by side); 0 for a single tap.
	Column int `json:"column"`

	// K is the number of latents kept per token (topk), or on average per token of a batch
	// (BatchTopK).
	K int `json:"k,omitempty"`
	// BatchTopK keeps the K·n largest activations of a batch of n tokens instead of K per
	// token (Bussmann et al. 2024); the saved SAE is a JumpReLU whose threshold is the running
	// average of the smallest kept activation, as SAELens saves its BatchTopK SAEs.
	BatchTopK bool `json:"batch_topk,omitempty"`
	// BatchTopKThresholdLR is the averaging rate of that threshold (SAELens: 0.01).
	BatchTopKThresholdLR float64 `json:"batch_topk_threshold_lr,omitempty"`
	// AuxK is the number of dead latents per token that the auxiliary loss uses (0: none).
	AuxK int `json:"auxk,omitempty"`
	// AuxKCoef weighs the auxiliary loss (OpenAI: 1/32).
	AuxKCoef float64 `json:"auxk_coef,omitempty"`
	// DeadTokens is how many training tokens a latent may go without firing before it counts
	// as dead (for AuxK and for the reported dead fraction); the window in steps is
	// DeadTokens / BatchSize, rounded down.
	DeadTokens int64 `json:"dead_tokens"`

	// Sparsity is λ: the L1 coefficient (standard) or the L0 coefficient (jumprelu).
	Sparsity float64 `json:"sparsity_coefficient,omitempty"`
	// SparsityWarmup is the number of steps over which λ rises linearly from 0.
	SparsityWarmup int `json:"sparsity_warmup_steps,omitempty"`
	// Bandwidth is the JumpReLU straight-through estimators' ε.
	Bandwidth float64 `json:"jumprelu_bandwidth,omitempty"`
	// InitThreshold is the JumpReLU threshold at initialisation.
	InitThreshold float64 `json:"jumprelu_init_threshold,omitempty"`
	// DecoderInitNorm is the norm of every decoder row at initialisation (standard and
	// jumprelu; SAELens: 0.1). TopK starts from unit-norm rows.
	DecoderInitNorm float64 `json:"decoder_init_norm,omitempty"`

	// ScaleInputs trains on c·x with c = √d_in / mean‖x‖ over the statistics sample (SAELens
	// "expected_average_only_in", the Anthropic April 2024 recipe); the saved weights have c
	// folded in, so the saved SAE reads raw activations.
	ScaleInputs bool `json:"scale_inputs"`
	// ApplyBDecToInput subtracts b_dec from the input before encoding (standard, jumprelu;
	// always true for topk, whose b_dec is OpenAI's b_pre).
	ApplyBDecToInput bool `json:"apply_b_dec_to_input"`

	BatchSize int `json:"batch_size"` // tokens per step
	Steps     int `json:"steps"`      // optimiser steps
	// LR is the peak learning rate; the schedule is linear warm-up over LRWarmup steps, then
	// constant or cosine (Schedule) towards LREnd, then a linear decay to 0 over the last
	// LRDecay steps (SAELens's schedule).
	LR       float64 `json:"lr"`
	LRWarmup int     `json:"lr_warmup_steps"` // W
	LRDecay  int     `json:"lr_decay_steps"`  // D
	LREnd    float64 `json:"lr_end"`          // where the cosine ends
	Schedule string  `json:"lr_schedule"`     // "constant" or "cosine"
	Beta1    float64 `json:"adam_beta1"`      // Adam β₁
	Beta2    float64 `json:"adam_beta2"`      // Adam β₂
	Eps      float64 `json:"adam_eps"`        // Adam ε
	// WeightDecay > 0 makes the optimiser AdamW (decoupled decay of the weight matrices).
	WeightDecay float64 `json:"weight_decay"`
	// ClipNorm limits the global gradient norm (0: no clipping).
	ClipNorm float64 `json:"clip_grad_norm"`

	// Seed draws the initial weights.
	Seed uint64 `json:"seed"`
	// StatsRows is how many rows of the statistics sample initialisation uses (geometric
	// median of the first 32768 for topk, data variance, input scale).
	StatsRows int `json:"stats_rows"`
}

// DefaultTrainConfig returns the reference recipe of an architecture for d_in inputs and
// d_sae latents (see the package doc for where every default comes from):
//
//	topk      OpenAI train.py: k 32, auxk min(256, d_sae), auxk_coef 1/32, dead after 10M tokens,
//	          Adam lr 1e-4, eps 6.25e-10, constant rate, no clipping, no input scaling
//	standard  Anthropic April 2024 / SAELens: λ 5 warmed up over 5% of steps, lr 5e-5 decayed
//	          linearly to 0 over the last 20%, Adam (0.9, 0.999, 1e-8), clip 1, E‖x‖ = √d_in,
//	          decoder rows of norm 0.1, W_enc = W_decᵀ, b_dec not subtracted
//	jumprelu  SAELens JumpReLU (λ_L0 1 warmed up over 5%, bandwidth 0.05, clip 1, E‖x‖ = √d_in) with
//	          neuronscope's threshold init 0.1 and lr 3e-3, which reach a low L0 (see the doc)
func DefaultTrainConfig(arch Arch, dIn, dSAE, steps, batch int) TrainConfig {
	c := TrainConfig{Arch: arch, DIn: dIn, DSAE: dSAE, BatchSize: batch, Steps: steps,
		Schedule: "constant", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Seed: 42, StatsRows: 32768}
	switch arch {
	case TopK:
		c.K = min(32, dSAE)
		c.AuxK = min(256, dSAE)
		c.AuxKCoef = 1.0 / 32
		c.DeadTokens = 10_000_000
		c.LR, c.Eps = 1e-4, 6.25e-10
		c.ApplyBDecToInput = true
		c.BatchTopKThresholdLR = 0.01
	case Standard:
		c.Sparsity = 5
		c.SparsityWarmup = steps / 20
		c.LR = 5e-5
		c.LRDecay = steps / 5
		c.ClipNorm = 1
		c.ScaleInputs = true
		c.DecoderInitNorm = 0.1
		c.DeadTokens = 1000 * int64(batch)
	case JumpReLU:
		c.Sparsity = defaultL0Coefficient
		c.SparsityWarmup = steps / 20
		c.Bandwidth, c.InitThreshold = 0.05, 0.1
		c.LR = 3e-3
		c.LRDecay = steps / 5
		c.ClipNorm = 1
		c.ScaleInputs = true
		c.DecoderInitNorm = 0.1
		c.ApplyBDecToInput = true
		c.DeadTokens = 1000 * int64(batch)
	}
	return c
}

// defaultL0Coefficient is neuronscope's default λ_L0 for JumpReLU (see the package doc).
const defaultL0Coefficient = 1

// Validate reports the first setting that cannot be trained, naming its JSON field.
func (c TrainConfig) Validate() error {
	bad := func(field string, format string, a ...any) error {
		return fmt.Errorf("sae: %s: %s", field, fmt.Sprintf(format, a...))
	}
	switch c.Arch {
	case TopK, Standard, JumpReLU:
	default:
		return bad("architecture", "%q is not topk, standard or jumprelu", c.Arch)
	}
	switch {
	case c.DIn < 1:
		return bad("d_in", "%d: want ≥ 1", c.DIn)
	case c.DSAE < 1:
		return bad("d_sae", "%d: want ≥ 1", c.DSAE)
	case c.Column < 0:
		return bad("column", "%d: want ≥ 0", c.Column)
	case c.BatchSize < 1:
		return bad("batch_size", "%d: want ≥ 1", c.BatchSize)
	case c.Steps < 1:
		return bad("steps", "%d: want ≥ 1", c.Steps)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return bad("lr", "%g: want > 0", c.LR)
	case c.LRWarmup < 0 || c.LRDecay < 0 || c.LRWarmup+c.LRDecay > c.Steps:
		return bad("lr_warmup_steps/lr_decay_steps", "%d + %d: want ≥ 0 and at most steps (%d)", c.LRWarmup, c.LRDecay, c.Steps)
	case c.Schedule != "constant" && c.Schedule != "cosine":
		return bad("lr_schedule", "%q: want constant or cosine", c.Schedule)
	case c.LREnd < 0 || c.LREnd > c.LR:
		return bad("lr_end", "%g: want 0 ≤ lr_end ≤ lr", c.LREnd)
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1:
		return bad("adam_beta1/adam_beta2", "(%g, %g): want [0, 1)", c.Beta1, c.Beta2)
	case !(c.Eps > 0):
		return bad("adam_eps", "%g: want > 0", c.Eps)
	case c.WeightDecay < 0 || c.ClipNorm < 0:
		return bad("weight_decay/clip_grad_norm", "%g, %g: want ≥ 0", c.WeightDecay, c.ClipNorm)
	case c.StatsRows < 1:
		return bad("stats_rows", "%d: want ≥ 1", c.StatsRows)
	case c.DeadTokens < 0:
		return bad("dead_tokens", "%d: want ≥ 0", c.DeadTokens)
	case c.Sparsity < 0 || c.SparsityWarmup < 0:
		return bad("sparsity_coefficient/sparsity_warmup_steps", "%g, %d: want ≥ 0", c.Sparsity, c.SparsityWarmup)
	}
	switch c.Arch {
	case TopK:
		if c.K < 1 || c.K > c.DSAE {
			return bad("k", "%d is not in 1..d_sae (%d)", c.K, c.DSAE)
		}
		if c.AuxK < 0 || c.AuxK > c.DSAE {
			return bad("auxk", "%d is not in 0..d_sae (%d)", c.AuxK, c.DSAE)
		}
		if c.AuxKCoef < 0 {
			return bad("auxk_coef", "%g: want ≥ 0", c.AuxKCoef)
		}
		if !c.ApplyBDecToInput {
			return bad("apply_b_dec_to_input", "a topk SAE always subtracts b_pre")
		}
		if c.BatchTopK && !(c.BatchTopKThresholdLR > 0 && c.BatchTopKThresholdLR <= 1) {
			return bad("batch_topk_threshold_lr", "%g: want in (0, 1]", c.BatchTopKThresholdLR)
		}
	case JumpReLU:
		if !(c.Bandwidth > 0) {
			return bad("jumprelu_bandwidth", "%g: want > 0", c.Bandwidth)
		}
		if !(c.InitThreshold > 0) {
			return bad("jumprelu_init_threshold", "%g: want > 0 (θ = exp(log θ))", c.InitThreshold)
		}
		fallthrough
	case Standard:
		if !(c.DecoderInitNorm > 0) {
			return bad("decoder_init_norm", "%g: want > 0", c.DecoderInitNorm)
		}
	}
	if c.Arch != TopK && (c.BatchTopK || c.AuxK != 0) {
		return bad("batch_topk/auxk", "apply to topk SAEs only")
	}
	return nil
}

// Rate is the learning rate of step s (0-based), as SAELens's scheduler computes it:
// lr·(s+1)/W during the W warm-up steps; then lr (constant) or a cosine from lr to lr_end over
// the main phase; then, over the last D steps, a linear decay from lr (constant) or lr_end
// (cosine) to 0.
func (c TrainConfig) Rate(s int) float64 {
	W, D := c.LRWarmup, c.LRDecay
	if s < W {
		return c.LR * float64(s+1) / float64(W)
	}
	end := c.LR
	if c.Schedule == "cosine" {
		end = c.LREnd
	}
	if D > 0 && s >= c.Steps-D {
		t := float64(s - (c.Steps - D))
		return end * (1 - t/float64(D))
	}
	if c.Schedule == "cosine" {
		T := float64(c.Steps - W - D)
		if T <= 0 {
			return c.LR
		}
		t := float64(s - W)
		return c.LREnd + (c.LR-c.LREnd)*(1+math.Cos(math.Pi*t/T))/2
	}
	return c.LR
}

// Coefficient is λ at step s (0-based): λ·min(s, warm-up)/warm-up, as SAELens's coefficient
// scheduler gives it (0 at the first step when there is a warm-up).
func (c TrainConfig) Coefficient(s int) float64 {
	if c.SparsityWarmup <= 0 || s >= c.SparsityWarmup {
		return c.Sparsity
	}
	return c.Sparsity * float64(s) / float64(c.SparsityWarmup)
}

// deadSteps is the dead window in steps.
func (c TrainConfig) deadSteps() int64 { return c.DeadTokens / int64(c.BatchSize) }

// diff lists the JSON fields in which two configurations differ, "field: old → new".
func (c TrainConfig) diff(o TrainConfig) []string {
	a, _ := json.Marshal(c)
	b, _ := json.Marshal(o)
	var ma, mb map[string]any
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	var out []string
	for k, va := range ma {
		if vb, ok := mb[k]; !ok || !reflect.DeepEqual(va, vb) {
			out = append(out, fmt.Sprintf("%s: %v → %v", k, va, mb[k]))
		}
	}
	for k, vb := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (unset) → %v", k, vb))
		}
	}
	sort.Strings(out)
	return out
}

// describe is a one-line summary for progress output.
func (c TrainConfig) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d→%d", c.Arch, c.DIn, c.DSAE)
	switch c.Arch {
	case TopK:
		if c.BatchTopK {
			fmt.Fprintf(&b, " batch-k=%d", c.K)
		} else {
			fmt.Fprintf(&b, " k=%d", c.K)
		}
	default:
		fmt.Fprintf(&b, " λ=%g", c.Sparsity)
	}
	return b.String()
}
