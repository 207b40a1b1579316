package randckpt

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// Spec describes a random checkpoint.
type Spec struct {
	Arch                                                         string // "gpt2", "llama", "mistral", "qwen2", "gpt_neox", "gemma"
	Layers, DModel, DMLP, Heads, KVHeads, HeadDim, Vocab, MaxPos int
	// Tied: the unembedding is the token embedding (no lm_head.weight / embed_out.weight).
	// Gemma always ties.
	Tied bool
	Seed int64
	// DType is the stored dtype: "F32" (default when empty), "BF16" or "F16".
	DType string
	// Shards: 0 or 1 writes model.safetensors; more writes that many
	// model-0000i-of-0000N.safetensors files and model.safetensors.index.json.
	Shards int
	// TransformerPrefix (gpt2 only) names tensors "transformer.wte.weight", ... as
	// GPT2LMHeadModel.save_pretrained does (lm_head.weight is never prefixed).
	TransformerPrefix bool
}

// Archs lists the supported Spec.Arch values.
func Archs() []string { return []string{"gemma", "gpt2", "gpt_neox", "llama", "mistral", "qwen2"} }

// Small is a tiny default spec: 2 layers, d_model 32, d_mlp 64, 4 heads of 8 dims
// (Gemma: 4 heads of 16, as real Gemma's heads·head_dim differs from d_model), 2 KV heads
// where the architecture has grouped-query attention, vocab 97, 64 positions, F32, seed 1.
// gpt2 and gemma are tied, the others untied (their HF defaults).
func Small(arch string) Spec {
	s := Spec{Arch: arch, Layers: 2, DModel: 32, DMLP: 64, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 97, MaxPos: 64, Seed: 1, DType: "F32"}
	switch arch {
	case "gpt2":
		s.KVHeads, s.Tied = 4, true
	case "gpt_neox":
		s.KVHeads = 4
	case "gemma":
		s.HeadDim, s.Tied = 16, true
	}
	return s
}

// TensorInfo is one tensor of a checkpoint's layout.
type TensorInfo struct {
	Name  string
	Shape []int
}

type kind int

const (
	kWeight kind = iota // N(0, clip(1/sqrt(fanIn)))
	kNorm               // 1 + N(0, 0.1), or N(0, 0.1) for Gemma
	kBias               // N(0, 0.05)
)

type tensorDef struct {
	TensorInfo
	kind  kind
	fanIn int
}

// normalize fills defaults and checks the spec.
func normalize(s Spec) (Spec, error) {
	fail := func(format string, a ...any) (Spec, error) {
		return s, fmt.Errorf("randckpt: %s: %s", s.Arch, fmt.Sprintf(format, a...))
	}
	if !contains(Archs(), s.Arch) {
		return s, fmt.Errorf("randckpt: unknown arch %q (supported: %s)", s.Arch, strings.Join(Archs(), ", "))
	}
	if s.DType == "" {
		s.DType = "F32"
	}
	if s.DType != "F32" && s.DType != "BF16" && s.DType != "F16" {
		return fail("DType %q: want F32, BF16 or F16", s.DType)
	}
	if s.KVHeads == 0 {
		s.KVHeads = s.Heads
	}
	if s.HeadDim == 0 && s.Heads > 0 {
		s.HeadDim = s.DModel / s.Heads
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Layers", s.Layers}, {"DModel", s.DModel}, {"DMLP", s.DMLP}, {"Heads", s.Heads}, {"KVHeads", s.KVHeads},
		{"HeadDim", s.HeadDim}, {"Vocab", s.Vocab}, {"MaxPos", s.MaxPos}} {
		if f.v <= 0 {
			return fail("%s must be positive, got %d", f.name, f.v)
		}
	}
	if s.Heads%s.KVHeads != 0 {
		return fail("Heads %d is not a multiple of KVHeads %d", s.Heads, s.KVHeads)
	}
	if s.Shards < 0 {
		return fail("Shards %d is negative", s.Shards)
	}
	if s.TransformerPrefix && s.Arch != "gpt2" {
		return fail("TransformerPrefix is for gpt2 only")
	}
	switch s.Arch {
	case "gpt2", "gpt_neox", "qwen2":
		if s.HeadDim*s.Heads != s.DModel {
			return fail("HeadDim %d × Heads %d must equal DModel %d (the config has no head_dim key)", s.HeadDim, s.Heads, s.DModel)
		}
	}
	switch s.Arch {
	case "gpt2", "gpt_neox":
		if s.KVHeads != s.Heads {
			return fail("KVHeads %d must equal Heads %d (no grouped-query attention)", s.KVHeads, s.Heads)
		}
	case "llama", "mistral", "gemma":
		if s.Vocab < 3 {
			return fail("Vocab %d leaves no room for bos/eos ids", s.Vocab)
		}
	}
	if s.Arch == "gpt_neox" && s.HeadDim%4 != 0 {
		return fail("HeadDim %d: rotary_pct 0.25 needs a multiple of 4 for an even rotary dim", s.HeadDim)
	}
	if s.Arch == "gemma" && !s.Tied {
		return fail("Gemma always ties its embeddings: set Tied")
	}
	return s, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Layout lists the tensors Write produces for s, in model (state-dict) order.
func Layout(s Spec) ([]TensorInfo, error) {
	s, err := normalize(s)
	if err != nil {
		return nil, err
	}
	defs := layout(s)
	out := make([]TensorInfo, len(defs))
	for i, d := range defs {
		out[i] = TensorInfo{Name: d.Name, Shape: append([]int(nil), d.Shape...)}
	}
	return out, nil
}

func layout(s Spec) []tensorDef {
	var defs []tensorDef
	add := func(name string, k kind, fanIn int, shape ...int) {
		defs = append(defs, tensorDef{TensorInfo{name, shape}, k, fanIn})
	}
	D, F, V, P := s.DModel, s.DMLP, s.Vocab, s.MaxPos
	q, kv := s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	switch s.Arch {
	case "gpt2":
		p := ""
		if s.TransformerPrefix {
			p = "transformer."
		}
		add(p+"wte.weight", kWeight, D, V, D)
		add(p+"wpe.weight", kWeight, D, P, D)
		for l := 0; l < s.Layers; l++ {
			h := fmt.Sprintf("%sh.%d.", p, l)
			add(h+"ln_1.weight", kNorm, 0, D)
			add(h+"ln_1.bias", kBias, 0, D)
			add(h+"attn.c_attn.weight", kWeight, D, D, 3*D) // Conv1D: [in, out]
			add(h+"attn.c_attn.bias", kBias, 0, 3*D)
			add(h+"attn.c_proj.weight", kWeight, D, D, D)
			add(h+"attn.c_proj.bias", kBias, 0, D)
			add(h+"ln_2.weight", kNorm, 0, D)
			add(h+"ln_2.bias", kBias, 0, D)
			add(h+"mlp.c_fc.weight", kWeight, D, D, F)
			add(h+"mlp.c_fc.bias", kBias, 0, F)
			add(h+"mlp.c_proj.weight", kWeight, F, F, D)
			add(h+"mlp.c_proj.bias", kBias, 0, D)
		}
		add(p+"ln_f.weight", kNorm, 0, D)
		add(p+"ln_f.bias", kBias, 0, D)
		if !s.Tied {
			add("lm_head.weight", kWeight, D, V, D)
		}
	case "gpt_neox":
		add("gpt_neox.embed_in.weight", kWeight, D, V, D)
		for l := 0; l < s.Layers; l++ {
			h := fmt.Sprintf("gpt_neox.layers.%d.", l)
			add(h+"input_layernorm.weight", kNorm, 0, D)
			add(h+"input_layernorm.bias", kBias, 0, D)
			add(h+"post_attention_layernorm.weight", kNorm, 0, D)
			add(h+"post_attention_layernorm.bias", kBias, 0, D)
			add(h+"attention.query_key_value.weight", kWeight, D, 3*D, D)
			add(h+"attention.query_key_value.bias", kBias, 0, 3*D)
			add(h+"attention.dense.weight", kWeight, D, D, D)
			add(h+"attention.dense.bias", kBias, 0, D)
			add(h+"mlp.dense_h_to_4h.weight", kWeight, D, F, D)
			add(h+"mlp.dense_h_to_4h.bias", kBias, 0, F)
			add(h+"mlp.dense_4h_to_h.weight", kWeight, F, D, F)
			add(h+"mlp.dense_4h_to_h.bias", kBias, 0, D)
		}
		add("gpt_neox.final_layer_norm.weight", kNorm, 0, D)
		add("gpt_neox.final_layer_norm.bias", kBias, 0, D)
		if !s.Tied {
			add("embed_out.weight", kWeight, D, V, D)
		}
	default: // llama, mistral, qwen2, gemma
		add("model.embed_tokens.weight", kWeight, D, V, D)
		for l := 0; l < s.Layers; l++ {
			h := fmt.Sprintf("model.layers.%d.", l)
			add(h+"input_layernorm.weight", kNorm, 0, D)
			add(h+"self_attn.q_proj.weight", kWeight, D, q, D)
			if s.Arch == "qwen2" {
				add(h+"self_attn.q_proj.bias", kBias, 0, q)
			}
			add(h+"self_attn.k_proj.weight", kWeight, D, kv, D)
			if s.Arch == "qwen2" {
				add(h+"self_attn.k_proj.bias", kBias, 0, kv)
			}
			add(h+"self_attn.v_proj.weight", kWeight, D, kv, D)
			if s.Arch == "qwen2" {
				add(h+"self_attn.v_proj.bias", kBias, 0, kv)
			}
			add(h+"self_attn.o_proj.weight", kWeight, q, D, q)
			add(h+"post_attention_layernorm.weight", kNorm, 0, D)
			add(h+"mlp.gate_proj.weight", kWeight, D, F, D)
			add(h+"mlp.up_proj.weight", kWeight, D, F, D)
			add(h+"mlp.down_proj.weight", kWeight, F, D, F)
		}
		add("model.norm.weight", kNorm, 0, D)
		if !s.Tied {
			add("lm_head.weight", kWeight, D, V, D)
		}
	}
	return defs
}

// values draws a tensor's values; the draw order is the layout order, so the stream
// (and therefore the bytes) is a function of the Spec alone.
func values(r *rand.Rand, s Spec, d tensorDef) []float32 {
	n := 1
	for _, x := range d.Shape {
		n *= x
	}
	out := make([]float32, n)
	var mean, std float64
	switch d.kind {
	case kWeight:
		std = math.Min(0.3, math.Max(0.1, 1/math.Sqrt(float64(d.fanIn))))
	case kNorm:
		mean, std = 1, 0.1
		if s.Arch == "gemma" {
			mean = 0
		}
	case kBias:
		std = 0.05
	}
	for i := range out {
		out[i] = float32(mean + std*r.NormFloat64())
	}
	return out
}

// Write writes config.json and random weights for s into dir (created if needed).
func Write(dir string, s Spec) error {
	s, err := normalize(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("randckpt: %v", err)
	}
	defs := layout(s)
	r := rand.New(rand.NewPCG(uint64(s.Seed), 0x72616e64636b7074)) // "randckpt"
	tensors := make([]safetensors.WriteTensor, len(defs))
	var total int64
	for i, d := range defs {
		v := values(r, s, d)
		switch s.DType {
		case "F32":
			tensors[i] = safetensors.F32(d.Name, d.Shape, v)
		case "BF16":
			tensors[i] = safetensors.BF16(d.Name, d.Shape, v)
		case "F16":
			tensors[i] = safetensors.F16(d.Name, d.Shape, v)
		}
		total += int64(len(tensors[i].Data))
	}
	meta := map[string]string{"format": "pt"}
	if s.Shards <= 1 {
		if err := safetensors.WriteFile(filepath.Join(dir, safetensors.SingleFileName), byName(tensors), meta); err != nil {
			return err
		}
	} else {
		if s.Shards > len(tensors) {
			return fmt.Errorf("randckpt: %s: %d shards for %d tensors", s.Arch, s.Shards, len(tensors))
		}
		weightMap := map[string]string{}
		for k, group := range split(tensors, s.Shards) {
			name := fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, s.Shards)
			for _, t := range group {
				weightMap[t.Name] = name
			}
			if err := safetensors.WriteFile(filepath.Join(dir, name), byName(group), meta); err != nil {
				return err
			}
		}
		index := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
		if err := writeJSON(filepath.Join(dir, safetensors.IndexFileName), index); err != nil {
			return err
		}
	}
	return writeJSON(filepath.Join(dir, "config.json"), config(s))
}

// byName orders a file's tensors as safetensors' save_file does for a single dtype.
func byName(ts []safetensors.WriteTensor) []safetensors.WriteTensor {
	out := append([]safetensors.WriteTensor(nil), ts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// split cuts the tensors, in model order, into n non-empty consecutive groups of roughly
// equal byte size, as HF's shard splitting fills one shard after another.
func split(ts []safetensors.WriteTensor, n int) [][]safetensors.WriteTensor {
	var total int
	for _, t := range ts {
		total += len(t.Data)
	}
	groups := make([][]safetensors.WriteTensor, 0, n)
	start, acc := 0, 0
	for i, t := range ts {
		acc += len(t.Data)
		left := len(ts) - i - 1 // tensors after this one
		need := n - len(groups) - 1
		if need > 0 && (acc*n >= total*(len(groups)+1) || left == need) {
			groups = append(groups, ts[start:i+1])
			start = i + 1
		}
	}
	return append(groups, ts[start:])
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("randckpt: %s: %v", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("randckpt: %v", err)
	}
	return nil
}

func torchDType(dt string) string {
	switch dt {
	case "BF16":
		return "bfloat16"
	case "F16":
		return "float16"
	}
	return "float32"
}

// config returns config.json with the keys transformers writes for the model_type.
func config(s Spec) map[string]any {
	c := map[string]any{
		"model_type":        s.Arch,
		"torch_dtype":       torchDType(s.DType),
		"initializer_range": 0.02,
		"use_cache":         true,
		"vocab_size":        s.Vocab,
	}
	set := func(kv ...any) {
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	llamaCommon := func(arch string) {
		set("architectures", []string{arch},
			"attention_dropout", 0.0,
			"hidden_act", "silu",
			"hidden_size", s.DModel,
			"intermediate_size", s.DMLP,
			"max_position_embeddings", s.MaxPos,
			"num_attention_heads", s.Heads,
			"num_hidden_layers", s.Layers,
			"num_key_value_heads", s.KVHeads,
			"rope_theta", 10000.0,
			"tie_word_embeddings", s.Tied)
	}
	switch s.Arch {
	case "gpt2":
		set("architectures", []string{"GPT2LMHeadModel"},
			"activation_function", "gelu_new",
			"attn_pdrop", 0.1, "embd_pdrop", 0.1, "resid_pdrop", 0.1,
			"bos_token_id", s.Vocab-1, "eos_token_id", s.Vocab-1,
			"layer_norm_epsilon", 1e-05,
			"n_ctx", s.MaxPos,
			"n_embd", s.DModel,
			"n_head", s.Heads,
			"n_inner", s.DMLP,
			"n_layer", s.Layers,
			"n_positions", s.MaxPos,
			"reorder_and_upcast_attn", false,
			"scale_attn_by_inverse_layer_idx", false,
			"scale_attn_weights", true,
			"summary_activation", nil,
			"summary_first_dropout", 0.1,
			"summary_proj_to_labels", true,
			"summary_type", "cls_index",
			"summary_use_proj", true)
		if !s.Tied { // GPT2Config's default is tied; HF writes the key only when it differs
			set("tie_word_embeddings", false)
		}
	case "llama":
		llamaCommon("LlamaForCausalLM")
		set("attention_bias", false,
			"bos_token_id", 1, "eos_token_id", 2,
			"head_dim", s.HeadDim,
			"mlp_bias", false,
			"pretraining_tp", 1,
			"rms_norm_eps", 1e-05,
			"rope_scaling", nil)
	case "mistral":
		llamaCommon("MistralForCausalLM")
		set("bos_token_id", 1, "eos_token_id", 2,
			"head_dim", s.HeadDim,
			"rms_norm_eps", 1e-05,
			"sliding_window", s.MaxPos)
	case "qwen2":
		llamaCommon("Qwen2ForCausalLM")
		set("bos_token_id", max(s.Vocab-2, 0), "eos_token_id", s.Vocab-1,
			"max_window_layers", s.Layers,
			"rms_norm_eps", 1e-06,
			"rope_scaling", nil,
			"rope_theta", 1000000.0,
			"sliding_window", s.MaxPos,
			"use_sliding_window", false)
	case "gemma":
		llamaCommon("GemmaForCausalLM")
		set("attention_bias", false,
			"bos_token_id", 2, "eos_token_id", 1, "pad_token_id", 0,
			"head_dim", s.HeadDim,
			"hidden_act", "gelu_pytorch_tanh",
			"hidden_activation", "gelu_pytorch_tanh",
			"rms_norm_eps", 1e-06,
			"rope_scaling", nil)
	case "gpt_neox":
		set("architectures", []string{"GPTNeoXForCausalLM"},
			"bos_token_id", 0, "eos_token_id", 0,
			"hidden_act", "gelu",
			"hidden_size", s.DModel,
			"intermediate_size", s.DMLP,
			"layer_norm_eps", 1e-05,
			"max_position_embeddings", s.MaxPos,
			"num_attention_heads", s.Heads,
			"num_hidden_layers", s.Layers,
			"rotary_emb_base", 10000,
			"rotary_pct", 0.25,
			"tie_word_embeddings", s.Tied,
			"use_parallel_residual", true)
	}
	return c
}
