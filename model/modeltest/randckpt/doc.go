// Package randckpt writes small random Hugging Face checkpoints (config.json plus
// safetensors weights with the exact HF tensor names and layouts) for tests.
//
// Weights are deterministic for a given Spec: values come from math/rand/v2 (PCG seeded
// with Spec.Seed) drawn in a fixed order, so the same Spec always produces the same bytes.
//
//   - matrices and embeddings: N(0, s), s = 1/sqrt(fan_in) clipped to [0.1, 0.3]
//   - norm weights: 1 + N(0, 0.1) (Gemma, whose RMSNorm multiplies by 1+w: N(0, 0.1))
//   - biases (including LayerNorm biases): N(0, 0.05)
package randckpt
