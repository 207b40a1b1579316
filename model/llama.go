package model

import (
	"encoding/json"

	"github.com/neuronscope/neuronscope/hooks"
)

// Llama (model_type "llama") and the families that share its tensor names: Mistral, Qwen2
// (q/k/v biases), Qwen3 (per-head q/k RMSNorm) and Gemma ((1+w) RMSNorm, sqrt(d_model)
// embedding scale, GeGLU). RMSNorm, rotate_half RoPE (optionally llama3- or linear-scaled),
// grouped-query attention, gated MLP down(act(gate(x)) * up(x)); weights are nn.Linear
// [out, in]. attention_bias gives q/k/v/o biases and mlp_bias gate/up/down biases, as HF's
// LlamaAttention and LlamaMLP create them.

// decoderWeights are the weights of the Llama-layout families around their blocks (layer
// type L): token embedding, final RMSNorm, unembedding (the embedding when tied).
type decoderWeights[L any] struct {
	Embed  *Param `st:"model.embed_tokens.weight" shape:"d_vocab,d_model"`
	Layers []L    `st:"model.layers"`
	Norm   *Param `st:"model.norm.weight" shape:"d_model"`
	LMHead *Param `st:"lm_head.weight" shape:"d_vocab,d_model" tied:"model.embed_tokens.weight"`
}

// decoder is a Llama-layout network without its blocks: loading, embedding, final norm,
// unembedding and the global aliases, shared by llama and gemma2.
type decoder[L any] struct {
	decoderWeights[L]
	tokens tokenEmbed
}

// load fills the weights and the token embedding.
func (m *decoder[L]) load(c *Config, ld *loader) error {
	if err := ld.fillPrefixed(&m.decoderWeights, ""); err != nil {
		return err
	}
	m.tokens = newTokenEmbed(c, ld, m.Embed)
	return nil
}

func (m *decoder[L]) embed(r *run)             { m.tokens.forward(r) }
func (m *decoder[L]) embedBackward(k *back)    { m.tokens.backward(k) }
func (m *decoder[L]) finalNorm() (w, b *Param) { return m.Norm, nil }
func (m *decoder[L]) unembedding() *Param      { return m.LMHead }
func (m *decoder[L]) globalAliases() map[string]hooks.Site {
	return map[string]hooks.Site{
		"model.embed_tokens:output": hooks.Embed,
		"model.norm:output":         hooks.FinalOutput,
		"lm_head:input":             hooks.FinalOutput,
	}
}

type llamaLayer struct {
	InNorm *Param `st:"input_layernorm.weight" shape:"d_model"`
	llamaAttn
	PostNorm *Param `st:"post_attention_layernorm.weight" shape:"d_model"`
	Gate     *Param `st:"mlp.gate_proj.weight" shape:"d_mlp,d_model"`
	GateB    *Param `st:"mlp.gate_proj.bias" shape:"d_mlp" if:"mlp_bias"`
	Up       *Param `st:"mlp.up_proj.weight" shape:"d_mlp,d_model"`
	UpB      *Param `st:"mlp.up_proj.bias" shape:"d_mlp" if:"mlp_bias"`
	Down     *Param `st:"mlp.down_proj.weight" shape:"d_model,d_mlp"`
	DownB    *Param `st:"mlp.down_proj.bias" shape:"d_model" if:"mlp_bias"`
	// InNormB, PostNormB are LayerNorm biases: nil for Llama's RMSNorms, set when another
	// architecture with LayerNorm runs this block (ViT).
	InNormB, PostNormB *Param
}

// llamaAttn is the attention of the Llama-layout families (Llama, Mistral, Qwen2/3, Gemma 1/2/3;
// ViT maps its weights onto it): separate q/k/v/o projections, optional biases and q/k norms.
type llamaAttn struct {
	Q     *Param `st:"self_attn.q_proj.weight" shape:"q_dim,d_model"`
	QB    *Param `st:"self_attn.q_proj.bias" shape:"q_dim" if:"attn_bias"`
	K     *Param `st:"self_attn.k_proj.weight" shape:"kv_dim,d_model"`
	KB    *Param `st:"self_attn.k_proj.bias" shape:"kv_dim" if:"attn_bias"`
	V     *Param `st:"self_attn.v_proj.weight" shape:"kv_dim,d_model"`
	VB    *Param `st:"self_attn.v_proj.bias" shape:"kv_dim" if:"attn_bias"`
	QNorm *Param `st:"self_attn.q_norm.weight" shape:"d_head" if:"qk_norm"`
	KNorm *Param `st:"self_attn.k_norm.weight" shape:"d_head" if:"qk_norm"`
	O     *Param `st:"self_attn.o_proj.weight" shape:"d_model,q_dim"`
	OB    *Param `st:"self_attn.o_proj.bias" shape:"d_model" if:"attn_out_bias"`
}

// forward projects the normed input r.h to q, k and v, runs attention and the output
// projection into r.attn (not yet firing hook_attn_out).
func (w *llamaAttn) forward(r *run, l int) {
	q, k, v := llamaQKV(r.qkv, r.c, r.n)
	linearForward(q.Data, r.h, w.Q, w.QB, r.n)
	linearForward(k.Data, r.h, w.K, w.KB, r.n)
	linearForward(v.Data, r.h, w.V, w.VB, r.n)
	r.attention(l, q, k, v, w.QNorm, w.KNorm)
	r.attnOut(l, w.O, w.OB)
}

// backward is forward's backward from dProj, the gradient of the output projection's output:
// it emits the attention points and writes the gradient of the normed input into k.dh. h is
// that input (for weight gradients; nil without). It reports whether anything further down is
// needed.
func (w *llamaAttn) backward(k *back, l int, dProj, h []float32) bool {
	c, n := k.r.c, k.r.n
	q, _, _ := llamaQKV(k.r.tape.layers[l].qkv, c, n)
	dq, dk, dv := llamaQKV(k.dqkv, c, n)
	clear(k.dqkv)
	k.attention(l, dProj, q, dq, dk, dv, w.O, w.OB, w.QNorm, w.KNorm)
	if k.done() {
		return false
	}
	clear(k.dh)
	linearBackward(k.dh, k.grad(w.Q), k.grad(w.QB), dq.Data, h, w.Q, n)
	linearBackward(k.dh, k.grad(w.K), k.grad(w.KB), dk.Data, h, w.K, n)
	linearBackward(k.dh, k.grad(w.V), k.grad(w.VB), dv.Data, h, w.V, n)
	return true
}

type llama struct{ decoder[llamaLayer] }

// tokenEmbed is the token embedding of the Llama-layout families: hook_embed = scale·W[id]
// (scale 0: none).
type tokenEmbed struct {
	w     *Param
	scale float32
}

// newTokenEmbed returns w's embedding with the config's scale rounded to w's stored dtype, as
// HF casts Gemma's sqrt(d_model) factor.
func newTokenEmbed(c *Config, ld *loader, w *Param) tokenEmbed {
	e := tokenEmbed{w: w, scale: c.EmbedScale}
	if c.EmbedScale != 0 && ld.src != nil {
		if t, ok := ld.src.Tensor(w.Name); ok {
			e.scale = roundToDType(c.EmbedScale, string(t.DType))
		}
	}
	return e
}

func (e tokenEmbed) forward(r *run) {
	r.embedTokens(e.w, e.scale)
	r.fire(hooks.Global(hooks.Embed), r.x, r.c.DModel)
}

func (e tokenEmbed) backward(k *back) {
	r := k.r
	k.emit(hooks.Global(hooks.Embed), k.dx, r.c.DModel)
	if k.dw != nil {
		embedBackward(k.grad(e.w), k.dx, r.ids, e.scale, r.c.DVocab, r.c.DModel)
	}
}

func init() {
	register("llama", arch{parse: parseLlama, build: buildLlama})
}

// parseLlamaCommon reads the keys Llama, Mistral, Qwen2/3 and Gemma 1/2/3 share.
func parseLlamaCommon(r *cfgReader, c *Config) {
	c.NLayers = r.int("num_hidden_layers", -1)
	c.DModel = r.int("hidden_size", -1)
	c.DMLP = r.int("intermediate_size", -1)
	c.NHeads = r.int("num_attention_heads", -1)
	c.NKVHeads = r.int("num_key_value_heads", c.NHeads)
	c.DVocab = r.int("vocab_size", -1)
	c.MaxPos = r.int("max_position_embeddings", -1)
	c.NormEps = r.float("rms_norm_eps", 1e-6, false)
	c.Tied = r.bool("tie_word_embeddings", false)
	c.DHead = r.int("head_dim", 0)
	if c.DHead == 0 && c.NHeads > 0 {
		c.DHead = c.DModel / c.NHeads
	}
	c.RotaryDim = c.DHead
	c.Gated = true
	c.Act = r.str("hidden_act", "silu")
	parseRope(r, c, 10000)
	// pretraining_tp > 1 makes HF compute each linear layer in slices and sum them: the same
	// function, so it is accepted.
	r.ignore("pretraining_tp")
	sliding := parseLayerTypes(r, c)
	if r.bool("use_sliding_window", false) || anyTrue(sliding) {
		c.SlidingWindow = r.int("sliding_window", -1)
		r.ignore("max_window_layers")
	} else {
		r.ignore("sliding_window", "max_window_layers")
	}
}

// parseRope reads rope_theta and rope_scaling, or transformers v5's rope_parameters (one
// parameter set, or one per layer type as Gemma 3 writes them: full_attention for the global
// layers, sliding_attention for the local ones).
func parseRope(r *cfgReader, c *Config, defTheta float64) {
	theta := func(obj map[string]json.RawMessage, key string) float64 {
		v, ok := obj["rope_theta"]
		if !ok {
			return defTheta
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil || !(f > 0) {
			r.fail("%s.rope_theta must be a positive number, got %s", key, v)
		}
		return f
	}
	if rp := r.object("rope_parameters"); rp != nil {
		r.ignore("rope_theta", "rope_scaling", "rope_local_base_freq")
		full, hasFull := rp["full_attention"]
		if !hasFull {
			c.RopeTheta = theta(rp, "rope_parameters")
			c.RopeScaling = r.ropeScaling("rope_parameters", rp)
			return
		}
		var g, l map[string]json.RawMessage
		if err := json.Unmarshal(full, &g); err != nil {
			r.fail("rope_parameters.full_attention must be a JSON object")
			return
		}
		c.RopeTheta = theta(g, "rope_parameters.full_attention")
		c.RopeScaling = r.ropeScaling("rope_parameters.full_attention", g)
		if local, ok := rp["sliding_attention"]; ok {
			if err := json.Unmarshal(local, &l); err != nil {
				r.fail("rope_parameters.sliding_attention must be a JSON object")
				return
			}
			c.RopeLocalTheta = theta(l, "rope_parameters.sliding_attention")
			if r.ropeScaling("rope_parameters.sliding_attention", l) != nil {
				r.fail("rope_parameters.sliding_attention: scaled RoPE on sliding-window layers is not implemented")
			}
		}
		return
	}
	c.RopeTheta = r.float("rope_theta", defTheta, false)
	c.RopeScaling = r.ropeScaling("rope_scaling", r.object("rope_scaling"))
}

// parseLayerTypes reads layer_types (HF >= 4.53): one "full_attention" or "sliding_attention"
// per layer. It returns which layers slide, or nil when the key is absent.
func parseLayerTypes(r *cfgReader, c *Config) []bool {
	v, ok := r.get("layer_types")
	if !ok {
		return nil
	}
	var types []string
	if err := json.Unmarshal(v, &types); err != nil {
		r.fail("key \"layer_types\" must be a list of strings, got %s", v)
		return nil
	}
	if c.NLayers > 0 && len(types) != c.NLayers {
		r.fail("layer_types has %d entries for %d layers", len(types), c.NLayers)
		return nil
	}
	out := make([]bool, len(types))
	for i, t := range types {
		switch t {
		case "full_attention":
		case "sliding_attention":
			out[i] = true
		default:
			r.fail("layer_types[%d] = %q is not supported (full_attention or sliding_attention)", i, t)
		}
	}
	return out
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

func parseLlama(r *cfgReader, c *Config) {
	parseLlamaCommon(r, c)
	c.AttnBias = r.bool("attention_bias", false)
	c.AttnOutBias = c.AttnBias
	c.MLPBias = r.bool("mlp_bias", false)
	checkAct(r, c)
}

func checkAct(r *cfgReader, c *Config) {
	if !knownActs[c.Act] {
		r.fail("hidden_act %q is not supported", c.Act)
	}
}

func buildLlama(c *Config, ld *loader) (network, error) {
	m := &llama{}
	if err := m.load(c, ld); err != nil {
		return nil, err
	}
	return m, nil
}

// llamaQKV views the projections buffer as q [n, q_dim], then k and v [n, kv_dim].
func llamaQKV(buf []float32, c *Config, n int) (q, k, v headView) {
	qd, kvd := c.QDim(), c.KVDim()
	q = headView{Data: buf[:n*qd], RowStride: qd, HeadStride: c.DHead}
	k = headView{Data: buf[n*qd : n*(qd+kvd)], RowStride: kvd, HeadStride: c.DHead}
	v = headView{Data: buf[n*(qd+kvd):], RowStride: kvd, HeadStride: c.DHead}
	return q, k, v
}

func (m *llama) block(r *run, l int) {
	w := &m.Layers[l]
	d := r.c.DModel
	r.norm(r.h, r.x, w.InNorm, w.InNormB, ln1(l)...)
	w.llamaAttn.forward(r, l)
	r.fire(hooks.At(l, hooks.AttnOut), r.attn, d)
	addTo(r.x, r.attn)
	r.fire(hooks.At(l, hooks.ResidMid), r.x, d)
	r.norm(r.h, r.x, w.PostNorm, w.PostNormB, ln2(l)...)
	r.mlpForward(l, r.h, w.Gate, w.GateB, w.Up, w.UpB, w.Down, w.DownB)
	addTo(r.x, r.mlp)
}

// blockBackward is block's backward: k.dx holds d hook_resid_post on entry and
// d hook_resid_pre on return.
func (m *llama) blockBackward(k *back, l int) {
	w, bt := &m.Layers[l], &k.r.tape.layers[l]
	d := k.r.c.DModel
	k.emit(hooks.At(l, hooks.ResidPost), k.dx, d)
	clear(k.dh)
	k.mlp(l, k.dh, k.dx, k.normOut(bt.norms[1], w.PostNorm, w.PostNormB), w.Gate, w.GateB, w.Up, w.UpB, w.Down, w.DownB)
	if k.done() {
		return
	}
	k.normBackward(k.dx, k.dh, bt.norms[1], w.PostNorm, w.PostNormB, ln2(l)...)
	k.emit(hooks.At(l, hooks.ResidMid), k.dx, d)
	k.emit(hooks.At(l, hooks.AttnOut), k.dx, d)
	if !w.llamaAttn.backward(k, l, k.dx, k.normOut(bt.norms[0], w.InNorm, w.InNormB)) {
		return
	}
	k.normBackward(k.dx, k.dh, bt.norms[0], w.InNorm, w.InNormB, ln1(l)...)
	k.emit(hooks.At(l, hooks.ResidPre), k.dx, d)
}

func (m *llama) aliases(l int) map[string]hooks.Site { return llamaAliases(l) }

// llamaAliases are the HF module paths of the Llama-layout families' hook points in block l.
func llamaAliases(l int) map[string]hooks.Site {
	p := "model.layers." + itoa(l)
	return map[string]hooks.Site{
		p + ":input":                   hooks.ResidPre,
		p + ".self_attn.q_proj:output": hooks.AttnQ,
		p + ".self_attn.k_proj:output": hooks.AttnK,
		p + ".self_attn.v_proj:output": hooks.AttnV,
		p + ".self_attn.o_proj:input":  hooks.AttnZ,
		p + ".self_attn.o_proj:output": hooks.AttnOut,
		p + ".mlp.gate_proj:output":    hooks.MLPPre,
		p + ".mlp.up_proj:output":      hooks.MLPPreLinear,
		p + ".mlp.down_proj:input":     hooks.MLPPost,
		p + ".mlp.down_proj:output":    hooks.MLPOut,
		p + ".mlp:output":              hooks.MLPOut,
		p + ":output":                  hooks.ResidPost,
	}
}

func (m *llama) mlp(l int) MLPWeights {
	w := &m.Layers[l]
	return MLPWeights{In: w.Gate, InBias: w.GateB, Up: w.Up, UpBias: w.UpB, Out: w.Down, OutBias: w.DownB}
}
