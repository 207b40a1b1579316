package selection_test

import (
	"fmt"

	"github.com/neuronscope/neuronscope/probes/selection"
)

// Example selects, from four candidates' activities over 4 units, the two closest to a
// target set of two exemplars that both use units 0 and 1.
func Example() {
	cands := []float32{
		3, 2, 0, 0, // like the target
		0, 0, 4, 1, // unrelated
		2, 0, 0, 3, // half like it
		0, 1, 3, 0, // a little like it
	}
	exemplars := []float32{
		2, 2, 0, 0,
		4, 2, 0, 0.5,
	}
	profiles := selection.Sparsify(cands, 4, 4, nil, 2)
	proto := selection.Prototype(selection.Sparsify(exemplars, 2, 4, nil, 2), 4)
	idx, scores, err := selection.Select(profiles, proto, 2)
	if err != nil {
		panic(err)
	}
	fmt.Println("prototype", proto)
	fmt.Printf("selected %v, scores %.3f\n", idx, scores)
	// Output:
	// prototype [3 2 0 0]
	// selected [0 2], scores [1.000 0.000 0.250 0.125]
}
