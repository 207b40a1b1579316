package model

// Qwen2 (model_type "qwen2") is Llama's tensor layout with biases on q_proj, k_proj and
// v_proj (never on o_proj) and, when use_sliding_window is true, a sliding window that
// neuronscope refuses to exceed.

func init() {
	register("qwen2", arch{parse: parseQwen2, build: buildLlama})
}

func parseQwen2(r *cfgReader, c *Config) {
	parseLlamaCommon(r, c)
	c.AttnBias = true
	checkAct(r, c)
}
