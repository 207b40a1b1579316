package ablate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/neuronscope/neuronscope/probes/labels"
)

// Defaults of the verification experiments.
const (
	DefaultRandom    = 10   // random neuron sets per claimed set
	DefaultResamples = 2000 // bootstrap resamples
	DefaultMinEffect = 0.05 // smallest target effect that counts as an effect
	DefaultAlpha     = 0.1  // level of the empirical p-value
)

// EmpiricalP is the one-sided empirical p-value of a claimed statistic against the same
// statistic of random sets, with the +1 correction that counts the claimed set as one of
// the draws: (#{random ≥ claimed} + 1) / (n + 1). With n random sets it is at least 1/(n+1).
func EmpiricalP(claimed float64, random []float64) float64 {
	n := 0
	for _, r := range random {
		if r >= claimed {
			n++
		}
	}
	return float64(n+1) / float64(len(random)+1)
}

// EffectSize is (claimed − mean) / std of the random statistics (sample std, n−1); ok is
// false when there are fewer than 2 or their std is 0.
func EffectSize(claimed float64, random []float64) (z float64, ok bool) {
	s := labels.StatOf(random)
	if s.N < 2 || s.Std == 0 {
		return 0, false
	}
	return (claimed - s.Mean) / s.Std, true
}

// Bootstrap resamples items with replacement within each stratum (so every stratum keeps its
// size), resamples times, and returns stat of each resample, in order. The draws come from
// PCG(seed, "boot"): per resample, per stratum in order, one index per item. stat receives,
// per stratum, the drawn item indices (into that stratum's list); it may keep nothing.
func Bootstrap(strata [][]int, resamples int, seed uint64, stat func(sample [][]int) float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x626f6f74))
	sample := make([][]int, len(strata))
	for s, items := range strata {
		sample[s] = make([]int, len(items))
	}
	out := make([]float64, resamples)
	for b := range out {
		for s, items := range strata {
			for k := range sample[s] {
				sample[s][k] = items[rng.IntN(len(items))]
			}
		}
		out[b] = stat(sample)
	}
	return out
}

// Quantile is the q-quantile of xs by linear interpolation between order statistics (the
// default of numpy and R, type 7: position q·(n−1)). xs is not changed.
func Quantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return math.NaN()
	}
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// CI95 is the percentile bootstrap 95% interval: the 2.5% and 97.5% quantiles.
func CI95(boot []float64) [2]float64 {
	return [2]float64{Quantile(boot, 0.025), Quantile(boot, 0.975)}
}

// VerdictOptions are the thresholds of the verdict rule (see the package documentation).
type VerdictOptions struct {
	// MinEffect is the smallest effect on the claimed group that counts (0: DefaultMinEffect).
	MinEffect float64
	// Margin is the effect size, in standard deviations of the random sets, that the claimed
	// statistic must reach (0: DefaultMargin).
	Margin float64
	// Alpha is the level the empirical p-value must reach (0: DefaultAlpha).
	Alpha float64
}

func (o *VerdictOptions) defaults() {
	if o.MinEffect == 0 {
		o.MinEffect = DefaultMinEffect
	}
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
}

// Test holds what a verdict is decided on. Target is the effect on the claimed group and
// Effect the tested statistic (for a matrix, Target minus the mean effect on the other
// groups), both oriented so that the claim predicts positive values; Random is the statistic
// of each random set, CI the bootstrap 95% interval of Effect over items and Boot, when
// given, the bootstrap resamples it came from (for the bootstrap p-value BootstrapP).
type Test struct {
	Target float64
	Effect float64
	Random []float64
	CI     [2]float64
	Boot   []float64
}

// BootstrapP is the one-sided percentile-bootstrap p-value of a statistic exceeding ref:
// (#{resamples ≤ ref} + 1)/(resamples + 1).
func BootstrapP(boot []float64, ref float64) float64 {
	n := 0
	for _, b := range boot {
		if b <= ref {
			n++
		}
	}
	return float64(n+1) / float64(len(boot)+1)
}

// Decide applies the verdict rule and fills a verification's statistics: P, the effect size,
// the random summary, the CI, the verdict and the rule with its thresholds.
func (t Test) Decide(opt VerdictOptions, v *labels.Verification) {
	opt.defaults()
	v.Target, v.Effect, v.CI95 = t.Target, t.Effect, t.CI
	v.Random = labels.StatOf(t.Random)
	v.P = EmpiricalP(t.Effect, t.Random)
	v.PBootstrap = nil
	if len(t.Boot) > 0 {
		pb := BootstrapP(t.Boot, v.Random.Mean)
		v.PBootstrap = &pb
	}
	z, ok := EffectSize(t.Effect, t.Random)
	v.EffectSize = nil
	if ok {
		v.EffectSize = &z
	}
	n := len(t.Random)
	// beyond: the statistic clears the random sets by the margin (with a random std of 0,
	// by exceeding all of them)
	beyond := t.Effect > 0 && (ok && z >= opt.Margin || !ok && n > 0 && t.Effect > v.Random.Max)
	pOK := v.P <= opt.Alpha
	ciOK := t.CI[0] > v.Random.Mean
	reachable := 1/float64(n+1) <= opt.Alpha
	switch {
	case t.Target < opt.MinEffect:
		v.Verdict = labels.NoEffect
	case beyond && pOK && ciOK:
		v.Verdict = labels.Confirmed
	case beyond && (!reachable || !ciOK):
		v.Verdict = labels.Inconclusive
	default:
		v.Verdict = labels.NotSelective
	}
	v.Rule = fmt.Sprintf("no_effect if target effect < %g; confirmed if effect > 0, effect size ≥ %g random std "+
		"(or above every random set when their std is 0), empirical p ≤ %g and the 95%% CI's lower end > the random mean; "+
		"inconclusive if it clears the random sets by that margin but %d random sets cannot reach p ≤ %g or the CI's lower "+
		"end is ≤ the random mean; else not_selective", opt.MinEffect, opt.Margin, opt.Alpha, n, opt.Alpha)
	switch {
	case v.Verdict == labels.Inconclusive && !reachable:
		v.Notes = append(v.Notes, fmt.Sprintf("with %d random sets the smallest possible p is %.3g > %g: run more random sets", n, 1/float64(n+1), opt.Alpha))
	case v.Verdict == labels.Inconclusive:
		v.Notes = append(v.Notes, "the bootstrap interval over items reaches the random mean: too few items to pin the effect down")
	}
}
