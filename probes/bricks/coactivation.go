package bricks

import (
	"errors"
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/probes/spectra"
)

// Pattern selects what a neuron's activation pattern over the tokens is.
type Pattern int

const (
	// Values uses the activations themselves: neurons are compared by the Pearson
	// correlation of their activations.
	Values Pattern = iota
	// Firing uses the indicator x > Threshold: neurons are compared by the correlation of
	// their firing (the phi coefficient), MoEfication's notion of co-activation.
	Firing
)

// String names the pattern as the JSON and CLI spell it.
func (p Pattern) String() string {
	if p == Firing {
		return "firing"
	}
	return "values"
}

// CoActivationOptions configures a CoActivation.
type CoActivationOptions struct {
	Pattern Pattern
	// Threshold is the firing threshold of the Firing pattern (default 0).
	Threshold float32
	// Covariance configures the underlying accumulator.
	Covariance spectra.Options
}

// CoActivation accumulates, over a dataset, the statistics that compare a layer's neurons:
// the float64 mean and covariance of their activation patterns (a spectra.Covariance of the
// pattern rows). The zero value is not usable; call NewCoActivation.
type CoActivation struct {
	opts CoActivationOptions
	cov  *spectra.Covariance
	buf  []float32
}

// NewCoActivation returns an empty accumulator for width neurons. It panics if width < 1.
func NewCoActivation(width int, opts CoActivationOptions) *CoActivation {
	return &CoActivation{opts: opts, cov: spectra.NewCovariance(width, opts.Covariance)}
}

// Width is the number of neurons.
func (c *CoActivation) Width() int { return c.cov.Width() }

// N is the number of tokens accumulated.
func (c *CoActivation) N() int64 { return c.cov.N() }

// Pattern is the activation pattern the accumulator compares.
func (c *CoActivation) Pattern() Pattern { return c.opts.Pattern }

// pattern returns the rows to accumulate: x itself, or its firing indicator.
func (c *CoActivation) pattern(x []float32) []float32 {
	if c.opts.Pattern != Firing {
		return x
	}
	if cap(c.buf) < len(x) {
		c.buf = make([]float32, len(x))
	}
	b := c.buf[:len(x)]
	for i, v := range x {
		b[i] = 0
		if v > c.opts.Threshold {
			b[i] = 1
		}
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 { // the accumulator rejects NaN and ±Inf
			b[i] = v
		}
	}
	return b
}

// Add accumulates rows of activations: x is [rows, width] row-major (e.g. a layer's
// blocks.L.mlp.hook_post flattened to [batch·pos, d_mlp]). Errors as spectra.Covariance.Add.
func (c *CoActivation) Add(x []float32, rows int) error { return c.cov.Add(c.pattern(x), rows) }

// AddMasked accumulates the rows of x ([len(mask), width]) whose mask entry is true.
func (c *CoActivation) AddMasked(x []float32, mask []bool) error {
	return c.cov.AddMasked(c.pattern(x), mask)
}

// Merge adds o's tokens to c (see spectra.Covariance.Merge). It returns an error when the
// widths or patterns differ.
func (c *CoActivation) Merge(o *CoActivation) error {
	if c.opts.Pattern != o.opts.Pattern || c.opts.Threshold != o.opts.Threshold {
		return fmt.Errorf("bricks: cannot merge %s co-activation (threshold %g) into %s (threshold %g)",
			o.opts.Pattern, o.opts.Threshold, c.opts.Pattern, c.opts.Threshold)
	}
	return c.cov.Merge(o.cov)
}

// Covariance is the underlying accumulator (of the pattern rows).
func (c *CoActivation) Covariance() *spectra.Covariance { return c.cov }

// Correlation returns the correlation matrix of the neurons' patterns, [width, width]
// row-major: R_ij = Σ_ij/√(Σ_ii Σ_jj). A neuron whose pattern is constant over the dataset
// (variance ≤ 1e-12 × the largest variance, or 0) has no correlation; it is reported in
// constant, and its row and column are 0. It returns an error with fewer than two tokens.
func (c *CoActivation) Correlation() (corr []float64, constant []bool, err error) {
	if c.cov.N() < 2 {
		return nil, nil, errors.New("bricks: co-activation needs at least two tokens")
	}
	w := c.cov.Width()
	corr = c.cov.Matrix(nil)
	var vmax float64
	for i := range w {
		vmax = max(vmax, corr[i*w+i])
	}
	constant = make([]bool, w)
	sd := make([]float64, w)
	for i := range w {
		v := corr[i*w+i]
		constant[i] = !(v > 1e-12*vmax) || v == 0
		if !constant[i] {
			sd[i] = math.Sqrt(v)
		}
	}
	for i := range w {
		row := corr[i*w : (i+1)*w]
		for j := range row {
			if constant[i] || constant[j] {
				row[j] = 0
			} else {
				row[j] /= sd[i] * sd[j]
			}
		}
		if !constant[i] {
			row[i] = 1
		}
	}
	return corr, constant, nil
}
