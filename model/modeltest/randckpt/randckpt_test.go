package randckpt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

// expected spells out, independently of layout(), the HF names and shapes for a spec.
func expected(s Spec) map[string][]int {
	D, F, V, P := s.DModel, s.DMLP, s.Vocab, s.MaxPos
	hd := s.HeadDim
	if hd == 0 {
		hd = D / s.Heads
	}
	kvh := s.KVHeads
	if kvh == 0 {
		kvh = s.Heads
	}
	q, kv := s.Heads*hd, kvh*hd
	m := map[string][]int{}
	switch s.Arch {
	case "gpt2":
		p := ""
		if s.TransformerPrefix {
			p = "transformer."
		}
		m[p+"wte.weight"] = []int{V, D}
		m[p+"wpe.weight"] = []int{P, D}
		for l := 0; l < s.Layers; l++ {
			h := fmt.Sprintf("%sh.%d.", p, l)
			m[h+"ln_1.weight"], m[h+"ln_1.bias"] = []int{D}, []int{D}
			m[h+"attn.c_attn.weight"], m[h+"attn.c_attn.bias"] = []int{D, 3 * D}, []int{3 * D}
			m[h+"attn.c_proj.weight"], m[h+"attn.c_proj.bias"] = []int{D, D}, []int{D}
			m[h+"ln_2.weight"], m[h+"ln_2.bias"] = []int{D}, []int{D}
			m[h+"mlp.c_fc.weight"], m[h+"mlp.c_fc.bias"] = []int{D, F}, []int{F}
			m[h+"mlp.c_proj.weight"], m[h+"mlp.c_proj.bias"] = []int{F, D}, []int{D}
		}
		m[p+"ln_f.weight"], m[p+"ln_f.bias"] = []int{D}, []int{D}
		if !s.Tied {
			m["lm_head.weight"] = []int{V, D}
		}
	case "gpt_neox":
		m["gpt_neox.embed_in.weight"] = []int{V, D}
		for l := 0; l < s.Layers; l++ {
			h := fmt.Sprintf("gpt_neox.layers.%d.", l)
			m[h+"input_layernorm.weight"], m[h+"input_layernorm.bias"] = []int{D}, []int{D}
			m[h+"post_attention_layernorm.weight"], m[h+"post_attention_layernorm.bias"] = []int{D}, []int{D}
			m[h+"attention.query_key_value.weight"], m[h+"attention.query_key_value.bias"] = []int{3 * D, D}, []int{3 * D}
			m[h+"attention.dense.weight"], m[h+"attention.dense.bias"] = []int{D, D}, []int{D}
			m[h+"mlp.dense_h_to_4h.weight"], m[h+"mlp.dense_h_to_4h.bias"] = []int{F, D}, []int{F}
			m[h+"mlp.dense_4h_to_h.weight"], m[h+"mlp.dense_4h_to_h.bias"] = []int{D, F}, []int{D}
		}
		m["gpt_neox.final_layer_norm.weight"], m["gpt_neox.final_layer_norm.bias"] = []int{D}, []int{D}
		if !s.Tied {
			m["embed_out.weight"] = []int{V, D}
		}
	default:
		m["model.embed_tokens.weight"] = []int{V, D}
		for l := 0; l < s.Layers; l++ {
			h := fmt.Sprintf("model.layers.%d.", l)
			m[h+"input_layernorm.weight"] = []int{D}
			m[h+"self_attn.q_proj.weight"] = []int{q, D}
			m[h+"self_attn.k_proj.weight"] = []int{kv, D}
			m[h+"self_attn.v_proj.weight"] = []int{kv, D}
			m[h+"self_attn.o_proj.weight"] = []int{D, q}
			if s.Arch == "qwen2" {
				m[h+"self_attn.q_proj.bias"] = []int{q}
				m[h+"self_attn.k_proj.bias"] = []int{kv}
				m[h+"self_attn.v_proj.bias"] = []int{kv}
			}
			m[h+"post_attention_layernorm.weight"] = []int{D}
			m[h+"mlp.gate_proj.weight"] = []int{F, D}
			m[h+"mlp.up_proj.weight"] = []int{F, D}
			m[h+"mlp.down_proj.weight"] = []int{D, F}
		}
		m["model.norm.weight"] = []int{D}
		if !s.Tied {
			m["lm_head.weight"] = []int{V, D}
		}
	}
	return m
}

// configKeys are the config.json keys per model_type (as transformers writes them).
var configKeys = map[string][]string{
	"gpt2": {"activation_function", "architectures", "attn_pdrop", "bos_token_id", "embd_pdrop", "eos_token_id",
		"initializer_range", "layer_norm_epsilon", "model_type", "n_ctx", "n_embd", "n_head", "n_inner", "n_layer",
		"n_positions", "reorder_and_upcast_attn", "resid_pdrop", "scale_attn_by_inverse_layer_idx", "scale_attn_weights",
		"summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type", "summary_use_proj",
		"torch_dtype", "use_cache", "vocab_size"},
	"llama": {"architectures", "attention_bias", "attention_dropout", "bos_token_id", "eos_token_id", "head_dim",
		"hidden_act", "hidden_size", "initializer_range", "intermediate_size", "max_position_embeddings", "mlp_bias",
		"model_type", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "pretraining_tp",
		"rms_norm_eps", "rope_scaling", "rope_theta", "tie_word_embeddings", "torch_dtype", "use_cache", "vocab_size"},
	"mistral": {"architectures", "attention_dropout", "bos_token_id", "eos_token_id", "head_dim", "hidden_act",
		"hidden_size", "initializer_range", "intermediate_size", "max_position_embeddings", "model_type",
		"num_attention_heads", "num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "rope_theta",
		"sliding_window", "tie_word_embeddings", "torch_dtype", "use_cache", "vocab_size"},
	"qwen2": {"architectures", "attention_dropout", "bos_token_id", "eos_token_id", "hidden_act", "hidden_size",
		"initializer_range", "intermediate_size", "max_position_embeddings", "max_window_layers", "model_type",
		"num_attention_heads", "num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "rope_scaling", "rope_theta",
		"sliding_window", "tie_word_embeddings", "torch_dtype", "use_cache", "use_sliding_window", "vocab_size"},
	"gemma": {"architectures", "attention_bias", "attention_dropout", "bos_token_id", "eos_token_id", "head_dim",
		"hidden_act", "hidden_activation", "hidden_size", "initializer_range", "intermediate_size",
		"max_position_embeddings", "model_type", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
		"pad_token_id", "rms_norm_eps", "rope_scaling", "rope_theta", "tie_word_embeddings", "torch_dtype", "use_cache",
		"vocab_size"},
	"gpt_neox": {"architectures", "bos_token_id", "eos_token_id", "hidden_act", "hidden_size", "initializer_range",
		"intermediate_size", "layer_norm_eps", "max_position_embeddings", "model_type", "num_attention_heads",
		"num_hidden_layers", "rotary_emb_base", "rotary_pct", "tie_word_embeddings", "torch_dtype", "use_cache",
		"use_parallel_residual", "vocab_size"},
}

func readConfig(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func checkCheckpoint(t *testing.T, dir string, s Spec) {
	t.Helper()
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	want := expected(s)
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if got := ck.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("names:\n got %v\nwant %v", got, wantNames)
	}
	dt := s.DType
	if dt == "" {
		dt = "F32"
	}
	layout, err := Layout(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(layout) != len(want) {
		t.Errorf("Layout has %d tensors, want %d", len(layout), len(want))
	}
	for _, ti := range layout {
		if !slices.Equal(ti.Shape, want[ti.Name]) {
			t.Errorf("Layout %s: %v, want %v", ti.Name, ti.Shape, want[ti.Name])
		}
	}
	for name, shape := range want {
		tt, _ := ck.Tensor(name)
		if !slices.Equal(tt.Shape, shape) || string(tt.DType) != dt {
			t.Errorf("%s: %s %v, want %s %v", name, tt.DType, tt.Shape, dt, shape)
		}
		xs, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := safetensors.CountNonFinite(xs); n > 0 {
			t.Errorf("%s: %d non-finite values", name, n)
		}
		checkStats(t, s, name, xs)
	}
	c := readConfig(t, dir)
	wantKeys := append([]string(nil), configKeys[s.Arch]...)
	if s.Arch != "gpt2" || !s.Tied {
		if !slices.Contains(wantKeys, "tie_word_embeddings") {
			wantKeys = append(wantKeys, "tie_word_embeddings")
		}
	}
	sort.Strings(wantKeys)
	if got := sortedKeys(c); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("config keys:\n got %v\nwant %v", got, wantKeys)
	}
	if c["model_type"] != s.Arch {
		t.Errorf("model_type %v", c["model_type"])
	}
}

// checkStats checks the value distribution loosely (mean and std of larger tensors).
func checkStats(t *testing.T, s Spec, name string, xs []float32) {
	t.Helper()
	if len(xs) < 256 {
		return
	}
	var sum, sq float64
	for _, x := range xs {
		sum += float64(x)
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (float64(x) - mean) * (float64(x) - mean)
	}
	std := math.Sqrt(sq / float64(len(xs)))
	if math.Abs(mean) > 0.05 || std < 0.08 || std > 0.35 {
		t.Errorf("%s: mean %.3f std %.3f outside N(0, s∈[0.1,0.3])", name, mean, std)
	}
}

func TestEveryArch(t *testing.T) {
	for _, arch := range Archs() {
		for _, variant := range []string{"small", "untied", "bf16", "f16", "sharded", "prefix"} {
			s := Small(arch)
			switch variant {
			case "untied":
				if arch == "gemma" {
					continue
				}
				s.Tied = !s.Tied
			case "bf16":
				s.DType = "BF16"
			case "f16":
				s.DType = "F16"
			case "sharded":
				s.Shards = 3
			case "prefix":
				if arch != "gpt2" {
					continue
				}
				s.TransformerPrefix = true
			}
			t.Run(arch+"/"+variant, func(t *testing.T) {
				dir := t.TempDir()
				if err := Write(dir, s); err != nil {
					t.Fatal(err)
				}
				checkCheckpoint(t, dir, s)
				if s.Shards > 1 {
					ck, _ := safetensors.OpenDir(dir)
					defer ck.Close()
					if len(ck.Files()) != s.Shards {
						t.Errorf("%d files, want %d", len(ck.Files()), s.Shards)
					}
					for i, f := range ck.Files() {
						if want := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, s.Shards); filepath.Base(f) != want {
							t.Errorf("file %s, want %s", f, want)
						}
					}
					var idx struct {
						Metadata struct {
							TotalSize int64 `json:"total_size"`
						} `json:"metadata"`
					}
					b, _ := os.ReadFile(filepath.Join(dir, safetensors.IndexFileName))
					if err := json.Unmarshal(b, &idx); err != nil || idx.Metadata.TotalSize != ck.StoredBytes() {
						t.Errorf("index total_size %d, stored %d (%v)", idx.Metadata.TotalSize, ck.StoredBytes(), err)
					}
				}
			})
		}
	}
}

func TestNormsAndBiases(t *testing.T) {
	for _, arch := range []string{"llama", "gemma", "gpt2"} {
		s := Small(arch)
		s.DModel, s.HeadDim, s.DMLP = 256, 64, 64
		if arch == "gemma" {
			s.HeadDim = 16
		}
		dir := t.TempDir()
		if err := Write(dir, s); err != nil {
			t.Fatal(err)
		}
		ck, err := safetensors.OpenDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		mean := func(name string) (float64, float64) {
			tt, ok := ck.Tensor(name)
			if !ok {
				t.Fatalf("%s missing", name)
			}
			xs, _ := tt.Float32s()
			var m, v float64
			for _, x := range xs {
				m += float64(x)
			}
			m /= float64(len(xs))
			for _, x := range xs {
				v += (float64(x) - m) * (float64(x) - m)
			}
			return m, math.Sqrt(v / float64(len(xs)))
		}
		norm := "model.norm.weight"
		wantMean := 1.0
		switch arch {
		case "gemma":
			wantMean = 0
		case "gpt2":
			norm = "ln_f.weight"
			if m, sd := mean("h.0.attn.c_attn.bias"); math.Abs(m) > 0.02 || sd < 0.03 || sd > 0.07 {
				t.Errorf("%s bias: mean %.3f std %.3f, want N(0, 0.05)", arch, m, sd)
			}
		}
		if m, sd := mean(norm); math.Abs(m-wantMean) > 0.03 || sd < 0.07 || sd > 0.13 {
			t.Errorf("%s norm: mean %.3f std %.3f, want N(%g, 0.1)", arch, m, sd, wantMean)
		}
		// Embedding: fan_in 256 → s = 1/16 clipped up to 0.1.
		emb := "model.embed_tokens.weight"
		if arch == "gpt2" {
			emb = "wte.weight"
		}
		if _, sd := mean(emb); sd < 0.09 || sd > 0.11 {
			t.Errorf("%s embedding std %.3f, want 0.1 (clipped)", arch, sd)
		}
		ck.Close()
	}
}

func dirBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestDeterministic(t *testing.T) {
	for _, arch := range Archs() {
		s := Small(arch)
		s.Shards = 2
		a, b := t.TempDir(), t.TempDir()
		if err := Write(a, s); err != nil {
			t.Fatal(err)
		}
		if err := Write(b, s); err != nil {
			t.Fatal(err)
		}
		ba, bb := dirBytes(t, a), dirBytes(t, b)
		if !reflect.DeepEqual(ba, bb) {
			t.Errorf("%s: same spec, different bytes", arch)
		}
		s.Seed++
		c := t.TempDir()
		if err := Write(c, s); err != nil {
			t.Fatal(err)
		}
		bc := dirBytes(t, c)
		if bytes.Equal(ba["model-00001-of-00002.safetensors"], bc["model-00001-of-00002.safetensors"]) {
			t.Errorf("%s: different seeds, same weights", arch)
		}
		if !bytes.Equal(ba["config.json"], bc["config.json"]) {
			t.Errorf("%s: config depends on the seed", arch)
		}
	}
}

func TestBadSpecs(t *testing.T) {
	mod := func(arch string, f func(*Spec)) Spec {
		s := Small(arch)
		f(&s)
		return s
	}
	for name, tc := range map[string]struct {
		s    Spec
		want string
	}{
		"arch":        {Spec{Arch: "bert"}, "unknown arch"},
		"dtype":       {mod("llama", func(s *Spec) { s.DType = "F64" }), "DType"},
		"zero-layers": {mod("llama", func(s *Spec) { s.Layers = 0 }), "Layers must be positive"},
		"gqa":         {mod("llama", func(s *Spec) { s.KVHeads = 3 }), "not a multiple"},
		"gpt2-gqa":    {mod("gpt2", func(s *Spec) { s.KVHeads = 2 }), "KVHeads"},
		"gpt2-hd":     {mod("gpt2", func(s *Spec) { s.HeadDim = 16 }), "HeadDim"},
		"gemma-tied":  {mod("gemma", func(s *Spec) { s.Tied = false }), "ties"},
		"prefix":      {mod("llama", func(s *Spec) { s.TransformerPrefix = true }), "gpt2 only"},
		"shards":      {mod("llama", func(s *Spec) { s.Shards = 1000 }), "shards"},
	} {
		err := Write(t.TempDir(), tc.s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestDefaultsFilled(t *testing.T) {
	// KVHeads 0 → Heads, HeadDim 0 → DModel/Heads, DType "" → F32.
	s := Spec{Arch: "llama", Layers: 1, DModel: 16, DMLP: 8, Heads: 2, Vocab: 10, MaxPos: 8}
	dir := t.TempDir()
	if err := Write(dir, s); err != nil {
		t.Fatal(err)
	}
	checkCheckpoint(t, dir, s)
	c := readConfig(t, dir)
	if c["num_key_value_heads"] != 2.0 || c["head_dim"] != 8.0 || c["torch_dtype"] != "float32" {
		t.Errorf("defaults: %v %v %v", c["num_key_value_heads"], c["head_dim"], c["torch_dtype"])
	}
}
