package sae

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestTopKSelection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for trial := range 300 {
		m := 1 + rng.IntN(600)
		k := 1 + rng.IntN(m)
		row := make([]float32, m)
		for i := range row {
			row[i] = float32(rng.IntN(20)) // many ties
		}
		idx, val := make([]int32, k), make([]float32, k)
		var sel selector
		sel.topK(idx, val, row, k)
		// Reference: stable sort of indices by value descending keeps lower indices first among ties.
		ref := make([]int32, m)
		for i := range ref {
			ref[i] = int32(i)
		}
		slices.SortStableFunc(ref, func(a, b int32) int {
			switch {
			case row[a] > row[b]:
				return -1
			case row[a] < row[b]:
				return 1
			}
			return 0
		})
		want := append([]int32(nil), ref[:k]...)
		slices.Sort(want)
		if !slices.Equal(idx, want) {
			t.Fatalf("trial %d (m=%d k=%d): got %v want %v", trial, m, k, idx, want)
		}
		for q, j := range idx {
			if val[q] != row[j] {
				t.Fatalf("trial %d: value of %d is %g, want %g", trial, j, val[q], row[j])
			}
		}
		v := append([]float32(nil), row...)
		got := kthLargest(v, k)
		s := append([]float32(nil), row...)
		slices.Sort(s)
		if got != s[m-k] {
			t.Fatalf("trial %d: %d-th largest %g, want %g", trial, k, got, s[m-k])
		}
	}
}

func BenchmarkTopKRow(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{32, 256} {
		row := make([]float32, 2048)
		for i := range row {
			row[i] = float32(rng.NormFloat64())
		}
		idx, val := make([]int32, k), make([]float32, k)
		b.Run(strconv.Itoa(k), func(b *testing.B) {
			var sel selector
			for b.Loop() {
				sel.topK(idx, val, row, k)
			}
		})
	}
}

func TestKernelBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for range 2000 {
		th := float32(math.Exp(rng.NormFloat64() * 2))
		eps := math.Exp(rng.NormFloat64() * 2)
		lo, hi := kernelBounds(th, eps)
		in := func(p float32) bool {
			u := (float64(p) - float64(th)) / eps
			return u > -0.5 && u < 0.5
		}
		for _, edge := range []float32{lo, hi, float32(float64(th) - eps/2), float32(float64(th) + eps/2), th} {
			p := edge
			for range 3 {
				p = math.Nextafter32(p, float32(math.Inf(-1)))
			}
			for range 7 {
				if (p > lo && p < hi) != in(p) {
					t.Fatalf("θ %g ε %g: p %g: bounds (%g, %g) say %v, the kernel says %v", th, eps, p, lo, hi, p > lo && p < hi, in(p))
				}
				p = math.Nextafter32(p, float32(math.Inf(1)))
			}
		}
	}
}
