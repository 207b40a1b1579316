package language_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/probes/language"
)

// Three languages, one layer of eight neurons: neuron 0 fires for English only, neuron 1 for
// German and (less) French, neuron 2 for all three almost always, the rest rarely.
func exampleProbs() *language.Probabilities {
	p := &language.Probabilities{Groups: []string{"en", "de", "fr"}, Tap: "mlp.hook_pre", Layers: 1, Width: 8, P: make([]float32, 24)}
	for g := 0; g < 3; g++ {
		for i := 0; i < 8; i++ {
			p.P[g*8+i] = 0.02 + 0.01*float32((i+g)%3)
		}
	}
	p.P[0] = 0.7                                   // en, neuron 0
	p.P[8+1], p.P[16+1] = 0.2, 0.08                // de and fr, neuron 1
	p.P[2], p.P[8+2], p.P[16+2] = 0.99, 0.99, 0.99 // all, neuron 2
	return p
}

func ExampleLAPE() {
	sel, err := language.LAPE(exampleProbs(), language.LAPEOptions{TopRate: 0.25, FilterRate: 0.75, BarRatio: 0.75})
	if err != nil {
		panic(err)
	}
	fmt.Printf("K=%d τ=%g\n", sel.Settings.K, sel.Settings.BarThreshold)
	for g, name := range sel.Groups {
		for _, n := range sel.ByGroup[g] {
			fmt.Printf("%s: layer %d neuron %d (entropy %.3f)\n", name, n.Layer, n.Index, n.Score)
		}
	}
	fmt.Println("multiplicity", sel.Multiplicity)
	// Output:
	// K=2 τ=0.04
	// en: layer 0 neuron 0 (entropy 0.367)
	// de: layer 0 neuron 1 (entropy 0.858)
	// fr: layer 0 neuron 1 (entropy 0.858)
	// multiplicity [0 1 1 0]
}

func ExampleSweepLambda() {
	sw, err := language.SweepLambda(exampleProbs(), language.AlignmentOptions{TopRate: 0.25, BarRatio: 0.75}, language.SweepOptions{})
	if err != nil {
		panic(err)
	}
	for _, st := range sw.Steps[:3] {
		fmt.Printf("λ=%g multiplicity %v pass %v\n", st.Lambda, st.Multiplicity, st.Pass)
	}
	fmt.Printf("λ*=%g specific %d related %d agnostic %d\n", sw.Lambda, sw.Selection.Specific(), sw.Selection.Related(), sw.Selection.Agnostic())
	// Neuron 2 (all three languages) overtakes neuron 1 at λ ≈ 0.1694 (score 1 − λ·0.99/NormMax(3)
	// against 0.7810 − λ·0.2/NormMax(3)); the search ends on the grid point 0.2·216/256 below it.

	// Output:
	// λ=0 multiplicity [0 1 1 0] pass true
	// λ=0.2 multiplicity [0 1 0 1] pass false
	// λ=0.1 multiplicity [0 1 1 0] pass true
	// λ*=0.16875 specific 1 related 1 agnostic 0
}

// A selection as a neuron set: one group per language at the counting tap, the most specific
// neuron first; zeroing an entry is LAPE's deactivation.
func ExampleSelection_NeuronSet() {
	p := exampleProbs()
	sel, err := language.LAPE(p, language.LAPEOptions{TopRate: 0.25, FilterRate: 0.75, BarRatio: 0.75})
	if err != nil {
		panic(err)
	}
	set, err := sel.NeuronSet(language.NewReport(p, sel, nil), "example")
	if err != nil {
		panic(err)
	}
	for _, g := range set.Groups {
		fmt.Printf("%s: %d neurons", g.Name, len(g.Neurons))
		for _, n := range g.Neurons {
			fmt.Printf(" %s (%.3f)", n.Neuron, n.Score)
		}
		fmt.Println()
	}
	// Output:
	// en: 1 neurons blocks.0.mlp.hook_pre[0] (0.367)
	// de: 1 neurons blocks.0.mlp.hook_pre[1] (0.858)
	// fr: 1 neurons blocks.0.mlp.hook_pre[1] (0.858)
}
