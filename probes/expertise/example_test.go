package expertise_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/probes/expertise"
)

func ExampleAveragePrecision() {
	// Ranked by score: 0.9 (+), then a tie at 0.5 between a positive and a negative, then 0.1 (+).
	// The tie is one threshold: AP = ⅓·1 + ⅓·(2/3) + ⅓·(3/4).
	ap, err := expertise.AveragePrecision([]float32{0.9, 0.5, 0.5, 0.1}, []bool{true, true, false, true})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.6f\n", ap)
	// Output:
	// 0.805556
}

func ExampleAveragePrecisions() {
	// 6 examples (the first 2 are the relation's prompts) × 4 neurons, row-major. Neuron 1 ranks
	// both positives last: AP = ½·(1/5) + ½·(2/6); neuron 2 responds 0.5 to everything: AP = 2/6.
	responses := &expertise.Dense{Examples: 6, Neurons: 4, Data: []float32{
		0.9, 0.1, 0.5, -1,
		0.8, 0.2, 0.5, -2,
		0.1, 0.3, 0.5, 1,
		0.2, 0.9, 0.5, 2,
		0.0, 0.8, 0.5, 3,
		0.3, 0.7, 0.5, 4,
	}}
	rows := []int{0, 1, 2, 3, 4, 5}
	positive := []bool{true, true, false, false, false, false}
	aps := make([]float64, 4)
	if err := expertise.AveragePrecisions(aps, responses, rows, positive, expertise.Options{Chunk: 2}); err != nil {
		panic(err)
	}
	fmt.Printf("AP %.3f\n", aps)
	top, _ := expertise.Rank(aps, 2, expertise.RankOptions{})
	fmt.Println("top 2:", top)
	both, _ := expertise.Rank(aps, 2, expertise.RankOptions{BothEnds: true})
	fmt.Println("top 1 and bottom 1:", both)
	// Output:
	// AP [1.000 0.267 0.333 0.267]
	// top 2: [{0 1} {2 0.3333333333333333}]
	// top 1 and bottom 1: [{0 1} {1 0.26666666666666666}]
}
