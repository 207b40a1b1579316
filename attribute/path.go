package attribute

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// PathTarget is the scalar NeuronPath attributes: a function of the logits at the chosen
// position.
type PathTarget int

const (
	// TargetProb is the softmax probability of the target token (NeuronPath's).
	TargetProb PathTarget = iota
	// TargetLogProb is its log-probability.
	TargetLogProb
	// TargetLogit is its logit.
	TargetLogit
)

func (t PathTarget) String() string {
	switch t {
	case TargetProb:
		return "prob"
	case TargetLogProb:
		return "logprob"
	case TargetLogit:
		return "logit"
	}
	return fmt.Sprintf("PathTarget(%d)", int(t))
}

// ParsePathTarget reads "prob", "logprob" or "logit".
func ParsePathTarget(s string) (PathTarget, error) {
	for _, t := range []PathTarget{TargetProb, TargetLogProb, TargetLogit} {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, fmt.Errorf("target %q: want prob, logprob or logit", s)
}

func (t PathTarget) kind() model.MetricKind {
	switch t {
	case TargetLogProb:
		return model.LogProbMetric
	case TargetLogit:
		return model.LogitMetric
	}
	return model.ProbMetric
}

// PathOptions configures NeuronPath and JointAttribution. The zero value is the published
// setting: m = 20 steps, the probability of the target, blocks.L.mlp.hook_post, one neuron per
// layer, a top-5 activation baseline.
type PathOptions struct {
	// Steps is m, the number of left Riemann steps α_i = i/m, i = 0..m−1; 0 means 20.
	Steps int
	// Site is the unit: mlp.hook_post (the zero value means it; NeuronPath's FFN after GELU),
	// or mlp.hook_pre / mlp.hook_pre_linear.
	Site   hooks.Site
	Target PathTarget
	// Width is the number of neurons kept per layer by the search: 1 (0 means 1) is
	// NeuronPath's path; K > 1 is the published topk/ variant, which keeps the K best
	// candidates per layer, moves all K together in later passes, and, as its code does, reads
	// only the last (K-th best) of them in the score's gradient and step sums.
	Width int
	// TopK is the size of the per-layer activation top-K baseline; 0 means 5.
	TopK int
}

func (o PathOptions) withDefaults() (PathOptions, error) {
	if o.Steps == 0 {
		o.Steps = 20
	}
	if o.Site == 0 {
		o.Site = hooks.MLPPost
	}
	if o.Width == 0 {
		o.Width = 1
	}
	if o.TopK == 0 {
		o.TopK = 5
	}
	switch {
	case o.Steps < 1:
		return o, fmt.Errorf("steps %d: need at least 1", o.Steps)
	case o.Site != hooks.MLPPost && o.Site != hooks.MLPPre && o.Site != hooks.MLPPreLinear:
		return o, fmt.Errorf("site %v: NeuronPath's units are mlp.hook_post (or mlp.hook_pre, mlp.hook_pre_linear)", o.Site)
	case o.Width < 1 || o.TopK < 1:
		return o, fmt.Errorf("width %d and top-k %d must be at least 1", o.Width, o.TopK)
	case o.Target < TargetProb || o.Target > TargetLogit:
		return o, fmt.Errorf("unknown target %d", o.Target)
	}
	return o, nil
}

// PathResult is NeuronPath's result for one prompt.
type PathResult struct {
	// Position is the position attributed; Token the target token read there; Value the
	// target's clean value (the probability, for TargetProb).
	Position, Token int
	Value           float64
	// Path lists the search's neurons in layer order (Width per layer), each scored with its
	// candidate score when it was chosen; JAS is the path's joint attribution score.
	Path []hooks.ScoredNeuron
	JAS  float64
	// Factors are the two sums each path neuron's candidate score multiplies, in Path's order:
	// Gradient = Σ_i (g_l,j(α_i) + Σ_{k<l} g_k,p_k(α_i)), Activation = a_l,j/m + Σ_{k<l} a_k,p_k/m.
	// Both negative gives a positive score (see the package documentation).
	Factors []PathFactors
	// Activation is the per-layer activation argmax (scored by its activation) and
	// ActivationJAS its joint attribution score; ActivationTopK the per-layer top-K by
	// activation, layer by layer, each by descending activation.
	Activation     []hooks.ScoredNeuron
	ActivationJAS  float64
	ActivationTopK []hooks.ScoredNeuron
	// Passes counts the batched forward+backward passes of Steps rows run (L for the search,
	// one per JAS), besides the one clean forward pass.
	Passes int
}

// PathFactors are the two factors of a candidate score.
type PathFactors struct {
	Gradient   float64 `json:"gradient"`
	Activation float64 `json:"activation"`
}

// PathProcedure states what NeuronPath computes, for reports.
const PathProcedure = "NeuronPath (Wang et al. 2025): joint attribution score JAS(P) = [Σ_i Σ_l ∂y/∂a_l,p_l(α_i)] × [Σ_l a_l,p_l/m], left Riemann α_i = i/m, only the path neuron moving in each layer while every other unit of the layers up to the target is held at its clean value (a constant); layer-progressive search: layer l scaled whole in one batched pass of m steps, the argmax candidate appended; baselines: per-layer activation argmax (with its JAS) and per-layer activation top-K"

// NeuronPath finds the influential neuron path of one prompt at position pos for the target
// token (Wang et al. 2025, path/joint_attr.py): for l = 0 … L−1, one batched pass of m steps
// in which layer l's units (at pos) are scaled together, a_l·α_i, and each earlier layer k
// keeps its clean vector except its path neuron p_k, scaled α_i·a_k,p_k; every replaced vector
// is a constant of the pass (hooks.Detach), so gradients do not flow through it. Candidate j
// of layer l scores
//
//	(Σ_i g_l,j(α_i) + Σ_{k<l} Σ_i g_k,p_k(α_i)) × (a_l,j/m + Σ_{k<l} a_k,p_k/m)
//
// (g = ∂target/∂unit), and p_l is the argmax (the lowest index on ties). Then the path's and
// the per-layer activation argmax's JAS are computed with every layer replaced, only the path
// neuron moving in each. The target is read at pos; positions after pos are not run (they
// cannot change it in a causal model) and positions before it keep their clean keys and
// values (the intervention is at pos only), so each pass costs m rows of one token.
func NeuronPath(m *model.Model, prompt []int, pos, token int, opt PathOptions) (*PathResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := newPathRun(m, prompt, pos, token, opt)
	if err != nil {
		return nil, err
	}
	return r.search(pos, token)
}

// NeuronPathImage is NeuronPath for one image of an image classifier (ViT), as the published
// code runs it: the units are the CLS token's (position 0), the target is class's probability
// (or log-probability, logit) from the CLS token. pixels are [1, channels, size, size] (package
// model/vision). Attention is bidirectional, so each pass reruns all tokens of the image from
// the clean blocks.0.hook_resid_pre (m rows of the whole image, not of one token); the
// intervention replaces only the CLS row at each layer up to the target, the other tokens
// being recomputed, as in the published forward.
func NeuronPathImage(m *model.Model, pixels *tensor.Tensor, class int, opt PathOptions) (*PathResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := newPathRunImage(m, pixels, class, opt)
	if err != nil {
		return nil, err
	}
	return r.search(CLS, class)
}

// JointAttributionImage is JointAttribution for one image of an image classifier, at the CLS
// token (see NeuronPathImage).
func JointAttributionImage(m *model.Model, pixels *tensor.Tensor, class int, path [][]int, opt PathOptions) (float64, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return 0, err
	}
	r, err := newPathRunImage(m, pixels, class, opt)
	if err != nil {
		return 0, err
	}
	return r.checkedJAS(path)
}

// search is the layer-progressive search and the baselines on a clean run.
func (r *pathRun) search(pos, token int) (*PathResult, error) {
	m, opt := r.m, r.opt
	L := m.Config.NLayers
	res := &PathResult{Position: pos, Token: token, Value: r.value}
	var path [][]int
	var err error
	for l := 0; l < L; l++ {
		g, err := r.pass(l, path, true)
		if err != nil {
			return nil, err
		}
		res.Passes++
		var gb, sb float64
		for k, p := range path {
			q := p[len(p)-1] // the published topk/ code reads the last of a layer's K neurons
			gb += g[k][q]
			sb += float64(r.step[k][q])
		}
		scores := make([]hooks.ScoredNeuron, len(g[l]))
		for j := range scores {
			scores[j] = hooks.ScoredNeuron{Neuron: hooks.NeuronAt(l, opt.Site, j), Score: (g[l][j] + gb) * (float64(r.step[l][j]) + sb)}
		}
		top := hooks.Top(scores, opt.Width)
		var idx []int
		for _, n := range top {
			idx = append(idx, n.Index)
			res.Path = append(res.Path, n)
			res.Factors = append(res.Factors, PathFactors{Gradient: g[l][n.Index] + gb, Activation: float64(r.step[l][n.Index]) + sb})
		}
		path = append(path, idx)
	}
	if res.JAS, err = r.jas(path); err != nil {
		return nil, err
	}
	var base [][]int
	for l, a := range r.acts {
		top := hooks.Top(hooks.Scored(hooks.At(l, opt.Site), a), max(1, opt.TopK))
		res.Activation = append(res.Activation, top[0])
		res.ActivationTopK = append(res.ActivationTopK, top[:min(opt.TopK, len(top))]...)
		base = append(base, []int{top[0].Index})
	}
	if res.ActivationJAS, err = r.jas(base); err != nil {
		return nil, err
	}
	res.Passes += 2
	return res, nil
}

// JointAttribution is the joint attribution score of a fixed path (path[l] lists layer l's
// neurons, one for NeuronPath; with several, the published topk/ reading of the last one
// applies): one batched pass of m steps with every layer's vector at pos replaced, only the
// path neurons moving, JAS = [Σ_i Σ_l g_l,p_l(α_i)] × [Σ_l a_l,p_l/m].
func JointAttribution(m *model.Model, prompt []int, pos, token int, path [][]int, opt PathOptions) (float64, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return 0, err
	}
	r, err := newPathRun(m, prompt, pos, token, opt)
	if err != nil {
		return 0, err
	}
	return r.checkedJAS(path)
}

// checkedJAS is the JAS of a path given by a caller, checked against the model.
func (r *pathRun) checkedJAS(path [][]int) (float64, error) {
	if len(path) != r.m.Config.NLayers {
		return 0, fmt.Errorf("a path needs neurons in all %d layers, got %d", r.m.Config.NLayers, len(path))
	}
	w := len(r.acts[0])
	for l, p := range path {
		if len(p) == 0 {
			return 0, fmt.Errorf("layer %d of the path has no neuron", l)
		}
		for _, j := range p {
			if j < 0 || j >= w {
				return 0, fmt.Errorf("layer %d: neuron %d outside [0, %d)", l, j, w)
			}
		}
	}
	return r.jas(path)
}

// pathRun is the clean pass of one prompt, kept for the intervened passes.
type pathRun struct {
	m      *model.Model
	opt    PathOptions
	prefix []int // the prompt up to and including pos
	token  int
	kv     *model.KVCache // clean keys and values of the prefix
	// resid is, for an image, the clean blocks.0.hook_resid_pre [1, tokens, d_model]: each
	// pass reruns the whole image from it (nil for a prompt).
	resid *tensor.Tensor
	acts  [][]float32 // clean units at pos, [layer][width]
	step  [][]float32 // acts/m in float32, as the published code's step
	value float64
}

func newPathRun(m *model.Model, prompt []int, pos, token int, opt PathOptions) (*pathRun, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	if pos < 0 || pos >= len(prompt) {
		return nil, fmt.Errorf("position %d is outside the prompt (positions 0..%d)", pos, len(prompt)-1)
	}
	if token < 0 || token >= m.Config.DVocab {
		return nil, fmt.Errorf("target token %d is outside the vocabulary [0, %d)", token, m.Config.DVocab)
	}
	if !m.Catalog().Has(hooks.At(0, opt.Site)) {
		return nil, fmt.Errorf("this model has no %v", opt.Site)
	}
	r := &pathRun{m: m, opt: opt, prefix: prompt[:pos+1], token: token}
	b, err := model.NewBatch([][]int{r.prefix}, model.PadRight, 0)
	if err != nil {
		return nil, err
	}
	var pts []hooks.Point
	for l := 0; l < m.Config.NLayers; l++ {
		pts = append(pts, hooks.At(l, opt.Site))
	}
	r.kv = m.NewKVCache(1, len(r.prefix))
	res, err := m.ForwardKV(b, r.kv, hooks.CapturePoints(pts...))
	if err != nil {
		return nil, err
	}
	metric := model.Metric{Kind: opt.Target.kind(), Row: 0, Pos: pos, Tokens: []int{token}}
	if r.value, err = metric.Value(b, res.Logits); err != nil {
		return nil, err
	}
	for _, p := range pts {
		a, _ := res.Cache.Get(p)
		w := len(a.Data) / len(r.prefix)
		r.addClean(a.Data[pos*w : (pos+1)*w])
	}
	return r, nil
}

func newPathRunImage(m *model.Model, pixels *tensor.Tensor, class int, opt PathOptions) (*pathRun, error) {
	metric := model.Metric{Kind: opt.Target.kind(), Row: 0, Pos: CLS, Tokens: []int{class}}
	if err := checkImageMetric(m, pixels, metric); err != nil {
		return nil, err
	}
	if !m.Catalog().Has(hooks.At(0, opt.Site)) {
		return nil, fmt.Errorf("this model has no %v", opt.Site)
	}
	pts := []hooks.Point{hooks.At(0, hooks.ResidPre)}
	for l := 0; l < m.Config.NLayers; l++ {
		pts = append(pts, hooks.At(l, opt.Site))
	}
	res, err := m.ForwardImages(pixels, hooks.CapturePoints(pts...))
	if err != nil {
		return nil, err
	}
	r := &pathRun{m: m, opt: opt, token: class}
	r.resid, _ = res.Cache.Get(pts[0])
	if r.value, err = imageMetricValue(metric, res.Logits); err != nil {
		return nil, err
	}
	for _, p := range pts[1:] {
		a, _ := res.Cache.Get(p)
		w := len(a.Data) / m.Config.MaxPos
		r.addClean(a.Data[CLS*w : (CLS+1)*w])
	}
	return r, nil
}

// addClean appends one layer's clean units at the position and their steps a/m.
func (r *pathRun) addClean(units []float32) {
	row := append([]float32(nil), units...)
	st := make([]float32, len(row))
	for j, v := range row {
		st[j] = v / float32(r.opt.Steps)
	}
	r.acts, r.step = append(r.acts, row), append(r.step, st)
}

// pass runs the m steps as one batch of m rows (the token at pos, continuing the clean keys
// and values of the positions before it), with the units at pos of layers 0..tgt replaced:
// layer k < tgt keeps its clean vector except path[k]'s neurons, which move from 0 (baseline
// + i·step, as the published path_scaled_input); layer tgt moves whole from 0 when whole,
// else like the others. It returns each layer's gradient summed over the steps, [layer][width].
func (r *pathRun) pass(tgt int, path [][]int, whole bool) ([][]float64, error) {
	m, M := r.m, r.opt.Steps
	// Each row is T tokens with the units at row position at: a prompt's one token at pos
	// (continuing the clean keys and values), or an image's every token with CLS at 0.
	T, at := 1, 0
	if r.resid != nil {
		T, at = m.Config.MaxPos, CLS
	}
	var pts []hooks.Point
	var opts []hooks.Option
	for l := 0; l <= tgt; l++ {
		p := hooks.At(l, r.opt.Site)
		pts = append(pts, p)
		var moving []int
		if l < tgt || !whole {
			moving = path[l]
		}
		a := r.acts[l]
		base := append([]float32(nil), a...)
		if l == tgt && whole {
			clear(base)
		}
		for _, j := range moving {
			base[j] = 0
		}
		stepv := make([]float32, len(a))
		for j := range a {
			stepv[j] = (a[j] - base[j]) / float32(M)
		}
		opts = append(opts, hooks.EditPoint(p, func(_ hooks.Point, t *tensor.Tensor) error {
			w := len(a)
			for i := 0; i < M; i++ {
				dst := t.Data[(i*T+at)*w : (i*T+at+1)*w]
				for j := range dst {
					dst[j] = base[j] + stepv[j]*float32(i)
				}
			}
			return nil
		}), hooks.DetachPoint(p))
	}
	metric := model.Metric{Kind: r.opt.Target.kind(), Row: model.AllRows, Pos: 0, Tokens: []int{r.token}}
	var g *model.GradResult
	var err error
	if r.resid != nil {
		d := m.Config.DModel
		start := model.Start{Resid: tensor.New(M, T, d)}
		for i := 0; i < M; i++ {
			copy(start.Resid.Data[i*T*d:], r.resid.Data)
		}
		g, err = m.GradientImagesFrom(start, metric, pts, opts...)
	} else {
		n := len(r.prefix)
		seqs := make([][]int, M)
		for i := range seqs {
			seqs[i] = []int{r.prefix[n-1]}
		}
		b, berr := model.NewBatch(seqs, model.PadRight, 0)
		if berr != nil {
			return nil, berr
		}
		g, err = m.GradientFrom(model.Start{KV: r.kv.Fork(0, n-1, M, n)}, b, metric, pts, opts...)
	}
	if err != nil {
		return nil, err
	}
	out := make([][]float64, tgt+1)
	for l, p := range pts {
		gd := g.Grads[p].Data
		w := len(r.acts[l])
		sum := make([]float64, w)
		for i := 0; i < M; i++ {
			for j, v := range gd[(i*T+at)*w : (i*T+at+1)*w] {
				sum[j] += float64(v)
			}
		}
		out[l] = sum
	}
	return out, nil
}

// jas is the joint attribution score of a full path (published j_a_score): one pass with
// every layer replaced, only the path neurons moving.
func (r *pathRun) jas(path [][]int) (float64, error) {
	g, err := r.pass(len(path)-1, path, false)
	if err != nil {
		return 0, err
	}
	var gs, ss float64
	for l, p := range path {
		q := p[len(p)-1]
		gs += g[l][q]
		ss += float64(r.step[l][q])
	}
	return gs * ss, nil
}

// PathGroups returns the result as neuron-set groups: "path", "activation" and
// "activation_topk", each name followed by suffix (e.g. "/q00017" for one item of many).
func (res *PathResult) PathGroups(suffix string) []hooks.NeuronGroup {
	return []hooks.NeuronGroup{
		{Name: "path" + suffix, Neurons: append([]hooks.ScoredNeuron(nil), res.Path...)},
		{Name: "activation" + suffix, Neurons: append([]hooks.ScoredNeuron(nil), res.Activation...)},
		{Name: "activation_topk" + suffix, Neurons: append([]hooks.ScoredNeuron(nil), res.ActivationTopK...)},
	}
}

// PathSimilarity is the cosine similarity of two paths' indicator vectors over all units,
// |a ∩ b| / sqrt(|a|·|b|): for one neuron per layer, the fraction of layers at which they
// pick the same neuron. (The published class-similarity analysis takes the cosine similarity of
// per-class path-frequency matrices [layer, width]; for single paths those are indicators.)
func PathSimilarity(a, b []hooks.ScoredNeuron) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	in := map[hooks.Neuron]bool{}
	for _, n := range a {
		in[n.Neuron] = true
	}
	shared := 0
	seen := map[hooks.Neuron]bool{}
	for _, n := range b {
		if in[n.Neuron] && !seen[n.Neuron] {
			shared++
		}
		seen[n.Neuron] = true
	}
	return float64(shared) / math.Sqrt(float64(len(in))*float64(len(seen)))
}
