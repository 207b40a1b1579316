package profile_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/profile"
)

// Example profiles two neurons over two batches of two contexts given by hand (in a real run
// the activations come from a forward hook, see the package documentation).
func Example() {
	p := profile.New(profile.Options{TopK: 2, CalibContext: 2})
	ids := []int{10, 11, 12}
	batches := [][]float32{
		// [context, position, neuron]
		{0, 1, 2, 0, 5, -1 /* context 2: */, 1, 1, 0, 0, 0, 0},
		{3, 0, 0, 2, 0, 0 /* context 4: */, -2, 0, 0, 0, 0, 7},
	}
	var index int64
	for _, acts := range batches {
		rows := []profile.Context{{IDs: ids, Doc: index, Index: index}, {IDs: ids, Doc: index + 1, Index: index + 1}}
		index += 2
		if err := p.Observe(hooks.At(0, hooks.MLPPost), acts, rows, 3, 2); err != nil {
			panic(err)
		}
		p.EndBatch(rows)
	}
	p.Finish()
	rep := p.Report(report.New(), profile.Settings{}, func(id int) string { return fmt.Sprintf("t%d", id) })
	for _, n := range rep.Points[0].Neurons {
		top := n.TopMax[0]
		fmt.Printf("neuron %d: mean %.3f max %g (context %d, token %s) frac>0 %.2f\n",
			n.Index, n.Mean, n.Max, top.Context, top.Tokens[top.MaxIndex], n.FracPositive)
	}
	// Output:
	// neuron 0: mean 0.750 max 5 (context 0, token t12) frac>0 0.33
	// neuron 1: mean 0.833 max 7 (context 3, token t12) frac>0 0.33
}
