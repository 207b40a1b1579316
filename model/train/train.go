package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/neuronscope/neuronscope/model"
)

// Config holds the optimiser and schedule settings.
type Config struct {
	Steps       int     `json:"steps"`      // optimiser steps
	BatchSize   int     `json:"batch_size"` // sequences per step
	LR          float64 `json:"lr"`         // peak learning rate, reached after Warmup steps
	MinLR       float64 `json:"min_lr"`     // learning rate at the last step (cosine floor)
	Warmup      int     `json:"warmup"`     // linear warm-up steps
	WeightDecay float64 `json:"weight_decay"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	ClipNorm    float64 `json:"clip_norm"` // global gradient L2 norm limit; 0 means no clipping
	Seed        uint64  `json:"seed"`      // batch order
	PadID       int     `json:"pad_id"`    // token used to pad short sequences (never a target)
	// Pack > 0 fills each batch row with consecutive shuffled sequences up to Pack tokens, so
	// that sentences occur at every position (what learned absolute position embeddings need to
	// generalise across word orders); 0 gives each sequence its own row.
	Pack int `json:"pack,omitempty"`
}

// DefaultConfig is tuned for the demo models: a few layers of width 128 trained on short
// sentences.
func DefaultConfig() Config {
	return Config{Steps: 3000, BatchSize: 64, LR: 3e-3, MinLR: 1e-4, Warmup: 100,
		WeightDecay: 0.1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, ClipNorm: 1, Seed: 1}
}

func (c Config) validate() error {
	switch {
	case c.Steps < 1:
		return fmt.Errorf("train: steps %d: want ≥ 1", c.Steps)
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch size %d: want ≥ 1", c.BatchSize)
	case !(c.LR > 0) || c.MinLR < 0 || c.MinLR > c.LR:
		return fmt.Errorf("train: learning rates lr=%g min_lr=%g: want 0 ≤ min_lr ≤ lr, lr > 0", c.LR, c.MinLR)
	case c.Warmup < 0 || c.Warmup > c.Steps:
		return fmt.Errorf("train: warmup %d: want 0..steps (%d)", c.Warmup, c.Steps)
	case c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 || !(c.Eps > 0):
		return fmt.Errorf("train: AdamW betas (%g, %g) and eps %g: want betas in [0,1) and eps > 0", c.Beta1, c.Beta2, c.Eps)
	case c.Pack < 0:
		return fmt.Errorf("train: pack %d: want ≥ 0", c.Pack)
	case c.WeightDecay < 0 || c.ClipNorm < 0:
		return fmt.Errorf("train: weight decay %g and clip norm %g must be ≥ 0", c.WeightDecay, c.ClipNorm)
	}
	return nil
}

// Rate is the learning rate at step (0-based): linear warm-up, then cosine to MinLR.
func (c Config) Rate(step int) float64 {
	if step < c.Warmup {
		return c.LR * float64(step+1) / float64(c.Warmup)
	}
	span := c.Steps - c.Warmup
	if span <= 1 {
		return c.LR
	}
	frac := float64(step-c.Warmup) / float64(span-1)
	return c.MinLR + 0.5*(c.LR-c.MinLR)*(1+math.Cos(math.Pi*frac))
}

// Step is what one optimiser step reports.
type Step struct {
	Step     int           `json:"step"` // 1-based
	Loss     float64       `json:"loss"` // mean cross-entropy of the step's batch (nats/token)
	LR       float64       `json:"lr"`
	GradNorm float64       `json:"grad_norm"` // before clipping
	Tokens   int           `json:"tokens"`    // target tokens so far
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Trainer holds a model and its AdamW state. It is not safe for concurrent use.
type Trainer struct {
	m      *model.Model
	cfg    Config
	params []*model.Param
	mom    [][]float32 // first moments, by params index
	vel    [][]float32 // second moments
	step   int
	order  []int // current epoch's sequence order
	next   int   // position in order
	rng    *rand.Rand
	tokens int
}

// New prepares to train m with cfg. The weights are copied to memory owned by the model if
// they are not already (Init does this), since training writes them.
func New(m *model.Model, cfg Config) (*Trainer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Trainer{m: m, cfg: cfg, params: m.Params(), rng: rand.New(rand.NewPCG(cfg.Seed, 0x6261746368))}
	for _, p := range t.params {
		p.Data = append([]float32(nil), p.Data...)
		t.mom = append(t.mom, make([]float32, len(p.Data)))
		t.vel = append(t.vel, make([]float32, len(p.Data)))
	}
	return t, nil
}

// Run trains for cfg.Steps steps on seqs (token ids, each starting with its BOS if the model
// uses one), calling onStep (if not nil) after every step.
func (t *Trainer) Run(seqs [][]int, onStep func(Step)) error {
	if len(seqs) == 0 {
		return fmt.Errorf("train: no training sequences")
	}
	for i, s := range seqs {
		if len(s) < 2 {
			return fmt.Errorf("train: sequence %d has %d tokens: need ≥ 2 for a next-token target", i, len(s))
		}
		if len(s) > t.m.Config.MaxPos {
			return fmt.Errorf("train: sequence %d has %d tokens, more than the model's %d positions", i, len(s), t.m.Config.MaxPos)
		}
		if t.cfg.Pack > 0 && len(s) > t.cfg.Pack {
			return fmt.Errorf("train: sequence %d has %d tokens, more than the %d-token packed rows", i, len(s), t.cfg.Pack)
		}
		for _, id := range s {
			if id < 0 || id >= t.m.Config.DVocab {
				return fmt.Errorf("train: sequence %d has token %d outside the vocabulary (%d)", i, id, t.m.Config.DVocab)
			}
		}
	}
	if t.cfg.Pack > t.m.Config.MaxPos {
		return fmt.Errorf("train: pack %d is more than the model's %d positions", t.cfg.Pack, t.m.Config.MaxPos)
	}
	start := time.Now()
	for t.step < t.cfg.Steps {
		rows, targets := t.draw(seqs)
		loss, norm, n, err := t.update(rows, targets)
		if err != nil {
			return fmt.Errorf("train: step %d: %w", t.step+1, err)
		}
		t.step++
		t.tokens += n
		if onStep != nil {
			onStep(Step{Step: t.step, Loss: loss, LR: t.cfg.Rate(t.step - 1), GradNorm: norm, Tokens: t.tokens, Elapsed: time.Since(start)})
		}
	}
	return nil
}

// draw returns the next batch: BatchSize rows, each one sequence of a seeded per-epoch
// shuffle or, with Pack > 0, as many consecutive shuffled sequences as fit in Pack tokens.
// targets[row][p] is the token expected after position p, or -1 (at the end of every
// sequence: packed sequences never predict across their boundary).
func (t *Trainer) draw(seqs [][]int) (rows, targets [][]int) {
	peek := func() []int {
		if t.next >= len(t.order) {
			t.order = t.rng.Perm(len(seqs))
			t.next = 0
		}
		return seqs[t.order[t.next]]
	}
	for len(rows) < t.cfg.BatchSize {
		var row, tgt []int
		for {
			s := peek()
			if len(row) > 0 && len(row)+len(s) > t.cfg.Pack {
				break
			}
			t.next++
			row = append(row, s...)
			tgt = append(tgt, s[1:]...)
			tgt = append(tgt, -1)
			if t.cfg.Pack == 0 {
				break
			}
		}
		rows, targets = append(rows, row), append(targets, tgt)
	}
	return rows, targets
}

// update runs one forward/backward pass and one AdamW step. It returns the batch loss, the
// gradient norm before clipping and the number of target tokens.
func (t *Trainer) update(rows, rowTargets [][]int) (loss, norm float64, n int, err error) {
	b, err := model.NewBatch(rows, model.PadRight, t.cfg.PadID)
	if err != nil {
		return 0, 0, 0, err
	}
	targets := make([]int, b.Size*b.Len)
	for i := range targets {
		targets[i] = -1
	}
	for i, tg := range rowTargets {
		for p, id := range tg {
			targets[i*b.Len+p] = id
			if id >= 0 {
				n++
			}
		}
	}
	loss, grads, err := t.m.WeightGradients(b, targets)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, p := range t.params {
		for _, g := range grads[p.Name] {
			norm += float64(g) * float64(g)
		}
	}
	norm = math.Sqrt(norm)
	scale := 1.0
	if t.cfg.ClipNorm > 0 && norm > t.cfg.ClipNorm {
		scale = t.cfg.ClipNorm / norm
	}
	t.adamw(grads, float32(scale))
	return loss, norm, n, nil
}

// adamw applies one AdamW step with the gradients scaled by scale.
func (t *Trainer) adamw(grads map[string][]float32, scale float32) {
	c := t.cfg
	lr := c.Rate(t.step)
	k := float64(t.step + 1)
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	c1 := float32(1 / (1 - math.Pow(c.Beta1, k)))
	c2 := float32(1 / (1 - math.Pow(c.Beta2, k)))
	eps := float32(c.Eps)
	for i, p := range t.params {
		g, m, v, w := grads[p.Name], t.mom[i], t.vel[i], p.Data
		decay := float32(1)
		if len(p.Shape) >= 2 {
			decay = float32(1 - lr*c.WeightDecay)
		}
		step := float32(lr)
		for j := range w {
			gj := g[j] * scale
			m[j] = b1*m[j] + (1-b1)*gj
			v[j] = b2*v[j] + (1-b2)*gj*gj
			mh, vh := m[j]*c1, v[j]*c2
			w[j] = w[j]*decay - step*mh/(float32(math.Sqrt(float64(vh)))+eps)
		}
	}
}
