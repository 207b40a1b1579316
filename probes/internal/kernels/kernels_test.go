package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
)

func randMat(rng *rand.Rand, n int) []float64 {
	a := make([]float64, n)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	return a
}

// naiveUpper is Σ_r a[r,i]·a[r,j] for i ≤ j (zero below).
func naiveUpper(n, k int, a []float64) []float64 {
	c := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			var s float64
			for r := 0; r < k; r++ {
				s += a[r*n+i] * a[r*n+j]
			}
			c[i*n+j] = s
		}
	}
	return c
}

func TestSyrkUpper(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {5, 3}, {Tile - 1, 7}, {Tile, 5}, {Tile + 37, 64}, {2*Tile + 1, 130}} {
		n, k := sz[0], sz[1]
		a := randMat(rng, k*n)
		want := naiveUpper(n, k, a)
		u := NewUpper(n)
		if len(u.Data) != n*(n+Tile)/2 && n%Tile == 0 {
			t.Errorf("n=%d: %d values, want n(n+Tile)/2 = %d", n, len(u.Data), n*(n+Tile)/2)
		}
		u.Rows(func(i int, row []float64) { // SyrkUpper adds: start from 1
			for j := range row {
				row[j] = 1
			}
		})
		SyrkUpper(u, k, a, n)
		u32 := NewUpper(n)
		a32 := make([]float32, len(a))
		for i, v := range a {
			a32[i] = float32(v)
		}
		SyrkUpper32(u32, k, a32, n, make([]float32, min(Tile, n)*n))
		dense := u.Dense(nil, 1)
		var err64, err32 float64
		for i := 0; i < n; i++ {
			r64, r32 := u.Row(i), u32.Row(i)
			if len(r64) != n-i {
				t.Fatalf("Row(%d) has %d entries", i, len(r64))
			}
			for j := i; j < n; j++ {
				scale := math.Sqrt(want[i*n+i] * want[j*n+j]) // ≥ Σ_r |a_ri·a_rj| (Cauchy–Schwarz)
				err64 = max(err64, math.Abs(r64[j-i]-1-want[i*n+j])/scale)
				err32 = max(err32, math.Abs(r32[j-i]-want[i*n+j])/scale)
				if dense[i*n+j] != r64[j-i] || dense[j*n+i] != r64[j-i] {
					t.Fatalf("Dense(%d,%d) differs from Row", i, j)
				}
			}
		}
		if err64 > 1e-13 {
			t.Errorf("n=%d k=%d: float64 SYRK relative error %.3g", n, k, err64)
		}
		// float32 inputs are rounded (2⁻²⁴ each) and k products summed in float32.
		if bound := 4 * float64(k+2) * 0x1p-24; err32 > bound {
			t.Errorf("n=%d k=%d: float32 SYRK relative error %.3g > %.3g", n, k, err32, bound)
		}
	}
}

func TestDgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m, n, k := 300, 70, 90
	a, b := randMat(rng, k*m), randMat(rng, k*n) // A stored [k, m] (used transposed)
	c := randMat(rng, m*n)
	want := slices.Clone(c)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for r := 0; r < k; r++ {
				s += a[r*m+i] * b[r*n+j]
			}
			want[i*n+j] = 2*s + 0.5*want[i*n+j]
		}
	}
	Dgemm(blas.Trans, blas.NoTrans, m, n, k, 2, a, m, b, n, 0.5, c, n)
	for i := range c {
		if math.Abs(c[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
			t.Fatalf("Dgemm[%d] = %v, want %v", i, c[i], want[i])
		}
	}
}

// TestEigvalsSym checks the eigenvalues of Q·diag(λ)·Qᵀ for a random orthogonal Q (a product
// of Householder reflections), with repeated and zero eigenvalues.
func TestEigvalsSym(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := Tile + 20 // two strips
	lam := make([]float64, n)
	for i := range lam {
		lam[i] = float64(i % 13) // repeats, and zeros
	}
	lam[0] = 1e3
	q := make([]float64, n*n)
	for i := 0; i < n; i++ {
		q[i*n+i] = 1
	}
	for h := 0; h < 5; h++ { // Q ← Q·(I − 2vvᵀ)
		v := randMat(rng, n)
		var nv float64
		for _, x := range v {
			nv += x * x
		}
		for i := 0; i < n; i++ {
			var s float64
			for j := 0; j < n; j++ {
				s += q[i*n+j] * v[j]
			}
			for j := 0; j < n; j++ {
				q[i*n+j] -= 2 * s * v[j] / nv
			}
		}
	}
	u := NewUpper(n)
	for i := 0; i < n; i++ {
		row := u.Row(i)
		for j := i; j < n; j++ {
			var s float64
			for l := 0; l < n; l++ {
				s += q[i*n+l] * lam[l] * q[j*n+l]
			}
			row[j-i] = s / 2 // EigvalsSym scales by 2 below
		}
	}
	got, err := EigvalsSym(nil, u, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(lam)
	slices.Sort(want)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-11*1e3 {
			t.Fatalf("%s: eigenvalue %d = %.15g, want %g", Backend(), i, got[i], want[i])
		}
	}
	u.Row(3)[2] = math.Inf(1)
	if _, err := EigvalsSym(nil, u, 1); err == nil {
		t.Fatal("no error for an infinite entry")
	}
}
