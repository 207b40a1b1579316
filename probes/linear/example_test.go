package linear_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/probes/linear"
)

// Example probes 2-feature activations for a binary label carried by feature 1: class 0
// around (0, 0), class 1 around (0, 4), with feature 0 as noise.
func Example() {
	x := []float32{
		-1, 0.2, 1, -0.5, 0.5, 0.4, -0.3, -0.1, 0.8, 0.9, -0.7, -0.6, // class 0
		-1, 4.1, 1, 3.5, 0.5, 4.6, -0.3, 3.9, 0.8, 4.4, -0.7, 3.2, // class 1
	}
	labels := []int{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}
	d := linear.Data{X: x, N: 12, P: 2, Labels: labels, Classes: 2}

	lr, err := linear.Logistic(d, linear.LogisticOptions{Folds: 3, Seed: 1})
	if err != nil {
		panic(err)
	}
	dm, err := linear.DiffMeans(d, linear.DiffMeansOptions{Folds: 3, Seed: 1})
	if err != nil {
		panic(err)
	}
	for _, r := range []*linear.Result{lr, dm} {
		dir := r.Probe.Directions[0]
		fmt.Printf("%-9s held-out accuracy %.2f, direction (%.2f, %.2f)\n", r.Method, r.MeanAccuracy, dir[0], dir[1])
	}
	pred, _ := lr.Probe.Predict([]float32{0, 0.5, 0, 3.5}, 2)
	fmt.Println("predictions", pred)
	// Output:
	// logistic  held-out accuracy 1.00, direction (-0.12, 0.99)
	// diffmeans held-out accuracy 1.00, direction (0.00, 1.00)
	// predictions [0 1]
}
