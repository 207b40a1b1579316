package kernels_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/probes/internal/kernels"
)

// Example accumulates AᵀA for two batches of rows into a strip-stored upper triangle and
// takes its eigenvalues.
func Example() {
	u := kernels.NewUpper(2)
	for _, a := range [][]float64{
		{1, 0, 0, 2}, // rows (1, 0) and (0, 2)
		{1, 1},       // row (1, 1)
	} {
		kernels.SyrkUpper(u, len(a)/2, a, 2)
	}
	fmt.Println("row 0:", u.Row(0), "row 1:", u.Row(1))
	eig, err := kernels.EigvalsSym(nil, u, 1)
	if err != nil {
		panic(err)
	}
	fmt.Printf("eigenvalues %.4f\n", eig)
	// Output:
	// row 0: [2 1] row 1: [5]
	// eigenvalues [1.6972 5.3028]
}
