package linear

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/decompose"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Pool says which positions of a prompt a probe reads.
type Pool int

const (
	// Last reads the prompt's last position: where the next token (a question's answer) is
	// predicted.
	Last Pool = iota
	// Mean averages every position of the prompt after its leading BOS tokens.
	Mean
	// Max takes each unit's largest value over the positions Mean averages.
	Max
)

// String names the pooling as the JSON and CLI spell it.
func (p Pool) String() string {
	switch p {
	case Mean:
		return "mean"
	case Max:
		return "max"
	}
	return "last"
}

// ParsePool reads "last", "mean" or "max".
func ParsePool(s string) (Pool, error) {
	switch s {
	case "last":
		return Last, nil
	case "mean":
		return Mean, nil
	case "max":
		return Max, nil
	}
	return 0, fmt.Errorf("pooling %q: want last, mean or max", s)
}

// Codes turns a tap's activation rows into unit activations (SNMF coefficients, SAE latents):
// the seam through which probes (and data selection) read features instead of raw neurons.
// SNMFCodes adapts decompose.Features; an SAE adapts the same way (Encode: its latents,
// Direction: Σ_j d_j·W_dec[j]).
type Codes interface {
	// Width is the activation width read; Units the number of units written.
	Width() int
	Units() int
	// Encode writes the codes of rows ([n, Width]) into dst ([n, Units]).
	Encode(dst, rows []float32) error
	// Direction writes into dst ([Width]) the activation-space vector of a unit-space vector
	// d ([Units]): Σ_j d_j · (unit j's write direction), what adding d to the codes adds to
	// the activation.
	Direction(dst []float32, d []float64)
}

// snmfCodes adapts SNMF features.
type snmfCodes struct{ f *decompose.Features }

// SNMFCodes returns the Codes of SNMF features: the exact non-negative least-squares
// coefficients of each row (decompose.Features.Coefficients), and F·d as the direction of d
// (adding F·d to an activation x changes its unconstrained least-squares coefficients
// (FᵀF)⁻¹Fᵀx by exactly d, and the non-negative ones by d while the active set stays).
func SNMFCodes(f *decompose.Features) Codes { return snmfCodes{f} }

func (s snmfCodes) Width() int                       { return s.f.DMLP }
func (s snmfCodes) Units() int                       { return s.f.Rank }
func (s snmfCodes) Encode(dst, rows []float32) error { return s.f.Coefficients(dst, rows) }
func (s snmfCodes) Direction(dst []float32, d []float64) {
	k := s.f.Rank
	for i := range dst {
		var v float64
		for j, dj := range d {
			v += float64(s.f.F[i*k+j]) * dj
		}
		dst[i] = float32(v)
	}
}

// Encoder encodes activation rows into latents, the method a sparse autoencoder offers
// (sae.SAE.Encode has this form): the latents [n, units] of x [n, width], in dst when it is
// large enough.
type Encoder interface {
	Encode(dst, x []float32) []float32
}

// encoderCodes adapts an Encoder with its decoder.
type encoderCodes struct {
	e            Encoder
	width, units int
	dec          []float32
}

// EncoderCodes returns the Codes of an encoder of width-wide activations into units latents
// (an SAE's hook_sae_acts_post) whose decoder rows are dec ([units, width] row-major: latent
// j writes dec[j·width:(j+1)·width]), so that the direction of d is Σ_j d_j·dec_j. For a
// sae.SAE s: EncoderCodes(s, s.DIn, s.DSAE, s.WDec). It panics when len(dec) ≠ units·width.
func EncoderCodes(e Encoder, width, units int, dec []float32) Codes {
	if len(dec) != units*width {
		panic(fmt.Sprintf("linear: decoder of %d values for %d latents × %d", len(dec), units, width))
	}
	return encoderCodes{e, width, units, dec}
}

func (c encoderCodes) Width() int { return c.width }
func (c encoderCodes) Units() int { return c.units }
func (c encoderCodes) Encode(dst, rows []float32) error {
	n := len(rows) / c.width
	if len(rows) != n*c.width || len(dst) != n*c.units {
		return fmt.Errorf("linear: encode %d values of width %d into %d of %d latents", len(rows), c.width, len(dst), c.units)
	}
	out := c.e.Encode(dst, rows)
	if len(out) != len(dst) {
		return fmt.Errorf("linear: the encoder returned %d latents for %d rows of %d", len(out), n, c.units)
	}
	copy(dst, out) // a no-op when the encoder wrote into dst
	return nil
}
func (c encoderCodes) Direction(dst []float32, d []float64) {
	acc := make([]float64, c.width)
	for j, dj := range d {
		if dj == 0 {
			continue
		}
		for i, w := range c.dec[j*c.width : (j+1)*c.width] {
			acc[i] += dj * float64(w)
		}
	}
	for i, v := range acc {
		dst[i] = float32(v)
	}
}

// CollectOptions configure Collect.
type CollectOptions struct {
	// Pool says which positions are read (default Last).
	Pool Pool
	// BOS is the id whose leading occurrences Mean and Max leave out (< 0: none).
	BOS int
	// Batch is the number of prompts per forward pass (0: corpus.DefaultPromptBatch).
	Batch int
	// Codes, when set for a point, encodes each token's activation at that point before
	// pooling: the point's result is then [prompts, Units].
	Codes map[hooks.Point]Codes
	// Magnitude pools |x| instead of x (after encoding): a unit's activity, whatever its sign.
	Magnitude bool
}

// Collect runs the prompts through m (corpus.ForEachPromptBatch: left-padded batches) and
// returns, for each point, the [len(prompts), width] matrix of the activations pooled per
// prompt (row i is prompt i), or of their codes (opt.Codes). Points must be per-token taps of
// the model ([batch, pos, width]); a prompt whose every position is a leading BOS is an error
// under Mean and Max.
func Collect(m *model.Model, prompts [][]int, points []hooks.Point, opt CollectOptions) ([][]float32, error) {
	cat := m.Catalog()
	out := make([][]float32, len(points))
	widths := make([]int, len(points))
	for i, p := range points {
		if !cat.Has(p) || !p.Site.PerLayer() || !p.Site.PerPosition() || len(cat.Shape(p)) != 1 {
			return nil, fmt.Errorf("linear: this model has no per-token tap %s", p)
		}
		widths[i] = cat.Width(p)
		if c := opt.Codes[p]; c != nil {
			if c.Width() != widths[i] {
				return nil, fmt.Errorf("linear: codes of width %d for %s of width %d", c.Width(), p, widths[i])
			}
			widths[i] = c.Units()
		}
		out[i] = make([]float32, len(prompts)*widths[i])
	}
	hooksFor := func(rows []int, b model.Batch) []hooks.Option {
		opts := make([]hooks.Option, len(points))
		for pi, p := range points {
			w := widths[pi]
			codes := opt.Codes[p]
			opts[pi] = hooks.ObservePoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
				aw := a.Shape[2]
				for k, i := range rows {
					ids := prompts[i]
					first := b.Len - len(ids)
					lo := b.Len - 1
					if opt.Pool != Last {
						lo = first
						for j := 0; opt.BOS >= 0 && j < len(ids) && ids[j] == opt.BOS; j++ {
							lo++
						}
						if lo == b.Len {
							return fmt.Errorf("prompt %d has no position after its BOS", i)
						}
					}
					n := b.Len - lo
					x := a.Data[(k*b.Len+lo)*aw : (k*b.Len+b.Len)*aw]
					if codes != nil {
						enc := make([]float32, n*w)
						if err := codes.Encode(enc, x); err != nil {
							return fmt.Errorf("prompt %d: %w", i, err)
						}
						x = enc
					}
					dst := out[pi][i*w : (i+1)*w]
					for j := range dst {
						var s float64
						for t := range n {
							v := float64(x[t*w+j])
							if opt.Magnitude {
								v = math.Abs(v)
							}
							switch {
							case opt.Pool != Max:
								s += v
							case t == 0 || v > s:
								s = v
							}
						}
						if opt.Pool != Max {
							s /= float64(n)
						}
						dst[j] = float32(s)
					}
				}
				return nil
			})
		}
		return opts
	}
	err := corpus.ForEachPromptBatch(m, prompts, opt.Batch, 0, hooksFor, func([]int, model.Batch, *model.Result) error { return nil })
	if err != nil {
		return nil, err
	}
	for pi, x := range out {
		for i, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("linear: %s of prompt %d is %v", points[pi], i/widths[pi], v)
			}
		}
	}
	return out, nil
}
