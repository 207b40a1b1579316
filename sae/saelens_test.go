package sae

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/model/safetensors"
)

func randomSAE(arch Arch, d, m, k int, seed uint64) *SAE {
	s := New(arch, d, m, k)
	if arch != TopK {
		s.K = 0
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, v := range [][]float32{s.WEnc, s.BEnc, s.WDec, s.BDec} {
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	for j := range s.Threshold {
		s.Threshold[j] = float32(0.05 + 0.1*rng.Float64())
	}
	s.HookName, s.HookLayer, s.ModelName = "blocks.1.mlp.hook_post", 1, "tiny-llama"
	s.ContextSize, s.DatasetPath = 64, "world/train.txt"
	return s
}

func TestSAELensRoundTrip(t *testing.T) {
	for _, arch := range []Arch{TopK, Standard, JumpReLU} {
		s := randomSAE(arch, 12, 30, 4, 1)
		s.ApplyBDecToInput = arch != Standard
		dir := t.TempDir()
		if err := s.Save(dir, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config != s.Config {
			t.Errorf("%s: config %+v, saved %+v", arch, got.Config, s.Config)
		}
		for name, pair := range map[string][2][]float32{"W_enc": {s.WEnc, got.WEnc}, "b_enc": {s.BEnc, got.BEnc},
			"W_dec": {s.WDec, got.WDec}, "b_dec": {s.BDec, got.BDec}, "threshold": {s.Threshold, got.Threshold}} {
			if !slices.Equal(pair[0], pair[1]) {
				t.Errorf("%s: %s differs after the round trip", arch, name)
			}
		}
		// The cfg.json carries both the SAELens 6 layout and the flat keys.
		raw, _ := os.ReadFile(filepath.Join(dir, CfgFile))
		var cfg map[string]any
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		meta := cfg["metadata"].(map[string]any)
		if cfg["architecture"] != string(arch) || meta["hook_name"] != s.HookName || cfg["hook_name"] != s.HookName ||
			meta["model_name"] != "tiny-llama" || cfg["hook_layer"] != 1.0 || meta["sae_lens_version"] != saeLensFormatVersion {
			t.Errorf("%s: cfg.json fields: %s", arch, raw)
		}
		if arch == TopK && (cfg["k"] != 4.0 || cfg["rescale_acts_by_decoder_norm"] != false) {
			t.Errorf("topk: cfg.json k / rescale: %s", raw)
		}
		f, err := safetensors.OpenFile(filepath.Join(dir, WeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		names := f.Names()
		slices.Sort(names)
		want := []string{"W_dec", "W_enc", "b_dec", "b_enc"}
		if arch == JumpReLU {
			want = append(want, "threshold")
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: tensors %v, want %v (SAELens loads with strict=True)", arch, names, want)
		}
		if w, _ := f.Tensor("W_enc"); !slices.Equal(w.Shape, []int{12, 30}) {
			t.Errorf("%s: W_enc shape %v, want [d_in, d_sae]", arch, w.Shape)
		}
		f.Close()
	}
}

func TestSAELensHalfPrecision(t *testing.T) {
	s := randomSAE(JumpReLU, 8, 16, 0, 2)
	for _, dt := range []string{"bfloat16", "float16"} {
		dir := t.TempDir()
		if err := s.Save(dir, SaveOptions{DType: dt}); err != nil {
			t.Fatal(err)
		}
		got, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != dt {
			t.Errorf("dtype %q, want %q", got.DType, dt)
		}
		tol := map[string]float64{"bfloat16": 1.0 / 128, "float16": 1.0 / 1024}[dt]
		for i, v := range s.WEnc {
			if math.Abs(float64(got.WEnc[i]-v)) > tol*math.Abs(float64(v))+1e-6 {
				t.Fatalf("%s: W_enc[%d] = %g, saved %g", dt, i, got.WEnc[i], v)
			}
		}
	}
}

// writeSAELensDir writes a cfg.json and weights by hand, as other tools write them.
func writeSAELensDir(t *testing.T, cfg string, tensors []safetensors.WriteTensor) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CfgFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), tensors, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func weightsOf(d, m int, jump bool) []safetensors.WriteTensor {
	ts := []safetensors.WriteTensor{
		safetensors.F32("W_enc", []int{d, m}, make([]float32, d*m)), safetensors.F32("b_enc", []int{m}, make([]float32, m)),
		safetensors.F32("W_dec", []int{m, d}, make([]float32, m*d)), safetensors.F32("b_dec", []int{d}, make([]float32, d))}
	if jump {
		ts = append(ts, safetensors.F32("threshold", []int{m}, make([]float32, m)))
	}
	return ts
}

func TestLoadOlderSAELensConfigs(t *testing.T) {
	// SAELens < 6: flat keys, hook_point, activation_fn_str, k under activation_fn_kwargs,
	// boolean normalize_activations.
	dir := writeSAELensDir(t, `{"d_in": 6, "d_sae": 10, "dtype": "torch.float32", "device": "cuda",
		"model_name": "gpt2-small", "hook_point": "blocks.6.hook_resid_pre", "hook_point_layer": 6,
		"hook_point_head_index": null, "activation_fn_str": "topk", "activation_fn_kwargs": {"k": 3},
		"apply_b_dec_to_input": true, "finetuning_scaling_factor": false, "normalize_activations": false,
		"l1_coefficient": 8e-05, "lr": 0.0004, "context_size": 128, "prepend_bos": true}`, weightsOf(6, 10, false))
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Architecture != TopK || s.K != 3 || s.HookName != "blocks.6.hook_resid_pre" || s.HookLayer != 6 ||
		s.NormalizeActivations != NormNone || s.ModelName != "gpt2-small" || s.DType != "float32" {
		t.Errorf("parsed %+v", s.Config)
	}
	// SAELens 6 layout with metadata, as SAELens writes it.
	dir = writeSAELensDir(t, `{"d_in": 6, "d_sae": 10, "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": false,
		"normalize_activations": "none", "reshape_activations": "none", "architecture": "jumprelu",
		"metadata": {"model_name": "gemma-2-2b", "hook_name": "blocks.12.hook_resid_post", "hook_head_index": null,
		"prepend_bos": true, "context_size": 1024, "sae_lens_version": "6.5.1", "neuronpedia_id": "x"}}`, weightsOf(6, 10, true))
	if s, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	if s.Architecture != JumpReLU || s.ApplyBDecToInput || s.HookLayer != 12 || s.ModelName != "gemma-2-2b" || s.ContextSize != 1024 {
		t.Errorf("parsed %+v", s.Config)
	}
}

func TestLoadBadSAEs(t *testing.T) {
	good := `{"architecture": "standard", "d_in": 6, "d_sae": 10, "dtype": "float32", "metadata": {"hook_name": "blocks.0.mlp.hook_post"}}`
	replace := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	cases := []struct {
		name, cfg string
		tensors   []safetensors.WriteTensor
		want      []string
	}{
		{"unknown architecture", replace(`"standard"`, `"gated"`), weightsOf(6, 10, false), []string{"cfg.json", "architecture", "gated"}},
		{"d_in disagrees with W_enc", replace(`"d_in": 6`, `"d_in": 7`), weightsOf(6, 10, false), []string{WeightsFile, "W_dec has shape [10 6]", "d_in 7"}},
		{"missing d_sae", replace(`"d_sae": 10,`, ``), weightsOf(6, 10, false), []string{"cfg.json", "d_sae", "missing"}},
		{"missing tensor", good, weightsOf(6, 10, false)[:3], []string{WeightsFile, "missing tensor b_dec"}},
		{"extra tensor", good, weightsOf(6, 10, true), []string{WeightsFile, `"threshold"`, "not a weight of a standard SAE"}},
		{"jumprelu without threshold", replace(`"standard"`, `"jumprelu"`), weightsOf(6, 10, false), []string{"missing tensor threshold"}},
		{"k larger than d_sae", replace(`"standard"`, `"topk", "k": 11`), weightsOf(6, 10, false), []string{"cfg.json", "k", "11", "d_sae (10)"}},
		{"topk without k", replace(`"standard"`, `"topk"`), weightsOf(6, 10, false), []string{"cfg.json", "k", "missing"}},
		{"bad normalisation", replace(`"dtype"`, `"normalize_activations": "whiten", "dtype"`), weightsOf(6, 10, false), []string{"normalize_activations", "whiten"}},
		{"head index", replace(`"dtype"`, `"hook_head_index": 3, "dtype"`), weightsOf(6, 10, false), []string{"hook_head_index", "not supported"}},
		{"d_in not an integer", replace(`"d_in": 6`, `"d_in": 6.5`), weightsOf(6, 10, false), []string{"d_in", "not an integer"}},
		{"not JSON", `{"d_in": `, weightsOf(6, 10, false), []string{"cfg.json", "not a JSON object"}},
		{"non-finite weight", good, func() []safetensors.WriteTensor {
			ts := weightsOf(6, 10, false)
			ts[1] = safetensors.F32("b_enc", []int{10}, []float32{0, 0, float32(math.Inf(1)), 0, 0, 0, 0, 0, 0, 0})
			return ts
		}(), []string{"b_enc", "non-finite", "index 2"}},
	}
	for _, tc := range cases {
		dir := writeSAELensDir(t, tc.cfg, tc.tensors)
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: loaded without error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
	// Weights from another save than the cfg.json: the recorded sha256 catches it.
	dir := t.TempDir()
	a := randomSAE(Standard, 6, 10, 0, 1)
	if err := a.Save(dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, CfgFile))
	b := randomSAE(Standard, 6, 10, 0, 2)
	if err := b.Save(dir, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, CfgFile), cfg, 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("mismatched weights: got %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "cfg.json") {
		t.Errorf("empty directory: got %v", err)
	}
}
