package model

import (
	"path/filepath"
	"testing"

	"github.com/neuronscope/neuronscope/model/modeltest/randckpt"
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
