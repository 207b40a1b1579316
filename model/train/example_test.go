package train_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/train"
)

// Train a tiny GPT-2 from scratch to continue a counting sequence.
func Example() {
	cfg, _ := model.ParseConfig([]byte(`{"model_type":"gpt2","architectures":["GPT2LMHeadModel"],
"n_embd":32,"n_inner":64,"n_layer":1,"n_head":2,"n_positions":16,"vocab_size":20,
"layer_norm_epsilon":1e-5,"activation_function":"gelu_new","bos_token_id":1,"eos_token_id":1}`), "config.json")
	m, _ := model.NewRandom(cfg, 1)
	train.Init(m, 1)
	seqs := [][]int{{1, 3, 4, 5, 6, 7, 8}, {1, 10, 11, 12, 13, 14}}
	c := train.DefaultConfig()
	c.Steps, c.BatchSize, c.Warmup, c.LR = 60, 4, 5, 1e-2
	tr, _ := train.New(m, c)
	var first, last float64
	_ = tr.Run(seqs, func(s train.Step) {
		if s.Step == 1 {
			first = s.Loss
		}
		last = s.Loss
	})
	next, _ := corpus.Next(m, [][]int{{1, 3, 4, 5}, {1, 10, 11}}, 0)
	fmt.Printf("loss fell from %.0f to below 0.5: %v\n", first, last < 0.5)
	fmt.Println("next tokens:", next)
	// Output:
	// loss fell from 3 to below 0.5: true
	// next tokens: [6 12]
}
