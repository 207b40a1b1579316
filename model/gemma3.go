package model

// Gemma 3's text model (model_type "gemma3_text", Gemma3ForCausalLM) is Gemma 2's layer
// (gemma2.go: four (1+w) norms, GeGLU, query_pre_attn_scalar, scaled embeddings) plus:
//
//   - q_norm / k_norm: RMSNorm x/rms·(1+w) over d_head of every query and key head, after
//     q_proj/k_proj and before RoPE (v is not normalised);
//   - local and global layers: layer l is local (sliding_window) when layer_types says
//     "sliding_attention", or, without layer_types, when (l+1) % sliding_window_pattern != 0
//     (HF's default pattern 6);
//   - two RoPE bases: local layers rotate with rope_local_base_freq (default 10000) unscaled,
//     global layers with rope_theta (default 1e6) and rope_scaling (linear, llama3);
//   - no attention soft-capping: HF's Gemma 3 attention never applies attn_logit_softcapping,
//     even when set; final_logit_softcapping is applied when not null (default null).
//
// The multimodal Gemma 3 checkpoints (model_type "gemma3") are not supported.

func init() {
	register("gemma3_text", arch{parse: parseGemma3, build: buildGemma2})
}

func parseGemma3(r *cfgReader, c *Config) {
	parseGemmaCommon(r, c, 1e6)
	c.QKNorm = true
	if c.RopeLocalTheta == 0 { // not given by rope_parameters
		c.RopeLocalTheta = r.float("rope_local_base_freq", 10000, false)
	}
	r.ignore("attn_logit_softcapping") // never applied by HF's Gemma 3
	c.FinalSoftcap = r.float("final_logit_softcapping", 0, false)
	r.requireBool("use_bidirectional_attention", false, "bidirectional attention (EmbeddingGemma)")
	c.LocalLayers = parseLayerTypes(r, c)
	if c.LocalLayers == nil && c.NLayers > 0 {
		pattern := r.int("sliding_window_pattern", 6)
		if pattern <= 0 {
			r.fail("sliding_window_pattern must be positive, got %d", pattern)
			return
		}
		c.LocalLayers = make([]bool, c.NLayers)
		for l := range c.LocalLayers {
			c.LocalLayers[l] = (l+1)%pattern != 0
		}
	} else {
		r.ignore("sliding_window_pattern")
	}
}
