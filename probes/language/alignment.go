package language

import (
	"fmt"
	"math"
)

// AlignmentOptions configures Alignment and SweepLambda. Zero fields take the published
// masks' values: TopRate 0.01 (the alignment script's own CLI default is 0.10; the shipped
// masks and the paper use 0.01), BarRatio 0.95.
type AlignmentOptions struct {
	TopRate  float64 // fraction of all neurons selected (lowest score, across all layers)
	BarRatio float64 // percentile a group's probability must exceed for assignment
	Lambda   float64 // weight of the maximum-probability term; ≥ 0 (ignored by SweepLambda)
}

func (o AlignmentOptions) withDefaults() AlignmentOptions {
	if o.TopRate == 0 {
		o.TopRate = 0.01
	}
	if o.BarRatio == 0 {
		o.BarRatio = 0.95
	}
	return o
}

// NormMax is the alignment score's normaliser for k groups, (1/k)·Σ_{j=1..k} 1/j, summed in
// float64 in the order j = 1..k as the published Python does (0.2928968253968254 for k = 10).
func NormMax(k int) float64 {
	var s float64
	for j := 1; j <= k; j++ {
		s += 1 / float64(j)
	}
	return s / float64(k)
}

// AlignmentTerms fills entropy and maxProb ([layers·width] each, flat index layer·Width +
// index) with the two terms of each neuron's alignment score, in float64 from the float32
// probabilities (identify.py and analysis.py of NJUNLP/Language-Neurons-Alignment):
//
//	p̂_g = p_g / Σ_g p_g, or 1/K for every g when Σ_g p_g ≤ 0 (an all-zero neuron)
//	q_g = max(p̂_g, 1e-12) / Σ_g max(p̂_g, 1e-12)
//	entropy = −Σ_g q_g ln(q_g + 1e-30) / ln K
//	maxProb = max_g p_g
//
// It panics if the lengths are not Layers·Width.
func AlignmentTerms(entropy, maxProb []float64, p *Probabilities) {
	N := p.Neurons()
	if len(entropy) != N || len(maxProb) != N {
		panic(fmt.Sprintf("language: AlignmentTerms got %d and %d entries for %d neurons", len(entropy), len(maxProb), N))
	}
	G := len(p.Groups)
	lnK := math.Log(float64(G))
	q := make([]float64, G)
	for f := 0; f < N; f++ {
		var sum, mx float64
		for g := 0; g < G; g++ {
			v := float64(p.P[g*N+f])
			sum += v
			mx = max(mx, v)
		}
		var qs float64
		for g := range q {
			ph := 1 / float64(G)
			if sum > 0 {
				ph = float64(p.P[g*N+f]) / sum
			}
			q[g] = max(ph, 1e-12)
			qs += q[g]
		}
		var h float64
		for _, v := range q {
			v /= qs
			h -= float64(v * math.Log(v+1e-30)) // the conversion forbids a fused multiply-add
		}
		entropy[f] = h / lnK
		maxProb[f] = mx
	}
}

// alignmentScores fills dst with entropy − maxProb·λ/normMax, evaluated in float64 in the
// published order and then rounded to float32, because the published code stores the scores
// in a float32 tensor before torch.topk (so ties are float32 ties).
func alignmentScores(dst, entropy, maxProb []float64, lambda, normMax float64) {
	for f := range dst {
		dst[f] = float64(float32(entropy[f] - maxProb[f]*lambda/normMax))
	}
}

// alignment is the selection at one λ, reusing the precomputed terms and thresholds.
type alignment struct {
	p                *Probabilities
	set              Settings
	entropy, maxProb []float64
	score            []float64
}

func newAlignment(p *Probabilities, opt AlignmentOptions) (*alignment, error) {
	opt = opt.withDefaults()
	if err := checkInput(p, opt.TopRate); err != nil {
		return nil, err
	}
	a := &alignment{p: p, set: Settings{Method: "alignment", TopRate: opt.TopRate, K: rank(opt.TopRate, p.Neurons()),
		BarRatio: opt.BarRatio, NormMax: NormMax(len(p.Groups))}}
	var err error
	if a.set.BarRank, a.set.BarThreshold, err = threshold(p, opt.BarRatio, "bar ratio"); err != nil {
		return nil, err
	}
	N := p.Neurons()
	a.entropy, a.maxProb, a.score = make([]float64, N), make([]float64, N), make([]float64, N)
	AlignmentTerms(a.entropy, a.maxProb, p)
	return a, nil
}

func (a *alignment) at(lambda float64) *Selection {
	alignmentScores(a.score, a.entropy, a.maxProb, lambda, a.set.NormMax)
	set := a.set
	set.Lambda = lambda
	return assign(a.p, set, torchSmallest(a.score, set.K), a.score)
}

// Alignment selects language neurons with the alignment paper's score (Zhang et al., AAAI
// 2026; NJUNLP/Language-Neurons-Alignment identify.py), reproducing the published selection:
//
//  1. score = entropy − λ·maxProb / NormMax(K) per neuron (AlignmentTerms), rounded to float32.
//  2. The round(TopRate·layers·width) lowest scores over all layers, with
//     torch.topk(largest=False)'s tie-breaking. There is no filter: selected neurons with no
//     group above the bar are dropped (Multiplicity[0]).
//  3. Each selected neuron is assigned to every group with probability > τ_bar, the
//     round(BarRatio·N)-th smallest of all N = groups·layers·width probabilities.
func Alignment(p *Probabilities, opt AlignmentOptions) (*Selection, error) {
	if !(opt.Lambda >= 0) || math.IsInf(opt.Lambda, 1) {
		return nil, fmt.Errorf("lambda %g must be a finite number ≥ 0", opt.Lambda)
	}
	a, err := newAlignment(p, opt)
	if err != nil {
		return nil, err
	}
	return a.at(opt.Lambda), nil
}

// SweepOptions configures SweepLambda. Zero fields take autosweep.py's defaults: Lo 0, Hi 0.2,
// Eps 1e-3.
type SweepOptions struct {
	Lo, Hi, Eps float64
	// PublishedAppear10 reproduces autosweep.py's success test literally: appear[10] == 0 when
	// the appear list has more than 10 entries (K ≥ 10 groups), else failure. It equals the
	// general test appear[K] == 0 only for K = 10; with fewer than 10 groups no λ passes.
	PublishedAppear10 bool
}

// SweepStep is one evaluation of the λ sweep.
type SweepStep struct {
	Lambda       float64 `json:"lambda"`
	Multiplicity []int   `json:"multiplicity"`
	Pass         bool    `json:"pass"`
}

// Sweep is the outcome of SweepLambda: Found reports whether any evaluated λ passed, Lambda is
// the published result (the last passing λ, see SweepLambda), Selection the selection at that
// λ (nil when none passed), and Steps every evaluation in order.
type Sweep struct {
	Found     bool
	Lambda    float64
	Selection *Selection
	Steps     []SweepStep
}

// SweepLambda searches λ for the alignment score as autosweep.py does, for the largest λ at
// which no selected neuron is assigned to all K groups (Multiplicity[K] = 0; see
// PublishedAppear10 for the published test):
//
//	evaluate lo, then hi; best = lo if lo passes; best = hi if hi passes
//	while hi − lo > eps (at most 64 times): mid = (lo + hi)/2;
//	    if mid passes { best = mid; lo = mid } else { hi = mid }
//
// Every passing midpoint overwrites best, even one below a passing hi, so with the defaults
// λ lands on the grid 0.2·j/256 (8 halvings). The arithmetic is float64 as in Python, so the
// λ values are bit-identical to the published ones. opt.Lambda is ignored.
func SweepLambda(p *Probabilities, opt AlignmentOptions, sw SweepOptions) (*Sweep, error) {
	if sw.Hi == 0 && sw.Lo == 0 {
		sw.Hi = 0.2
	}
	if sw.Eps == 0 {
		sw.Eps = 1e-3
	}
	if !(sw.Lo >= 0 && sw.Hi > sw.Lo && sw.Eps > 0) || math.IsInf(sw.Hi, 1) {
		return nil, fmt.Errorf("lambda sweep needs 0 ≤ lo < hi and eps > 0, have lo=%g hi=%g eps=%g", sw.Lo, sw.Hi, sw.Eps)
	}
	a, err := newAlignment(p, opt)
	if err != nil {
		return nil, err
	}
	K := len(p.Groups)
	pass := func(m []int) bool {
		if sw.PublishedAppear10 {
			return len(m) > 10 && m[10] == 0
		}
		return m[K] == 0
	}
	out := &Sweep{}
	eval := func(lambda float64) bool {
		s := a.at(lambda)
		ok := pass(s.Multiplicity)
		out.Steps = append(out.Steps, SweepStep{Lambda: lambda, Multiplicity: s.Multiplicity, Pass: ok})
		if ok {
			out.Found, out.Lambda, out.Selection = true, lambda, s
		}
		return ok
	}
	lo, hi := sw.Lo, sw.Hi
	eval(lo)
	eval(hi)
	for it := 0; hi-lo > sw.Eps && it < 64; it++ {
		mid := (lo + hi) / 2
		if eval(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return out, nil
}
