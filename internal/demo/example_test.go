package demo_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/internal/demo"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// Run the demo stages on the committed Llama demo model.
func Example() {
	m, _ := model.Load("../../testdata/world-llama")
	defer m.Close()
	tok, _ := tokenizer.Load("../../testdata/world-llama/tokenizer.json")
	q, _ := corpus.ReadPromptSet("../../testdata/world/eval_facts.jsonl", corpus.NewEncoder(m, tok, tokenizer.BOSAlways), corpus.PromptOptions{})
	r, err := demo.Run(demo.Inputs{Model: m, Tokenizer: tok, Questions: q}, demo.Options{PerRelation: 4, Neurons: 3, SkipVerify: true, SkipPaths: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d questions, accuracy ≥ 99%%: %v\n", r.Accuracy.Total, r.Accuracy.Overall >= 0.99)
	fmt.Printf("%d relations, %d neurons each, tap point %s\n", len(r.Relations), len(r.Relations[0].Neurons), r.TapPoint)
	// Output:
	// 2280 questions, accuracy ≥ 99%: true
	// 10 relations, 3 neurons each, tap point blocks.L.mlp.hook_post
}
