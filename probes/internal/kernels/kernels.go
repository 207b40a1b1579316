package kernels

import (
	"fmt"
	"math"
	"runtime"

	"gonum.org/v1/gonum/blas"

	"github.com/neuronscope/neuronscope/internal/linalg"
)

// Tile is the strip height of SyrkUpper: the rows of C computed by one GEMM.
const Tile = 256

// Backend names the float64 BLAS/LAPACK backend of this build: "openblas" or "gonum-purego".
func Backend() string { return backend }

// Dgemm computes C = alpha·op(A)·op(B) + beta·C in float64 (row-major, like blas64's Dgemm)
// on the build's backend, splitting the rows of C across goroutines when the backend is
// single-threaded.
func Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	workers := runtime.GOMAXPROCS(0)
	if threaded || workers == 1 || m < 64 || float64(m)*float64(n)*float64(k) < 4e6 {
		dblas.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	linalg.Parallel(m, 32, func(lo, hi int) {
		aOff := lo * lda
		if tA == blas.Trans {
			aOff = lo
		}
		dblas.Dgemm(tA, tB, hi-lo, n, k, alpha, a[aOff:], lda, b, ldb, beta, c[lo*ldc:], ldc)
	})
}

// Dgemv computes y = alpha·op(A)·x + beta·y in float64 (A row-major [m, n], like blas64's
// Dgemv) on the build's backend.
func Dgemv(tA blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, beta float64, y []float64) {
	dblas.Dgemv(tA, m, n, alpha, a, lda, x, 1, beta, y, 1)
}

// Upper is the upper triangle of an n×n symmetric matrix stored in row strips, the layout
// SYRK writes without touching the lower triangle: strip s holds rows s·Tile … min((s+1)·Tile,
// n)−1 and columns s·Tile … n−1, row-major with stride n − s·Tile. It takes n(n+Tile)/2
// values instead of n². Row i's entries (i, i…n−1) are contiguous (Row). Inside a strip's
// leading Tile×Tile block the entries below the diagonal are scratch: SYRK writes partial
// sums there, and they must never be read.
type Upper struct {
	N    int
	Data []float64
}

// NewUpper returns a zero n×n strip-stored upper triangle.
func NewUpper(n int) Upper {
	return Upper{N: n, Data: make([]float64, stripOffset(n, (n+Tile-1)/Tile))}
}

// stripOffset is the offset of strip s: the strips before it are full (Tile rows each).
func stripOffset(n, s int) int {
	off := 0
	for t := 0; t < s; t++ {
		off += min(Tile, n-t*Tile) * (n - t*Tile)
	}
	return off
}

// strip returns strip s's data and stride.
func (u Upper) strip(s int) ([]float64, int) {
	off, i0 := stripOffset(u.N, s), s*Tile
	w := u.N - i0
	return u.Data[off : off+min(Tile, u.N-i0)*w], w
}

// Row returns entries (i, i), (i, i+1), …, (i, n−1), aliasing u.Data.
func (u Upper) Row(i int) []float64 {
	s := i / Tile
	i0 := s * Tile
	w := u.N - i0
	off := stripOffset(u.N, s) + (i-i0)*w + (i - i0)
	return u.Data[off : off+u.N-i]
}

// Rows calls fn(i, Row(i)) for every row, rows split across goroutines.
func (u Upper) Rows(fn func(i int, row []float64)) {
	linalg.Parallel(u.N, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			fn(i, u.Row(i))
		}
	})
}

// Dense writes the full symmetric matrix s·A, [n, n] row-major, to dst (allocated when nil)
// and returns it.
func (u Upper) Dense(dst []float64, s float64) []float64 {
	n := u.N
	if dst == nil {
		dst = make([]float64, n*n)
	}
	for i := 0; i < n; i++ {
		for k, v := range u.Row(i) {
			j := i + k
			dst[i*n+j], dst[j*n+i] = s*v, s*v
		}
	}
	return dst
}

// SyrkUpper adds AᵀA to u: for i ≤ j, u(i,j) += Σ_r A[r,i]·A[r,j]. A is [k, n] with row
// stride lda. It panics if a is too short or u has the wrong size.
func SyrkUpper(u Upper, k int, a []float64, lda int) {
	n := u.N
	if n == 0 || k == 0 {
		return
	}
	checkSyrk(n, k, len(a), lda, len(u.Data), stripOffset(n, (n+Tile-1)/Tile))
	for i0, s := 0, 0; i0 < n; i0, s = i0+Tile, s+1 {
		c, w := u.strip(s)
		Dgemm(blas.Trans, blas.NoTrans, min(Tile, n-i0), w, k, 1, a[i0:], lda, a[i0:], lda, 1, c, w)
	}
}

// SyrkUpper32 is SyrkUpper with float32 inputs and products: each strip of AᵀA is computed by
// a float32 GEMM (internal/linalg) into scratch and added to u in float64. scratch must hold
// min(Tile, n)·n values (it panics otherwise). Each product sums k float32 terms, so entries
// carry a relative rounding error of order √k·2⁻²⁴ with respect to Σ_r |A[r,i]·A[r,j]|.
func SyrkUpper32(u Upper, k int, a []float32, lda int, scratch []float32) {
	n := u.N
	if n == 0 || k == 0 {
		return
	}
	checkSyrk(n, k, len(a), lda, len(u.Data), stripOffset(n, (n+Tile-1)/Tile))
	if len(scratch) < min(Tile, n)*n {
		panic(fmt.Sprintf("kernels: scratch has %d values, SyrkUpper32 needs %d", len(scratch), min(Tile, n)*n))
	}
	for i0, s := 0, 0; i0 < n; i0, s = i0+Tile, s+1 {
		c, w := u.strip(s)
		m := min(Tile, n-i0)
		linalg.Gemm(blas.Trans, blas.NoTrans, m, w, k, 1, a[i0:], lda, a[i0:], lda, 0, scratch, w)
		linalg.Parallel(m, 16, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				dst, src := c[r*w+r:(r+1)*w], scratch[r*w+r:(r+1)*w]
				for j, v := range src {
					dst[j] += float64(v)
				}
			}
		})
	}
}

func checkSyrk(n, k, la, lda, lu, want int) {
	if n < 0 || k < 0 || lda < n {
		panic(fmt.Sprintf("kernels: bad SYRK shape n=%d k=%d lda=%d", n, k, lda))
	}
	if la < (k-1)*lda+n || lu != want {
		panic(fmt.Sprintf("kernels: SYRK sizes: len(a)=%d for [%d, %d] stride %d; %d values for a %d×%d Upper (want %d)",
			la, k, n, lda, lu, n, n, want))
	}
}

// EigvalsSym returns the eigenvalues of scale·A, A the symmetric matrix whose upper triangle
// u holds, in ascending order, written to dst (allocated when nil or short). u is not
// modified; the computation works on an n×n copy. It returns an error when the matrix holds
// a non-finite value or the algorithm does not converge.
func EigvalsSym(dst []float64, u Upper, scale float64) ([]float64, error) {
	n := u.N
	if n == 0 {
		return dst[:0], nil
	}
	a := make([]float64, n*n) // row-major upper triangle = column-major lower triangle
	for i := 0; i < n; i++ {
		row := a[i*n+i : i*n+n]
		for j, v := range u.Row(i) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("kernels: eigenvalues of a matrix with a non-finite entry (row %d)", i)
			}
			row[j] = scale * v
		}
	}
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	if err := eigvalsh(dst, n, a); err != nil {
		return nil, err
	}
	return dst, nil
}
