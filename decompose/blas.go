package decompose

import (
	"math"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Float is the element type of a factorisation: float32 (the fast path, through blas32 and
// OpenBLAS with -tags openblas) or float64 (for checking against float64 references; gonum's
// blas64).
type Float interface{ float32 | float64 }

// gemm computes C = alpha·op(A)·op(B) + beta·C (row-major). parallel splits large float32
// products across goroutines (internal/linalg.Gemm); serial is one BLAS call, for use inside
// goroutines that already split the work. float64 always uses gonum's blas64.
func gemm[T Float](parallel bool, tA, tB blas.Transpose, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	switch a := any(a).(type) {
	case []float32:
		b, c := any(b).([]float32), any(c).([]float32)
		if parallel {
			linalg.Gemm(tA, tB, m, n, k, float32(alpha), a, lda, b, ldb, float32(beta), c, ldc)
		} else {
			blas32.Implementation().Sgemm(tA, tB, m, n, k, float32(alpha), a, lda, b, ldb, float32(beta), c, ldc)
		}
	case []float64:
		b, c := any(b).([]float64), any(c).([]float64)
		blas64.Implementation().Dgemm(tA, tB, m, n, k, alpha64(alpha), a, lda, b, ldb, alpha64(beta), c, ldc)
	}
}

func alpha64[T Float](x T) float64 { return float64(x) }

// invert replaces the k×k row-major matrix m by its inverse, computed by LU factorisation with
// partial pivoting (LAPACK getrf + getri, as torch.linalg.inv). It reports false when m is
// exactly singular.
func invert(m []float64, k int) bool {
	a := blas64.General{Rows: k, Cols: k, Stride: k, Data: m}
	ipiv := make([]int, k)
	if !lapack64.Getrf(a, ipiv) {
		return false
	}
	work := make([]float64, max(1, 4*k))
	if !lapack64.Getri(a, ipiv, work, len(work)) {
		return false
	}
	for _, v := range m {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
