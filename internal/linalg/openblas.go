//go:build openblas

package linalg

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"
)

// OpenBLAS runs single-threaded: neuronscope splits work across goroutines itself, so BLAS
// worker threads never spin against the Go scheduler's elementwise work.
func init() {
	C.openblas_set_num_threads(1)
	blas32.Use(netlib.Implementation{})
	backend = "openblas"
	threadedBLAS = false
}
