package decompose_test

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/neuronscope/neuronscope/decompose"
)

// Three neuron groups of a 40-neuron MLP layer, each firing with mixed signs, and 300 tokens
// that each use one or two of them: SNMF finds the groups, and a new token's feature
// activations are its non-negative coefficients.
func Example() {
	const n, d = 300, 40
	groups := [][]int{{2, 3, 5, 7}, {11, 13, 17, 19}, {23, 29, 31, 37}}
	weights := []float32{1, -0.5, 0.8, 0.6}
	x := make([]float32, n*d) // rows: one activation vector [d_mlp] per token
	for t := 0; t < n; t++ {
		for g, group := range groups {
			use := float32((t*(g+3))%7) / 7 // how much token t uses group g (often 0)
			if (t+g)%3 == 0 {
				use = 0
			}
			for e, i := range group {
				x[t*d+i] += use * weights[e]
			}
		}
	}
	opt := decompose.DefaultOptions()
	opt.Rank, opt.Sparsity, opt.Init = 3, 0.1, decompose.InitSVD // keep ceil(0.1·40) = 4 neurons
	opt.MaxIter, opt.Patience = 300, 20
	res, err := decompose.Fit(context.Background(), x, n, d, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("relative loss below 1e-6: %v\n", res.BestLoss/res.SumSquares < 1e-6)
	var found [][]int
	for j := 0; j < res.Rank; j++ {
		var neurons []int
		for i := 0; i < d; i++ {
			if res.F[i*res.Rank+j] != 0 {
				neurons = append(neurons, i)
			}
		}
		found = append(found, neurons)
	}
	slices.SortFunc(found, func(a, b []int) int { return a[0] - b[0] })
	fmt.Println("neuron groups:", found)

	// A new token using the second group twice as much as the first.
	token := make([]float32, d)
	for e := range weights {
		token[groups[0][e]] += weights[e]
		token[groups[1][e]] += 2 * weights[e]
	}
	fs := decompose.NewFeatures(res.F, d, res.Rank)
	g := make([]float32, res.Rank)
	if err := fs.Coefficients(g, token); err != nil {
		fmt.Println(err)
		return
	}
	var active []string
	for j, v := range g {
		if v > 1e-3 {
			col := res.Column(nil, j)
			first := slices.IndexFunc(col, func(f float32) bool { return f != 0 })
			var norm float64
			for _, f := range col {
				norm += float64(f) * float64(f)
			}
			// g times the feature's norm is the activation along the unit feature direction.
			active = append(active, fmt.Sprintf("group at neuron %d: %.2f", first, float64(v)*math.Sqrt(norm)))
		}
	}
	slices.Sort(active)
	fmt.Println("active features:", active)
	// Output:
	// relative loss below 1e-6: true
	// neuron groups: [[2 3 5 7] [11 13 17 19] [23 29 31 37]]
	// active features: [group at neuron 11: 3.00 group at neuron 2: 1.50]
}
