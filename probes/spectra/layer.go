package spectra

import (
	"fmt"
	"sync"

	"github.com/neuronscope/neuronscope/model/report"
)

// Schema names the JSON document of a Report.
const Schema = "neuronscope.spectra/v1"

// Side is one spectrum of a layer (pre- or post-activation): NerVE's measures plus the rank
// information needed to judge them.
type Side struct {
	// Point is the hook point the activations came from (e.g. blocks.3.mlp.hook_pre).
	Point string `json:"point,omitempty"`
	Measures
	// Tokens is the number of activation rows N; Width the number of neurons D.
	Tokens int64 `json:"tokens"`
	Width  int   `json:"width"`
	// RankBound is min(N−1, D), the largest possible rank of the sample covariance.
	RankBound int64 `json:"rank_bound"`
	// NumericalRank counts eigenvalues above D·2⁻⁵²·λ_max (numpy.linalg.matrix_rank's rule).
	NumericalRank int `json:"numerical_rank"`
	// AtFloor counts eigenvalues clamped to the 1e-12 floor.
	AtFloor int `json:"at_floor"`
	// Eigenvalues is the spectrum (descending, clamped), when requested.
	Eigenvalues []float64 `json:"eigenvalues,omitempty"`
}

// Layer is the NerVE analysis of one layer: the spectra of the FFN pre-activation (W_in or
// gate_proj output, blocks.L.mlp.hook_pre) and post-activation (the input of W_out/down_proj,
// blocks.L.mlp.hook_post), their JS divergence and NerVE's derived quantities.
type Layer struct {
	Layer int  `json:"layer"`
	Pre   Side `json:"pre"`
	Post  Side `json:"post"`
	// JS is JensenShannon(pre spectrum, post spectrum).
	JS float64 `json:"js"`
	// PRGain is PR_post/max(PR_pre, 1e-12); EEEDiff is EEE_post − EEE_pre.
	PRGain  float64 `json:"pr_gain"`
	EEEDiff float64 `json:"eee_diff"`
	// Warnings flag spectra whose measures are shifted by rank deficiency (N ≤ D).
	Warnings []string `json:"warnings,omitempty"`
}

// Summary is the mean of each per-layer quantity over the layers (NerVEResult.summary).
type Summary struct {
	SEPre   float64 `json:"se_pre_mean"`
	SEPost  float64 `json:"se_post_mean"`
	PRPre   float64 `json:"pr_pre_mean"`
	PRPost  float64 `json:"pr_post_mean"`
	EEEPre  float64 `json:"eee_pre_mean"`
	EEEPost float64 `json:"eee_post_mean"`
	JS      float64 `json:"js_mean"`
	PRGain  float64 `json:"pr_gain_mean"`
	EEEDiff float64 `json:"eee_diff_mean"`
}

// Report is the spectra document (schema neuronscope.spectra/v1).
type Report struct {
	Schema     string            `json:"schema"`
	Provenance report.Provenance `json:"provenance"`
	Layers     []Layer           `json:"layers"`
	Summary    Summary           `json:"summary"`
	Warnings   []string          `json:"warnings,omitempty"`
	// Settings records how the activations were collected (the CLI's data, context, BOS and
	// precision settings); Analyze leaves it nil.
	Settings any `json:"settings,omitempty"`
}

// Pair holds the pre- and post-activation accumulators of one layer.
type Pair struct {
	Layer     int
	PrePoint  string // hook name of Pre, reported as Side.Point
	PostPoint string
	Pre, Post *Covariance
}

// NewPair returns empty accumulators for one layer, both of the given width (d_mlp), named
// after the TransformerLens hook points blocks.L.mlp.hook_pre and blocks.L.mlp.hook_post.
func NewPair(layer, width int, opts Options) *Pair {
	return &Pair{Layer: layer,
		PrePoint:  fmt.Sprintf("blocks.%d.mlp.hook_pre", layer),
		PostPoint: fmt.Sprintf("blocks.%d.mlp.hook_post", layer),
		Pre:       NewCovariance(width, opts), Post: NewCovariance(width, opts)}
}

// Merge adds o's accumulators to p's (see Covariance.Merge).
func (p *Pair) Merge(o *Pair) error {
	if err := p.Pre.Merge(o.Pre); err != nil {
		return fmt.Errorf("layer %d pre: %w", p.Layer, err)
	}
	if err := p.Post.Merge(o.Post); err != nil {
		return fmt.Errorf("layer %d post: %w", p.Layer, err)
	}
	return nil
}

// AnalyzeOptions configures Analyze.
type AnalyzeOptions struct {
	// KeepEigenvalues stores each spectrum in the report.
	KeepEigenvalues bool
	// Workers bounds the eigendecompositions run at once (default 2: each holds two
	// width × width float64 matrices).
	Workers int
}

// side computes one spectrum's Side.
func side(point string, c *Covariance, keep bool) (Side, []float64, error) {
	eig, err := c.Eigenvalues(nil)
	if err != nil {
		return Side{}, nil, fmt.Errorf("%s: %w", point, err)
	}
	s := Side{Point: point, Tokens: c.N(), Width: c.Width(), RankBound: min(c.N()-1, int64(c.Width()))}
	if s.RankBound < 0 {
		s.RankBound = 0
	}
	tol := float64(c.Width()) * 0x1p-52 * eig[0]
	for _, v := range eig {
		if v > tol && s.RankBound > 0 { // one token: a zero matrix, whatever the rounding
			s.NumericalRank++
		}
		if v <= Eps {
			s.AtFloor++
		}
	}
	lam := Spectrum(eig, eig)
	s.Measures = Measure(lam)
	if keep {
		s.Eigenvalues = lam
	}
	return s, lam, nil
}

// rankWarning explains a spectrum with fewer tokens than neurons.
func rankWarning(s Side) string {
	if s.Tokens > int64(s.Width) {
		return ""
	}
	return fmt.Sprintf("%s: %d tokens ≤ width %d: at most %d eigenvalues are nonzero and %d sit at the 1e-12 floor, which shifts SE and EEE; use at least %d tokens",
		s.Point, s.Tokens, s.Width, s.RankBound, s.AtFloor, s.Width+1)
}

// Measure computes the layer's NerVE analysis from its accumulators.
func (p *Pair) Measure(opts AnalyzeOptions) (Layer, error) {
	pre, lpre, err := side(p.PrePoint, p.Pre, opts.KeepEigenvalues)
	if err != nil {
		return Layer{}, err
	}
	post, lpost, err := side(p.PostPoint, p.Post, opts.KeepEigenvalues)
	if err != nil {
		return Layer{}, err
	}
	l := Layer{Layer: p.Layer, Pre: pre, Post: post, JS: JensenShannon(lpre, lpost),
		PRGain: PRGain(pre.Measures, post.Measures), EEEDiff: EEEDiff(pre.Measures, post.Measures)}
	for _, s := range []Side{pre, post} {
		if w := rankWarning(s); w != "" {
			l.Warnings = append(l.Warnings, w)
		}
	}
	return l, nil
}

// Analyze measures every layer (eigendecompositions run opts.Workers at a time) and returns
// the report, layers in the order given, with the summary over layers and every layer's
// warnings repeated at the top. prov is stored as the report's provenance.
func Analyze(pairs []*Pair, prov report.Provenance, opts AnalyzeOptions) (*Report, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("spectra: no layers to analyze")
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 2
	}
	layers := make([]Layer, len(pairs))
	errs := make([]error, len(pairs))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			layers[i], errs[i] = p.Measure(opts)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r := &Report{Schema: Schema, Provenance: prov, Layers: layers, Summary: summarize(layers)}
	for _, l := range layers {
		r.Warnings = append(r.Warnings, l.Warnings...)
	}
	return r, nil
}

func summarize(layers []Layer) Summary {
	var s Summary
	for _, l := range layers {
		s.SEPre += l.Pre.SE
		s.SEPost += l.Post.SE
		s.PRPre += l.Pre.PR
		s.PRPost += l.Post.PR
		s.EEEPre += l.Pre.EEE
		s.EEEPost += l.Post.EEE
		s.JS += l.JS
		s.PRGain += l.PRGain
		s.EEEDiff += l.EEEDiff
	}
	n := float64(len(layers))
	for _, v := range []*float64{&s.SEPre, &s.SEPost, &s.PRPre, &s.PRPost, &s.EEEPre, &s.EEEPost, &s.JS, &s.PRGain, &s.EEEDiff} {
		*v /= n
	}
	return s
}
