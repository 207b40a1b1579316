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
// The MLP output bias b_out is written at every position regardless of the neurons; its
// direct effect, (P b_out)·(g ⊙ u)/s, is LayerDLA.Bias. So Σ_i DLA_i + Bias is exactly the
// direct effect of the layer's hook_mlp_out through the frozen final norm, and summed over
// every component that writes the residual stream (embeddings, every hook_attn_out and
// hook_mlp_out) plus β·u it is the logit itself.
type DLAResult struct {
	Row, Pos int
	// Tokens are the target token, or the target and the baseline of a logit difference.
	Tokens []int
	// Scale is s, ln_final.hook_scale at [Row, Pos].
	Scale float32
	// Logit is the model's logit of the target at [Row, Pos] (a logit difference for two
	// tokens): the quantity being attributed. It is NaN when no logits were given.
	Logit float32
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
}

// Total is Σ_i DLA_i + Bias: the direct effect of the layer's hook_mlp_out on the target
// logit (or logit difference) through the frozen final norm.
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
// tokens[0] − tokens[1]. See DLAResult for the exact formula.
func DirectLogit(m *model.Model, b model.Batch, row, pos int, tokens []int, layers []int) (*DLAResult, error) {
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
// but the final scale): each layer's mlp.hook_post and ln_final.hook_scale. Capture them in a
// forward pass of your own and call DirectLogitFromResult to attribute many positions or
// tokens from one pass.
func DLAPoints(layers []int) []hooks.Point {
	ps := []hooks.Point{hooks.Global(hooks.FinalScale)}
	for _, l := range layers {
		ps = append(ps, hooks.At(l, hooks.MLPPost))
	}
	return ps
}

// DirectLogitFromResult is DirectLogit on a forward pass already run over b that captured
// DLAPoints(layers) (layers nil: every layer). res.Logits fills DLAResult.Logit.
func DirectLogitFromResult(m *model.Model, b model.Batch, res *model.Result, row, pos int, tokens []int, layers []int) (*DLAResult, error) {
	c := m.Config
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
	out := &DLAResult{Row: row, Pos: pos, Tokens: append([]int(nil), tokens...), Scale: s, Logit: float32(math.NaN())}
	if res.Logits != nil {
		out.Logit = res.Logits.At(row, pos, tokens[0])
		if len(tokens) == 2 {
			out.Logit -= res.Logits.At(row, pos, tokens[1])
		}
	}
	for _, l := range layers {
		post, ok := res.Cache.Get(hooks.At(l, hooks.MLPPost))
		if !ok {
			return nil, fmt.Errorf("attribute: the forward pass did not capture %s", hooks.At(l, hooks.MLPPost))
		}
		act := post.Row(row, pos)
		w := m.MLP(l)
		proj := writeProjections(w.Out, u)
		ld := LayerDLA{Layer: l, Neurons: make([]float32, len(act))}
		for i, a := range act {
			ld.Neurons[i] = float32(float64(a) * proj[i])
		}
		if w.OutBias != nil {
			ld.Bias = float32(dlaDot(w.OutBias.Data, u))
		}
		out.Layers = append(out.Layers, ld)
	}
	return out, nil
}

// dlaDirection is P(g ⊙ u)/s as float64 [d_model] (see DLAResult).
func dlaDirection(m *model.Model, tokens []int, s float64) []float64 {
	c := m.Config
	d := c.DModel
	wu := m.Unembedding()
	u := make([]float64, d)
	for j, v := range wu.Row(tokens[0]) {
		u[j] = float64(v)
	}
	if len(tokens) == 2 {
		for j, v := range wu.Row(tokens[1]) {
			u[j] -= float64(v)
		}
	}
	g, _ := m.FinalNorm()
	var mean float64
	for j := range u {
		gj := float64(g.Data[j])
		if c.NormPlusOne {
			gj++
		}
		u[j] *= gj
		mean += u[j]
	}
	mean /= float64(d)
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
