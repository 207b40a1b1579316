package model

// Mistral (model_type "mistral") is Llama's tensor layout with a sliding attention window.
// neuronscope runs it exactly when the input fits in the window and refuses longer inputs.
// Its projections never have biases: attention_bias and mlp_bias are ignored, as in HF.

func init() {
	register("mistral", arch{parse: parseMistral, build: buildLlama})
}

func parseMistral(r *cfgReader, c *Config) {
	parseLlamaCommon(r, c)
	if w := r.int("sliding_window", 0); w > 0 {
		c.SlidingWindow = w
	}
	// HF's Mistral modules have no biases whatever these keys say; accepted and ignored, as HF does.
	r.ignore("attention_bias", "mlp_bias")
	checkAct(r, c)
}
