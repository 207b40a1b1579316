package model

import (
	"math"

	"github.com/neuronscope/neuronscope/hooks"
)

// Gemma 2 (model_type "gemma2") is Gemma's layer ((1+w) RMSNorms, GeGLU, embeddings scaled by
// sqrt(d_model) cast to the weight dtype, tied unembedding by default) with:
//
//   - four norms per layer ("sandwich"): h = x + post_attention_layernorm(attn(input_layernorm(x)));
//     out = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h))). NB the name clash
//     with Llama: here post_attention_layernorm normalizes the attention OUTPUT. hook_attn_out and
//     hook_mlp_out are the post-normed outputs (what is added to the residual stream, as
//     TransformerLens has them); ln1 is input_layernorm, ln2 pre_feedforward_layernorm.
//   - scores = q·k·query_pre_attn_scalar^-1/2 (HF default scalar 256), soft-capped
//     cap·tanh(s/cap) with attn_logit_softcapping (default 50) after the scaling and before the
//     mask; logits soft-capped with final_logit_softcapping (default 30). An absent key takes
//     HF's default (with a warning), an explicit null switches that cap off.
//   - alternating local and global layers: layer l attends within sliding_window (query i sees
//     key j iff 0 <= i − j < window) when layer_types says "sliding_attention", or, without
//     layer_types, when l is even.
//
// Gemma 3's text model (gemma3.go) is the same layer with q/k norms and two RoPE bases.

type gemma2Layer struct {
	InNorm *Param `st:"input_layernorm.weight" shape:"d_model"`
	llamaAttn
	PostAttnNorm *Param `st:"post_attention_layernorm.weight" shape:"d_model"`
	PreFFNorm    *Param `st:"pre_feedforward_layernorm.weight" shape:"d_model"`
	PostFFNorm   *Param `st:"post_feedforward_layernorm.weight" shape:"d_model"`
	Gate         *Param `st:"mlp.gate_proj.weight" shape:"d_mlp,d_model"`
	Up           *Param `st:"mlp.up_proj.weight" shape:"d_mlp,d_model"`
	Down         *Param `st:"mlp.down_proj.weight" shape:"d_model,d_mlp"`
}

type gemma2 struct{ decoder[gemma2Layer] }

func init() {
	register("gemma2", arch{parse: parseGemma2, build: buildGemma2})
}

// parseGemmaCommon reads what Gemma 2 and Gemma 3 share: Llama's keys, Gemma's norm and
// embedding, query_pre_attn_scalar and the sliding-window size.
func parseGemmaCommon(r *cfgReader, c *Config, defTheta float64) {
	parseLlamaCommon(r, c)
	if !r.has("head_dim") {
		c.DHead, c.RotaryDim = 256, 256 // HF's default
	}
	if !r.has("rope_theta") && !r.has("rope_parameters") {
		c.RopeTheta = defTheta
	}
	c.SlidingWindow = 0 // implemented, not refused
	c.Tied = r.bool("tie_word_embeddings", true)
	c.Act = r.str("hidden_activation", "gelu_pytorch_tanh") // HF ignores hidden_act here
	c.NormPlusOne = true
	c.EmbedScale = float32(math.Sqrt(float64(c.DModel)))
	c.AttnBias = r.bool("attention_bias", false)
	c.AttnOutBias = c.AttnBias
	c.SandwichNorm = true
	c.AttnScale = 1 / math.Sqrt(r.float("query_pre_attn_scalar", 256, false))
	c.Window = r.int("sliding_window", 4096)
	checkAct(r, c)
}

func parseGemma2(r *cfgReader, c *Config) {
	parseGemmaCommon(r, c, 10000)
	c.AttnSoftcap = r.optFloat("attn_logit_softcapping", 50)
	c.FinalSoftcap = r.optFloat("final_logit_softcapping", 30)
	c.LocalLayers = parseLayerTypes(r, c)
	if c.LocalLayers == nil && c.NLayers > 0 {
		c.LocalLayers = make([]bool, c.NLayers)
		for l := range c.LocalLayers {
			c.LocalLayers[l] = l%2 == 0
		}
	}
}

func buildGemma2(c *Config, ld *loader) (network, error) {
	m := &gemma2{}
	if err := m.load(c, ld); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *gemma2) block(r *run, l int) {
	w := &m.Layers[l]
	d := r.c.DModel
	r.norm(r.h, r.x, w.InNorm, nil, ln1(l)...)
	w.llamaAttn.forward(r, l)
	r.norm(r.h2, r.attn, w.PostAttnNorm, nil)
	r.fire(hooks.At(l, hooks.AttnOut), r.h2, d)
	addTo(r.x, r.h2)
	r.fire(hooks.At(l, hooks.ResidMid), r.x, d)
	r.norm(r.h, r.x, w.PreFFNorm, nil, ln2(l)...)
	r.mlpCore(l, r.h, w.Gate, nil, w.Up, nil, w.Down, nil)
	r.norm(r.h2, r.mlp, w.PostFFNorm, nil)
	r.fire(hooks.At(l, hooks.MLPOut), r.h2, d)
	addTo(r.x, r.h2)
}

// blockBackward is block's backward: k.dx holds d hook_resid_post on entry and
// d hook_resid_pre on return. The tape holds the four norms in call order: input,
// post-attention, pre-feed-forward, post-feed-forward.
func (m *gemma2) blockBackward(k *back, l int) {
	w, bt := &m.Layers[l], &k.r.tape.layers[l]
	d := k.r.c.DModel
	k.emit(hooks.At(l, hooks.ResidPost), k.dx, d)
	k.emit(hooks.At(l, hooks.MLPOut), k.dx, d)
	clear(k.dh2)
	k.normBackward(k.dh2, k.dx, bt.norms[3], w.PostFFNorm, nil)
	clear(k.dh)
	k.mlpCore(l, k.dh, k.dh2, k.normOut(bt.norms[2], w.PreFFNorm, nil), w.Gate, nil, w.Up, nil, w.Down, nil)
	if k.done() {
		return
	}
	k.normBackward(k.dx, k.dh, bt.norms[2], w.PreFFNorm, nil, ln2(l)...)
	k.emit(hooks.At(l, hooks.ResidMid), k.dx, d)
	k.emit(hooks.At(l, hooks.AttnOut), k.dx, d)
	clear(k.dh2)
	k.normBackward(k.dh2, k.dx, bt.norms[1], w.PostAttnNorm, nil)
	if !w.llamaAttn.backward(k, l, k.dh2, k.normOut(bt.norms[0], w.InNorm, nil)) {
		return
	}
	k.normBackward(k.dx, k.dh, bt.norms[0], w.InNorm, nil, ln1(l)...)
	k.emit(hooks.At(l, hooks.ResidPre), k.dx, d)
}

// aliases are Llama's, except that hook_attn_out and hook_mlp_out are the post-norms' outputs.
func (m *gemma2) aliases(l int) map[string]hooks.Site {
	a := llamaAliases(l)
	p := "model.layers." + itoa(l)
	delete(a, p+".self_attn.o_proj:output")
	delete(a, p+".mlp.down_proj:output")
	delete(a, p+".mlp:output")
	a[p+".post_attention_layernorm:output"] = hooks.AttnOut
	a[p+".post_feedforward_layernorm:output"] = hooks.MLPOut
	return a
}

func (m *gemma2) mlp(l int) MLPWeights {
	w := &m.Layers[l]
	return MLPWeights{In: w.Gate, Up: w.Up, Out: w.Down, PostNorm: w.PostFFNorm}
}
