package ablate_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// ExampleVerify checks two relation claims on the demo model with the group × group matrix:
// zero-ablate each set, measure every relation's questions, compare with 10 random sets of
// the same shape, and read the verdicts.
func ExampleVerify() {
	m, err := model.Load("../testdata/world-llama")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	tok, _ := corpus.LoadTokenizer(m)
	questions, err := corpus.ReadPromptSet("../testdata/world/eval_facts.jsonl", corpus.NewEncoder(m, tok, tokenizer.BOSAlways), corpus.PromptOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := 0
	questions = questions.Filter(func(corpus.Prompt) bool { n++; return n%8 == 0 }) // an eighth of them, to be quick

	// The demo's grad×act neurons for two relations (its top 8 each).
	set := &hooks.NeuronSet{Method: "grad×act, top 8", Tap: hooks.MLPPost}
	for _, n := range [][2]int{{0, 505}, {0, 20}, {0, 349}, {3, 382}, {0, 199}, {0, 275}, {0, 10}, {2, 224}} {
		set.Add("speaks", hooks.ScoredNeuron{Neuron: hooks.NeuronAt(n[0], hooks.MLPPost, n[1])})
	}
	for _, n := range [][2]int{{0, 266}, {0, 310}, {0, 246}, {0, 155}, {3, 450}, {0, 297}, {0, 333}, {0, 67}} {
		set.Add("born_in", hooks.ScoredNeuron{Neuron: hooks.NeuronAt(n[0], hooks.MLPPost, n[1])})
	}

	e, err := ablate.NewEval(m, questions, nil, ablate.EvalOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := ablate.Verify(e, set, ablate.VerifyOptions{Key: "relation", Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range res.File.Labels {
		v := l.Verifications[0]
		fmt.Printf("%s: %s, %d random sets, p = %.3f\n", l.Set, l.Verdict, v.Random.N, v.P)
	}
	fmt.Println(len(res.File.Matrices[0].Groups), "relations measured per set")
	// Output:
	// speaks: confirmed, 10 random sets, p = 0.091
	// born_in: no_effect, 10 random sets, p = 1.000
	// 10 relations measured per set
}
