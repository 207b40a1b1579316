package model

import "math"

// Gemma (model_type "gemma", v1) is Llama's tensor layout with RMSNorm computed as
// x/rms·(1+w), token embeddings multiplied by sqrt(d_model) (a factor HF casts to the weight
// dtype), head_dim from config, GeGLU with the tanh GELU, and tied embeddings.

func init() {
	register("gemma", arch{parse: parseGemma, build: buildLlama})
}

func parseGemma(r *cfgReader, c *Config) {
	parseLlamaCommon(r, c)
	c.Tied = true
	r.requireBool("tie_word_embeddings", true, "Gemma always ties its embeddings")
	act := r.str("hidden_activation", "")
	if act == "" {
		act = "gelu_pytorch_tanh" // HF's Gemma default when hidden_activation is unset
	}
	c.Act = act
	c.NormPlusOne = true
	c.EmbedScale = float32(math.Sqrt(float64(c.DModel)))
	c.AttnBias = r.bool("attention_bias", false)
	c.AttnOutBias = c.AttnBias
	checkAct(r, c)
}
