package modeltest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/safetensors"
)

// TinyConfigs are small configs of every supported architecture (2 layers, d_model 32,
// vocabulary 97, 64 positions), keyed by a name; gpt_neox_sequential is GPT-NeoX without the
// parallel residual.
var TinyConfigs = map[string]string{
	"gpt2": `{"model_type":"gpt2","n_layer":2,"n_embd":32,"n_head":4,"vocab_size":97,"n_positions":64}`,
	"llama": `{"model_type":"llama","num_hidden_layers":2,"hidden_size":32,"intermediate_size":48,"num_attention_heads":4,
		"num_key_value_heads":2,"vocab_size":97,"max_position_embeddings":64,"rms_norm_eps":1e-5}`,
	"mistral": `{"model_type":"mistral","num_hidden_layers":2,"hidden_size":32,"intermediate_size":48,"num_attention_heads":4,
		"num_key_value_heads":1,"vocab_size":97,"max_position_embeddings":64,"sliding_window":32}`,
	"qwen2": `{"model_type":"qwen2","num_hidden_layers":2,"hidden_size":32,"intermediate_size":48,"num_attention_heads":4,
		"num_key_value_heads":2,"vocab_size":97,"max_position_embeddings":64,"rope_theta":1000000.0,"tie_word_embeddings":true}`,
	"gpt_neox": `{"model_type":"gpt_neox","num_hidden_layers":2,"hidden_size":32,"intermediate_size":64,"num_attention_heads":4,
		"vocab_size":97,"max_position_embeddings":64,"rotary_pct":0.5}`,
	"gpt_neox_sequential": `{"model_type":"gpt_neox","num_hidden_layers":2,"hidden_size":32,"intermediate_size":64,"num_attention_heads":4,
		"vocab_size":97,"max_position_embeddings":64,"rotary_pct":1.0,"use_parallel_residual":false}`,
	"gemma": `{"model_type":"gemma","num_hidden_layers":2,"hidden_size":32,"intermediate_size":48,"num_attention_heads":4,
		"num_key_value_heads":1,"head_dim":16,"vocab_size":97,"max_position_embeddings":64}`,
}

// TinyNames lists the keys of TinyConfigs, sorted.
func TinyNames() []string {
	var out []string
	for k := range TinyConfigs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Tiny builds the random-weight model of TinyConfigs[name] with the seed.
func Tiny(t testing.TB, name string, seed uint64) *model.Model {
	t.Helper()
	js, ok := TinyConfigs[name]
	if !ok {
		t.Fatalf("modeltest: no tiny config %q", name)
	}
	return FromConfig(t, js, seed)
}

// FromConfig builds a random-weight model of a config.json text.
func FromConfig(t testing.TB, configJSON string, seed uint64) *model.Model {
	t.Helper()
	cfg, err := model.ParseConfig([]byte(configJSON), "test config")
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.NewRandom(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// GPT2Small is a GPT-2-small-shaped model with random weights (model.PresetConfig
// "gpt2-small"), the shape full-size benchmarks are stated at.
func GPT2Small(tb testing.TB) *model.Model {
	tb.Helper()
	cfg, err := model.PresetConfig("gpt2-small")
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.NewRandom(cfg, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// Tokens is a deterministic sequence of n token ids below vocab (the i-th is (i·7919+13) mod
// vocab).
func Tokens(n, vocab int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (i*7919 + 13) % vocab
	}
	return ids
}

// Golden mirrors golden.json of the shared fixtures (see their NOTES.md).
type Golden struct {
	Fixture      string                 `json:"fixture"`
	HookNames    []string               `json:"hook_names"`
	Prompts      [][]int                `json:"prompts"`
	Logits       [][][]float64          `json:"logits"`
	ArgmaxNext   [][]int                `json:"argmax_next"`
	ArgmaxMargin [][]float64            `json:"argmax_margin"`
	Hooks        []map[string]HookStats `json:"hooks"`
	RightPadded  PaddedGolden           `json:"batched_right_padded"`
	LeftPadded   PaddedGolden           `json:"batched_left_padded"`
	Greedy       struct {
		PromptIndex int       `json:"prompt_index"`
		NNew        int       `json:"n_new"`
		NewTokens   []int     `json:"new_tokens"`
		StepMargins []float64 `json:"step_margins"`
	} `json:"greedy"`
	Grads []GradGolden `json:"grad_logprob_wrt_hook_post"`
	IG    []IGGolden   `json:"integrated_gradients"`
}

// HookStats summarise one hook point's activation on one prompt.
type HookStats struct {
	Shape         []int     `json:"shape"`
	Mean          float64   `json:"mean"`
	Std           float64   `json:"std"`
	First8        []float64 `json:"first8"`
	LastPosFirst8 []float64 `json:"last_pos_first8"`
}

// PaddedGolden is a padded batch of the prompts and what it must give.
type PaddedGolden struct {
	InputIDs       [][]int     `json:"input_ids"`
	AttentionMask  [][]int     `json:"attention_mask"`
	PositionIDs    [][]int     `json:"position_ids"`
	PadTokenID     int         `json:"pad_token_id"`
	ArgmaxReal     [][]int     `json:"argmax_next_real_positions"`
	LastRealFirst8 [][]float64 `json:"last_real_logits_first8"`
}

// GradGolden is the gradient of a target's log-probability w.r.t. every hook_post.
type GradGolden struct {
	PromptIndex int                    `json:"prompt_index"`
	TargetPos   int                    `json:"target_pos"`
	TargetToken int                    `json:"target_token"`
	LogProb     float64                `json:"logprob"`
	Grads       map[string][][]float64 `json:"grads"`
}

// IGGolden is one integrated-gradients reference.
type IGGolden struct {
	PromptIndex     int             `json:"prompt_index"`
	Layer           int             `json:"layer"`
	Hook            string          `json:"hook"`
	M               int             `json:"m"`
	TargetPos       int             `json:"target_pos"`
	TargetToken     int             `json:"target_token"`
	ScaledPositions string          `json:"scaled_positions"`
	Attributions    json.RawMessage `json:"attributions"`
	FFull           float64         `json:"f_full"`
	FBaseline       float64         `json:"f_baseline"`
	SumAttributions float64         `json:"sum_attributions"`
}

// ReadGolden reads dir/golden.json.
func ReadGolden(t testing.TB, dir string) *Golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g Golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s/golden.json: %v", dir, err)
	}
	return &g
}

// NonFiniteCopy copies the checkpoint in dir (config.json, model.safetensors and tokenizer.json
// when present) to a temporary directory with the first value of tensor set to NaN and the
// second to +Inf, and returns that directory.
func NonFiniteCopy(t testing.TB, dir, tensor string) string {
	t.Helper()
	out := t.TempDir()
	for _, f := range []string{"config.json", "tokenizer.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			if f == "tokenizer.json" {
				continue
			}
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := safetensors.OpenFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ts []safetensors.WriteTensor
	found := false
	for _, name := range src.Names() {
		tt, _ := src.Tensor(name)
		view, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		data := append([]float32(nil), view...) // the view may be the read-only mapping
		if name == tensor {
			found = true
			data[0], data[1] = float32(math.NaN()), float32(math.Inf(1))
		}
		ts = append(ts, safetensors.F32(name, tt.Shape, data))
	}
	if !found {
		t.Fatalf("%s has no tensor %s", dir, tensor)
	}
	if err := safetensors.WriteFile(filepath.Join(out, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return out
}
