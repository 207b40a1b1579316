package decompose

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSVDInit: InitSVD's G0 equals clamp(V √Σ, ≥ 1e-6) from an exact (LAPACK-style) SVD of
// A = xᵀ, each singular vector signed so its entries sum to ≥ 0; zero singular values give
// columns of 1e-6 (the published clamp of a zero column).
func TestSVDInit(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, c := range []struct{ n, d, k, rank int }{{80, 30, 5, 30}, {60, 40, 6, 3}} {
		// x = L R with L [n, rank], R [rank, d]: A has exactly `rank` non-zero singular values.
		x := make([]float64, c.n*c.d)
		lm := mat.NewDense(c.n, c.rank, nil)
		rm := mat.NewDense(c.rank, c.d, nil)
		for i := 0; i < c.n; i++ {
			for j := 0; j < c.rank; j++ {
				lm.Set(i, j, r.NormFloat64()+0.3)
			}
		}
		for i := 0; i < c.rank; i++ {
			for j := 0; j < c.d; j++ {
				rm.Set(i, j, r.NormFloat64()*math.Pow(0.8, float64(i)))
			}
		}
		xm := mat.NewDense(c.n, c.d, x)
		xm.Mul(lm, rm)
		g := make([]float64, c.n*c.k)
		if err := svdG0(context.Background(), g, x, c.n, c.d, c.k, 42); err != nil {
			t.Fatal(err)
		}
		var svd mat.SVD
		if !svd.Factorize(xm, mat.SVDThin) { // x = U Σ Vᵀ: x's left vectors are A's right ones
			t.Fatal("SVD failed")
		}
		sv := svd.Values(nil)
		var u mat.Dense
		svd.UTo(&u)
		for j := 0; j < c.k; j++ {
			want := make([]float64, c.n)
			var sum float64
			for i := range want {
				want[i] = u.At(i, j)
				sum += want[i]
			}
			root := math.Sqrt(sv[j])
			if sv[j] < 1e-9*sv[0] {
				root = 0
			}
			for i := range want {
				if sum < 0 {
					want[i] = -want[i]
				}
				want[i] = max(root*want[i], 1e-6)
			}
			for i := range want {
				if math.Abs(g[i*c.k+j]-want[i]) > 1e-7*math.Sqrt(sv[0]) {
					t.Fatalf("n %d d %d rank %d: G0[%d, %d] = %.10g, exact SVD gives %.10g", c.n, c.d, c.rank, i, j, g[i*c.k+j], want[i])
				}
			}
		}
	}
}

// TestKMeansInit: on well-separated clusters the k-means start assigns each row to its
// cluster: G0 is one-hot (1 or 1e-6) and constant within each planted cluster.
func TestKMeansInit(t *testing.T) {
	const n, d, k = 90, 12, 3
	r := rand.New(rand.NewPCG(12, 12))
	x := make([]float32, n*d)
	truth := make([]int, n)
	for i := 0; i < n; i++ {
		truth[i] = i % k
		for j := 0; j < d; j++ {
			centre := 0.0
			if j%k == truth[i] {
				centre = 10
			}
			x[i*d+j] = float32(centre + r.NormFloat64()*0.1)
		}
	}
	g := make([]float32, n*k)
	if err := kmeansG0(context.Background(), g, x, n, d, k, 15, 42); err != nil {
		t.Fatal(err)
	}
	clusterOf := map[int]int{}
	for i := 0; i < n; i++ {
		label := -1
		for j := 0; j < k; j++ {
			switch v := g[i*k+j]; v {
			case 1:
				if label >= 0 {
					t.Fatalf("row %d has two labels", i)
				}
				label = j
			case 1e-6:
			default:
				t.Fatalf("G0[%d, %d] = %v, want 1 or 1e-6", i, j, v)
			}
		}
		if prev, ok := clusterOf[truth[i]]; ok && prev != label {
			t.Fatalf("planted cluster %d split between labels %d and %d", truth[i], prev, label)
		}
		clusterOf[truth[i]] = label
	}
	labels := map[int]bool{}
	for _, l := range clusterOf {
		labels[l] = true
	}
	if len(clusterOf) != k || len(labels) != k {
		t.Fatalf("clusters map to %v", clusterOf)
	}
}
