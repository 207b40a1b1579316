package demo

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/probes/labels"
)

// statisticStages runs the activation-statistics finders' stages the options ask for: the
// language neurons and the relation-specific neurons (both need Inputs.Language).
func (r *Report) statisticStages(in Inputs, opt Options, say func(string, ...any)) error {
	if in.Language == nil {
		return nil
	}
	if !opt.SkipLanguage {
		if err := r.languageStage(in, opt, say); err != nil {
			return fmt.Errorf("language neurons: %w", err)
		}
	}
	if !opt.SkipRelationSpecific {
		if err := r.relationSpecificStage(in, opt, say); err != nil {
			return fmt.Errorf("relation-specific neurons: %w", err)
		}
	}
	return nil
}

// statisticSummary renders the language and relation-specific stages.
func (r *Report) statisticSummary(b *strings.Builder) {
	if l := r.Language; l != nil {
		var counts []string
		for i, name := range l.Languages {
			counts = append(counts, fmt.Sprintf("%s %d (%d tokens)", name, l.Sentences[i], l.Tokens[i]))
		}
		fmt.Fprintf(b, "\nlanguage neurons (find language: LAPE and the alignment score), counted at %s > 0 over the training sentences by language:\n  %s\n",
			l.Tap, strings.Join(counts, ", "))
		fmt.Fprintf(b, "  activation probabilities: 95th percentile τ = %.3f; %d neurons exceed it in some language (LAPE's filter), their lowest entropy %.3f\n",
			l.Threshold, l.FilterPassing, l.FilteredEntropy)
		fmt.Fprintf(b, "  (ln %d = %.3f is uniform; median min/max probability ratio %.2f); %d neurons fire on > 20%% of one language's tokens and ≥ 4× as often as on any other's\n",
			len(l.Languages), l.MaxEntropy, l.FilteredRatio, l.Concentrated)
		fmt.Fprintf(b, "  verification (verify --text eval_fluency.jsonl): zero a language's neurons at every position, perplexity of %d held-out filler sentences,\n", l.FluencyTexts)
		fmt.Fprintf(b, "  against %d random sets with the same per-layer counts; effect = perplexity ratio − 1 on the language minus its mean on the others\n", l.RandomSets)
		for _, s := range l.Selections {
			lambda := ""
			if s.Settings.Method == "alignment" {
				lambda = fmt.Sprintf(", λ = %.6g", s.Settings.Lambda)
			}
			fmt.Fprintf(b, "\n  %s (K = %d%s): specific %d, related %d, agnostic %d, unassigned %d; median max probability of the selected %.3f\n",
				s.Name, s.Settings.K, lambda, s.Specific, s.Related, s.Agnostic, s.Unassigned, s.SelectedMaxP)
			if s.Matrix == nil {
				fmt.Fprintf(b, "  no selected neuron is above τ in any language: nothing to verify\n")
				continue
			}
			indent(b, matrixTable(s.Matrix))
			fmt.Fprintf(b, "  %-8s %7s  %-24s %8s %8s %16s %7s  %s\n", "language", "neurons", "per layer", "own", "effect", "random", "p", "verdict")
			for _, g := range s.Groups {
				if g.Verification == nil {
					fmt.Fprintf(b, "  %-8s %7d  (no neurons)\n", g.Name, g.Neurons)
					continue
				}
				v := g.Verification
				fmt.Fprintf(b, "  %-8s %7d  %-24s %+7.1f%% %+7.1f%% %+7.1f ± %4.1f%% %7.3f  %s\n", g.Name, g.Neurons, perLayer(g.PerLayer),
					100*v.Target, 100*v.Effect, 100*v.Random.Mean, 100*v.Random.Std, v.P, v.Verdict)
			}
		}
	}
	if s := r.RelationSpecific; s != nil {
		fmt.Fprintf(b, "\nrelation-specific neurons (find relation: average precision of mean-pooled responses, Liu et al. 2025): %d candidate units (%s),\n",
			s.Units, strings.Join(s.Taps, ", "))
		fmt.Fprintf(b, "  %d questions held out per relation (no subject shared), positives = correctly answered detection questions, 4× negatives, top %d by AP\n", s.Heldout, s.Top)
		fmt.Fprintf(b, "  %-22s %9s %9s %8s %8s\n", "relation", "positives", "negatives", "best AP", "kept AP")
		for _, st := range s.Relations {
			fmt.Fprintf(b, "  %-22s %9d %9d %8.3f %8.3f\n", st.Relation, st.Correct, st.Negatives, st.BestAP, st.KeptAP)
		}
		fmt.Fprintf(b, "  verification (verify --experiment matrix,sweep --eval heldout.jsonl --text eval_fluency.jsonl): %d held-out questions, %d filler sentences, %d random sets per row\n",
			s.EvalItems, s.Texts, s.RandomSets)
		indent(b, matrixTable(s.Accuracy))
		indent(b, matrixTable(s.Perplexity))
		fmt.Fprintf(b, "  cumulativity (relative drop on the relation / mean on the others, top k):\n")
		for _, sw := range s.Sweeps {
			var pts []string
			for _, p := range sw.Points {
				pts = append(pts, fmt.Sprintf("k=%d %+.1f%%/%+.1f%% (random %+.1f%%)", p.K, 100*p.Target, 100*p.Others, 100*p.Random.Mean))
			}
			fmt.Fprintf(b, "  %-22s %s\n", sw.Target, strings.Join(pts, "  "))
		}
		fmt.Fprintf(b, "\n  %-22s %7s %8s %16s %7s  %-14s %s\n", "relation", "drop", "effect", "random", "p", "matrix", "sweep")
		for _, v := range s.Verdicts {
			m := v.Matrix
			sweep := "-"
			if v.Sweep != nil {
				sweep = v.Sweep.Verdict
			}
			fmt.Fprintf(b, "  %-22s %+6.1f%% %+7.1f%% %+7.1f ± %4.1f%% %7.3f  %-14s %s\n", v.Relation, 100*m.Target, 100*m.Effect,
				100*m.Random.Mean, 100*m.Random.Std, m.P, m.Verdict, sweep)
		}
	}
}

// perLayer renders per-layer counts as L0:3 L2:1 (layers without neurons left out).
func perLayer(counts []int) string {
	var parts []string
	for l, n := range counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("L%d:%d", l, n))
		}
	}
	return strings.Join(parts, " ")
}

// matrixTable is a matrix's table with its interference list summarised in one line (the
// label files list every cell).
func matrixTable(m *labels.Matrix) string {
	t := m.Table()
	if i := strings.Index(t, "\ninterference"); i >= 0 {
		t = t[:i+1]
	}
	beyond := 0
	for _, it := range m.Interference {
		if it.BeyondRandom {
			beyond++
		}
	}
	return t + fmt.Sprintf("interference: %d cells of a set on another group improved (%d beyond every random set)\n", len(m.Interference), beyond)
}

// indent writes a table two spaces in.
func indent(b *strings.Builder, table string) {
	for _, line := range strings.Split(strings.TrimRight(table, "\n"), "\n") {
		fmt.Fprintf(b, "  %s\n", line)
	}
}
