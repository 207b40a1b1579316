package attribute_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// Integrated gradients of a token's probability w.r.t. the layer-0 neurons of a tiny random
// GPT-2: Dai et al.'s setting (20 left Riemann steps, target position only) to find the most
// important neuron, then the whole layer scaled with the trapezoid rule to check completeness,
// then gradient × activation at every position from one backward pass.
func Example() {
	cfg, _ := model.ParseConfig([]byte(`{"model_type":"gpt2","n_layer":2,"n_embd":32,"n_head":4,
		"vocab_size":97,"n_positions":64}`), "config.json")
	m, _ := model.NewRandom(cfg, 1)
	prompt := []int{3, 14, 15, 92, 65}
	metric := model.Prob(0, 4, 42) // P(token 42) at the last position
	post := hooks.At(0, hooks.MLPPost)

	kn, err := attribute.IntegratedGradients(m, prompt, post, metric, attribute.IGOptions{})
	if err != nil {
		panic(err)
	}
	top := 0
	for i, v := range kn.Attributions.Data {
		if v > kn.Attributions.Data[top] {
			top = i
		}
	}
	fmt.Printf("attributions %v, top neuron %d: %.4f\n", kn.Attributions.Shape, top, kn.Attributions.Data[top])

	all, err := attribute.IntegratedGradients(m, prompt, post, metric,
		attribute.IGOptions{Steps: 50, Rule: attribute.Trapezoid, Scope: attribute.All})
	if err != nil {
		panic(err)
	}
	fmt.Printf("attributions %v: f(a) − f(0) = %.5f, Σ IG = %.5f\n", all.Attributions.Shape, all.FFull-all.FBaseline, all.Sum)

	b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	gxa, err := attribute.GradXAct(m, b, metric, []hooks.Point{post})
	if err != nil {
		panic(err)
	}
	fmt.Println("grad×act", gxa.At[post].Shape)
	// Output:
	// attributions [128], top neuron 15: 0.0014
	// attributions [5 128]: f(a) − f(0) = -0.00215, Σ IG = -0.00215
	// grad×act [1 5 128]
}
