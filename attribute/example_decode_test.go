package attribute_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/model"
)

// ExampleDecodeNeurons decodes the neurons of layer 1 of a tiny random Llama through the
// unembedding, with the final norm weight, and prints the tokens neuron 3's write direction
// promotes and suppresses most, and the top tokens of its gate (read) and up directions.
func ExampleDecodeNeurons() {
	cfg, err := model.ParseConfig([]byte(`{"model_type":"llama","num_hidden_layers":2,"hidden_size":32,
		"intermediate_size":48,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":97,
		"max_position_embeddings":64}`), "tiny-llama")
	if err != nil {
		panic(err)
	}
	m, err := model.NewRandom(cfg, 7)
	if err != nil {
		panic(err)
	}
	dec, err := attribute.DecodeNeurons(m, attribute.DecodeOptions{K: 3, Layers: []int{1}, NormWeight: true})
	if err != nil {
		panic(err)
	}
	n := dec[3]
	show := func(name string, ts []attribute.DecodedToken) {
		fmt.Printf("%-12s", name)
		for _, t := range ts {
			fmt.Printf(" %2d (%+.2f)", t.ID, t.Score)
		}
		fmt.Println()
	}
	fmt.Printf("layer %d neuron %d of %d decoded neurons\n", n.Layer, n.Index, len(dec))
	show("write top", n.WriteTop)
	show("write bottom", n.WriteBottom)
	show("read top", n.ReadTop)
	show("up top", n.UpTop)
	// Output:
	// layer 1 neuron 3 of 48 decoded neurons
	// write top    18 (+0.31) 57 (+0.30) 46 (+0.25)
	// write bottom 96 (-0.29) 38 (-0.25) 44 (-0.23)
	// read top     73 (+0.52) 15 (+0.44)  5 (+0.38)
	// up top        2 (+0.56) 96 (+0.48) 83 (+0.44)
}
