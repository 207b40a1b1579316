package hooks_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

func Example() {
	p, _ := hooks.Parse("blocks.3.mlp.hook_post")
	fmt.Println(p.Layer, p.Site, p)

	// A model's catalog resolves names, HF aliases and globs.
	cat := hooks.Catalog{
		Points:  []hooks.Point{hooks.At(0, hooks.MLPPost), hooks.At(1, hooks.MLPPost)},
		Aliases: map[string]hooks.Point{"model.layers.1.mlp.down_proj:input": hooks.At(1, hooks.MLPPost)},
	}
	call, _ := hooks.NewCall(cat,
		hooks.Edit("model.layers.1.mlp.down_proj:input", func(_ hooks.Point, a *tensor.Tensor) error { a.Data[0] = 0; return nil }),
		hooks.Capture("blocks.*.mlp.hook_post"))
	// A model fires each point as it computes it:
	act := tensor.From([]float32{5, 6}, 1, 1, 2)
	call.Fire(hooks.At(1, hooks.MLPPost), act)
	got, _ := call.Cache().Get(hooks.At(1, hooks.MLPPost))
	fmt.Println(got.Data, call.Check())
	// Output:
	// 3 mlp.hook_post blocks.3.mlp.hook_post
	// [0 6] requested hooks did not fire: blocks.0.mlp.hook_post
}

// ExampleSite_IsUnits names an SNMF feature and an SAE latent the way neurons are named, so
// neuron sets, labels and profiles carry them.
func ExampleSite_IsUnits() {
	f := hooks.NeuronAt(2, hooks.MLPPostSNMF, 7)
	fmt.Println(f, f.Site.IsUnits(), f.Site.Base())
	p, _ := hooks.Parse("blocks.2.mlp.hook_post.sae.hook_sae_acts_post")
	fmt.Println(p.Site == hooks.MLPPostSAE, hooks.MLPPost.IsUnits())
	// Output:
	// blocks.2.mlp.hook_post.snmf[7] true mlp.hook_post
	// true false
}
