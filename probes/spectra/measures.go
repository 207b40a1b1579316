package spectra

import (
	"math"
	"slices"
)

// Eps is NerVE's guard: the eigenvalue floor and the constant added to every denominator and
// logarithm argument (nerve/metrics.py uses 1e-12 throughout).
const Eps = 1e-12

// Measures are NerVE's three single-spectrum measures.
type Measures struct {
	// SE is the spectral entropy −Σ λ̂ᵢ ln(λ̂ᵢ + 1e-12), λ̂ᵢ = λᵢ/(Σλ + 1e-12); range [0, ln D].
	SE float64 `json:"se"`
	// PR is the participation ratio (Σλ + 1e-12)² / (Σλ² + 1e-12); range [1, D].
	PR float64 `json:"pr"`
	// EEE is the early-eigenvalue enrichment, clamp(Σₖ (Cₖ − k/D) / (D/2 + 1e-12), 0, 1) with
	// Cₖ = Σ_{i≤k} λᵢ / (Σλ + 1e-12); range [0, 1).
	EEE float64 `json:"eee"`
}

// Spectrum turns computed eigenvalues into NerVE's spectrum: sorted in descending order and
// clamped at Eps (λ ← max(λ, 1e-12)), written to dst (allocated when nil or short). The
// measures below expect a spectrum in this form.
func Spectrum(dst, eigenvalues []float64) []float64 {
	if cap(dst) < len(eigenvalues) {
		dst = make([]float64, len(eigenvalues))
	}
	dst = dst[:len(eigenvalues)]
	copy(dst, eigenvalues)
	slices.SortFunc(dst, func(a, b float64) int { return -cmpFloat(a, b) })
	for i, v := range dst {
		dst[i] = max(v, Eps)
	}
	return dst
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Normalize writes λ̂ᵢ = λᵢ/(Σλ + 1e-12) to dst (allocated when nil or short) and returns it.
func Normalize(dst, lam []float64) []float64 {
	if cap(dst) < len(lam) {
		dst = make([]float64, len(lam))
	}
	dst = dst[:len(lam)]
	s := sum(lam) + Eps
	for i, v := range lam {
		dst[i] = v / s
	}
	return dst
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// SpectralEntropy is SE = −Σ λ̂ᵢ ln(λ̂ᵢ + 1e-12) of a spectrum (natural log; 0 for an empty one).
func SpectralEntropy(lam []float64) float64 {
	s := sum(lam) + Eps
	var h float64
	for _, v := range lam {
		p := v / s
		h -= p * math.Log(p+Eps)
	}
	return h
}

// ParticipationRatio is PR = (Σλ + 1e-12)² / (Σλ² + 1e-12) of a spectrum.
func ParticipationRatio(lam []float64) float64 {
	var s, s2 float64
	for _, v := range lam {
		s += v
		s2 += v * v
	}
	s += Eps
	return s * s / (s2 + Eps)
}

// EarlyEnrichment is EEE = clamp(Σₖ₌₁..D (Cₖ − k/D) / (D/2 + 1e-12), 0, 1), Cₖ the cumulative
// share of the first k eigenvalues, of a spectrum in descending order (0 for an empty one).
func EarlyEnrichment(lam []float64) float64 {
	d := len(lam)
	if d == 0 {
		return 0
	}
	s := sum(lam) + Eps
	var cum, area float64
	for k, v := range lam {
		cum += v
		area += cum/s - float64(k+1)/float64(d)
	}
	return min(max(area/(0.5*float64(d)+Eps), 0), 1)
}

// JensenShannon is NerVE's JS divergence between two spectra (each in descending order):
// with p, q the normalised spectra (Normalize), the shorter zero-padded to the longer, and
// m = (p+q)/2, JS = ½KL(p‖m) + ½KL(q‖m), KL(a‖b) = Σ aᵢ ln((aᵢ+1e-12)/(bᵢ+1e-12)). Range
// [0, ln 2]; this is the divergence, not its square root (the JS distance).
func JensenShannon(a, b []float64) float64 {
	p, q := Normalize(nil, a), Normalize(nil, b)
	n := max(len(p), len(q))
	var kp, kq float64
	for i := range n {
		var pi, qi float64
		if i < len(p) {
			pi = p[i]
		}
		if i < len(q) {
			qi = q[i]
		}
		m := 0.5 * (pi + qi)
		kp += pi * math.Log((pi+Eps)/(m+Eps))
		kq += qi * math.Log((qi+Eps)/(m+Eps))
	}
	return 0.5*kp + 0.5*kq
}

// Measure computes SE, PR and EEE of a spectrum (descending, clamped: see Spectrum).
func Measure(lam []float64) Measures {
	return Measures{SE: SpectralEntropy(lam), PR: ParticipationRatio(lam), EEE: EarlyEnrichment(lam)}
}

// PRGain is NerVE's pr_gain = PR_post / max(PR_pre, 1e-12).
func PRGain(pre, post Measures) float64 { return post.PR / max(pre.PR, Eps) }

// EEEDiff is NerVE's eee_diff = EEE_post − EEE_pre (negative: the nonlinearity flattens the
// spectrum).
func EEEDiff(pre, post Measures) float64 { return post.EEE - pre.EEE }
