package model

import (
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
)

// BLOOM (model_type "bloom", BloomForCausalLM): LayerNorm with bias everywhere, a LayerNorm on
// the token embeddings (word_embeddings_layernorm; hook_embed is AFTER it, as TransformerLens
// has it), no position embeddings but ALiBi: scores = q·k/sqrt(d_head) + slope_h·(pos_k − pos_q)
// (HF adds slope_h·pos_k, which differs by a per-row constant the softmax ignores; the hook
// shows TransformerLens' relative form), with HF's slopes for any head count (alibiSlopes). The
// fused self_attention.query_key_value output is [n_heads, 3, d_head] per row (q, k, v of a
// head adjacent, as GPT-NeoX; not GPT-2's q|k|v blocks). GELU is BLOOM's tanh form with the
// literal 0.79788456, which is sqrt(2/π) in float32. d_mlp is 4·hidden_size (n_inner is not
// used), every linear layer has a bias, the unembedding is word_embeddings unless
// tie_word_embeddings is false. Tensor names come with or without the "transformer." prefix.
// The Megatron-era config keys (attention_softmax_in_fp32, masked_softmax_fusion, offset_alibi,
// skip_bias_add, slow_but_exact, pretraining_tp, …) do not change the function and are ignored
// as HF ignores them; apply_residual_connection_post_layernorm: true is refused.

type bloomWeights struct {
	Embed  *Param       `st:"word_embeddings.weight" shape:"d_vocab,d_model"`
	EmbLnW *Param       `st:"word_embeddings_layernorm.weight" shape:"d_model"`
	EmbLnB *Param       `st:"word_embeddings_layernorm.bias" shape:"d_model"`
	Layers []bloomLayer `st:"h"`
	LnF    *Param       `st:"ln_f.weight" shape:"d_model"`
	LnFB   *Param       `st:"ln_f.bias" shape:"d_model"`
}

type bloomLayer struct {
	Ln1W   *Param `st:"input_layernorm.weight" shape:"d_model"`
	Ln1B   *Param `st:"input_layernorm.bias" shape:"d_model"`
	QKV    *Param `st:"self_attention.query_key_value.weight" shape:"qkv_dim,d_model"`
	QKVB   *Param `st:"self_attention.query_key_value.bias" shape:"qkv_dim"`
	Dense  *Param `st:"self_attention.dense.weight" shape:"d_model,d_model"`
	DenseB *Param `st:"self_attention.dense.bias" shape:"d_model"`
	Ln2W   *Param `st:"post_attention_layernorm.weight" shape:"d_model"`
	Ln2B   *Param `st:"post_attention_layernorm.bias" shape:"d_model"`
	In     *Param `st:"mlp.dense_h_to_4h.weight" shape:"d_mlp,d_model"`
	InB    *Param `st:"mlp.dense_h_to_4h.bias" shape:"d_mlp"`
	Out    *Param `st:"mlp.dense_4h_to_h.weight" shape:"d_model,d_mlp"`
	OutB   *Param `st:"mlp.dense_4h_to_h.bias" shape:"d_model"`
}

// bloom runs its blocks as GPT-NeoX's sequential block (gptneox.go): the same computation
// and fused-QKV layout, with the BLOOM weights mapped onto it.
type bloom struct {
	neox
	embLnW, embLnB *Param
}

func init() {
	register("bloom", arch{parse: parseBloom, build: buildBloom})
}

func parseBloom(r *cfgReader, c *Config) {
	c.NLayers = r.firstInt(-1, "n_layer", "num_hidden_layers")
	c.NHeads = r.firstInt(-1, "n_head", "num_attention_heads")
	c.DModel = r.firstInt(-1, "hidden_size", "n_embed")
	c.NKVHeads = c.NHeads
	c.DMLP = 4 * c.DModel
	c.DVocab = r.int("vocab_size", -1)
	// ALiBi has no position table; HF imposes no limit. seq_length, when given, is the training
	// length; neuronscope takes it as the limit, else 1<<20.
	c.MaxPos = r.int("seq_length", 1<<20)
	c.NormEps = r.float("layer_norm_epsilon", 1e-5, false)
	if c.NHeads > 0 {
		c.DHead = c.DModel / c.NHeads
		if c.DHead*c.NHeads != c.DModel {
			r.fail("hidden_size %d is not divisible by n_head %d", c.DModel, c.NHeads)
		}
	}
	c.Act = "bloom_gelu"
	c.LayerNorm, c.EmbedNorm, c.ALiBi = true, true, true
	c.AttnBias, c.AttnOutBias, c.MLPBias = true, true, true
	c.Tied = r.bool("tie_word_embeddings", true)
	r.requireBool("apply_residual_connection_post_layernorm", false, "the residual taken after the layer norm")
	r.ignore("n_inner", "attention_softmax_in_fp32", "bias_dropout_fusion", "masked_softmax_fusion", "offset_alibi",
		"skip_bias_add", "skip_bias_add_qkv", "slow_but_exact", "pretraining_tp")
}

func buildBloom(c *Config, ld *loader) (network, error) {
	prefix := ""
	if ld.src != nil {
		for _, n := range ld.src.Names() {
			if strings.HasPrefix(n, "transformer.") {
				prefix = "transformer"
				break
			}
		}
	}
	w := &bloomWeights{}
	if err := ld.fillPrefixed(w, prefix); err != nil {
		return nil, err
	}
	m := &bloom{embLnW: w.EmbLnW, embLnB: w.EmbLnB}
	m.Embed, m.FinalW, m.FinalB, m.EmbedOut = w.Embed, w.LnF, w.LnFB, w.Embed
	if !c.Tied {
		h := &lmHeadUntied{}
		if err := ld.fillPrefixed(h, ""); err != nil {
			return nil, err
		}
		m.EmbedOut = h.W
	}
	m.Layers = make([]neoxLayer, len(w.Layers))
	for l, b := range w.Layers {
		m.Layers[l] = neoxLayer{Ln1W: b.Ln1W, Ln1B: b.Ln1B, Ln2W: b.Ln2W, Ln2B: b.Ln2B, QKV: b.QKV, QKVB: b.QKVB,
			Dense: b.Dense, DB: b.DenseB, In: b.In, InB: b.InB, Out: b.Out, OutB: b.OutB}
	}
	return m, nil
}

// embed writes word_embeddings_layernorm(word_embeddings[ids]) into r.x: hook_embed.
func (m *bloom) embed(r *run) {
	if r.tape != nil {
		r.tape.cur = &r.tape.embed
	}
	embedForward(r.h, m.Embed.Data, r.ids, 0, r.c.DVocab, r.c.DModel)
	r.norm(r.x, r.h, m.embLnW, m.embLnB)
	r.fire(hooks.Global(hooks.Embed), r.x, r.c.DModel)
}

func (m *bloom) embedBackward(k *back) {
	r := k.r
	k.emit(hooks.Global(hooks.Embed), k.dx, r.c.DModel)
	if k.dw == nil {
		return
	}
	clear(k.dh)
	k.normBackward(k.dh, k.dx, r.tape.embed.norms[0], m.embLnW, m.embLnB)
	embedBackward(k.grad(m.Embed), k.dh, r.ids, 0, r.c.DVocab, r.c.DModel)
}

func (m *bloom) aliases(l int) map[string]hooks.Site {
	p := "transformer.h." + itoa(l)
	return map[string]hooks.Site{
		p + ":input":                       hooks.ResidPre,
		p + ".self_attention.dense:input":  hooks.AttnZ,
		p + ".self_attention.dense:output": hooks.AttnOut,
		p + ".mlp.dense_h_to_4h:output":    hooks.MLPPre,
		p + ".mlp.gelu_impl:output":        hooks.MLPPost,
		p + ".mlp.dense_4h_to_h:input":     hooks.MLPPost,
		p + ".mlp.dense_4h_to_h:output":    hooks.MLPOut,
		p + ":output":                      hooks.ResidPost,
	}
}

func (m *bloom) globalAliases() map[string]hooks.Site {
	return map[string]hooks.Site{
		"transformer.word_embeddings_layernorm:output": hooks.Embed,
		"transformer.ln_f:output":                      hooks.FinalOutput,
		"lm_head:input":                                hooks.FinalOutput,
	}
}
