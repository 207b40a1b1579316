package attribute

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Rule is the Riemann rule that discretizes integrated gradients' path integral over α ∈ [0, 1].
type Rule int

const (
	// Left evaluates α_k = k/m, k = 0..m−1, with weights 1/m (α = 1 is never evaluated): Dai et
	// al.'s knowledge neurons and NeuronPath.
	Left Rule = iota
	// Both evaluates α_k = k/(m−1), k = 0..m−1 (linspace(0, 1, m), both ends), with weights 1/m:
	// EleutherAI's knowledge-neurons re-implementation. Needs m >= 2.
	Both
	// Trapezoid evaluates α_k = k/m, k = 0..m (m+1 points), with weights 1/(2m) at both ends and
	// 1/m inside: the trapezoid rule, whose error shrinks like 1/m².
	Trapezoid
)

func (r Rule) String() string {
	switch r {
	case Left:
		return "left"
	case Both:
		return "both"
	case Trapezoid:
		return "trapezoid"
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// alphas returns the rule's evaluation points and weights for m steps; α_0 is always 0.
func (r Rule) alphas(m int) (alpha, weight []float64, err error) {
	switch {
	case m < 1:
		return nil, nil, fmt.Errorf("integrated gradients needs at least 1 step, got %d", m)
	case r == Both && m < 2:
		return nil, nil, fmt.Errorf("the %v rule needs at least 2 steps, got %d", r, m)
	}
	switch r {
	case Left:
		for k := 0; k < m; k++ {
			alpha, weight = append(alpha, float64(k)/float64(m)), append(weight, 1/float64(m))
		}
	case Both:
		for k := 0; k < m; k++ {
			alpha, weight = append(alpha, float64(k)/float64(m-1)), append(weight, 1/float64(m))
		}
	case Trapezoid:
		for k := 0; k <= m; k++ {
			w := 1 / float64(m)
			if k == 0 || k == m {
				w /= 2
			}
			alpha, weight = append(alpha, float64(k)/float64(m)), append(weight, w)
		}
	default:
		return nil, nil, fmt.Errorf("unknown integration rule %d", r)
	}
	return alpha, weight, nil
}

// Scope says which part of the activation integrated gradients scales.
type Scope int

const (
	// Target scales only the row at the metric's position (Dai et al.: the [MASK] position);
	// the other positions keep their clean values. Attributions are [width].
	Target Scope = iota
	// All scales the whole [pos, width] activation together. Attributions are [pos, width].
	All
)

func (s Scope) String() string {
	if s == All {
		return "all"
	}
	return "target"
}

// IGOptions configures IntegratedGradients. The zero value is Dai et al.'s setting: 20 left
// Riemann steps, zero baseline, target position only.
type IGOptions struct {
	Steps int // m; 0 means 20
	Rule  Rule
	Scope Scope
	// Baseline is b, row-major like the attributions ([width] for Target, [pos, width] for All,
	// width being the point's size per position); nil means zero.
	Baseline []float32
	// Batch is the most steps evaluated in one forward/backward pass; 0 means all at once.
	Batch int
}

// IGResult is the integrated-gradients attribution of one hook point.
type IGResult struct {
	Point hooks.Point
	Pos   int // the metric's (first) position: the row Target scales
	Scope Scope
	// Attributions are (a − b)·Σ_k w_k·∂f/∂a(b + α_k(a − b)): [inner...] for Target (e.g.
	// [d_mlp]), [pos, inner...] for All (zero after the metric's last position in a causal
	// model; an image's every token is scaled).
	Attributions *tensor.Tensor
	// Act is the clean activation a, shaped like Attributions.
	Act *tensor.Tensor
	// FFull = f(a), FBaseline = f(b); Sum = Σ Attributions; Gap = |Sum − (FFull − FBaseline)|,
	// the completeness gap, which shrinks as Steps grows (like 1/m for Left and Both).
	FFull, FBaseline, Sum, Gap float64
}

// IntegratedGradients attributes metric, evaluated on one prompt, to each unit of the
// activation at point (a per-layer hook point, usually blocks.L.mlp.hook_post): see the package
// documentation. The metric's Row is ignored (the prompt is row 0). The evaluation steps run
// as one batch (or Batch-sized chunks), through layers >= point.Layer only, starting from the
// clean residual stream cached at blocks.L.hook_resid_pre; with Scope Target, positions before
// the metric's are not recomputed either (their keys and values come from the clean pass).
func IntegratedGradients(m *model.Model, prompt []int, point hooks.Point, metric model.Metric, opt IGOptions) (*IGResult, error) {
	cl, err := runClean(m, prompt, []hooks.Point{point}, metric)
	if err != nil {
		return nil, err
	}
	return cl.integrate(point, opt)
}

// clean is one clean forward pass of a prompt (or of one image), kept to attribute several
// points of it.
type clean struct {
	m           *model.Model
	prompt      []int          // nil for an image
	pixels      *tensor.Tensor // the image [1, channels, size, size], or nil
	T           int            // positions (tokens) of the input
	metric      model.Metric   // with Row 0
	first, last int            // positions the metric reads
	f           float64        // the metric
	kv          *model.KVCache // causal prompts only
	cache       *hooks.Cache   // each point, and blocks.L.hook_resid_pre of its layer
}

func runClean(m *model.Model, prompt []int, points []hooks.Point, metric model.Metric) (*clean, error) {
	b, err := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	if err != nil {
		return nil, err
	}
	metric.Row = 0
	cl := &clean{m: m, prompt: prompt, T: len(prompt), metric: metric, first: metric.Pos, last: metric.Pos}
	if metric.Kind == model.MeanLogProbMetric {
		cl.last += len(metric.Tokens) - 1
	}
	caps, err := cleanCaptures(points)
	if err != nil {
		return nil, err
	}
	cl.kv = m.NewKVCache(1, b.Len)
	res, err := m.ForwardKV(b, cl.kv, hooks.CapturePoints(caps...))
	if err != nil {
		return nil, err
	}
	if cl.f, err = metric.Value(b, res.Logits); err != nil {
		return nil, err
	}
	cl.cache = res.Cache
	return cl, nil
}

// cleanCaptures lists the points and the residual stream entering each one's layer.
func cleanCaptures(points []hooks.Point) ([]hooks.Point, error) {
	var caps []hooks.Point
	for _, p := range points {
		if !p.Site.PerLayer() {
			return nil, fmt.Errorf("integrated gradients needs a per-layer hook point, got %v", p)
		}
		caps = append(caps, p, hooks.At(p.Layer, hooks.ResidPre))
	}
	return caps, nil
}

// integrate runs integrated gradients at point p of the clean pass.
func (cl *clean) integrate(p hooks.Point, opt IGOptions) (*IGResult, error) {
	if opt.Steps == 0 {
		opt.Steps = 20
	}
	alpha, weight, err := opt.Rule.alphas(opt.Steps)
	if err != nil {
		return nil, err
	}
	act, _ := cl.cache.Get(p) // [1, pos, inner...]
	T := cl.T
	width := len(act.Data) / T
	// Positions lo..hi-1 are run. In a causal model Target needs none before its row (the
	// clean KV cache has them), and no scope needs any after the metric's last position; in a
	// bidirectional one (ViT) every position sees every other, so all of them run.
	lo, hi := 0, cl.last+1
	if cl.m.Config.Bidirectional {
		hi = T
	}
	var scaled []int // positions moved along the path
	if opt.Scope == Target {
		scaled = []int{cl.first}
		if !cl.m.Config.Bidirectional {
			lo = cl.first
		}
	} else {
		for i := 0; i < hi; i++ {
			scaled = append(scaled, i)
		}
	}
	base, err := baselineRows(opt, T, width, cl.first)
	if err != nil {
		return nil, err
	}
	gsum := make([]float64, T*width) // Σ_k w_k·∂f/∂a at α_k, by absolute position
	var fBase float64                // f at α_0 = 0
	step := opt.Batch
	if step <= 0 {
		step = len(alpha)
	}
	for k0 := 0; k0 < len(alpha); k0 += step {
		k1 := min(k0+step, len(alpha))
		g, err := cl.steps(p, alpha[k0:k1], act.Data, base, scaled, lo, hi)
		if err != nil {
			return nil, err
		}
		grad := g.Grads[p].Data
		if k0 == 0 {
			fBase = g.Rows[0]
		}
		for e := k0; e < k1; e++ {
			off := (e - k0) * (hi - lo) * width
			for _, pos := range scaled {
				for j := 0; j < width; j++ {
					gsum[pos*width+j] += weight[e] * float64(grad[off+(pos-lo)*width+j])
				}
			}
		}
	}
	return cl.result(p, opt, act, base, scaled, gsum, fBase), nil
}

// baselineRows expands the baseline to [pos, width] (zero by default).
func baselineRows(opt IGOptions, T, width, row int) ([]float32, error) {
	base := make([]float32, T*width)
	switch {
	case opt.Baseline == nil:
	case opt.Scope == Target && len(opt.Baseline) == width:
		copy(base[row*width:], opt.Baseline)
	case opt.Scope == All && len(opt.Baseline) == T*width:
		copy(base, opt.Baseline)
	default:
		return nil, fmt.Errorf("baseline has %d values; scope %v needs %d", len(opt.Baseline), opt.Scope, map[Scope]int{Target: width, All: T * width}[opt.Scope])
	}
	return base, nil
}

// steps evaluates f and its gradient at point p for each α, one batch row per α: the prompt's
// positions lo..hi-1 (an image's every token) run from blocks.L.hook_resid_pre, continuing
// the clean KV cache of positions < lo, and an edit hook sets the scaled rows to b + α(a − b).
func (cl *clean) steps(p hooks.Point, alpha []float64, a, base []float32, scaled []int, lo, hi int) (*model.GradResult, error) {
	E, n := len(alpha), hi-lo
	d := cl.m.Config.DModel
	resid, _ := cl.cache.Get(hooks.At(p.Layer, hooks.ResidPre))
	start := model.Start{Layer: p.Layer, Resid: tensor.New(E, n, d)}
	for e := 0; e < E; e++ {
		copy(start.Resid.Data[e*n*d:], resid.Data[lo*d:hi*d])
	}
	width := len(a) / cl.T
	edit := func(_ hooks.Point, t *tensor.Tensor) error {
		for e, al := range alpha {
			for _, pos := range scaled {
				dst := t.Data[(e*n+pos-lo)*width:][:width]
				for j := range dst {
					bj := base[pos*width+j]
					dst[j] = bj + float32(al)*(a[pos*width+j]-bj)
				}
			}
		}
		return nil
	}
	mt := cl.metric
	mt.Row, mt.Pos = model.AllRows, mt.Pos-lo
	if cl.pixels != nil {
		return cl.m.GradientImagesFrom(start, mt, []hooks.Point{p}, hooks.EditPoint(p, edit))
	}
	seqs := make([][]int, E)
	for e := range seqs {
		seqs[e] = cl.prompt[lo:hi]
	}
	b, err := model.NewBatch(seqs, model.PadRight, 0)
	if err != nil {
		return nil, err
	}
	if lo > 0 {
		start.KV = cl.kv.Fork(0, lo, E, hi)
	}
	return cl.m.GradientFrom(start, b, mt, []hooks.Point{p}, hooks.EditPoint(p, edit))
}

// result assembles the attributions (a − b)·gsum over the scaled rows.
func (cl *clean) result(p hooks.Point, opt IGOptions, act *tensor.Tensor, base []float32, scaled []int, gsum []float64, fBase float64) *IGResult {
	T := cl.T
	inner := act.Shape[2:]
	width := len(act.Data) / T
	attr := make([]float32, T*width)
	var sum float64
	for _, pos := range scaled {
		for j := pos * width; j < (pos+1)*width; j++ {
			v := float64(act.Data[j]-base[j]) * gsum[j]
			attr[j] = float32(v)
			sum += v
		}
	}
	res := &IGResult{Point: p, Pos: cl.first, Scope: opt.Scope, FFull: cl.f, FBaseline: fBase, Sum: sum}
	res.Gap = math.Abs(sum - (cl.f - fBase))
	if opt.Scope == Target {
		row := cl.first * width
		res.Attributions = tensor.From(attr[row:row+width], inner...)
		res.Act = tensor.From(append([]float32(nil), act.Data[row:row+width]...), inner...)
	} else {
		res.Attributions = tensor.From(attr, append([]int{T}, inner...)...)
		res.Act = tensor.From(append([]float32(nil), act.Data...), append([]int{T}, inner...)...)
	}
	return res
}
