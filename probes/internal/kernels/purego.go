//go:build !openblas

package kernels

import (
	"errors"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/mat"
)

const backend = "gonum-purego"

// threaded: gonum's native Dgemm parallelises each call itself.
const threaded = true

var dblas gonum.Implementation

// eigvalsh runs gonum's Dsyev (eigenvalues only) on a, n×n row-major holding the upper
// triangle; a is overwritten.
func eigvalsh(dst []float64, n int, a []float64) error {
	sym := mat.NewSymDense(n, nil)
	sym.SetRawSymmetric(blas64.Symmetric{N: n, Stride: n, Data: a, Uplo: blas.Upper})
	var e mat.EigenSym
	if !e.Factorize(sym, false) {
		return errors.New("kernels: symmetric eigenvalue decomposition did not converge")
	}
	e.Values(dst)
	return nil
}
