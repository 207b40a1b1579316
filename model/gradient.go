package model

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// GradResult is what Gradient returns.
type GradResult struct {
	// Value is the metric; Rows is each batch row's part of it (they sum to Value; rows the
	// metric does not read are 0).
	Value float64
	Rows  []float64
	// Grads holds ∂Value/∂activation at each requested point, [batch, pos, ...] like the
	// activation. Entries at positions after the last position the metric reads are exactly 0.
	Grads map[hooks.Point]*tensor.Tensor
	// Acts holds the forward activations at the requested points (after any edits), and
	// whatever the hook options captured.
	Acts *hooks.Cache
}

// Start says where GradientFrom begins the forward pass. The zero Start is the embeddings.
type Start struct {
	// Layer is the first block to run, 0..n_layers (n_layers: only the final norm runs).
	// Resid is blocks.Layer.hook_resid_pre for the batch's positions, [batch, pos, d_model];
	// it is required when Layer > 0, and then the blocks below Layer are not run at all.
	Layer int
	Resid *tensor.Tensor
	// KV, when not nil, holds keys and values of earlier positions that the batch continues
	// (see ForwardKV and KVCache.Fork): the batch's positions attend to them and their position
	// ids follow them. They are constants for the backward pass. The batch is appended to KV.
	KV *KVCache
}

// Gradient runs the batch forward, evaluates metric on the logits, and backpropagates: it
// returns the metric and ∂metric/∂activation at every point in wrt. Edits in opts apply in the
// forward pass, so the gradient is taken at the edited activations (integrated gradients scale
// an activation with an edit); in the backward pass an edit is treated as the identity, unless
// opts detach the point (hooks.Detach: then the point is a constant below it). Only
// the logits rows the metric reads are computed, and the backward pass stops below the lowest
// requested point.
func (m *Model) Gradient(b Batch, metric Metric, wrt []hooks.Point, opts ...hooks.Option) (*GradResult, error) {
	return m.GradientFrom(Start{}, b, metric, wrt, opts...)
}

// GradientFrom is Gradient with the forward pass starting at s: attributing layer l reuses the
// residual stream cached at blocks.l.hook_resid_pre and runs only layers >= l.
func (m *Model) GradientFrom(s Start, b Batch, metric Metric, wrt []hooks.Point, opts ...hooks.Option) (*GradResult, error) {
	if err := m.textOnly(); err != nil {
		return nil, err
	}
	return m.gradientFrom(s, b, metric, wrt, nil, opts...)
}

// gradientFrom is GradientFrom with the pixels of an image model (nil otherwise).
func (m *Model) gradientFrom(s Start, b Batch, metric Metric, wrt []hooks.Point, pixels []float32, opts ...hooks.Option) (*GradResult, error) {
	if err := m.checkStart(s, b, wrt); err != nil {
		return nil, err
	}
	terms, err := metric.terms(b, m.Config.DVocab)
	if err != nil {
		return nil, err
	}
	opts = append(opts[:len(opts):len(opts)], hooks.CapturePoints(wrt...))
	k, vals, call, err := m.gradient(s, b, terms, wrt, false, pixels, opts)
	if err != nil {
		return nil, err
	}
	res := &GradResult{Rows: make([]float64, b.Size), Grads: k.grads, Acts: call.Cache()}
	for i, t := range terms {
		res.Value += vals[i]
		res.Rows[t.row/b.Len] += vals[i]
	}
	return res, nil
}

// WeightGradients returns the mean next-token cross-entropy of the batch and its gradient with
// respect to every weight tensor, by HF tensor name (tied matrices once), in the tensor's
// stored layout. targets[i] is the token expected at flat position i of the batch ([batch, pos]
// row-major); -1, and positions whose Mask is false, are ignored. The mean is over the
// remaining positions.
func (m *Model) WeightGradients(b Batch, targets []int) (float64, map[string][]float32, error) {
	if err := m.textOnly(); err != nil {
		return 0, nil, err
	}
	if err := m.checkStart(Start{}, b, nil); err != nil {
		return 0, nil, err
	}
	if len(targets) != b.Size*b.Len {
		return 0, nil, fmt.Errorf("WeightGradients: %d targets for a %d×%d batch", len(targets), b.Size, b.Len)
	}
	var terms []term
	for i, t := range targets {
		if t < 0 || !b.Mask[i] {
			continue
		}
		if t >= m.Config.DVocab {
			return 0, nil, fmt.Errorf("WeightGradients: target %d at position %d is outside the vocabulary", t, i)
		}
		terms = append(terms, term{row: i, kind: LogProbMetric, tok: t})
	}
	if len(terms) == 0 {
		return 0, nil, fmt.Errorf("WeightGradients: no position has a target")
	}
	for i := range terms {
		terms[i].weight = -1 / float64(len(terms))
	}
	k, vals, _, err := m.gradient(Start{}, b, terms, nil, true, nil, nil)
	if err != nil {
		return 0, nil, err
	}
	var loss float64
	for _, v := range vals {
		loss += v
	}
	grads := map[string][]float32{}
	for _, p := range m.params {
		g := k.dw[p]
		if g == nil {
			g = make([]float32, len(p.Data))
		}
		grads[p.Name] = g
	}
	return loss, grads, nil
}

// gradient runs a taped forward pass from s, evaluates the terms on the logits rows they read,
// and runs the backward pass. It returns the backward state, each term's value and the call.
// The caller has checked s against b (checkStart).
func (m *Model) gradient(s Start, b Batch, terms []term, wrt []hooks.Point, weights bool, pixels []float32, opts []hooks.Option) (k *back, vals []float64, call *hooks.Call, err error) {
	call, err = hooks.NewCall(m.catalog, opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkDetach(call, b); err != nil {
		return nil, nil, nil, err
	}
	defer recoverHookError(&err)
	kv := s.KV
	if kv == nil {
		kv = m.NewKVCache(b.Size, b.Len)
	}
	r := m.newRun(b, kv, call)
	r.pixels = pixels
	r.tape = newTape(m.Config, weights)
	r.from(s)
	r.finalNorm()
	if err := call.Check(); err != nil {
		return nil, nil, nil, err
	}
	rows, hRows, dlogits, vals := r.metric(terms)
	k = newBack(r, wrt, weights)
	k.final(rows, hRows, dlogits)
	k.blocks(s.Layer, s.Resid == nil)
	for p := range k.want {
		return nil, nil, nil, fmt.Errorf("model: internal error: no gradient computed at %v", p)
	}
	return k, vals, call, nil
}

// metric unembeds only the rows the terms read and evaluates the terms: it returns those rows
// (flat indices), their ln_final.output [len(rows), d_model], the gradient of the summed terms
// w.r.t. their logits [len(rows), d_vocab], and each term's value.
func (r *run) metric(terms []term) (rows []int, hRows, dlogits []float32, vals []float64) {
	v := r.c.DVocab
	index := map[int]int{}
	for _, t := range terms {
		if _, ok := index[t.row]; !ok {
			index[t.row] = len(rows)
			rows = append(rows, t.row)
		}
	}
	logits, hRows := r.unembedRows(rows)
	dlogits = make([]float32, len(rows)*v)
	vals = make([]float64, len(terms))
	for i, t := range terms {
		j := index[t.row]
		vals[i] = t.eval(dlogits[j*v:(j+1)*v], logits[j*v:(j+1)*v])
	}
	if cp := float32(r.c.FinalSoftcap); cp > 0 { // through cap·tanh(x/cap): · (1 − tanh²)
		for i, y := range logits {
			th := y / cp
			dlogits[i] *= 1 - th*th
		}
	}
	return rows, hRows, dlogits, vals
}

// checkStart validates the batch, and a Start against it and the requested points.
func (m *Model) checkStart(s Start, b Batch, wrt []hooks.Point) error {
	c := m.Config
	past := 0
	if s.KV != nil {
		past = s.KV.len
	}
	if err := c.validateBatch(b, past); err != nil {
		return err
	}
	if s.Layer < 0 || s.Layer > c.NLayers {
		return fmt.Errorf("start layer %d outside [0, %d]", s.Layer, c.NLayers)
	}
	if s.Resid == nil && s.Layer > 0 {
		return fmt.Errorf("starting at layer %d needs blocks.%d.hook_resid_pre", s.Layer, s.Layer)
	}
	if s.Resid != nil && (len(s.Resid.Shape) != 3 || s.Resid.Shape[0] != b.Size || s.Resid.Shape[1] != b.Len || s.Resid.Shape[2] != c.DModel) {
		return fmt.Errorf("start residual has shape %v, want [%d %d %d]", s.Resid.Shape, b.Size, b.Len, c.DModel)
	}
	if s.KV != nil && (s.KV.size != b.Size || s.KV.len+b.Len > s.KV.cap) {
		return fmt.Errorf("KV cache of %d×%d (used %d) cannot take a %d×%d batch", s.KV.size, s.KV.cap, s.KV.len, b.Size, b.Len)
	}
	for _, p := range wrt {
		if !m.catalog.Has(p) {
			return fmt.Errorf("hook %v does not exist in this model", p)
		}
		if s.Resid != nil && (p.Layer < s.Layer && (p.Site.PerLayer() || p.Site == hooks.Embed || p.Site == hooks.PosEmbed)) {
			return fmt.Errorf("gradient at %v requested, but the forward pass starts at layer %d", p, s.Layer)
		}
	}
	return nil
}
