package sae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Trainer trains one SAE: its weights in training layout, the optimiser state, the dead-latent
// counters and the step. It is not safe for concurrent use. Its layout is latent-major for both
// matrices, enc [d_sae, d_in] (= W_encᵀ, OpenAI's encoder.weight) and dec [d_sae, d_in], so the
// sparse TopK backward touches whole contiguous rows; SAE converts to SAELens's layout.
type Trainer struct {
	cfg TrainConfig

	p, g params // weights and gradients
	m, v params // Adam moments

	step     int
	tokens   int64
	inited   bool
	sinceHit []int64 // steps since each latent last fired (OpenAI stats_last_nonzero)
	mseScale float64 // topk: 1 / data variance
	inScale  float64 // input scale c (1 without ScaleInputs)
	bthresh  float64 // BatchTopK threshold (running average)

	ws workspace

	savedHits []int64 // counters before the current step, restored if it fails

	// sparseBelow is the code density under which standard and jumprelu steps run sparse.
	sparseBelow float64

	// afterProject, when set (tests), runs after the TopK decoder renormalisation and gradient
	// projection, before the optimiser update.
	afterProject func(t *Trainer)
}

// params are the trainable tensors; logTh is nil except for jumprelu.
type params struct {
	enc, bEnc, dec, bDec, logTh []float32
}

func (p *params) list() [][]float32 {
	l := [][]float32{p.enc, p.bEnc, p.dec, p.bDec}
	if p.logTh != nil {
		l = append(l, p.logTh)
	}
	return l
}

func newParams(c TrainConfig) params {
	p := params{enc: make([]float32, c.DSAE*c.DIn), bEnc: make([]float32, c.DSAE),
		dec: make([]float32, c.DSAE*c.DIn), bDec: make([]float32, c.DIn)}
	if c.Arch == JumpReLU {
		p.logTh = make([]float32, c.DSAE)
	}
	return p
}

// NewTrainer validates cfg and allocates a trainer; Init must run before the first Step.
func NewTrainer(cfg TrainConfig) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, p: newParams(cfg), g: newParams(cfg), m: newParams(cfg), v: newParams(cfg),
		sinceHit: make([]int64, cfg.DSAE), inScale: 1, sparseBelow: sparseBelow}
	return t, nil
}

// Config returns the trainer's configuration.
func (t *Trainer) Config() TrainConfig { return t.cfg }

// Steps returns the number of optimiser steps taken.
func (t *Trainer) Steps() int { return t.step }

// Done reports whether the trainer has taken all its steps.
func (t *Trainer) Done() bool { return t.step >= t.cfg.Steps }

// input copies this SAE's columns of rows [n, width] into dst [n, d_in], scaled by c.
func (t *Trainer) input(dst, rows []float32, n, width int) {
	d, col := t.cfg.DIn, t.cfg.Column
	c := float32(t.inScale)
	for i := range n {
		src := rows[i*width+col : i*width+col+d]
		out := dst[i*d : (i+1)*d]
		if c == 1 {
			copy(out, src)
			continue
		}
		for j, v := range src {
			out[j] = v * c
		}
	}
}

// Init draws the initial weights from cfg.Seed and the statistics sample (rows of width
// width; at most StatsRows are used): the reference initialisation of each architecture (see
// the package doc). It returns an error if the sample is empty, too narrow or not finite.
func (t *Trainer) Init(sample []float32, width int) error {
	c := t.cfg
	if width < c.Column+c.DIn {
		return fmt.Errorf("sae: rows of width %d cannot hold column %d + d_in %d", width, c.Column, c.DIn)
	}
	if width == 0 || len(sample) < width {
		return fmt.Errorf("sae: the statistics sample is empty")
	}
	n := min(len(sample)/width, c.StatsRows)
	x := make([]float32, n*c.DIn)
	t.input(x, sample, n, width)
	if ok, at := finite(x); !ok {
		return fmt.Errorf("sae: statistics sample row %d has a non-finite activation", at/c.DIn)
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x5ae1417))
	if c.ScaleInputs {
		var s float64
		for i := range n {
			s += norm(x[i*c.DIn : (i+1)*c.DIn])
		}
		mean := s / float64(n)
		if !(mean > 0) {
			return fmt.Errorf("sae: the statistics sample has zero mean norm; cannot scale inputs to E‖x‖ = √d_in")
		}
		t.inScale = math.Sqrt(float64(c.DIn)) / mean
		for i := range x {
			x[i] *= float32(t.inScale)
		}
	}
	switch c.Arch {
	case TopK:
		t.initTopK(x, n, rng)
	default:
		t.initSAELens(rng)
	}
	t.inited = true
	return nil
}

// initSAELens is SAELens's initialisation: W_dec [d_sae, d_in] Kaiming-uniform (bound
// √(6/d_in)), rows rescaled to DecoderInitNorm, W_enc = W_decᵀ, biases 0, log θ = log θ₀.
func (t *Trainer) initSAELens(rng *rand.Rand) {
	c := t.cfg
	d := c.DIn
	bound := math.Sqrt(6 / float64(d))
	for i := range t.p.dec {
		t.p.dec[i] = float32(bound * (2*rng.Float64() - 1))
	}
	for j := range c.DSAE {
		row := t.p.dec[j*d : (j+1)*d]
		s := float32(c.DecoderInitNorm / norm(row))
		for i := range row {
			row[i] *= s
		}
	}
	copy(t.p.enc, t.p.dec)
	if t.p.logTh != nil {
		l := float32(math.Log(c.InitThreshold))
		for j := range t.p.logTh {
			t.p.logTh[j] = l
		}
	}
}

// StepStats is what one training step reports.
type StepStats struct {
	Step   int   `json:"step"`   // 1-based
	Tokens int64 `json:"tokens"` // tokens trained on so far
	// Loss is the training objective of the batch (in the scaled space when inputs are scaled).
	Loss float64 `json:"loss"`
	// MSE is the mean squared reconstruction error per element, in the input's units.
	MSE float64 `json:"mse"`
	// FVU is Σ‖x − x̂‖² / Σ‖x − x̄‖² over the batch (x̄ its mean).
	FVU float64 `json:"fvu"`
	// AuxLoss is the AuxK term (topk) or the sparsity term λ·penalty (standard, jumprelu).
	AuxLoss float64 `json:"aux_loss"`
	// L0 is the mean number of active latents per token.
	L0 float64 `json:"l0"`
	// DeadFraction is the fraction of latents that have not fired for DeadTokens tokens.
	DeadFraction float64       `json:"dead_fraction"`
	LR           float64       `json:"lr"`         // learning rate of the step
	GradNorm     float64       `json:"grad_norm"`  // before clipping (and before the TopK projection)
	Elapsed      time.Duration `json:"elapsed_ns"` // wall time of the step
}

// NonFiniteError reports that a step met a NaN or infinity: in the input activations, or in
// the loss or gradients. The trainer's state is left as it was before the step.
type NonFiniteError struct {
	Step int    // 1-based step that failed
	What string // "activations (row r, column c)" or "loss"/"gradients"
}

// Error names the step and what was not finite.
func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("sae: step %d: non-finite %s", e.Step, e.What)
}

// Step trains on one batch: rows [n, width] (this SAE reads columns Column..Column+d_in), n =
// len(rows)/width. A non-finite input, loss or gradient returns a *NonFiniteError and leaves
// the weights unchanged.
func (t *Trainer) Step(rows []float32, width int) (StepStats, error) {
	c := t.cfg
	if !t.inited {
		return StepStats{}, fmt.Errorf("sae: Step before Init")
	}
	if width < c.Column+c.DIn || len(rows)%width != 0 {
		return StepStats{}, fmt.Errorf("sae: batch of %d values is not [n, %d] rows holding column %d + d_in %d", len(rows), width, c.Column, c.DIn)
	}
	n := len(rows) / width
	if n == 0 {
		return StepStats{}, fmt.Errorf("sae: empty batch")
	}
	start := time.Now()
	ws := &t.ws
	ws.size(c, n)
	t.input(ws.x, rows, n, width)
	if ok, at := finite(ws.x); !ok {
		return StepStats{}, &NonFiniteError{Step: t.step + 1, What: fmt.Sprintf("activations (batch row %d, column %d)", at/c.DIn, c.Column+at%c.DIn)}
	}
	var st StepStats
	savedHits := append(t.savedHits[:0], t.sinceHit...)
	t.savedHits = savedHits
	savedThresh := t.bthresh
	switch c.Arch {
	case TopK:
		st = t.topkStep(n)
	default:
		st = t.denseStep(n)
	}
	// The gradient norm doubles as the check for non-finite gradients.
	gradNorm2 := 0.0
	for _, g := range t.g.list() {
		gradNorm2 += sumSqParallel(g)
	}
	if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) || math.IsNaN(gradNorm2) || math.IsInf(gradNorm2, 0) {
		copy(t.sinceHit, savedHits)
		t.bthresh = savedThresh
		what := "loss"
		if !math.IsNaN(st.Loss) && !math.IsInf(st.Loss, 0) {
			what = "gradients"
		}
		return StepStats{}, &NonFiniteError{Step: t.step + 1, What: what}
	}
	st.GradNorm = math.Sqrt(gradNorm2)
	if c.Arch == TopK {
		t.unitNormDecoder()
		if t.afterProject != nil {
			t.afterProject(t)
		}
		if c.ClipNorm > 0 { // OpenAI clips the projected gradient
			gradNorm2 = 0
			for _, g := range t.g.list() {
				gradNorm2 += sumSqParallel(g)
			}
		}
	}
	st.LR = c.Rate(t.step)
	t.adam(st.LR, t.clipFactor(math.Sqrt(gradNorm2)))
	t.step++
	t.tokens += int64(n)
	st.Step, st.Tokens = t.step, t.tokens
	dead := 0
	win := c.deadSteps()
	for _, s := range t.sinceHit {
		if s > win {
			dead++
		}
	}
	st.DeadFraction = float64(dead) / float64(c.DSAE)
	st.MSE /= t.inScale * t.inScale
	st.Elapsed = time.Since(start)
	return st, nil
}

// sumSqParallel is Σ v² in float64, over fixed chunks of 4096 summed in order, so the result
// does not depend on the number of threads.
func sumSqParallel(v []float32) float64 {
	const chunk = 4096
	parts := make([]float64, (len(v)+chunk-1)/chunk)
	parallel(len(parts), 4, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			parts[c] = sumSq(v[c*chunk : min((c+1)*chunk, len(v))])
		}
	})
	var s float64
	for _, p := range parts {
		s += p
	}
	return s
}

// clipFactor is the factor that limits the gradients' global norm gn to ClipNorm: OpenAI's
// rule (clip/max(‖g‖, clip)) for topk, torch.nn.utils.clip_grad_norm_'s (clip/(‖g‖ + 1e-6),
// applied when below 1) for the SAELens architectures; 1 without clipping.
func (t *Trainer) clipFactor(gn float64) float32 {
	c := t.cfg
	if c.ClipNorm <= 0 {
		return 1
	}
	if c.Arch == TopK {
		return float32(c.ClipNorm / math.Max(gn, c.ClipNorm))
	}
	return float32(math.Min(c.ClipNorm/(gn+1e-6), 1))
}

// adam applies one Adam (AdamW when WeightDecay > 0, matrices only) update at learning rate lr
// to the gradients scaled by clip, in PyTorch's arithmetic: m ← β₁m + (1−β₁)g,
// v ← β₂v + (1−β₂)g², p ← p − (lr/(1−β₁ᵗ))·(m / (√v/√(1−β₂ᵗ) + ε)).
func (t *Trainer) adam(lr float64, clip float32) {
	c := t.cfg
	k := float64(t.step + 1)
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	stepSize := float32(lr / (1 - math.Pow(c.Beta1, k)))
	bc2 := float32(math.Sqrt(1 - math.Pow(c.Beta2, k)))
	eps := float32(c.Eps)
	ps, gs, ms, vs := t.p.list(), t.g.list(), t.m.list(), t.v.list()
	for pi := range ps {
		p, g, m, v := ps[pi], gs[pi], ms[pi], vs[pi]
		decay := float32(1)
		if c.WeightDecay > 0 && (pi == 0 || pi == 2) {
			decay = float32(1 - lr*c.WeightDecay)
		}
		parallel(len(p), 1<<14, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				gi := g[i]
				if clip != 1 {
					gi *= clip
				}
				m[i] = b1*m[i] + (1-b1)*gi
				v[i] = b2*v[i] + (1-b2)*gi*gi
				denom := float32(math.Sqrt(float64(v[i])))/bc2 + eps
				p[i] = p[i]*decay - stepSize*(m[i]/denom)
			}
		})
	}
}

// SAE returns the trained SAE in SAELens's layout, with the input scale folded in (so it reads
// raw activations) and a BatchTopK SAE turned into a JumpReLU one. hook and model fill the
// metadata.
func (t *Trainer) SAE(hook string, layer int, modelName string) *SAE {
	c := t.cfg
	d, m := c.DIn, c.DSAE
	arch := c.Arch
	if c.Arch == TopK && c.BatchTopK {
		arch = JumpReLU
	}
	s := New(arch, d, m, c.K)
	if arch != TopK {
		s.K = 0
	}
	s.ApplyBDecToInput = c.ApplyBDecToInput
	s.HookName, s.HookLayer, s.ModelName = hook, layer, modelName
	sc := float32(t.inScale)
	for j := range m {
		for i := range d {
			s.WEnc[i*m+j] = t.p.enc[j*d+i] * sc
		}
	}
	copy(s.BEnc, t.p.bEnc)
	for i, v := range t.p.dec {
		s.WDec[i] = v / sc
	}
	for i, v := range t.p.bDec {
		s.BDec[i] = v / sc
	}
	switch {
	case c.Arch == JumpReLU:
		for j, l := range t.p.logTh {
			s.Threshold[j] = float32(math.Exp(float64(l)))
		}
	case c.BatchTopK:
		for j := range s.Threshold {
			s.Threshold[j] = float32(t.bthresh)
		}
	}
	return s
}
