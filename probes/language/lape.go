package language

import (
	"fmt"
	"math"
)

// LAPEOptions configures LAPE. Zero fields take the published defaults (identify.py and the
// shipped files' names): TopRate 0.01, FilterRate 0.95, BarRatio 0.95.
type LAPEOptions struct {
	TopRate    float64 // fraction of all neurons selected (lowest entropy, across all layers)
	FilterRate float64 // percentile below which a neuron's largest probability gets entropy +Inf
	BarRatio   float64 // percentile a group's probability must exceed for assignment
}

func (o LAPEOptions) withDefaults() LAPEOptions {
	if o.TopRate == 0 {
		o.TopRate = 0.01
	}
	if o.FilterRate == 0 {
		o.FilterRate = 0.95
	}
	if o.BarRatio == 0 {
		o.BarRatio = 0.95
	}
	return o
}

// LAPEEntropy fills dst ([layers·width], flat index layer·Width + index) with each neuron's
// language-activation-probability entropy, in float64 from the float32 probabilities:
//
//	p̂_g = p_g / Σ_g p_g   (0 when Σ_g p_g = 0: the published NaN → 0)
//	H   = −Σ_{g: p̂_g > 0} p̂_g ln p̂_g
//
// An all-zero neuron therefore has H = 0 (the filter then sets it to +Inf). It panics if
// len(dst) ≠ Layers·Width.
func LAPEEntropy(dst []float64, p *Probabilities) {
	N := p.Neurons()
	if len(dst) != N {
		panic(fmt.Sprintf("language: LAPEEntropy dst has %d entries for %d neurons", len(dst), N))
	}
	G := len(p.Groups)
	for f := range dst {
		var sum float64
		for g := 0; g < G; g++ {
			sum += float64(p.P[g*N+f])
		}
		var h float64
		if sum > 0 {
			for g := 0; g < G; g++ {
				if q := float64(p.P[g*N+f]) / sum; q > 0 {
					h -= float64(q * math.Log(q)) // the conversion forbids a fused multiply-add
				}
			}
		}
		dst[f] = h
	}
}

// LAPE selects language-specific neurons by language activation probability entropy (Tang et
// al., ACL 2024; RUCAIBox/Language-Specific-Neurons identify.py), reproducing the published
// selection:
//
//  1. H per neuron as in LAPEEntropy.
//  2. τ_filter = the round(FilterRate·N)-th smallest of all N = groups·layers·width
//     probabilities (torch.kthvalue); a neuron with no group probability > τ_filter gets H = +Inf.
//  3. The K = round(TopRate·layers·width) lowest-H neurons over all layers, with
//     torch.topk(largest=False)'s tie-breaking (see torchSmallest).
//  4. Each selected neuron is assigned to every group with probability > τ_bar, the
//     round(BarRatio·N)-th smallest probability.
func LAPE(p *Probabilities, opt LAPEOptions) (*Selection, error) {
	opt = opt.withDefaults()
	if err := checkInput(p, opt.TopRate); err != nil {
		return nil, err
	}
	set := Settings{Method: "lape", TopRate: opt.TopRate, K: rank(opt.TopRate, p.Neurons()),
		FilterRate: opt.FilterRate, BarRatio: opt.BarRatio}
	var err error
	if set.FilterRank, set.FilterThreshold, err = threshold(p, opt.FilterRate, "filter rate"); err != nil {
		return nil, err
	}
	if set.BarRank, set.BarThreshold, err = threshold(p, opt.BarRatio, "bar ratio"); err != nil {
		return nil, err
	}
	N := p.Neurons()
	h := make([]float64, N)
	LAPEEntropy(h, p)
	for f := range h {
		pass := false
		for g := range p.Groups {
			if p.P[g*N+f] > set.FilterThreshold {
				pass = true
				break
			}
		}
		if !pass {
			h[f] = math.Inf(1)
			set.Filtered++
		}
	}
	return assign(p, set, torchSmallest(h, set.K), h), nil
}
