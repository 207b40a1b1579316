package hooks_test

import (
	"fmt"
	"os"

	"github.com/neuronscope/neuronscope/hooks"
)

// A finder ranks scored neurons and writes them as a named group of a neuron set.
func ExampleNeuronSet() {
	scores := []float64{0.1, 2.5, -1.0, 0.7} // one score per unit of blocks.2.mlp.hook_post
	set := &hooks.NeuronSet{Method: "example scores", Tap: hooks.MLPPost}
	set.Add("capital_of", hooks.Top(hooks.Scored(hooks.At(2, hooks.MLPPost), scores), 2)...)
	_ = set.Write(os.Stdout)
	g, _ := set.Group("capital_of")
	fmt.Println(g[0].Neuron, g[0].Score)
	// Output:
	// {
	//   "schema_version": "neuronscope.neurons/v1",
	//   "method": "example scores",
	//   "tap": "mlp.hook_post",
	//   "groups": {
	//     "capital_of": [
	//       {
	//         "layer": 2,
	//         "index": 1,
	//         "score": 2.5
	//       },
	//       {
	//         "layer": 2,
	//         "index": 3,
	//         "score": 0.7
	//       }
	//     ]
	//   }
	// }
	// blocks.2.mlp.hook_post[1] 2.5
}
