package model

import "github.com/neuronscope/neuronscope/hooks"

// GPT-NeoX (model_type "gpt_neox", Pythia): LayerNorm with bias, fused query_key_value whose
// output rows are grouped per head as [n_heads, 3, d_head] (q, k, v of head h adjacent),
// partial rotary (rotate_half within the first rotary_pct·d_head dims of each head),
// GELU MLP, untied embed_out, and usually the parallel residual
// x + attn(ln1(x)) + mlp(ln2(x)) (no resid_mid then).

type neoxWeights struct {
	Embed    *Param      `st:"gpt_neox.embed_in.weight" shape:"d_vocab,d_model"`
	Layers   []neoxLayer `st:"gpt_neox.layers"`
	FinalW   *Param      `st:"gpt_neox.final_layer_norm.weight" shape:"d_model"`
	FinalB   *Param      `st:"gpt_neox.final_layer_norm.bias" shape:"d_model"`
	EmbedOut *Param      `st:"embed_out.weight" shape:"d_vocab,d_model" tied:"gpt_neox.embed_in.weight"`
}

type neoxLayer struct {
	Ln1W  *Param `st:"input_layernorm.weight" shape:"d_model"`
	Ln1B  *Param `st:"input_layernorm.bias" shape:"d_model"`
	Ln2W  *Param `st:"post_attention_layernorm.weight" shape:"d_model"`
	Ln2B  *Param `st:"post_attention_layernorm.bias" shape:"d_model"`
	QKV   *Param `st:"attention.query_key_value.weight" shape:"qkv_dim,d_model"`
	QKVB  *Param `st:"attention.query_key_value.bias" shape:"qkv_dim" if:"attn_bias"`
	Dense *Param `st:"attention.dense.weight" shape:"d_model,d_model"`
	DB    *Param `st:"attention.dense.bias" shape:"d_model" if:"attn_out_bias"`
	In    *Param `st:"mlp.dense_h_to_4h.weight" shape:"d_mlp,d_model"`
	InB   *Param `st:"mlp.dense_h_to_4h.bias" shape:"d_mlp"`
	Out   *Param `st:"mlp.dense_4h_to_h.weight" shape:"d_model,d_mlp"`
	OutB  *Param `st:"mlp.dense_4h_to_h.bias" shape:"d_model"`
}

type neox struct{ neoxWeights }

func init() {
	register("gpt_neox", arch{parse: parseNeoX, build: buildNeoX})
}

func parseNeoX(r *cfgReader, c *Config) {
	c.NLayers = r.int("num_hidden_layers", -1)
	c.DModel = r.int("hidden_size", -1)
	c.DMLP = r.int("intermediate_size", -1)
	c.NHeads = r.int("num_attention_heads", -1)
	c.NKVHeads = c.NHeads
	c.DVocab = r.int("vocab_size", -1)
	c.MaxPos = r.int("max_position_embeddings", -1)
	c.NormEps = r.float("layer_norm_eps", 1e-5, false)
	c.RopeTheta = r.float("rotary_emb_base", 10000, false)
	if r.has("rope_theta") { // newer HF writes rope_theta (rotary_emb_base is its alias)
		c.RopeTheta = r.float("rope_theta", 10000, false)
	}
	c.Act = r.str("hidden_act", "gelu")
	checkAct(r, c)
	if c.NHeads > 0 {
		c.DHead = c.DModel / c.NHeads
		if c.DHead*c.NHeads != c.DModel {
			r.fail("hidden_size %d is not divisible by num_attention_heads %d", c.DModel, c.NHeads)
		}
	}
	pct := r.float("rotary_pct", 1, false)
	if pct <= 0 || pct > 1 {
		r.fail("rotary_pct = %g must be in (0, 1]", pct)
	}
	c.RotaryDim = int(float64(c.DHead) * pct)
	c.LayerNorm = true
	c.ParallelResidual = r.bool("use_parallel_residual", true)
	c.Tied = r.bool("tie_word_embeddings", false)
	c.AttnBias = r.bool("attention_bias", true)
	c.AttnOutBias = c.AttnBias
	c.MLPBias = true
	c.RopeScaling = r.ropeScaling("rope_scaling", r.object("rope_scaling"))
	r.ignore("classifier_dropout", "use_cache")
}

func buildNeoX(c *Config, ld *loader) (network, error) {
	m := &neox{}
	if err := ld.fillPrefixed(&m.neoxWeights, ""); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *neox) embed(r *run) {
	r.embedTokens(m.Embed, 0)
	r.fire(hooks.Global(hooks.Embed), r.x, r.c.DModel)
}

func (m *neox) embedBackward(k *back) {
	r := k.r
	k.emit(hooks.Global(hooks.Embed), k.dx, r.c.DModel)
	if k.dw != nil {
		embedBackward(k.grad(m.Embed), k.dx, r.ids, 0, r.c.DVocab, r.c.DModel)
	}
}

// neoxQKV views query_key_value's output [n, n_heads, 3, d_head] as per-head q, k, v.
func neoxQKV(buf []float32, c *Config) (q, k, v headView) {
	d, dh := c.DModel, c.DHead
	q = headView{Data: buf, Off: 0, RowStride: 3 * d, HeadStride: 3 * dh}
	k = headView{Data: buf, Off: dh, RowStride: 3 * d, HeadStride: 3 * dh}
	v = headView{Data: buf, Off: 2 * dh, RowStride: 3 * d, HeadStride: 3 * dh}
	return q, k, v
}

func (m *neox) block(r *run, l int) {
	w := &m.Layers[l]
	c := r.c
	d := c.DModel
	r.norm(r.h, r.x, w.Ln1W, w.Ln1B, ln1(l)...)
	linearForward(r.qkv, r.h, w.QKV, w.QKVB, r.n)
	q, k, v := neoxQKV(r.qkv, c)
	r.attention(l, q, k, v, nil, nil)
	r.attnOut(l, w.Dense, w.DB)
	r.fire(hooks.At(l, hooks.AttnOut), r.attn, d)
	if c.ParallelResidual {
		r.norm(r.h2, r.x, w.Ln2W, w.Ln2B, ln2(l)...) // reads x = resid_pre
		r.mlpForward(l, r.h2, w.In, w.InB, nil, nil, w.Out, w.OutB)
		addTo(r.x, r.attn)
		addTo(r.x, r.mlp)
		return
	}
	addTo(r.x, r.attn)
	r.fire(hooks.At(l, hooks.ResidMid), r.x, d)
	r.norm(r.h, r.x, w.Ln2W, w.Ln2B, ln2(l)...)
	r.mlpForward(l, r.h, w.In, w.InB, nil, nil, w.Out, w.OutB)
	addTo(r.x, r.mlp)
}

// blockBackward is block's backward: k.dx holds d hook_resid_post on entry and
// d hook_resid_pre on return. With the parallel residual, d hook_resid_post is also
// d hook_mlp_out and d hook_attn_out, and both norms (which read resid_pre) add into dx.
func (m *neox) blockBackward(k *back, l int) {
	w, bt := &m.Layers[l], &k.r.tape.layers[l]
	c, n, d := k.r.c, k.r.n, k.r.c.DModel
	k.emit(hooks.At(l, hooks.ResidPost), k.dx, d)
	dMLP := k.dh
	if c.ParallelResidual {
		dMLP = k.dh2
	}
	clear(dMLP)
	k.mlp(l, dMLP, k.dx, k.normOut(bt.norms[1], w.Ln2W, w.Ln2B), w.In, w.InB, nil, nil, w.Out, w.OutB)
	if k.done() {
		return
	}
	if !c.ParallelResidual {
		k.normBackward(k.dx, k.dh, bt.norms[1], w.Ln2W, w.Ln2B, ln2(l)...)
		k.emit(hooks.At(l, hooks.ResidMid), k.dx, d)
	}
	q, _, _ := neoxQKV(bt.qkv, c)
	dq, dk, dv := neoxQKV(k.dqkv, c)
	clear(k.dqkv)
	k.emit(hooks.At(l, hooks.AttnOut), k.dx, d)
	k.attention(l, k.dx, q, dq, dk, dv, w.Dense, w.DB, nil, nil)
	if k.done() {
		return
	}
	clear(k.dh)
	linearBackward(k.dh, k.grad(w.QKV), k.grad(w.QKVB), k.dqkv, k.normOut(bt.norms[0], w.Ln1W, w.Ln1B), w.QKV, n)
	if c.ParallelResidual {
		k.normBackward(k.dx, k.dh2, bt.norms[1], w.Ln2W, w.Ln2B, ln2(l)...)
	}
	k.normBackward(k.dx, k.dh, bt.norms[0], w.Ln1W, w.Ln1B, ln1(l)...)
	k.emit(hooks.At(l, hooks.ResidPre), k.dx, d)
}

func (m *neox) finalNorm() (w, b *Param) { return m.FinalW, m.FinalB }
func (m *neox) unembedding() *Param      { return m.EmbedOut }

func (m *neox) aliases(l int) map[string]hooks.Site {
	p := "gpt_neox.layers." + itoa(l)
	return map[string]hooks.Site{
		p + ":input":                    hooks.ResidPre,
		p + ".attention.dense:input":    hooks.AttnZ,
		p + ".attention.dense:output":   hooks.AttnOut,
		p + ".mlp.dense_h_to_4h:output": hooks.MLPPre,
		p + ".mlp.act:output":           hooks.MLPPost,
		p + ".mlp.dense_4h_to_h:input":  hooks.MLPPost,
		p + ".mlp.dense_4h_to_h:output": hooks.MLPOut,
		p + ".mlp:output":               hooks.MLPOut,
		p + ":output":                   hooks.ResidPost,
	}
}

func (m *neox) globalAliases() map[string]hooks.Site {
	return map[string]hooks.Site{
		"gpt_neox.embed_in:output":         hooks.Embed,
		"gpt_neox.final_layer_norm:output": hooks.FinalOutput,
		"embed_out:input":                  hooks.FinalOutput,
	}
}

func (m *neox) mlp(l int) MLPWeights {
	w := &m.Layers[l]
	return MLPWeights{In: w.In, InBias: w.InB, Out: w.Out, OutBias: w.OutB}
}
