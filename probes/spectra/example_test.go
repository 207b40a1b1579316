package spectra_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/model/report"
	"github.com/neuronscope/neuronscope/probes/spectra"
)

// Example accumulates one layer's pre- and post-activation rows in two batches and measures
// their spectra. The pre rows are ±e_i repeated 8, 6, 4, 2 times (a covariance spectrum
// ∝ [4,3,2,1]); the post rows are ±e_i 5 times each (a flat spectrum). In a real run the rows
// come from forward hooks (see the package documentation).
func Example() {
	axis := func(counts ...int) ([]float32, int) {
		var x []float32
		for i, m := range counts {
			for range 2 * m {
				row := make([]float32, len(counts))
				row[i] = float32(1 - 2*(len(x)/len(counts)%2)) // alternate +1, −1
				x = append(x, row...)
			}
		}
		return x, len(x) / len(counts)
	}
	pair := spectra.NewPair(0, 4, spectra.Options{})
	pre, n := axis(8, 6, 4, 2)
	post, _ := axis(5, 5, 5, 5)
	for _, half := range [][2]int{{0, n / 2}, {n / 2, n}} { // two batches of 20 rows
		if err := pair.Pre.Add(pre[half[0]*4:half[1]*4], half[1]-half[0]); err != nil {
			panic(err)
		}
		if err := pair.Post.Add(post[half[0]*4:half[1]*4], half[1]-half[0]); err != nil {
			panic(err)
		}
	}
	rep, err := spectra.Analyze([]*spectra.Pair{pair}, report.New(), spectra.AnalyzeOptions{})
	if err != nil {
		panic(err)
	}
	l := rep.Layers[0]
	fmt.Printf("tokens %d, width %d\n", l.Pre.Tokens, l.Pre.Width)
	fmt.Printf("pre:  SE %.6f  PR %.6f  EEE %.6f\n", l.Pre.SE, l.Pre.PR, l.Pre.EEE)
	fmt.Printf("post: SE %.6f  PR %.6f  EEE %.6f\n", l.Post.SE, l.Post.PR, l.Post.EEE)
	fmt.Printf("JS %.7f  PR gain %.3f  EEE diff %.3f\n", l.JS, l.PRGain, l.EEEDiff)
	// Output:
	// tokens 40, width 4
	// pre:  SE 1.279854  PR 3.333333  EEE 0.250000
	// post: SE 1.386294  PR 4.000000  EEE 0.000000
	// JS 0.0278656  PR gain 1.200  EEE diff -0.250
}
