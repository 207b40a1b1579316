package model

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/modeltest/randckpt"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// TestGeneratedCheckpoints loads random checkpoints the tests write themselves, in every
// storage variant, for every architecture: a sharded copy computes the same logits, a
// BF16/F16 copy computes logits close to the F32 one, and GPT-2 loads with or without the
// "transformer." prefix.
func TestGeneratedCheckpoints(t *testing.T) {
	for _, arch := range randckpt.Archs() {
		t.Run(arch, func(t *testing.T) {
			base := randckpt.Small(arch)
			variants := map[string]func(*randckpt.Spec){
				"f32":     func(*randckpt.Spec) {},
				"sharded": func(s *randckpt.Spec) { s.Shards = 3 },
				"bf16":    func(s *randckpt.Spec) { s.DType = "BF16" },
				"f16":     func(s *randckpt.Spec) { s.DType = "F16" },
			}
			if arch == "gpt2" {
				variants["prefixed"] = func(s *randckpt.Spec) { s.TransformerPrefix = true }
			}
			logits := map[string][]float32{}
			for name, mutate := range variants {
				s := base
				mutate(&s)
				dir := filepath.Join(t.TempDir(), name)
				if err := randckpt.Write(dir, s); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				m, err := Load(dir)
				if err != nil {
					t.Fatalf("%s: load: %v", name, err)
				}
				if len(m.Warnings) > 0 {
					t.Errorf("%s: warnings %v", name, m.Warnings)
				}
				logits[name] = forwardOne(t, m, []int{3, 1, 4, 1, 5, 9, 2, 6}).Logits.Data
				m.Close()
			}
			// Same values, but tensors sit at different byte alignments in the shards, and the
			// BLAS kernels' SIMD summation order depends on alignment: equal to float32 rounding.
			if d := maxDiff(logits["sharded"], logits["f32"]); d > 1e-5 {
				t.Errorf("sharded differs from single file by %g", d)
			}
			if l, ok := logits["prefixed"]; ok && maxDiff(l, logits["f32"]) > 1e-5 {
				t.Errorf("transformer.-prefixed names differ")
			}
			for _, h := range []string{"bf16", "f16"} {
				if d := maxDiff(logits[h], logits["f32"]); d > 0.5 || d == 0 {
					t.Errorf("%s logits differ from f32 by %g (want small but nonzero)", h, d)
				}
			}
		})
	}
}

// TestNonFiniteWeightsBF16: NaN/Inf weights stored as BF16 are found at load: refused by
// default, a warning under AllowNonFinite.
func TestNonFiniteWeightsBF16(t *testing.T) {
	cfg, err := ParseConfig([]byte(fixtures.TinyConfigs["llama"]), "c")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	var bad *Param
	for _, p := range m.Params() {
		if p.Name == "model.layers.1.mlp.down_proj.weight" {
			bad = p
		}
	}
	bad.Data[5] = float32(math.NaN())
	bad.Data[9] = float32(math.Inf(-1))
	dir := t.TempDir()
	if err := m.Save(dir, []byte(fixtures.TinyConfigs["llama"]), "BF16"); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "model.layers.1.mlp.down_proj.weight has 2 NaN/Inf") {
		t.Errorf("load: %v", err)
	}
	m2, err := LoadWith(dir, Options{AllowNonFinite: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if len(m2.Warnings) != 1 || !strings.Contains(m2.Warnings[0], "model.layers.1.mlp.down_proj.weight has 2 NaN/Inf") {
		t.Errorf("warnings %q", m2.Warnings)
	}
}

// TestSaveLoadFamilies: every tiny model of every family, and the family variants the
// reference fixtures do not cover (untied Gemma 2 and BLOOM, Qwen3 with biases, ViT without
// q/k/v biases, BLOOM without the transformer. prefix), saved as an HF checkpoint and loaded
// back, computes the same logits (to float32 rounding: the BLAS kernels' summation order
// depends on the weights' byte alignment, heap vs mmap) and loads without warnings.
func TestSaveLoadFamilies(t *testing.T) {
	cfgs := map[string]string{}
	for name, js := range fixtures.TinyConfigs {
		cfgs[name] = js
	}
	cfgs["gemma2_untied"] = strings.Replace(fixtures.TinyConfigs["gemma2"], `"sliding_window":4`, `"sliding_window":4,"tie_word_embeddings":false`, 1)
	cfgs["bloom_untied"] = strings.Replace(fixtures.TinyConfigs["bloom"], `"n_layer":2`, `"n_layer":2,"tie_word_embeddings":false`, 1)
	cfgs["qwen3_bias"] = strings.Replace(fixtures.TinyConfigs["qwen3"], `"tie_word_embeddings":true`, `"tie_word_embeddings":false,"attention_bias":true`, 1)
	cfgs["vit_nobias"] = strings.Replace(tinyViT, `"num_channels":3`, `"num_channels":3,"qkv_bias":false`, 1)
	for name, js := range cfgs {
		cfg, err := ParseConfig([]byte(js), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, err := NewRandom(cfg, 11)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dir := filepath.Join(t.TempDir(), name)
		if err := m.Save(dir, []byte(js), "F32"); err != nil {
			t.Fatalf("%s: save: %v", name, err)
		}
		m2, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: load: %v", name, err)
		}
		if len(m2.Warnings) > 0 {
			t.Errorf("%s: warnings %q", name, m2.Warnings)
		}
		if cfg.ImageModel() {
			px := tensor.New(1, cfg.Channels, cfg.ImageSize, cfg.ImageSize)
			for i := range px.Data {
				px.Data[i] = float32(i%7) / 7
			}
			a, err1 := m.ForwardImages(px)
			b, err2 := m2.ForwardImages(px)
			if err1 != nil || err2 != nil || maxDiff(a.Logits.Data, b.Logits.Data) > 1e-5 {
				t.Errorf("%s: reloaded logits differ (%v %v)", name, err1, err2)
			}
		} else if d := maxDiff(forwardOne(t, m, prompts[0]).Logits.Data, forwardOne(t, m2, prompts[0]).Logits.Data); d > 1e-5 {
			t.Errorf("%s: reloaded logits differ by %g", name, d)
		}
		m2.Close()
	}
}
