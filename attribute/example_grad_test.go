package attribute_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
)

// NeuronPath on a tiny random Llama: one neuron per layer (blocks.L.mlp.hook_post) for the
// probability of token 42 at the last position, with the activation-argmax baseline.
func ExampleNeuronPath() {
	cfg, _ := model.ParseConfig([]byte(`{"model_type":"llama","num_hidden_layers":3,"hidden_size":32,"intermediate_size":48,
		"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":97,"max_position_embeddings":64}`), "config.json")
	m, _ := model.NewRandom(cfg, 1)
	prompt := []int{3, 14, 15, 92, 65}
	res, err := attribute.NeuronPath(m, prompt, len(prompt)-1, 42, attribute.PathOptions{})
	if err != nil {
		panic(err)
	}
	for i, n := range res.Path {
		fmt.Printf("layer %d: path neuron %d, activation argmax %d\n", n.Layer, n.Index, res.Activation[i].Index)
	}
	fmt.Println("batched passes of 20 steps:", res.Passes)
	// Output:
	// layer 0: path neuron 15, activation argmax 1
	// layer 1: path neuron 0, activation argmax 26
	// layer 2: path neuron 47, activation argmax 36
	// batched passes of 20 steps: 5
}

// CULNIG on token-id prompts of a tiny random Llama: score a task and a control set (groups
// "a" and "b"), then select general and group-specific gate units.
func ExampleFindConcept() {
	cfg, _ := model.ParseConfig([]byte(`{"model_type":"llama","num_hidden_layers":2,"hidden_size":32,"intermediate_size":48,
		"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":97,"max_position_embeddings":64}`), "config.json")
	m, _ := model.NewRandom(cfg, 1)
	items := func(offset int) *corpus.PromptSet {
		s := &corpus.PromptSet{Source: "example"}
		for i := 0; i < 8; i++ {
			ids := []int{1, (i*7 + offset) % 97, (i*13 + 5) % 97, (i * 3) % 97}[:2+i%3]
			s.Items = append(s.Items, corpus.Prompt{ID: fmt.Sprint(i), IDs: ids, AnswerIDs: []int{(i * 11) % 97},
				Labels: map[string]string{"group": []string{"a", "b"}[i%2]}})
		}
		return s
	}
	taps := []hooks.Site{hooks.MLPPre, hooks.MLPPreLinear} // the gate and up projections
	task, _ := attribute.ScoreConcept(m, items(0), attribute.ConceptScoreOptions{GroupKey: "group", Taps: taps})
	control, _ := attribute.ScoreConcept(m, items(50), attribute.ConceptScoreOptions{GroupKey: "group", Taps: taps, Control: true})
	opt := attribute.DefaultConceptOptions()
	opt.MLPRate, opt.SpecificRate = 0.05, 0.05 // 4 of the 96 gate units
	set, _, err := attribute.FindConcept(task, control, nil, opt)
	if err != nil {
		panic(err)
	}
	fmt.Println("taps scored:", task.Taps)
	for _, g := range set.Groups {
		fmt.Printf("%s: %d neurons, first %v\n", g.Name, len(g.Neurons), g.Neurons[0].Neuron)
	}
	// Output:
	// taps scored: [mlp.hook_pre mlp.hook_pre_linear]
	// general: 4 neurons, first blocks.1.mlp.hook_pre[27]
	// a: 4 neurons, first blocks.0.mlp.hook_pre[0]
	// b: 4 neurons, first blocks.1.mlp.hook_pre[27]
}
