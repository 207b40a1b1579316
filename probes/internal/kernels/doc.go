// Package kernels holds the float64 dense kernels the probes packages share: a GEMM on the
// build's BLAS backend, a tiled rank-k update of the upper triangle of a symmetric matrix
// (SYRK) into a strip-stored triangle (Upper), with float64 or float32 products, and the eigenvalues of a symmetric matrix.
//
// # Backends
//
// The default build uses gonum's pure-Go BLAS (blas/gonum, which parallelises each call) and
// gonum's LAPACK (mat.EigenSym) for eigenvalues. Built with `-tags openblas` (and
// CGO_LDFLAGS=-lopenblas), float64 products go to OpenBLAS through gonum.org/v1/netlib (run
// single-threaded, as internal/linalg configures it, with the rows of C split across
// goroutines), float32 products go through internal/linalg, and eigenvalues come from
// LAPACK's dsyevd in OpenBLAS (the routine torch.linalg.eigvalsh calls). At width 3072
// gonum's Dsyev takes about 30 s on this 2-core machine against 2–5 s for OpenBLAS's
// dsyevd, which is why the eigenvalue path is backend-specific. Backend names the active one.
//
// # Shapes and storage
//
// All matrices are row-major. A symmetric matrix is kept as its upper triangle in row strips
// (Upper): strip s holds rows s·Tile … (s+1)·Tile−1 and columns s·Tile … n−1 with stride
// n − s·Tile, which is n(n+Tile)/2 values (0.54 n² at n = 3072) and exactly what one GEMM per
// strip writes. SyrkUpper reads A [k, n] (k observations of n variables, row stride lda) and
// adds AᵀA into an Upper; EigvalsSym reads one.
//
// # Cost
//
// SyrkUpper runs ⌈n/Tile⌉ GEMMs, one per strip: strip s (rows i0..i1) gets
// A[:, i0:i1]ᵀ·A[:, i0:n]. That is k·n·(n+Tile)/2 multiply-adds, (1 + Tile/n) times the
// k·n²/2 of an exact SYRK and about half of a full AᵀA GEMM.
package kernels
