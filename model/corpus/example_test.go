package corpus_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// Stream a text file through a model in batches of contexts, observing one hook point, and
// evaluate fact questions greedily.
func Example() {
	m, _ := model.Load("../../testdata/world-llama")
	defer m.Close()
	tok, _ := corpus.LoadTokenizer(m)
	enc := corpus.NewEncoder(m, tok, tokenizer.BOSAuto)

	contexts := func(yield func(corpus.Context) error) error {
		return corpus.Contexts(corpus.FileDocuments("../../testdata/world/train.txt"), enc,
			corpus.ContextOptions{Ctx: 32, MaxTokens: 1000}, yield)
	}
	var tokens, positive int
	err := corpus.Run(m, contexts, corpus.RunOptions{Batch: 8,
		Hooks: func(b *corpus.Batch) []hooks.Option {
			return []hooks.Option{hooks.Observe("blocks.1.mlp.hook_post", func(_ hooks.Point, a *tensor.Tensor) error {
				w := a.Shape[2]
				for r, c := range b.Contexts {
					for pos := range c.IDs { // real tokens only: pads are never counted
						tokens++
						if a.Data[(r*a.Shape[1]+pos)*w+7] > 0 {
							positive++
						}
					}
				}
				return nil
			})}
		}})
	fmt.Println(tokens, "tokens,", positive > 0, err)

	set, _ := corpus.ReadPromptSet("../../testdata/world/eval_facts.jsonl", enc, corpus.PromptOptions{})
	set.Items = set.Items[:200]
	next, _ := corpus.Next(m, set.Prompts(), 0)
	ok := 0
	for _, right := range set.CorrectNext(next) {
		if right {
			ok++
		}
	}
	fmt.Printf("%d of 200 questions answered\n", ok)
	// Output:
	// 1000 tokens, true <nil>
	// 200 of 200 questions answered
}
