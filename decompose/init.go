package decompose

import (
	"context"
	"math"
	"sort"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

const (
	// svdOversample is the number of extra directions the subspace iteration of InitSVD carries
	// beyond the rank; convergence of the top k goes as (σ_{k+p+1}/σ_k)^iterations.
	svdOversample = 20
	// svdMaxIter bounds the subspace iterations of InitSVD.
	svdMaxIter = 300
)

// svdG0 sets g [n, k] to the published SVD start: A = xᵀ ≈ U Σ Vᵀ truncated to k, G0 = V √Σ
// clamped at ≥ 1e-6. The top k singular triplets come from block subspace iteration on x xᵀ
// with Rayleigh–Ritz (Halko, Martinsson & Tropp 2011, §4.5), run until the top-k Ritz values
// change by less than svdTol relative to the largest, instead of a full LAPACK SVD (which
// costs minutes at GPT-2 sizes and gives the same triplets). Each singular vector's sign is
// chosen so that its entries sum to ≥ 0 (LAPACK's signs are arbitrary; see doc.go).
func svdG0[T Float](ctx context.Context, g, x []T, n, d, k int, seed uint64) error {
	l := min(k+svdOversample, n, d)
	tol := 1e-12
	if _, f32 := any(x).([]float32); f32 {
		tol = 1e-7
	}
	r := newMT19937(seed)
	z := make([]T, d*l)
	for i := range z {
		z[i] = T(r.float32() - 0.5)
	}
	y := make([]T, n*l)
	gemm(true, blas.NoTrans, blas.NoTrans, n, l, d, 1, x, d, z, l, 0, y, l)
	orthonormalize(y, n, l)
	orthonormalize(y, n, l)
	var prev []float64
	var vals []float64
	var vecs *mat.Dense
	for it := 0; ; it++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// z = xᵀ y; the Ritz pairs of x xᵀ on span(y) come from zᵀz = yᵀ x xᵀ y.
		gemm(true, blas.Trans, blas.NoTrans, d, l, n, 1, x, d, y, l, 0, z, l)
		vals, vecs = ritz(z, d, l)
		if prev != nil && it >= 2 {
			worst := 0.0
			for j := 0; j < k; j++ {
				worst = max(worst, math.Abs(vals[j]-prev[j]))
			}
			if worst <= tol*vals[0] || it >= svdMaxIter {
				break
			}
		}
		prev = append(prev[:0], vals...)
		// y ← orth(x z), rotated to the Ritz vectors.
		gemm(true, blas.NoTrans, blas.NoTrans, n, l, d, 1, x, d, z, l, 0, y, l)
		orthonormalize(y, n, l)
		orthonormalize(y, n, l)
	}
	// Left singular vectors of x (= right singular vectors of A): y W, with σ_j = sqrt(θ_j).
	w := make([]T, l*k)
	for a := 0; a < l; a++ {
		for j := 0; j < k; j++ {
			w[a*k+j] = T(vecs.At(a, j))
		}
	}
	gemm(true, blas.NoTrans, blas.NoTrans, n, k, l, 1, y, l, w, k, 0, g, k)
	for j := 0; j < k; j++ {
		var sum float64
		for t := 0; t < n; t++ {
			sum += float64(g[t*k+j])
		}
		sign := 1.0
		if sum < 0 {
			sign = -1
		}
		root := math.Sqrt(math.Sqrt(max(vals[j], 0))) // √σ_j
		for t := 0; t < n; t++ {
			g[t*k+j] = T(max(sign*root*float64(g[t*k+j]), 1e-6))
		}
	}
	return nil
}

// ritz returns the eigenvalues of zᵀz (z is [d, l]) in descending order and the matching
// eigenvectors as the columns of an l×l matrix.
func ritz[T Float](z []T, d, l int) ([]float64, *mat.Dense) {
	c := make([]T, l*l)
	gemm(true, blas.Trans, blas.NoTrans, l, l, d, 1, z, l, z, l, 0, c, l)
	return eigenDesc(c, l)
}

// eigenDesc diagonalises the symmetric l×l matrix c (upper triangle read, in float64),
// returning eigenvalues in descending order and eigenvectors as columns.
func eigenDesc[T Float](c []T, l int) ([]float64, *mat.Dense) {
	s := mat.NewSymDense(l, nil)
	for a := 0; a < l; a++ {
		for b := a; b < l; b++ {
			s.SetSym(a, b, float64(c[a*l+b]))
		}
	}
	var e mat.EigenSym
	if !e.Factorize(s, true) {
		// Not reachable for finite input; fall back to the identity.
		id := mat.NewDense(l, l, nil)
		for a := 0; a < l; a++ {
			id.Set(a, a, 1)
		}
		return make([]float64, l), id
	}
	asc := e.Values(nil)
	var vecs mat.Dense
	e.VectorsTo(&vecs)
	order := make([]int, l)
	for i := range order {
		order[i] = l - 1 - i
	}
	sort.SliceStable(order, func(a, b int) bool { return asc[order[a]] > asc[order[b]] })
	vals := make([]float64, l)
	out := mat.NewDense(l, l, nil)
	for j, o := range order {
		vals[j] = asc[o]
		for a := 0; a < l; a++ {
			out.Set(a, j, vecs.At(a, o))
		}
	}
	return vals, out
}

// orthonormalize makes the columns of y [n, l] orthonormal (SVQB: y ← y W Λ^{-1/2} with
// yᵀy = W Λ Wᵀ), ordered by decreasing Λ; directions with Λ below 1e-12 of the largest
// (y rank-deficient) become zero columns. Calling it twice restores orthogonality lost to
// rounding.
func orthonormalize[T Float](y []T, n, l int) {
	c := make([]T, l*l)
	gemm(true, blas.Trans, blas.NoTrans, l, l, n, 1, y, l, y, l, 0, c, l)
	vals, vecs := eigenDesc(c, l)
	w := make([]T, l*l)
	for j := 0; j < l; j++ {
		if !(vals[j] > 1e-12*vals[0]) {
			continue
		}
		s := 1 / math.Sqrt(vals[j])
		for a := 0; a < l; a++ {
			w[a*l+j] = T(vecs.At(a, j) * s)
		}
	}
	tmp := make([]T, n*l)
	gemm(true, blas.NoTrans, blas.NoTrans, n, l, l, 1, y, l, w, l, 0, tmp, l)
	copy(y, tmp)
}

// kmeansG0 sets g [n, k] to the published k-means start: centres = k distinct random rows of
// x, iters Lloyd iterations (assignment by the smallest ‖x‖² + ‖c‖² − 2x·c, first index on
// ties; centres = cluster means; an empty cluster's centre is re-drawn as a random row), then
// G0 = one-hot(last assignment) clamped at ≥ 1e-6.
func kmeansG0[T Float](ctx context.Context, g, x []T, n, d, k, iters int, seed uint64) error {
	r := newMT19937(seed)
	perm := r.perm(n)
	centres := make([]T, k*d)
	for j := 0; j < k; j++ {
		copy(centres[j*d:(j+1)*d], x[perm[j]*d:(perm[j]+1)*d])
	}
	x2 := make([]float64, n)
	for t := 0; t < n; t++ {
		for _, v := range x[t*d : (t+1)*d] {
			x2[t] += float64(v) * float64(v)
		}
	}
	labels := make([]int, n)
	const chunk = 4096
	dot := make([]T, min(chunk, n)*k)
	sums := make([]float64, k*d)
	counts := make([]int, k)
	c2 := make([]float64, k)
	for range iters {
		if err := ctx.Err(); err != nil {
			return err
		}
		for j := 0; j < k; j++ {
			c2[j] = 0
			for _, v := range centres[j*d : (j+1)*d] {
				c2[j] += float64(v) * float64(v)
			}
		}
		for lo := 0; lo < n; lo += chunk {
			hi := min(lo+chunk, n)
			gemm(true, blas.NoTrans, blas.Trans, hi-lo, k, d, 1, x[lo*d:hi*d], d, centres, d, 0, dot, k)
			for t := lo; t < hi; t++ {
				best, arg := math.Inf(1), 0
				for j, v := range dot[(t-lo)*k : (t-lo+1)*k] {
					if dist := x2[t] + c2[j] - 2*float64(v); dist < best {
						best, arg = dist, j
					}
				}
				labels[t] = arg
			}
		}
		for i := range sums {
			sums[i] = 0
		}
		for j := range counts {
			counts[j] = 0
		}
		for t, j := range labels {
			counts[j]++
			row := sums[j*d : (j+1)*d]
			for i, v := range x[t*d : (t+1)*d] {
				row[i] += float64(v)
			}
		}
		for j := 0; j < k; j++ {
			c := float64(max(counts[j], 1))
			for i := 0; i < d; i++ {
				centres[j*d+i] = T(sums[j*d+i] / c)
			}
		}
		for j := 0; j < k; j++ {
			if counts[j] == 0 {
				t := r.intn(n)
				copy(centres[j*d:(j+1)*d], x[t*d:(t+1)*d])
			}
		}
	}
	for i := range g {
		g[i] = 1e-6
	}
	for t, j := range labels {
		g[t*k+j] = 1
	}
	return nil
}
