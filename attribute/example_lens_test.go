package attribute_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tokenizer"
)

// ExampleLogitLens reads the world model's answer to a fact question off its residual stream
// after every layer: the capital of Rofa appears at the last position only in the last layer.
func ExampleLogitLens() {
	m, err := model.Load("../testdata/world-llama")
	if err != nil {
		panic(err)
	}
	defer m.Close()
	tok, _ := corpus.LoadTokenizer(m)
	e, _ := corpus.NewEncoder(m, tok, tokenizer.BOSAuto).EncodeText("Rofa bilo") // "the capital of Rofa is"
	lens, err := attribute.LogitLens(m, e.IDs, attribute.LensOptions{K: 1}, tok.IDToToken)
	if err != nil {
		panic(err)
	}
	for _, l := range lens.Layers {
		top := l.Positions[len(e.IDs)-1].Top[0]
		fmt.Printf("layer %d: %s\n", l.Layer, top.Token)
	}
	// Output:
	// layer 0: Hononle
	// layer 1: Hononle
	// layer 2: Fihar
	// layer 3: Tufinri
}
