// Package linalg selects neuronscope's BLAS backend and holds the small parallel helpers the
// forward and backward passes share.
//
// All matrix products go through gonum's blas32 interface. The default build uses gonum's
// pure-Go implementation; building with `-tags openblas` (and CGO_LDFLAGS=-lopenblas) routes
// blas32 to OpenBLAS through gonum.org/v1/netlib.
package linalg

import (
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

var backend = "gonum-purego"

// threadedBLAS reports whether the BLAS library parallelizes each call itself (gonum's native
// Sgemm does); when false, callers split large products across goroutines.
var threadedBLAS = true

// Backend names the active BLAS implementation: "openblas" or "gonum-purego".
func Backend() string { return backend }

// Fast reports whether an optimized BLAS is linked.
func Fast() bool { return backend != "gonum-purego" }

// Parallel splits [0,n) into contiguous chunks and runs fn on each from up to GOMAXPROCS
// goroutines. Chunks are at least minChunk long, so small work stays on one goroutine.
func Parallel(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if minChunk < 1 {
		minChunk = 1
	}
	if w := n / minChunk; w < workers {
		workers = w
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C (row-major, like blas32's Sgemm) and, when the
// BLAS library is single-threaded, splits the rows of C across goroutines.
func Gemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	impl := blas32.Implementation()
	workers := runtime.GOMAXPROCS(0)
	if threadedBLAS || workers == 1 || m < 64 || float64(m)*float64(n)*float64(k) < 4e6 {
		impl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	Parallel(m, 32, func(lo, hi int) {
		aOff := lo * lda
		if tA == blas.Trans {
			aOff = lo
		}
		impl.Sgemm(tA, tB, hi-lo, n, k, alpha, a[aOff:], lda, b, ldb, beta, c[lo*ldc:], ldc)
	})
}
