package model

// Qwen3 (model_type "qwen3") is Llama's tensor layout with a per-head RMSNorm of every query
// and key (self_attn.q_norm, self_attn.k_norm: x/rms·w over d_head, eps rms_norm_eps) applied
// after q_proj/k_proj and before RoPE; v is not normalised. head_dim comes from the config
// (HF's default 128 when absent) and need not be hidden/heads. Unlike Qwen2 there are no
// biases unless attention_bias is true (then q/k/v/o have them, as HF's Qwen3Attention). As
// with Qwen2, use_sliding_window makes neuronscope refuse inputs longer than the window.

func init() {
	register("qwen3", arch{parse: parseQwen3, build: buildLlama})
}

func parseQwen3(r *cfgReader, c *Config) {
	parseLlamaCommon(r, c)
	if !r.has("head_dim") {
		c.DHead, c.RotaryDim = 128, 128 // Qwen3Config's default
	}
	c.QKNorm = true
	c.AttnBias = r.bool("attention_bias", false)
	c.AttnOutBias = c.AttnBias
	checkAct(r, c)
}
