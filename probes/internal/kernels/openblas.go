//go:build openblas

package kernels

/*
#cgo LDFLAGS: -lopenblas
void dsyevd_(char *jobz, char *uplo, int *n, double *a, int *lda, double *w, double *work, int *lwork, int *iwork, int *liwork, int *info);
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gonum.org/v1/netlib/blas/netlib"

	_ "github.com/neuronscope/neuronscope/internal/linalg" // sets OpenBLAS to one thread
)

const backend = "openblas"

// threaded: internal/linalg runs OpenBLAS single-threaded; Dgemm splits rows itself.
const threaded = false

var dblas netlib.Implementation

// eigvalsh runs LAPACK dsyevd (eigenvalues only) on a, n×n row-major holding the upper
// triangle (the column-major lower triangle, hence uplo 'L'); a is overwritten.
func eigvalsh(dst []float64, n int, a []float64) error {
	if n > 1<<30/n {
		return fmt.Errorf("kernels: %d×%d matrix too large for LAPACK's int32 sizes", n, n)
	}
	jobz, uplo := C.char('N'), C.char('L')
	cn, lwork, liwork, info := C.int(n), C.int(-1), C.int(-1), C.int(0)
	var wq C.double
	var iwq C.int
	ad := (*C.double)(unsafe.Pointer(&a[0]))
	w := (*C.double)(unsafe.Pointer(&dst[0]))
	C.dsyevd_(&jobz, &uplo, &cn, ad, &cn, w, &wq, &lwork, &iwq, &liwork, &info)
	if info != 0 {
		return fmt.Errorf("kernels: dsyevd workspace query failed (info %d)", int(info))
	}
	work := make([]float64, max(int(wq), 1))
	iwork := make([]C.int, max(int(iwq), 1))
	lwork, liwork = C.int(len(work)), C.int(len(iwork))
	C.dsyevd_(&jobz, &uplo, &cn, ad, &cn, w, (*C.double)(unsafe.Pointer(&work[0])), &lwork, &iwork[0], &liwork, &info)
	if info != 0 {
		return fmt.Errorf("kernels: dsyevd did not converge (info %d)", int(info))
	}
	return nil
}
