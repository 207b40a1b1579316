package model

import (
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
)

// GPT-2 (model_type "gpt2"): LayerNorm, learned absolute positions, Conv1D weights stored
// [in, out], fused c_attn with q|k|v column blocks, GELU (tanh) MLP, tied unembedding.
// Tensor names come with or without the "transformer." prefix. scale_attn_weights: false
// (no 1/sqrt(d_head)) and scale_attn_by_inverse_layer_idx (scores of layer l also divided by
// l+1) are implemented; reorder_and_upcast_attn changes only float16 rounding.

type gpt2Weights struct {
	WTE    *Param      `st:"wte.weight" shape:"d_vocab,d_model"`
	WPE    *Param      `st:"wpe.weight" shape:"max_pos,d_model"`
	Layers []gpt2Layer `st:"h"`
	LnF    *Param      `st:"ln_f.weight" shape:"d_model"`
	LnFB   *Param      `st:"ln_f.bias" shape:"d_model"`
}

type gpt2Layer struct {
	Ln1W   *Param `st:"ln_1.weight" shape:"d_model"`
	Ln1B   *Param `st:"ln_1.bias" shape:"d_model"`
	CAttnW *Param `st:"attn.c_attn.weight" shape:"d_model,qkv_dim" layout:"in_out"`
	CAttnB *Param `st:"attn.c_attn.bias" shape:"qkv_dim"`
	CProjW *Param `st:"attn.c_proj.weight" shape:"d_model,d_model" layout:"in_out"`
	CProjB *Param `st:"attn.c_proj.bias" shape:"d_model"`
	Ln2W   *Param `st:"ln_2.weight" shape:"d_model"`
	Ln2B   *Param `st:"ln_2.bias" shape:"d_model"`
	FcW    *Param `st:"mlp.c_fc.weight" shape:"d_model,d_mlp" layout:"in_out"`
	FcB    *Param `st:"mlp.c_fc.bias" shape:"d_mlp"`
	ProjW  *Param `st:"mlp.c_proj.weight" shape:"d_mlp,d_model" layout:"in_out"`
	ProjB  *Param `st:"mlp.c_proj.bias" shape:"d_model"`
}

// lmHeadUntied is the unembedding of GPT-2 and BLOOM when not tied: lm_head.weight (never
// prefixed).
type lmHeadUntied struct {
	W *Param `st:"lm_head.weight" shape:"d_vocab,d_model"`
}

type gpt2 struct {
	gpt2Weights
	unembed *Param
}

func init() {
	register("gpt2", arch{parse: parseGPT2, build: buildGPT2})
}

func parseGPT2(r *cfgReader, c *Config) {
	c.NLayers = r.int("n_layer", -1)
	c.DModel = r.int("n_embd", -1)
	c.NHeads = r.int("n_head", -1)
	c.NKVHeads = c.NHeads
	c.DMLP = r.int("n_inner", 4*c.DModel)
	c.DVocab = r.int("vocab_size", -1)
	c.MaxPos = r.int("n_positions", -1)
	c.NormEps = r.float("layer_norm_epsilon", 1e-5, false)
	c.Act = r.str("activation_function", "gelu_new")
	if !knownActs[c.Act] {
		r.fail("activation_function %q is not supported", c.Act)
	}
	if c.NHeads > 0 {
		c.DHead = c.DModel / c.NHeads
		if c.DHead*c.NHeads != c.DModel {
			r.fail("n_embd %d is not divisible by n_head %d", c.DModel, c.NHeads)
		}
	}
	c.LayerNorm, c.LearnedPos = true, true
	c.Tied = r.bool("tie_word_embeddings", true)
	c.AttnBias, c.AttnOutBias, c.MLPBias = true, true, true
	if !r.bool("scale_attn_weights", true) {
		c.AttnScale = 1 // scores are not divided by sqrt(d_head)
	}
	// The Mistral GPT-2 stability tweak: layer l's scores are also divided by l+1 (as HF's
	// eager attention does; some SDPA versions ignored it, see the fixture's NOTES).
	c.AttnScaleByLayer = r.bool("scale_attn_by_inverse_layer_idx", false)
	r.requireBool("add_cross_attention", false, "cross-attention")
	// reorder_and_upcast_attn computes the same scores and softmax in float32, which
	// neuronscope does throughout.
	r.ignore("reorder_and_upcast_attn")
}

func buildGPT2(c *Config, ld *loader) (network, error) {
	prefix := ""
	if ld.src != nil {
		for _, n := range ld.src.Names() {
			if strings.HasPrefix(n, "transformer.") {
				prefix = "transformer"
				break
			}
		}
	}
	g := &gpt2{}
	if err := ld.fillPrefixed(&g.gpt2Weights, prefix); err != nil {
		return nil, err
	}
	g.unembed = g.WTE
	if !c.Tied {
		h := &lmHeadUntied{}
		if err := ld.fillPrefixed(h, ""); err != nil {
			return nil, err
		}
		g.unembed = h.W
	}
	return g, nil
}

func (g *gpt2) embed(r *run) {
	d := r.c.DModel
	r.embedTokens(g.WTE, 0)
	r.fire(hooks.Global(hooks.Embed), r.x, d)
	pe := r.h // scratch: position embeddings [n, d_model]
	embedForward(pe, g.WPE.Data, r.pos, 0, r.c.MaxPos, d)
	r.fire(hooks.Global(hooks.PosEmbed), pe, d)
	addTo(r.x, pe)
}

func (g *gpt2) embedBackward(k *back) {
	r, d := k.r, k.r.c.DModel
	k.emit(hooks.Global(hooks.Embed), k.dx, d)
	k.emit(hooks.Global(hooks.PosEmbed), k.dx, d)
	if k.dw != nil {
		embedBackward(k.grad(g.WTE), k.dx, r.ids, 0, r.c.DVocab, d)
		embedBackward(k.grad(g.WPE), k.dx, r.pos, 0, r.c.MaxPos, d)
	}
}

// gpt2QKV views c_attn's output [n, 3·d_model] as q | k | v column blocks.
func gpt2QKV(buf []float32, c *Config) (q, k, v headView) {
	d := c.DModel
	q = headView{Data: buf, Off: 0, RowStride: 3 * d, HeadStride: c.DHead}
	k = headView{Data: buf, Off: d, RowStride: 3 * d, HeadStride: c.DHead}
	v = headView{Data: buf, Off: 2 * d, RowStride: 3 * d, HeadStride: c.DHead}
	return q, k, v
}

func (g *gpt2) block(r *run, l int) {
	w := &g.Layers[l]
	c := r.c
	d := c.DModel
	r.norm(r.h, r.x, w.Ln1W, w.Ln1B, ln1(l)...)
	linearForward(r.qkv, r.h, w.CAttnW, w.CAttnB, r.n)
	q, k, v := gpt2QKV(r.qkv, c)
	r.attention(l, q, k, v, nil, nil)
	r.attnOut(l, w.CProjW, w.CProjB)
	r.fire(hooks.At(l, hooks.AttnOut), r.attn, d)
	addTo(r.x, r.attn)
	r.fire(hooks.At(l, hooks.ResidMid), r.x, d)
	r.norm(r.h, r.x, w.Ln2W, w.Ln2B, ln2(l)...)
	r.mlpForward(l, r.h, w.FcW, w.FcB, nil, nil, w.ProjW, w.ProjB)
	addTo(r.x, r.mlp)
}

// blockBackward is block's backward: k.dx holds d hook_resid_post on entry and
// d hook_resid_pre on return.
func (g *gpt2) blockBackward(k *back, l int) {
	w, bt := &g.Layers[l], &k.r.tape.layers[l]
	c, n, d := k.r.c, k.r.n, k.r.c.DModel
	k.emit(hooks.At(l, hooks.ResidPost), k.dx, d)
	clear(k.dh)
	k.mlp(l, k.dh, k.dx, k.normOut(bt.norms[1], w.Ln2W, w.Ln2B), w.FcW, w.FcB, nil, nil, w.ProjW, w.ProjB)
	if k.done() {
		return
	}
	k.normBackward(k.dx, k.dh, bt.norms[1], w.Ln2W, w.Ln2B, ln2(l)...)
	k.emit(hooks.At(l, hooks.ResidMid), k.dx, d)
	q, _, _ := gpt2QKV(bt.qkv, c)
	dq, dk, dv := gpt2QKV(k.dqkv, c)
	clear(k.dqkv)
	k.emit(hooks.At(l, hooks.AttnOut), k.dx, d)
	k.attention(l, k.dx, q, dq, dk, dv, w.CProjW, w.CProjB, nil, nil)
	if k.done() {
		return
	}
	clear(k.dh)
	linearBackward(k.dh, k.grad(w.CAttnW), k.grad(w.CAttnB), k.dqkv, k.normOut(bt.norms[0], w.Ln1W, w.Ln1B), w.CAttnW, n)
	k.normBackward(k.dx, k.dh, bt.norms[0], w.Ln1W, w.Ln1B, ln1(l)...)
	k.emit(hooks.At(l, hooks.ResidPre), k.dx, d)
}

func (g *gpt2) finalNorm() (w, b *Param) { return g.LnF, g.LnFB }
func (g *gpt2) unembedding() *Param      { return g.unembed }

func (g *gpt2) aliases(l int) map[string]hooks.Site {
	p := "transformer.h." + itoa(l)
	return map[string]hooks.Site{
		p + ":input":              hooks.ResidPre,
		p + ".attn.c_proj:input":  hooks.AttnZ,
		p + ".attn.c_proj:output": hooks.AttnOut,
		p + ".mlp.c_fc:output":    hooks.MLPPre,
		p + ".mlp.act:output":     hooks.MLPPost,
		p + ".mlp.c_proj:input":   hooks.MLPPost,
		p + ".mlp.c_proj:output":  hooks.MLPOut,
		p + ".mlp:output":         hooks.MLPOut,
		p + ":output":             hooks.ResidPost,
	}
}

func (g *gpt2) globalAliases() map[string]hooks.Site {
	return map[string]hooks.Site{
		"transformer.wte:output":  hooks.Embed,
		"transformer.wpe:output":  hooks.PosEmbed,
		"transformer.ln_f:output": hooks.FinalOutput,
		"lm_head:input":           hooks.FinalOutput,
	}
}

func (g *gpt2) mlp(l int) MLPWeights {
	w := &g.Layers[l]
	return MLPWeights{In: w.FcW, InBias: w.FcB, Out: w.ProjW, OutBias: w.ProjB}
}
