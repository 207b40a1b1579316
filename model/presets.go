package model

import (
	"fmt"
	"sort"
)

// presets are config.json files of real models (sizes only; no weights), for benchmarks that
// build random weights of the real shape in memory.
var presets = map[string]string{
	"gpt2-small": `{"model_type":"gpt2","n_layer":12,"n_embd":768,"n_head":12,"n_inner":null,"vocab_size":50257,
		"n_positions":1024,"layer_norm_epsilon":1e-5,"activation_function":"gelu_new"}`,
	"pythia-160m": `{"model_type":"gpt_neox","num_hidden_layers":12,"hidden_size":768,"num_attention_heads":12,
		"intermediate_size":3072,"vocab_size":50304,"max_position_embeddings":2048,"layer_norm_eps":1e-5,
		"rotary_pct":0.25,"rotary_emb_base":10000,"hidden_act":"gelu","use_parallel_residual":true,"tie_word_embeddings":false}`,
	"qwen2-0.5b": `{"model_type":"qwen2","num_hidden_layers":24,"hidden_size":896,"num_attention_heads":14,
		"num_key_value_heads":2,"intermediate_size":4864,"vocab_size":151936,"max_position_embeddings":32768,
		"rms_norm_eps":1e-6,"rope_theta":1000000.0,"hidden_act":"silu","tie_word_embeddings":true,"use_sliding_window":false}`,
	"llama-1b": `{"model_type":"llama","num_hidden_layers":16,"hidden_size":2048,"num_attention_heads":32,
		"num_key_value_heads":8,"head_dim":64,"intermediate_size":8192,"vocab_size":128256,"max_position_embeddings":131072,
		"rms_norm_eps":1e-5,"rope_theta":500000.0,"hidden_act":"silu","tie_word_embeddings":true}`,
	// meta-llama/Llama-3.2-1B's config.json (sizes and the forward-relevant keys).
	"llama-3.2-1b": `{"model_type":"llama","num_hidden_layers":16,"hidden_size":2048,"num_attention_heads":32,
		"num_key_value_heads":8,"head_dim":64,"intermediate_size":8192,"vocab_size":128256,"max_position_embeddings":131072,
		"rms_norm_eps":1e-5,"rope_theta":500000.0,"hidden_act":"silu","tie_word_embeddings":true,"attention_bias":false,"mlp_bias":false,
		"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}`,
	// google/gemma-2-2b's config.json (sizes and the forward-relevant keys).
	"gemma-2-2b": `{"model_type":"gemma2","num_hidden_layers":26,"hidden_size":2304,"num_attention_heads":8,
		"num_key_value_heads":4,"head_dim":256,"intermediate_size":9216,"vocab_size":256000,"max_position_embeddings":8192,
		"rms_norm_eps":1e-6,"rope_theta":10000.0,"hidden_activation":"gelu_pytorch_tanh","query_pre_attn_scalar":256,
		"attn_logit_softcapping":50.0,"final_logit_softcapping":30.0,"sliding_window":4096,"tie_word_embeddings":true}`,
}

// Presets lists the preset names.
func Presets() []string {
	var out []string
	for k := range presets {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PresetJSON returns the config.json text of a preset.
func PresetJSON(name string) ([]byte, bool) {
	js, ok := presets[name]
	return []byte(js), ok
}

// PresetConfig returns the config of a preset real model shape.
func PresetConfig(name string) (*Config, error) {
	js, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("unknown --config %q (have %v)", name, Presets())
	}
	return ParseConfig([]byte(js), "preset "+name)
}
