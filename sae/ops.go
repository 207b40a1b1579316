package sae

import (
	"math"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// vec is gonum's native BLAS, used for the level-1 vector kernels (axpy, dot) of the sparse
// TopK paths: its SIMD kernels need no cgo call per vector, which matters for the n·k short
// vectors of one batch. Matrix products go through linalg.Gemm (OpenBLAS with -tags openblas).
var vec gonum.Implementation

// axpy computes y += a·x.
func axpy(a float32, x, y []float32) { vec.Saxpy(len(x), a, x, 1, y, 1) }

// scaleInto sets dst = a·x.
func scaleInto(dst []float32, a float32, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = a * v
	}
}

// dot is x·y in float32 (SIMD).
func dot(x, y []float32) float32 { return vec.Sdot(len(x), x, 1, y, 1) }

// gemm computes C = alpha·op(A)·op(B) + beta·C, row-major (see linalg.Gemm).
func gemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	linalg.Gemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// parallel runs fn over [0,n) in chunks of at least minChunk (linalg.Parallel).
func parallel(n, minChunk int, fn func(lo, hi int)) { linalg.Parallel(n, minChunk, fn) }

// colSumAdd adds the column sums of m ([rows, cols]) to dst [cols]. Every column is summed in
// row order whatever the split across goroutines, so the result does not depend on the
// number of threads.
func colSumAdd(dst, m []float32, rows, cols int, scale float32) {
	parallel(cols, 256, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for r := 0; r < rows; r++ {
			row := m[r*cols+lo : r*cols+hi]
			for j, v := range row {
				acc[j] += float64(v)
			}
		}
		for j, a := range acc {
			dst[lo+j] += scale * float32(a)
		}
	})
}

// sumSq is Σ v² in float64.
func sumSq(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return s
}

// norm is the Euclidean norm in float64.
func norm(v []float32) float64 { return math.Sqrt(sumSq(v)) }

// finite reports whether every value is finite, and the index of the first that is not.
func finite(v []float32) (bool, int) {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false, i
		}
	}
	return true, -1
}

// columnMeans returns the mean of every column of x [n, d], in float64, rows summed in order.
func columnMeans(x []float32, n, d int) []float64 {
	mean := make([]float64, d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	return mean
}

// residualGrad writes scale·(r − x) into dr and returns Σ(r − x)² in float64: the squared
// error of one row and its gradient (scale = ∂loss/∂(Σ(r − x)²)·2).
func residualGrad(dr, r, x []float32, scale float64) float64 {
	var s float64
	for j := range x {
		e := r[j] - x[j]
		s += float64(e) * float64(e)
		dr[j] = float32(scale * float64(e))
	}
	return s
}
