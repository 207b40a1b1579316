package labels

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
)

// NeuronLabel is how a label reads on one of its neurons: the profile dashboard's per-neuron
// label (probes/profile.Label).
type NeuronLabel struct {
	Text       string  `json:"text"`
	Source     string  `json:"source,omitempty"`
	Score      float64 `json:"score,omitempty"`
	Kind       string  `json:"kind,omitempty"`
	Set        string  `json:"set,omitempty"`
	Rank       int     `json:"rank,omitempty"`
	Percentile float64 `json:"percentile,omitempty"`
}

// NeuronVerdict is one verification of a label, as shown on each of its neurons
// (probes/profile.Verdict).
type NeuronVerdict struct {
	Check   string   `json:"check"`
	Verdict string   `json:"verdict"`
	Detail  string   `json:"detail,omitempty"`
	P       *float64 `json:"p,omitempty"`
}

// ForNeuron returns the labels that include neuron n and their verifications, in file order.
func (f *File) ForNeuron(n hooks.Neuron) ([]NeuronLabel, []NeuronVerdict) {
	var ls []NeuronLabel
	var vs []NeuronVerdict
	for _, l := range f.Labels {
		for _, u := range l.Units {
			un, err := u.Neuron()
			if err != nil || un != n {
				continue
			}
			nl := NeuronLabel{Text: l.Claim.Kind + ": " + l.Claim.Value, Source: l.Evidence.Finder, Kind: l.Claim.Kind,
				Set: l.Set, Rank: u.Rank, Percentile: u.Percentile}
			if u.Score != nil {
				nl.Score = *u.Score
			}
			ls = append(ls, nl)
			for _, v := range l.Verifications {
				p := v.P
				vs = append(vs, NeuronVerdict{Check: v.Experiment + " (" + l.Set + ")", Verdict: v.Verdict, Detail: v.Summary(), P: &p})
			}
			break
		}
	}
	return ls, vs
}

// Summary is a one-line account of the verification's numbers.
func (v Verification) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %+.4g", v.Intervention, v.Statistic, v.Effect)
	fmt.Fprintf(&b, " vs random %+.4g ± %.2g (%d sets)", v.Random.Mean, v.Random.Std, v.Random.N)
	if v.EffectSize != nil {
		fmt.Fprintf(&b, ", z %.1f", *v.EffectSize)
	}
	fmt.Fprintf(&b, ", p %.3g, 95%% CI [%.4g, %.4g]", v.P, v.CI95[0], v.CI95[1])
	return b.String()
}

// Table renders the matrix for a terminal: one row per set, one column per group, each cell
// the effect (relative accuracy drop in %, or perplexity ratio), the set's own group marked
// with *, cells beyond every random set marked with !, improvements listed below.
func (m *Matrix) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s; %s; random: %d sets per row\n", m.Name, m.Intervention, m.Effect, m.RandomSets)
	w := 8
	for _, g := range m.Groups {
		w = max(w, min(len(g), 12)+1)
	}
	rowW := 10
	for _, s := range m.Sets {
		rowW = max(rowW, len(s)+1)
	}
	fmt.Fprintf(&b, "%-*s", rowW, "set \\ "+m.Key)
	for _, g := range m.Groups {
		fmt.Fprintf(&b, " %*s", w, short(g, w))
	}
	fmt.Fprintf(&b, "\n%-*s", rowW, "baseline")
	for _, v := range m.Baseline {
		fmt.Fprintf(&b, " %*s", w, m.value(v))
	}
	b.WriteByte('\n')
	for i, s := range m.Sets {
		fmt.Fprintf(&b, "%-*s", rowW, s)
		for j, c := range m.Cells[i] {
			mark := " "
			if m.Groups[j] == s {
				mark = "*"
			}
			if c.Random.N > 0 && c.Effect > c.Random.Max {
				mark += "!"
			} else {
				mark += " "
			}
			fmt.Fprintf(&b, " %*s", w, m.effect(c.Effect)+mark)
		}
		b.WriteByte('\n')
	}
	if len(m.Interference) > 0 {
		fmt.Fprintf(&b, "interference (a set improving another group):")
		for _, it := range m.Interference {
			beyond := ""
			if it.BeyondRandom {
				beyond = ", beyond every random set"
			}
			fmt.Fprintf(&b, "\n  %s on %s: %s → %s%s", it.Set, it.Group, m.value(it.Before), m.value(it.After), beyond)
		}
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(&b, "interference: none (no set improved another group)\n")
	}
	return b.String()
}

func (m *Matrix) value(v float64) string {
	switch m.Measure {
	case "perplexity", "answer_logprob":
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func (m *Matrix) effect(e float64) string {
	if m.Measure == "perplexity" {
		return fmt.Sprintf("×%.3f", e)
	}
	return Signed(m.Measure, e)
}

// Signed formats a signed effect or statistic of a measure: log-probability changes in nats
// ("+0.123"), everything else as a percentage ("+12.3%").
func Signed(measure string, x float64) string {
	if measure == "answer_logprob" {
		return fmt.Sprintf("%+.3f", x)
	}
	return fmt.Sprintf("%+.1f%%", 100*x)
}

func short(s string, w int) string {
	if len(s) <= w {
		return s
	}
	return s[:w-1] + "…"
}

// Table renders the sweep for a terminal: per k the effect on the claimed group and on the
// others, the random sets' target effect and the p-value.
func (s *Sweep) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cumulativity of %s on %s=%s — %s; %s\n", s.Set, s.Key, s.Target, s.Intervention, s.Effect)
	fmt.Fprintf(&b, "%8s %10s %10s %22s %7s\n", "k", "target", "others", "random target", "p")
	for _, p := range s.Points {
		fmt.Fprintf(&b, "%8d %+9.1f%% %+9.1f%% %+12.1f ± %5.1f%% %7.3f\n", p.K, 100*p.Target, 100*p.Others,
			100*p.Random.Mean, 100*p.Random.Std, p.P)
	}
	return b.String()
}

// Table renders the labels: set, claim, verdict and the first verification's numbers.
func (f *File) Table() string {
	var b strings.Builder
	w := 10
	for _, l := range f.Labels {
		w = max(w, len(l.Set)+1)
	}
	fmt.Fprintf(&b, "%-*s %-14s %7s %9s %9s %20s %8s %7s  %s\n", w, "set", "verdict", "units", "target", "effect",
		"random", "z", "p", "95% CI of effect")
	for _, l := range f.Labels {
		if len(l.Verifications) == 0 {
			fmt.Fprintf(&b, "%-*s %-14s %7d\n", w, l.Set, "-", len(l.Units))
			continue
		}
		v := l.Verifications[0]
		z := "n/a"
		if v.EffectSize != nil {
			z = fmt.Sprintf("%.1f", *v.EffectSize)
		}
		sg := func(x float64) string { return Signed(v.Measure, x) }
		fmt.Fprintf(&b, "%-*s %-14s %7d %9s %9s %11s ± %-6s %8s %7.3f  [%s, %s]\n", w, l.Set, v.Verdict,
			len(l.Units), sg(v.Target), sg(v.Effect), sg(v.Random.Mean), strings.TrimPrefix(sg(v.Random.Std), "+"), z, v.P, sg(v.CI95[0]), sg(v.CI95[1]))
	}
	return b.String()
}
