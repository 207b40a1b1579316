package train

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/neuronscope/neuronscope/model"
)

// Init gives every weight of m a fresh GPT-2-style initial value drawn from seed (see the
// package doc). Weights are copied to memory owned by the model first, so a model loaded by
// mmap can be re-initialised without touching its files.
func Init(m *model.Model, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x747261696e))
	layers := m.Config.NLayers
	resid := 0.02 / math.Sqrt(2*float64(layers))
	for _, p := range m.Params() { // sorted by name: the draw order is fixed
		data := make([]float32, len(p.Data))
		switch {
		case len(p.Shape) == 1 && isNormScale(p.Name):
			if m.Config.ModelType != "gemma" {
				for i := range data {
					data[i] = 1
				}
			}
		case len(p.Shape) == 1: // biases
		default:
			std := 0.02
			if writesResidual(p.Name) {
				std = resid
			}
			for i := range data {
				data[i] = float32(std * rng.NormFloat64())
			}
		}
		p.Data = data
	}
}

// isNormScale reports whether a 1-D tensor is a norm's scale (not its bias, not a linear bias).
func isNormScale(name string) bool {
	if !strings.HasSuffix(name, ".weight") {
		return false
	}
	return strings.Contains(name, "norm") || strings.Contains(name, "ln_") || strings.Contains(name, "layernorm")
}

// writesResidual reports whether a matrix writes into the residual stream: attention output
// and MLP down projections, by their HF names across the supported architectures.
func writesResidual(name string) bool {
	for _, s := range []string{"o_proj.weight", "down_proj.weight", "c_proj.weight", "attention.dense.weight", "dense_4h_to_h.weight"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
