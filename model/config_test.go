package model

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
)

func TestConfigErrors(t *testing.T) {
	cases := map[string]struct{ js, want string }{
		"not json":         {`{`, "not a JSON object"},
		"array":            {`[]`, "not a JSON object"},
		"no model_type":    {`{"hidden_size": 4}`, `missing required key "model_type"`},
		"unknown type":     {`{"model_type": "bert"}`, `unsupported model_type "bert"`},
		"missing key":      {`{"model_type":"llama","hidden_size":8}`, `missing required key "num_hidden_layers"`},
		"wrong type":       {`{"model_type":"llama","num_hidden_layers":"2"}`, `"num_hidden_layers" must be a non-negative integer`},
		"rope scaling":     {strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"rope_scaling":{"type":"dynamic","factor":2},"rms_norm_eps"`, 1), `rope_scaling type "dynamic" is not implemented`},
		"rope scaling v5":  {strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"rope_parameters":{"rope_type":"yarn","factor":2,"rope_theta":10000},"rms_norm_eps"`, 1), `rope_parameters type "yarn" is not implemented`},
		"llama3 no factor": {strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"rope_scaling":{"rope_type":"llama3","low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":64},"rms_norm_eps"`, 1), `rope_scaling: missing "factor"`},
		"rope no type":     {strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"rope_scaling":{"factor":2},"rms_norm_eps"`, 1), "rope_scaling has no rope_type"},
		"bad heads":        {strings.Replace(fixtures.TinyConfigs["llama"], `"num_key_value_heads":2`, `"num_key_value_heads":3`, 1), "not a multiple"},
		"bad act":          {strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"hidden_act":"swish2","rms_norm_eps"`, 1), `hidden_act "swish2"`},
		"zero layers":      {strings.Replace(fixtures.TinyConfigs["gpt2"], `"n_layer":2`, `"n_layer":0`, 1), "layers must be positive"},
		"fractional size":  {strings.Replace(fixtures.TinyConfigs["gpt2"], `"n_embd":32`, `"n_embd":32.5`, 1), "n_embd"},
		"cross attention":  {strings.Replace(fixtures.TinyConfigs["gpt2"], `"n_layer":2`, `"n_layer":2,"add_cross_attention":true`, 1), "add_cross_attention"},
		"layer types":      {strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"layer_types":["full_attention"],"rms_norm_eps"`, 1), "layer_types has 1 entries for 2 layers"},
	}
	for name, c := range cases {
		_, err := ParseConfig([]byte(c.js), "x/config.json")
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x/config.json") {
			t.Errorf("%s: error %q does not name the file and %q", name, err, c.want)
		}
	}
}

// TestUnknownConfigKeys: a key neuronscope has never seen is a warning naming file and key (an
// error with --strict-config); keys known not to change the forward pass are silent.
func TestUnknownConfigKeys(t *testing.T) {
	js := strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"my_note":1,"use_qk_norm":true,"cache_implementation":"hybrid","rms_norm_eps"`, 1)
	cfg, err := ParseConfig([]byte(js), "x/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings[0], `x/config.json: key "my_note" is not known`) ||
		!strings.Contains(cfg.Warnings[1], `"use_qk_norm"`) {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	if _, err := ParseConfigStrict([]byte(js), "x/config.json"); err == nil || !strings.Contains(err.Error(), "unknown config keys my_note, use_qk_norm") {
		t.Errorf("strict: %v", err)
	}
	m, err := NewRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Warnings) != 2 {
		t.Errorf("model warnings %q", m.Warnings)
	}
}

// TestLoadErrors: broken checkpoints give one-line errors naming the file and the problem.
func TestLoadErrors(t *testing.T) {
	root := fixtures.Dir(t)
	src := filepath.Join(root, "llama-random")
	copyDir := func(t *testing.T, mutate func(dir string)) string {
		dir := t.TempDir()
		for _, f := range []string{"config.json", "model.safetensors"} {
			data, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mutate(dir)
		return dir
	}
	edit := func(file, old, new string) func(string) {
		return func(dir string) {
			p := filepath.Join(dir, file)
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
		}
	}
	cases := map[string]struct {
		mutate func(string)
		want   string
	}{
		"shape vs config": {edit("config.json", `"intermediate_size": 112`, `"intermediate_size": 113`), "config.json implies"},
		"bias vs config":  {edit("config.json", `"attention_bias": false`, `"attention_bias": true`), "missing tensor model.layers.0.self_attn.q_proj.bias"},
		"tied vs file":    {edit("config.json", `"tie_word_embeddings": false`, `"tie_word_embeddings": true`), ""},
		"truncated": {func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
		}, "model.safetensors"},
		"no weights": {func(dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, ""},
		"no config":  {func(dir string) { os.Remove(filepath.Join(dir, "config.json")) }, "no config.json"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, c.mutate)
			m, err := Load(dir)
			if name == "tied vs file" {
				// HF ignores a stored lm_head when the config ties embeddings; so do we, with a warning.
				if err != nil || len(m.Warnings) == 0 {
					t.Fatalf("tied config with stored lm_head: err %v, warnings %v", err, m.Warnings)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want one line containing %q", err, c.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, js := range fixtures.TinyConfigs {
		f.Add([]byte(js))
	}
	f.Add([]byte(`{"model_type":"gpt2","n_layer":1e300}`))
	f.Add([]byte(`{"model_type":"llama","num_hidden_layers":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "fuzz/config.json")
		if err != nil {
			return
		}
		if cfg.NLayers <= 0 || cfg.DModel <= 0 || cfg.NHeads%cfg.NKVHeads != 0 {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
	})
}

// TestFamilyConfigs: the config variants of the families as HF writes them, and the keys that
// change the forward pass: implemented, defaulted as HF does (with a warning), or refused by
// name.
func TestFamilyConfigs(t *testing.T) {
	parse := func(js string) (*Config, error) { return ParseConfig([]byte(js), "x/config.json") }
	g2 := fixtures.TinyConfigs["gemma2"]
	noCaps := strings.NewReplacer(`"attn_logit_softcapping":3.0,`, "", `"final_logit_softcapping":5.0,`, "").Replace(g2)
	c, err := parse(noCaps)
	if err != nil {
		t.Fatal(err)
	}
	if c.AttnSoftcap != 50 || c.FinalSoftcap != 30 || len(c.Warnings) != 2 ||
		!strings.Contains(c.Warnings[0], `x/config.json: no "attn_logit_softcapping": using HF's default 50`) ||
		!strings.Contains(c.Warnings[1], `"final_logit_softcapping"`) {
		t.Errorf("gemma2 without soft-cap keys: caps %g/%g, warnings %q", c.AttnSoftcap, c.FinalSoftcap, c.Warnings)
	}
	c, err = parse(strings.Replace(g2, `"attn_logit_softcapping":3.0`, `"attn_logit_softcapping":null`, 1))
	if err != nil || c.AttnSoftcap != 0 || c.FinalSoftcap != 5 || len(c.Warnings) != 0 {
		t.Errorf("gemma2 null attention cap: %+v %v", c, err)
	}
	if c.LocalLayers == nil || !c.LocalLayers[0] || c.LocalLayers[1] || c.Window != 4 {
		t.Errorf("gemma2 layers: local %v window %d", c.LocalLayers, c.Window)
	}
	c, err = parse(strings.Replace(g2, `"sliding_window":4`, `"sliding_window":4,"layer_types":["full_attention","sliding_attention"]`, 1))
	if err != nil || c.LocalLayers[0] || !c.LocalLayers[1] {
		t.Errorf("gemma2 layer_types: %v %v", c.LocalLayers, err)
	}
	c, err = parse(fixtures.TinyConfigs["gemma3_text"])
	if err != nil || fmt.Sprint(c.LocalLayers) != "[true false true]" || c.RopeLocalTheta != 10000 || c.RopeTheta != 1e6 ||
		c.RopeScaling == nil || c.RopeScaling.Factor != 4 || c.AttnSoftcap != 0 || c.FinalSoftcap != 6 || !c.QKNorm {
		t.Errorf("gemma3: %+v %v", c, err)
	}
	c, err = parse(strings.Replace(fixtures.TinyConfigs["mistral"], `"sliding_window":32`, `"sliding_window":32,"attention_bias":true,"mlp_bias":false`, 1))
	if err != nil || c.AttnBias || c.MLPBias || len(c.Warnings) != 0 {
		t.Errorf("mistral with bias keys: %+v %v", c, err)
	}
	c, err = parse(fixtures.TinyConfigs["gpt2_scaled"])
	if err != nil || !c.AttnScaleByLayer || c.attnSpec(1).scale != float32(1/math.Sqrt(8)/2) {
		t.Errorf("gpt2 scaled: %+v %v", c, err)
	}
	c, err = parse(strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"rope_scaling":{"type":"linear","factor":2.0},"rms_norm_eps"`, 1))
	if err != nil || c.RopeScaling == nil || c.RopeScaling.Type != "linear" {
		t.Errorf("older rope_scaling spelling: %+v %v", c, err)
	}
	c, err = parse(strings.Replace(fixtures.TinyConfigs["llama"], `"rms_norm_eps"`, `"rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":16},"rms_norm_eps"`, 1))
	if err != nil || c.RopeTheta != 500000 || c.RopeScaling == nil || c.RopeScaling.OriginalMaxPos != 16 {
		t.Errorf("rope_parameters (transformers v5): %+v %v", c, err)
	}
	c, err = parse(fixtures.TinyConfigs["bloom"])
	if err != nil || fmt.Sprint(alibiSlopes(c.NHeads)) != "[0.25 0.0625 0.015625 0.00390625 0.5 0.125]" || c.DMLP != 96 {
		t.Errorf("bloom: %+v %v", c, err)
	}
	bad := map[string]struct{ js, want string }{
		"gemma2 cap type":   {strings.Replace(g2, `"attn_logit_softcapping":3.0`, `"attn_logit_softcapping":"50"`, 1), `"attn_logit_softcapping" must be a positive number or null`},
		"gemma2 layer type": {strings.Replace(g2, `"sliding_window":4`, `"sliding_window":4,"layer_types":["full_attention","chunked_attention"]`, 1), `layer_types[1] = "chunked_attention" is not supported`},
		"gemma3 pattern":    {strings.Replace(fixtures.TinyConfigs["gemma3_text"], `"sliding_window_pattern":2`, `"sliding_window_pattern":0`, 1), "sliding_window_pattern must be positive"},
		"gemma3 bidir":      {strings.Replace(fixtures.TinyConfigs["gemma3_text"], `"sliding_window":3`, `"sliding_window":3,"use_bidirectional_attention":true`, 1), "use_bidirectional_attention"},
		"gemma3 multimodal": {`{"model_type":"gemma3","text_config":{}}`, `unsupported model_type "gemma3"`},
		"bloom post-ln":     {strings.Replace(fixtures.TinyConfigs["bloom"], `"n_layer":2`, `"n_layer":2,"apply_residual_connection_post_layernorm":true`, 1), "apply_residual_connection_post_layernorm"},
		"longrope":          {strings.Replace(fixtures.TinyConfigs["qwen3"], `"tie_word_embeddings"`, `"rope_scaling":{"rope_type":"longrope","factor":4},"tie_word_embeddings"`, 1), `rope_scaling type "longrope" is not implemented (neuronscope implements linear and llama3)`},
		"llama3 original":   {strings.Replace(fixtures.TinyConfigs["llama3"], `"original_max_position_embeddings":16`, `"original_max_position_embeddings":16.5`, 1), "original_max_position_embeddings must be an integer"},
		"llama3 factors":    {strings.Replace(fixtures.TinyConfigs["llama3"], `"high_freq_factor":4.0`, `"high_freq_factor":0.5`, 1), "high_freq_factor 0.5 must exceed low_freq_factor 1"},
	}
	for name, c := range bad {
		_, err := parse(c.js)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x/config.json") {
			t.Errorf("%s: error %v, want one naming x/config.json and %q", name, err, c.want)
		}
	}
}

// TestPresets: every benchmark preset is a real config neuronscope reads without warnings.
func TestPresets(t *testing.T) {
	for _, name := range Presets() {
		c, err := PresetConfig(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(c.Warnings) > 0 {
			t.Errorf("%s: warnings %q", name, c.Warnings)
		}
	}
	if c, _ := PresetConfig("gemma-2-2b"); c.AttnSoftcap != 50 || c.FinalSoftcap != 30 || c.Window != 4096 || !c.SandwichNorm {
		t.Errorf("gemma-2-2b preset: %+v", c)
	}
}
