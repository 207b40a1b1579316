package model

// Mistral (model_type "mistral") is Llama's tensor layout with a sliding attention window.
// neuronscope runs it exactly when the input fits in the window and refuses longer inputs.

func init() {
	register("mistral", arch{parse: parseMistral, build: buildLlama})
}

func parseMistral(r *cfgReader, c *Config) {
	parseLlamaCommon(r, c)
	if w := r.int("sliding_window", 0); w > 0 {
		c.SlidingWindow = w
	}
	c.AttnBias = r.bool("attention_bias", false)
	c.AttnOutBias = c.AttnBias
	checkAct(r, c)
}
