package corpus

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Sampling configures random decoding, in Hugging Face's order: the logits are divided by
// Temperature, then only the TopK highest remain (ties with the K-th all remain, as HF's
// TopKLogitsWarper keeps them), then only the smallest set of most probable tokens whose
// probability reaches TopP (the token that crosses TopP included, at least one token: HF's
// TopPLogitsWarper), and a token is drawn from the softmax of what remains.
type Sampling struct {
	// Temperature divides the logits (> 0; 0 means 1).
	Temperature float64 `json:"temperature"`
	// TopK keeps the K most probable tokens (0: every token).
	TopK int `json:"top_k,omitempty"`
	// TopP keeps the most probable tokens up to cumulative probability P, in (0, 1] (0 or 1:
	// every token).
	TopP float64 `json:"top_p,omitempty"`
	// Seed seeds every stream (see NewSampler).
	Seed uint64 `json:"seed"`
}

// Check reports settings out of range.
func (s Sampling) Check() error {
	switch {
	case s.Temperature < 0 || math.IsNaN(s.Temperature) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("temperature %g: want > 0", s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("top-k %d: want ≥ 0 (0: every token)", s.TopK)
	case s.TopP < 0 || s.TopP > 1 || math.IsNaN(s.TopP):
		return fmt.Errorf("top-p %g: want a probability in (0, 1]", s.TopP)
	}
	return nil
}

// String describes the setting for reports, e.g. "temperature 0.8, top-k 40, top-p 0.9, seed 1".
func (s Sampling) String() string {
	parts := []string{fmt.Sprintf("temperature %g", s.temperature())}
	if s.TopK > 0 {
		parts = append(parts, fmt.Sprintf("top-k %d", s.TopK))
	}
	if s.TopP > 0 && s.TopP < 1 {
		parts = append(parts, fmt.Sprintf("top-p %g", s.TopP))
	}
	return strings.Join(append(parts, fmt.Sprintf("seed %d", s.Seed)), ", ")
}

func (s Sampling) temperature() float64 {
	if s.Temperature == 0 {
		return 1
	}
	return s.Temperature
}

// Sampler draws tokens from logits under a Sampling. It is deterministic: the same setting,
// stream and logits give the same tokens. It is not safe for concurrent use.
type Sampler struct {
	s     Sampling
	rng   *rand.Rand
	order []int
	z, p  []float64
}

// NewSampler returns the sampler of one stream (e.g. one prompt, or one steering run) of the
// setting: a PCG generator seeded with (s.Seed, stream).
func NewSampler(s Sampling, stream uint64) *Sampler {
	return &Sampler{s: s, rng: rand.New(rand.NewPCG(s.Seed, stream))}
}

// Next draws one token id from logits [d_vocab]. Non-finite logits count as −∞, unless every
// logit is (then it returns the argmax, 0 for all-NaN).
func (sm *Sampler) Next(logits []float32) int {
	keep := sm.Keep(logits)
	if len(keep) == 1 {
		return keep[0]
	}
	u := sm.rng.Float64()
	var acc float64
	for k, id := range keep {
		acc += sm.p[k]
		if u < acc {
			return id
		}
	}
	return keep[len(keep)-1] // u within rounding of 1
}

// Keep returns the tokens that may be drawn from logits, most probable first (ties: lower id
// first), after temperature, top-k and top-p; their probabilities, renormalised to sum to 1,
// are in the same order in Probs. It draws nothing.
func (sm *Sampler) Keep(logits []float32) []int {
	t := sm.s.temperature()
	n := len(logits)
	if cap(sm.order) < n {
		sm.order, sm.z, sm.p = make([]int, n), make([]float64, n), make([]float64, n)
	}
	order, z := sm.order[:0], sm.z[:n]
	for i, v := range logits {
		z[i] = float64(v) / t
		if !math.IsNaN(z[i]) && !math.IsInf(z[i], 0) {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		sm.p = append(sm.p[:0], 1)
		return []int{Argmax(logits)}
	}
	sort.Slice(order, func(a, b int) bool {
		if z[order[a]] != z[order[b]] {
			return z[order[a]] > z[order[b]]
		}
		return order[a] < order[b]
	})
	if k := sm.s.TopK; k > 0 && k < len(order) {
		kth := z[order[k-1]]
		for k < len(order) && z[order[k]] >= kth {
			k++
		}
		order = order[:k]
	}
	p := sm.p[:len(order)]
	zmax := z[order[0]]
	var sum float64
	for k, id := range order {
		p[k] = math.Exp(z[id] - zmax)
		sum += p[k]
	}
	for k := range p {
		p[k] /= sum
	}
	if tp := sm.s.TopP; tp > 0 && tp < 1 {
		var before float64
		k := 0
		for k < len(order) && before < tp {
			before += p[k]
			k++
		}
		order, p = order[:k], p[:k]
		for i := range p {
			p[i] /= before
		}
	}
	sm.p = p
	return order
}

// Probs are the probabilities of the tokens the last Keep (or Next) returned, in its order.
func (sm *Sampler) Probs() []float64 { return sm.p }
