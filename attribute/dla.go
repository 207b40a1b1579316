package attribute

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// DLAResult is the direct logit attribution (DLA) of every MLP neuron of some layers at one
// batch position, computed the way TransformerLens does it: each neuron's write into the
// residual stream is sent through the final norm frozen at this position's cached divisor
// (ln_final.hook_scale) and through the unembedding, and nothing else (no path through later
// attention or MLP layers).
//
// For a neuron i of layer l with activation a_i (blocks.l.mlp.hook_post at [Row, Pos]) and
// write direction w_i (column i of down_proj/W_out, row i of GPT-2's Conv1D c_proj; a d_model
// vector), and the target direction u (u = W_U[t] for a logit, u = W_U[t] − W_U[t'] for a
// logit difference; W_U is [d_vocab, d_model]):
//
//	DLA_i = a_i · (P w_i) · (g ⊙ u) / s
//
// where s is ln_final.hook_scale at [Row, Pos] (sqrt(var(x)+eps) for LayerNorm,
// sqrt(mean(x²)+eps) for RMSNorm, x the final residual stream), g the final norm weight γ
// (Gemma, Config.NormPlusOne: 1 + γ), and P the centering projection w ↦ w − mean(w) for
// LayerNorm models (the identity for RMSNorm). Because P is symmetric,
// (P w_i)·(g ⊙ u) = w_i · P(g ⊙ u), which is how it is computed: one effective direction per
// position, then one dot product per neuron. All sums are in float64.
//
// This is TransformerLens's
//
//	stack = cache.stack_neuron_results(l, pos_slice)        # a_i · W_out[l][i]
//	stack = cache.apply_ln_to_stack(stack, layer=-1, ...)   # center (LN only), ÷ hook_scale
//	dla   = stack @ model.tokens_to_residual_directions(t)  # · W_U[:, t]
//
// on a model loaded with fold_ln (so γ sits in W_U), without center_unembed and without the
// unembedding bias (none of the supported architectures has one). The final norm's bias β
// adds β·u to the logit; it belongs to no neuron and is reported in no field.
//
// Post-feed-forward norm (Gemma 2/3, model.MLPWeights.PostNorm). These models normalize the
// MLP output m = W_out a + b_out before adding it to the residual stream:
// hook_mlp_out = m ⊙ g_post / s_post with s_post = sqrt(mean(m²) + eps) at [Row, Pos] and
// g_post = 1 + post_feedforward_layernorm.weight. Neuron i's write is then
// a_i·g_post ⊙ w_i / s_post, linear in a_i once s_post is frozen at its value at this position,
// exactly as the final norm's divisor s is frozen, so
//
//	DLA_i = a_i · (P (g_post ⊙ w_i)) · (g ⊙ u) / (s · s_post)
//
// with s_post computed from the captured hook_post and the weights (LayerDLA.PostScale).
// TransformerLens's stack_neuron_results multiplies a_i by W_out alone on these models too, so
// its neuron results leave out ln2_post and do not add up to hook_mlp_out; neuronscope does not
// reproduce that.
//
// The MLP output bias b_out is written at every position regardless of the neurons; its
// direct effect, (P b_out)·(g ⊙ u)/s (b_out ⊙ g_post/s_post in place of b_out with a
// post-feed-forward norm), is LayerDLA.Bias. So Σ_i DLA_i + Bias is exactly the direct effect
// of the layer's hook_mlp_out (what the layer adds to the residual stream: after the
// post-feed-forward norm where there is one, as in TransformerLens) through the frozen final
// norm, and summed over every component that writes the residual stream (embeddings, every
// hook_attn_out and hook_mlp_out) plus β·u it is the logit itself.
//
// Final-logit soft-cap (Gemma 2, Gemma 3 when final_logit_softcapping is set): the model's
// output is cap·tanh(z/cap) of the logit z = W_U[t]·ln_final.output, which is not linear in
// anything. DLA attributes z, the logit before the soft-cap, for which the identities above
// hold; Logit is z and Output the model's capped logit.
type DLAResult struct {
	Row, Pos int
	// Tokens are the target token, or the target and the baseline of a logit difference.
	Tokens []int
	// Scale is s, ln_final.hook_scale at [Row, Pos].
	Scale float32
	// Logit is the quantity being attributed: the target's logit at [Row, Pos] (a logit
	// difference for two tokens) before any final soft-cap, W_U[t]·ln_final.output. For a
	// model without a soft-cap it is the model's logit, read from the forward pass's logits
	// (NaN when none were given); for a soft-capped model it is computed in float64 from the
	// captured ln_final.output.
	Logit float32
	// Output is the model's own logit (difference) at [Row, Pos]: Logit after the final
	// soft-cap when the model has one (cap·tanh(z/cap) per token), else equal to Logit. It is
	// NaN when no logits were given.
	Output float32
	// Layers holds the attribution of each requested layer, in the order requested.
	Layers []LayerDLA
}

// LayerDLA is one layer's direct logit attribution.
type LayerDLA struct {
	Layer int
	// Neurons[i] is DLA_i of neuron i (HF index i), [d_mlp].
	Neurons []float32
	// Bias is the direct effect of the MLP output bias b_out (0 when the model has none).
	Bias float32
	// PostScale is s_post, the post-feed-forward norm's divisor sqrt(mean(m²) + eps) at
	// [Row, Pos] (Gemma 2/3), frozen in every DLA_i of the layer; 0 for a model whose MLP
	// output joins the residual stream unnormed.
	PostScale float32
}

// Total is Σ_i DLA_i + Bias: the direct effect of the layer's hook_mlp_out on the target
// logit (or logit difference, before any final soft-cap) through the frozen final norm (and
// the frozen post-feed-forward norm, where there is one).
func (l LayerDLA) Total() float64 {
	t := float64(l.Bias)
	for _, v := range l.Neurons {
		t += float64(v)
	}
	return t
}

// Neurons lists every neuron of the result (blocks.L.mlp.hook_post) with its attribution as
// the score, layer by layer.
func (r *DLAResult) Neurons() []hooks.ScoredNeuron {
	var all []hooks.ScoredNeuron
	for _, l := range r.Layers {
		all = append(all, hooks.Scored(hooks.At(l.Layer, hooks.MLPPost), l.Neurons)...)
	}
	return all
}

// Top returns the k neurons with the largest attribution over all layers of the result,
// largest first (ties: lower layer, then lower index first; see hooks.Rank). k larger than the
// number of neurons returns them all.
func (r *DLAResult) Top(k int) []hooks.ScoredNeuron { return hooks.Top(r.Neurons(), k) }

// Bottom returns the k neurons with the most negative attribution, most negative first.
func (r *DLAResult) Bottom(k int) []hooks.ScoredNeuron { return hooks.Bottom(r.Neurons(), k) }

// TopAbs returns the k neurons with the largest |attribution|, largest first.
func (r *DLAResult) TopAbs(k int) []hooks.ScoredNeuron { return hooks.TopAbs(r.Neurons(), k) }

// DirectLogit runs the batch and attributes the logit of tokens[0] at batch row row,
// position pos (a padded-batch index; the position must hold a real token) to every MLP neuron
// of the given layers (nil: every layer). With two tokens it attributes the logit difference
// tokens[0] − tokens[1]. See DLAResult for the exact formula. An image classifier (ViT) has
// no vocabulary and is refused.
func DirectLogit(m *model.Model, b model.Batch, row, pos int, tokens []int, layers []int) (*DLAResult, error) {
	if err := needLMHead(m, "direct logit attribution"); err != nil {
		return nil, err
	}
	layers, err := dlaLayers(m, layers)
	if err != nil {
		return nil, err
	}
	res, err := m.Forward(b, hooks.CapturePoints(DLAPoints(layers)...))
	if err != nil {
		return nil, err
	}
	return DirectLogitFromResult(m, b, res, row, pos, tokens, layers)
}

// DirectLogitDiff attributes the logit difference target − baseline; it is DirectLogit with
// tokens {target, baseline}.
func DirectLogitDiff(m *model.Model, b model.Batch, row, pos, target, baseline int, layers []int) (*DLAResult, error) {
	return DirectLogit(m, b, row, pos, []int{target, baseline}, layers)
}

// DLAPoints lists the hook points direct logit attribution reads for these layers (nil: none
// but the final norm's): each layer's mlp.hook_post, ln_final.hook_scale and ln_final.output
// (read for the logit before the soft-cap of a soft-capped model). Capture them in a forward
// pass of your own and call DirectLogitFromResult to attribute many positions or tokens from
// one pass.
func DLAPoints(layers []int) []hooks.Point {
	ps := []hooks.Point{hooks.Global(hooks.FinalScale), hooks.Global(hooks.FinalOutput)}
	for _, l := range layers {
		ps = append(ps, hooks.At(l, hooks.MLPPost))
	}
	return ps
}

// DirectLogitFromResult is DirectLogit on a forward pass already run over b that captured
// DLAPoints(layers) (layers nil: every layer). res.Logits fills DLAResult.Output (and Logit
// for a model without a final soft-cap).
func DirectLogitFromResult(m *model.Model, b model.Batch, res *model.Result, row, pos int, tokens []int, layers []int) (*DLAResult, error) {
	c := m.Config
	if err := needLMHead(m, "direct logit attribution"); err != nil {
		return nil, err
	}
	layers, err := dlaLayers(m, layers)
	if err != nil {
		return nil, err
	}
	if row < 0 || row >= b.Size || pos < 0 || pos >= b.Len {
		return nil, fmt.Errorf("attribute: position [%d, %d] is outside the %d×%d batch", row, pos, b.Size, b.Len)
	}
	if !b.Mask[row*b.Len+pos] {
		return nil, fmt.Errorf("attribute: position [%d, %d] is padding", row, pos)
	}
	if len(tokens) != 1 && len(tokens) != 2 {
		return nil, fmt.Errorf("attribute: DLA needs one token (a logit) or two (a logit difference), got %d", len(tokens))
	}
	for _, t := range tokens {
		if t < 0 || t >= c.DVocab {
			return nil, fmt.Errorf("attribute: token %d is outside the vocabulary [0, %d)", t, c.DVocab)
		}
	}
	scaleT, ok := res.Cache.Get(hooks.Global(hooks.FinalScale))
	if !ok {
		return nil, fmt.Errorf("attribute: the forward pass did not capture %s", hooks.Global(hooks.FinalScale))
	}
	s := scaleT.At(row, pos, 0)
	u := dlaDirection(m, tokens, float64(s))
	out := &DLAResult{Row: row, Pos: pos, Tokens: append([]int(nil), tokens...), Scale: s,
		Logit: float32(math.NaN()), Output: float32(math.NaN())}
	if res.Logits != nil {
		out.Output = res.Logits.At(row, pos, tokens[0])
		if len(tokens) == 2 {
			out.Output -= res.Logits.At(row, pos, tokens[1])
		}
	}
	if c.FinalSoftcap == 0 {
		out.Logit = out.Output
	} else {
		h, ok := res.Cache.Get(hooks.Global(hooks.FinalOutput))
		if !ok {
			return nil, fmt.Errorf("attribute: the forward pass did not capture %s (needed for the logit before %s's soft-cap)",
				hooks.Global(hooks.FinalOutput), c.ModelType)
		}
		out.Logit = float32(dlaDot(h.Row(row, pos), unembedDirection(m, tokens)))
	}
	for _, l := range layers {
		post, ok := res.Cache.Get(hooks.At(l, hooks.MLPPost))
		if !ok {
			return nil, fmt.Errorf("attribute: the forward pass did not capture %s", hooks.At(l, hooks.MLPPost))
		}
		act := post.Row(row, pos)
		w := m.MLP(l)
		ld := LayerDLA{Layer: l, Neurons: make([]float32, len(act))}
		v := u
		if w.PostNorm != nil {
			sPost := postNormScale(m, w, act)
			ld.PostScale = float32(sPost)
			v = make([]float64, len(u))
			for j, gj := range normGain(c, w.PostNorm) {
				v[j] = u[j] * gj / sPost
			}
		}
		proj := writeProjections(w.Out, v)
		for i, a := range act {
			ld.Neurons[i] = float32(float64(a) * proj[i])
		}
		if w.OutBias != nil {
			ld.Bias = float32(dlaDot(w.OutBias.Data, v))
		}
		out.Layers = append(out.Layers, ld)
	}
	return out, nil
}

// needLMHead refuses an image classifier (ViT) for a method that reads the vocabulary through
// the unembedding: its classifier maps the CLS token to class logits, and there is no
// language-model head to attribute to, decode into, or read a lens through.
func needLMHead(m *model.Model, what string) error {
	c := m.Config
	if c.ImageModel() {
		return fmt.Errorf("attribute: %s needs a language model's unembedding; this model (model_type %s) is an image classifier with %d class logits and no vocabulary",
			what, c.ModelType, c.DVocab)
	}
	return nil
}

// unembedDirection is u = W_U[t] (− W_U[t']) as float64 [d_model].
func unembedDirection(m *model.Model, tokens []int) []float64 {
	wu := m.Unembedding()
	u := make([]float64, m.Config.DModel)
	for j, v := range wu.Row(tokens[0]) {
		u[j] = float64(v)
	}
	if len(tokens) == 2 {
		for j, v := range wu.Row(tokens[1]) {
			u[j] -= float64(v)
		}
	}
	return u
}

// normGain is a norm's effective per-dimension scale as float64: its weight γ, or 1 + γ
// with Config.NormPlusOne (Gemma).
func normGain(c *model.Config, w *model.Param) []float64 {
	g := make([]float64, len(w.Data))
	for j, x := range w.Data {
		g[j] = float64(x)
		if c.NormPlusOne {
			g[j]++
		}
	}
	return g
}

// postNormScale is s_post = sqrt(mean(m²) + eps) of the post-feed-forward RMSNorm at one
// position, m = W_out·act + b_out recomputed in float64 from the neurons' activations act
// [d_mlp] (the model computes the same divisor from its float32 down_proj output).
func postNormScale(m *model.Model, w model.MLPWeights, act []float32) float64 {
	c := m.Config
	d := c.DModel
	out := make([]float64, d)
	if w.Out.InOut { // Conv1D [d_mlp, d_model]
		for i, a := range act {
			if a == 0 {
				continue
			}
			for j, x := range w.Out.Row(i) {
				out[j] += float64(a) * float64(x)
			}
		}
	} else {
		for j := range out {
			var s float64
			for i, x := range w.Out.Row(j) {
				s += float64(x) * float64(act[i])
			}
			out[j] = s
		}
	}
	var ss float64
	for j, x := range out {
		if w.OutBias != nil {
			x += float64(w.OutBias.Data[j])
		}
		ss += x * x
	}
	return math.Sqrt(ss/float64(d) + c.NormEps)
}

// dlaDirection is P(g ⊙ u)/s as float64 [d_model] (see DLAResult).
func dlaDirection(m *model.Model, tokens []int, s float64) []float64 {
	c := m.Config
	u := unembedDirection(m, tokens)
	gw, _ := m.FinalNorm()
	var mean float64
	for j, gj := range normGain(c, gw) {
		u[j] *= gj
		mean += u[j]
	}
	mean /= float64(len(u))
	for j := range u {
		if c.LayerNorm {
			u[j] -= mean
		}
		u[j] /= s
	}
	return u
}

// writeProjections returns w_i · u for every neuron i of an MLP output weight (nn.Linear
// [d_model, d_mlp], or Conv1D [d_mlp, d_model]).
func writeProjections(out *model.Param, u []float64) []float64 {
	d := len(u)
	if out.InOut { // Conv1D: neuron i is row i
		n := out.Shape[0]
		proj := make([]float64, n)
		for i := range proj {
			proj[i] = dlaDot(out.Row(i), u)
		}
		return proj
	}
	n := out.Shape[1]
	proj := make([]float64, n)
	for j := 0; j < d; j++ {
		uj := u[j]
		for i, v := range out.Row(j) {
			proj[i] += float64(v) * uj
		}
	}
	return proj
}

func dlaDot(a []float32, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * b[i]
	}
	return s
}

// dlaLayers resolves nil to every layer and checks the indices.
func dlaLayers(m *model.Model, layers []int) ([]int, error) {
	n := m.Config.NLayers
	if layers == nil {
		layers = make([]int, n)
		for i := range layers {
			layers[i] = i
		}
		return layers, nil
	}
	seen := map[int]bool{}
	for _, l := range layers {
		if l < 0 || l >= n {
			return nil, fmt.Errorf("attribute: layer %d does not exist (the model has %d layers)", l, n)
		}
		if seen[l] {
			return nil, fmt.Errorf("attribute: layer %d given twice", l)
		}
		seen[l] = true
	}
	return layers, nil
}
