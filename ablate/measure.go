package ablate

import (
	"fmt"
	"math"
)

// Measure is what an experiment reads on a group of items, and how an intervention's effect
// on it is expressed.
type Measure int

const (
	// Accuracy is greedy accuracy on fact questions; the effect is the relative drop
	// (acc_before − acc_after) / acc_before (0 when acc_before is 0).
	Accuracy Measure = iota
	// AnswerProb is the answer's probability; the effect is the ratio of means
	// mean(P_after − P_before) / mean(P_before) (Dai et al.'s ave_delta_ratio; 0 when
	// mean(P_before) underflows to 0).
	AnswerProb
	// AnswerLogProb is the answer's log-probability; the effect is mean(logP_after − logP_before).
	AnswerLogProb
	// Perplexity is per-token perplexity on texts, exp(Σ NLL / Σ tokens) over the group's
	// texts; the effect is the ratio after / before.
	Perplexity
)

// String is accuracy, answer_prob, answer_logprob or perplexity.
func (m Measure) String() string {
	switch m {
	case Accuracy:
		return "accuracy"
	case AnswerProb:
		return "answer_prob"
	case AnswerLogProb:
		return "answer_logprob"
	case Perplexity:
		return "perplexity"
	}
	return fmt.Sprintf("Measure(%d)", int(m))
}

// ParseMeasure reads a Measure's String.
func ParseMeasure(s string) (Measure, error) {
	for m := Accuracy; m <= Perplexity; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("measure %q: want accuracy, answer_prob, answer_logprob or perplexity", s)
}

// onTexts reports whether the measure reads texts (else questions).
func (m Measure) onTexts() bool { return m == Perplexity }

// Effect describes the measure's effect for reports.
func (m Measure) Effect() string {
	switch m {
	case Accuracy:
		return "relative accuracy drop (acc_before − acc_after)/acc_before"
	case AnswerProb:
		return "answer probability change, ratio of means mean(P_after − P_before)/mean(P_before)"
	case AnswerLogProb:
		return "mean answer log-probability change"
	case Perplexity:
		return "perplexity ratio after/before"
	}
	return ""
}

// level is the measure's value on items idx.
func (m Measure) level(s *Scores, idx []int) float64 {
	switch m {
	case Accuracy:
		n := 0
		for _, i := range idx {
			if s.Correct[i] {
				n++
			}
		}
		return float64(n) / float64(len(idx))
	case AnswerProb:
		var t float64
		for _, i := range idx {
			t += math.Exp(s.LogProb[i])
		}
		return t / float64(len(idx))
	case AnswerLogProb:
		var t float64
		for _, i := range idx {
			t += s.LogProb[i]
		}
		return t / float64(len(idx))
	case Perplexity:
		var nll float64
		var tok int
		for _, i := range idx {
			nll += s.NLL[i]
			tok += s.Tokens[i]
		}
		return math.Exp(nll / float64(tok))
	}
	panic("ablate: unknown measure")
}

// effect is the intervention's effect on items idx, from the levels before and after.
func (m Measure) effect(before, after float64) float64 {
	switch m {
	case Accuracy:
		if before == 0 {
			return 0
		}
		return (before - after) / before
	case AnswerProb:
		if before == 0 {
			return 0
		}
		return (after - before) / before
	case AnswerLogProb:
		return after - before
	case Perplexity:
		return after / before
	}
	panic("ablate: unknown measure")
}

// oriented turns an effect into the number a claim predicts to be positive: an intervention
// that hurts the group (ablation) lowers accuracy and answer probability and raises
// perplexity; one that helps (enhancement, steering toward the group) does the opposite.
// Perplexity ratios are measured from 1.
func (m Measure) oriented(effect float64, helps bool) float64 {
	var hurt float64
	switch m {
	case Accuracy:
		hurt = effect
	case AnswerProb, AnswerLogProb:
		hurt = -effect
	case Perplexity:
		hurt = effect - 1
	}
	if helps {
		return -hurt
	}
	return hurt
}
