package ablate_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/ablate"
	"github.com/neuronscope/neuronscope/model"
)

// Example checks whether a set of neurons is specific to one relation: ablate it, compare the
// accuracy drop on that relation with the mean drop on the others, and compare that
// selectivity with random sets of the same shape.
func Example() {
	cfg, _ := model.ParseConfig([]byte(`{"model_type":"llama","hidden_size":32,"intermediate_size":64,
		"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":8,"vocab_size":48,
		"max_position_embeddings":32,"rms_norm_eps":1e-5,"rope_theta":10000.0,"hidden_act":"silu",
		"tie_word_embeddings":false}`), "example")
	m, _ := model.NewRandom(cfg, 7)

	// A hand-made eval set: 3 prompts per relation. Real sets come from ReadEvalSet
	// (eval_facts.jsonl + tokenizer.json); here the answers are the model's own predictions,
	// so the baseline accuracy is 1.
	set := &ablate.EvalSet{}
	for i, p := range [][]int{{1, 5, 9}, {1, 6, 9}, {1, 7, 9}, {1, 5, 20, 30}, {1, 6, 20, 30}, {1, 7, 20, 30},
		{1, 40, 41}, {1, 40, 42}, {1, 40, 43}} {
		rel := []string{"capital_of", "born_in", "speaks"}[i/3]
		set.Items = append(set.Items, ablate.Item{ID: fmt.Sprint(i), Prompt: p, Labels: map[string]string{"relation": rel}})
	}
	pred, _ := ablate.Predict(m, set, 0)
	for i := range set.Items {
		set.Items[i].Answer = pred[i]
	}

	// The claimed neurons (in practice, a finder's output): 16 neurons of blocks.1.mlp.hook_post.
	var claimed []ablate.Neuron
	for i := 0; i < 16; i++ {
		claimed = append(claimed, ablate.Neuron{Layer: 1, Index: i})
	}
	r, err := ablate.Selectivity(m, set, claimed, ablate.SelectivityOptions{
		Key: "relation", Target: "capital_of", Mode: ablate.Zero, Random: 5, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ablated:", r.Ablation.Points, r.Ablation.Mode)
	for _, g := range r.Claimed.Groups {
		fmt.Printf("%-10s baseline %.2f ablated %.2f drop %+.2f\n", g.Group, g.Baseline, g.Ablated, g.Drop)
	}
	fmt.Printf("selectivity %+.2f, random %+.2f ± %.2f over %d sets\n",
		r.Claimed.Selectivity, r.Random.Selectivity.Mean, r.Random.Selectivity.Std, len(r.Random.Sets))
	fmt.Println("verdict:", r.Verdict)
	// A random model has no relation-specific neurons: the verdict says so.

	// Output:
	// ablated: [blocks.1.mlp.hook_post] zero
	// born_in    baseline 1.00 ablated 0.67 drop +0.33
	// capital_of baseline 1.00 ablated 1.00 drop +0.00
	// speaks     baseline 1.00 ablated 0.67 drop +0.33
	// selectivity -0.33, random -0.17 ± 0.12 over 5 sets
	// verdict: no_effect
}
