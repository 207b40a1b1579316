package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Config is the architecture-independent description of a checkpoint, read from config.json.
// Sizes use neuronscope's shape vocabulary: d_model, d_mlp, n_heads, n_kv_heads, d_head, d_vocab.
type Config struct {
	ModelType string // HF model_type: gpt2, llama, mistral, qwen2, qwen3, gpt_neox, gemma, gemma2, gemma3_text, bloom, vit
	NLayers   int
	DModel    int
	DMLP      int
	NHeads    int
	NKVHeads  int
	DHead     int
	DVocab    int // vocabulary size; for an image classifier (ViT), the number of classes
	MaxPos    int // positions; for ViT, the tokens of one image (patches + CLS)
	NormEps   float64
	Act       string // gelu_new (tanh approximation), gelu (erf), silu, gelu_pytorch_tanh
	Gated     bool   // act(gate(x)) * up(x)
	LayerNorm bool   // LayerNorm with bias (else RMSNorm)
	// NormPlusOne: RMSNorm multiplies by (1 + w) (Gemma).
	NormPlusOne bool
	// EmbedScale multiplies token embeddings (Gemma: sqrt(d_model)); 0 means none.
	EmbedScale float32
	// ParallelResidual: x + attn(ln1(x)) + mlp(ln2(x)) (GPT-NeoX); there is no resid_mid.
	ParallelResidual bool
	LearnedPos       bool    // absolute position embedding (GPT-2, ViT)
	RopeTheta        float64 // RoPE base; 0 when LearnedPos or ALiBi
	RotaryDim        int     // dims of each head that RoPE rotates (rotate_half within them)
	// RopeScaling is rope_scaling (llama3 or linear), nil for none. With RopeLocalTheta it
	// applies to the global layers only (Gemma 3).
	RopeScaling *RopeScaling
	// RopeLocalTheta is the unscaled RoPE base of the sliding-window layers (Gemma 3's
	// rope_local_base_freq); 0 means those layers use RopeTheta and RopeScaling too.
	RopeLocalTheta float64
	Tied           bool // unembedding is the token embedding
	AttnBias       bool // q/k/v projections have biases
	AttnOutBias    bool // attention output projection has a bias
	MLPBias        bool
	// SlidingWindow (Mistral, Qwen2 with use_sliding_window): 0 none; otherwise inputs longer
	// than the window are refused (HF's window semantics differ across versions there).
	SlidingWindow int
	// Window is the implemented sliding window of the layers LocalLayers marks (Gemma 2/3):
	// query i sees key j only if 0 <= i − j < Window (cache indices).
	Window      int
	LocalLayers []bool
	// AttnScale multiplies q·k; 0 means 1/sqrt(d_head). Gemma 2/3: query_pre_attn_scalar^-1/2.
	AttnScale float64
	// AttnScaleByLayer divides layer l's scores by l+1 as well (GPT-2's
	// scale_attn_by_inverse_layer_idx).
	AttnScaleByLayer bool
	// AttnSoftcap and FinalSoftcap soft-cap the attention scores (after scaling, before the
	// mask) and the logits: x -> cap·tanh(x/cap) (Gemma 2); 0 is off.
	AttnSoftcap, FinalSoftcap float64
	// ALiBi adds slope_h·(pos_k − pos_q) to the scores instead of rotating q and k (BLOOM).
	ALiBi bool
	// QKNorm: RMSNorm over d_head of every query and key head before RoPE (Qwen3, Gemma 3).
	QKNorm bool
	// SandwichNorm: Gemma 2/3's extra norms on the attention and MLP outputs before the
	// residual adds (post_attention_layernorm, post_feedforward_layernorm).
	SandwichNorm bool
	// EmbedNorm: a LayerNorm on the token embeddings (BLOOM's word_embeddings_layernorm).
	EmbedNorm bool
	// Bidirectional: every token attends to every token (ViT); otherwise attention is causal.
	Bidirectional bool
	// Image classifiers (ViT): square images of ImageSize pixels with Channels channels, cut in
	// PatchSize patches; Labels are id2label by class id ("" where absent).
	ImageSize, PatchSize, Channels int
	Labels                         []string
	BOS, EOS, Pad                  int // -1 when absent
	TorchDType                     string

	// Warnings are findings that are not errors: config.json keys neuronscope has never seen
	// (ignored), HF defaults taken for absent keys that change the forward pass. Each is one
	// line naming the file and key; loading copies them into Model.Warnings.
	Warnings []string

	Path string // config.json path
	Hash string // sha256 of config.json bytes, hex
}

// RopeScaling is a rope_scaling entry neuronscope implements, as HF's
// modeling_rope_utils computes it: "linear" divides every inverse frequency by Factor;
// "llama3" keeps frequencies whose wavelength is below OriginalMaxPos/HighFreqFactor, divides
// those above OriginalMaxPos/LowFreqFactor by Factor and interpolates smoothly between.
type RopeScaling struct {
	Type           string // "linear" or "llama3"
	Factor         float64
	LowFreqFactor  float64 // llama3
	HighFreqFactor float64 // llama3
	OriginalMaxPos int     // llama3: original_max_position_embeddings
}

// ImageModel reports whether the model reads images (pixel values) instead of token ids.
func (c *Config) ImageModel() bool { return c.PatchSize > 0 }

// QDim is n_heads·d_head, the width of the query projection and of hook_z flattened.
func (c *Config) QDim() int { return c.NHeads * c.DHead }

// KVDim is n_kv_heads·d_head.
func (c *Config) KVDim() int { return c.NKVHeads * c.DHead }

// ParseConfig reads config.json bytes. name (the file path) is used in error messages.
// Missing required keys, values neuronscope cannot honour (a rope_scaling type it does not
// implement, sliding windows it cannot run, …), keys known to change the forward pass in a way
// neuronscope does not implement, and unsupported model types are errors: neuronscope never
// runs a model silently wrong. Keys known not to change the forward pass are accepted
// silently; a key neuronscope has never seen is accepted with a warning in Config.Warnings
// (ParseConfigStrict makes it an error).
func ParseConfig(data []byte, name string) (*Config, error) {
	return parseConfig(data, name, false)
}

// ParseConfigStrict is ParseConfig with keys neuronscope has never seen an error instead of a
// warning (--strict-config).
func ParseConfigStrict(data []byte, name string) (*Config, error) {
	return parseConfig(data, name, true)
}

func parseConfig(data []byte, name string, strict bool) (*Config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: not a JSON object", name)
	}
	r := &cfgReader{file: name, raw: raw, used: map[string]bool{}}
	mt := r.str("model_type", "")
	if r.err != nil {
		return nil, r.err
	}
	a, ok := archs[mt]
	if !ok {
		return nil, fmt.Errorf("%s: unsupported model_type %q (supported: %s)", name, mt, strings.Join(SupportedTypes(), ", "))
	}
	c := &Config{ModelType: mt, BOS: -1, EOS: -1, Pad: -1, Path: name}
	sum := sha256.Sum256(data)
	c.Hash = hex.EncodeToString(sum[:])
	r.ignore(harmlessKeys...)
	c.BOS = r.tokenID("bos_token_id")
	c.EOS = r.tokenID("eos_token_id")
	c.Pad = r.tokenID("pad_token_id")
	c.TorchDType = r.str("torch_dtype", "")
	if c.TorchDType == "" {
		c.TorchDType = r.str("dtype", "")
	}
	a.parse(r, c)
	if r.err != nil {
		return nil, r.err
	}
	unknown, err := r.finish(strict)
	if err != nil {
		return nil, err
	}
	for _, k := range unknown {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: key %q is not known to neuronscope and was ignored: check that it does not change the forward pass (--strict-config makes this an error)", name, k))
	}
	c.Warnings = append(c.Warnings, r.notes...)
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	pos := map[string]int{"layers": c.NLayers, "d_model": c.DModel, "d_mlp": c.DMLP, "n_heads": c.NHeads,
		"n_kv_heads": c.NKVHeads, "d_head": c.DHead, "vocab_size": c.DVocab, "max_positions": c.MaxPos}
	for _, k := range []string{"layers", "d_model", "d_mlp", "n_heads", "n_kv_heads", "d_head", "vocab_size", "max_positions"} {
		if pos[k] <= 0 {
			return fmt.Errorf("%s must be positive, got %d", k, pos[k])
		}
		if pos[k] > 1<<24 {
			return fmt.Errorf("%s = %d is implausibly large", k, pos[k])
		}
	}
	if c.NHeads%c.NKVHeads != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NHeads, c.NKVHeads)
	}
	if c.RotaryDim%2 != 0 || c.RotaryDim > c.DHead {
		return fmt.Errorf("rotary dims %d must be even and at most d_head %d", c.RotaryDim, c.DHead)
	}
	if !(c.NormEps > 0) {
		return fmt.Errorf("norm epsilon must be positive, got %g", c.NormEps)
	}
	if !c.LearnedPos && !c.ALiBi && !(c.RopeTheta > 0) {
		return fmt.Errorf("rope_theta must be positive, got %g", c.RopeTheta)
	}
	if c.LocalLayers != nil && len(c.LocalLayers) != c.NLayers {
		return fmt.Errorf("%d layer types for %d layers", len(c.LocalLayers), c.NLayers)
	}
	for _, v := range []struct {
		key string
		v   float64
	}{{"attention scale", c.AttnScale}, {"attn_logit_softcapping", c.AttnSoftcap}, {"final_logit_softcapping", c.FinalSoftcap}} {
		if v.v < 0 || math.IsNaN(v.v) || math.IsInf(v.v, 0) {
			return fmt.Errorf("%s must be a positive number, got %g", v.key, v.v)
		}
	}
	return nil
}

// harmlessKeys are generic PretrainedConfig keys that do not change the forward pass.
var harmlessKeys = []string{
	"architectures", "model_type", "transformers_version", "_name_or_path", "initializer_range",
	"use_cache", "torch_dtype", "dtype", "return_dict", "output_hidden_states", "output_attentions",
	"torchscript", "use_bfloat16", "tie_encoder_decoder", "is_encoder_decoder", "is_decoder",
	"add_cross_attention", "chunk_size_feed_forward", "pruned_heads", "id2label", "label2id",
	"problem_type", "tokenizer_class", "prefix", "task_specific_params", "finetuning_task",
	"max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
	"diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
	"length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
	"num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
	"forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
	"suppress_tokens", "begin_suppress_tokens", "sep_token_id", "decoder_start_token_id",
	"cross_attention_hidden_size", "tf_legacy_loss", "attention_dropout", "hidden_dropout",
	"embd_pdrop", "attn_pdrop", "resid_pdrop", "summary_type", "summary_use_proj",
	"summary_activation", "summary_proj_to_labels", "summary_first_dropout", "classifier_dropout",
	"quantization_config_none", "auto_map", "keys_to_ignore_at_inference", "n_ctx",
	"unk_token_id", "cache_implementation", "hidden_dropout_prob", "attention_probs_dropout_prob",
	"_attn_implementation", "_attn_implementation_autoset", "use_return_dict", "gradient_checkpointing",
	"output_router_logits", "initializer_factor", "transformers.js_config", "max_new_tokens",
}

// SupportedTypes lists the model_type values neuronscope can run.
func SupportedTypes() []string {
	var out []string
	for k := range archs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cfgReader reads typed keys out of config.json, remembering which keys were read, and keeps
// the first error (naming the file and the key).
type cfgReader struct {
	file  string
	raw   map[string]json.RawMessage
	used  map[string]bool
	err   error
	notes []string // warnings (HF defaults taken for absent keys that matter)
}

// note records a warning about the config (not an error).
func (r *cfgReader) note(format string, a ...any) {
	r.notes = append(r.notes, fmt.Sprintf("%s: %s", r.file, fmt.Sprintf(format, a...)))
}

// present reports whether key is in the file at all (null included), marking it read.
func (r *cfgReader) present(key string) bool {
	r.used[key] = true
	_, ok := r.raw[key]
	return ok
}

func (r *cfgReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", r.file, fmt.Sprintf(format, a...))
	}
}

func (r *cfgReader) get(key string) (json.RawMessage, bool) {
	r.used[key] = true
	v, ok := r.raw[key]
	if !ok || string(v) == "null" {
		return nil, false
	}
	return v, true
}

func (r *cfgReader) has(key string) bool {
	_, ok := r.get(key)
	return ok
}

func (r *cfgReader) ignore(keys ...string) {
	for _, k := range keys {
		r.used[k] = true
	}
}

// int reads an integer key; def < 0 means the key is required.
func (r *cfgReader) int(key string, def int) int {
	v, ok := r.get(key)
	if !ok {
		if def < 0 {
			r.fail("missing required key %q", key)
		}
		return def
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != float64(int64(f)) || f < 0 || f > 1<<31 {
		r.fail("key %q must be a non-negative integer, got %s", key, v)
		return 0
	}
	return int(f)
}

// firstInt reads the first key present of several synonyms (e.g. n_embd / hidden_size).
func (r *cfgReader) firstInt(def int, keys ...string) int {
	for _, k := range keys {
		if r.has(k) {
			r.ignore(keys...)
			return r.int(k, def)
		}
	}
	r.ignore(keys...)
	if def < 0 {
		r.fail("missing required key %q", keys[0])
	}
	return def
}

func (r *cfgReader) float(key string, def float64, required bool) float64 {
	v, ok := r.get(key)
	if !ok {
		if required {
			r.fail("missing required key %q", key)
		}
		return def
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		r.fail("key %q must be a number, got %s", key, v)
	}
	return f
}

func (r *cfgReader) str(key, def string) string {
	v, ok := r.get(key)
	if !ok {
		if def == "" && key == "model_type" {
			r.fail("missing required key %q", key)
		}
		return def
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		r.fail("key %q must be a string, got %s", key, v)
	}
	return s
}

func (r *cfgReader) bool(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		r.fail("key %q must be true or false, got %s", key, v)
	}
	return b
}

// tokenID reads an optional token id, which HF sometimes writes as a list; -1 when absent.
func (r *cfgReader) tokenID(key string) int {
	v, ok := r.get(key)
	if !ok {
		return -1
	}
	var id int
	if json.Unmarshal(v, &id) == nil {
		return id
	}
	var ids []int
	if json.Unmarshal(v, &ids) == nil && len(ids) > 0 {
		return ids[0]
	}
	r.fail("key %q must be a token id, got %s", key, v)
	return -1
}

// requireNull fails when key holds anything but null (a feature neuronscope cannot honour).
func (r *cfgReader) requireNull(key, why string) {
	if v, ok := r.get(key); ok {
		r.fail("%s = %s is not supported: %s", key, v, why)
	}
}

// requireBool fails when a boolean key is present with the other value.
func (r *cfgReader) requireBool(key string, want bool, why string) {
	if v, ok := r.get(key); ok {
		var b bool
		if json.Unmarshal(v, &b) != nil || b != want {
			r.fail("%s = %s is not supported: %s", key, v, why)
		}
	}
}

// finish returns the keys nobody read, sorted; with strict they are an error.
func (r *cfgReader) finish(strict bool) ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	var unknown []string
	for k := range r.raw {
		if !r.used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 && strict {
		return nil, fmt.Errorf("%s: unknown config keys %s: neuronscope does not know whether they change the forward pass (--strict-config is on; without it they are ignored with a warning)",
			r.file, strings.Join(unknown, ", "))
	}
	return unknown, nil
}

// object reads a JSON object key into a raw map; absent or null gives nil.
func (r *cfgReader) object(key string) map[string]json.RawMessage {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		r.fail("key %q must be a JSON object, got %s", key, v)
		return nil
	}
	return m
}

// optFloat reads a number key that HF defaults when absent and switches off when null: it
// returns def (with a note naming the default) when the key is absent, 0 when it is null.
func (r *cfgReader) optFloat(key string, def float64) float64 {
	if !r.present(key) {
		r.note("no %q: using HF's default %g", key, def)
		return def
	}
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f < 0 {
		r.fail("key %q must be a positive number or null, got %s", key, v)
	}
	return f
}

// ropeScaling reads a rope_scaling object (HF's "rope_type", or the older "type"): "default"
// is none, "linear" and "llama3" are implemented, any other type is an error naming it.
func (r *cfgReader) ropeScaling(key string, obj map[string]json.RawMessage) *RopeScaling {
	if obj == nil {
		return nil
	}
	num := func(k string, required bool) float64 {
		v, ok := obj[k]
		if !ok || string(v) == "null" {
			if required {
				r.fail("%s: missing %q", key, k)
			}
			return 0
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil || !(f > 0) {
			r.fail("%s.%s must be a positive number, got %s", key, k, v)
		}
		return f
	}
	var typ string
	for _, k := range []string{"rope_type", "type"} {
		if v, ok := obj[k]; ok {
			if err := json.Unmarshal(v, &typ); err != nil {
				r.fail("%s.%s must be a string, got %s", key, k, v)
				return nil
			}
			break
		}
	}
	switch typ {
	case "default":
		return nil
	case "linear":
		return &RopeScaling{Type: typ, Factor: num("factor", true)}
	case "llama3":
		orig := num("original_max_position_embeddings", true)
		s := &RopeScaling{Type: typ, Factor: num("factor", true), LowFreqFactor: num("low_freq_factor", true),
			HighFreqFactor: num("high_freq_factor", true), OriginalMaxPos: int(min(orig, 1<<30))}
		switch {
		case r.err != nil:
		case orig != math.Trunc(orig) || orig > 1<<30:
			r.fail("%s.original_max_position_embeddings must be an integer up to 2^30, got %g", key, orig)
		case s.HighFreqFactor <= s.LowFreqFactor:
			r.fail("%s: high_freq_factor %g must exceed low_freq_factor %g", key, s.HighFreqFactor, s.LowFreqFactor)
		}
		return s
	case "":
		r.fail("%s has no rope_type (or type)", key)
	default:
		r.fail("%s type %q is not implemented (neuronscope implements linear and llama3)", key, typ)
	}
	return nil
}
