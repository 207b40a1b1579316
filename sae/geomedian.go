package sae

import "math"

// GeometricMedian returns the point minimising the summed Euclidean distance to the rows of x
// ([n, d]), by Weiszfeld's iterations as geom_median.torch.compute_geometric_median (the
// package OpenAI's TopK training uses) runs them: start at the mean; repeat up to 100 times
// w_i = 1/max(‖x_i − μ‖, 1e-6), μ = Σw_i·x_i/Σw_i, stopping once the mean distance improves by
// at most 1e-20 of itself. Arithmetic is float64, reductions in row order.
func GeometricMedian(x []float32, d int) []float32 {
	n := len(x) / d
	out := make([]float32, d)
	if n == 0 {
		return out
	}
	const (
		eps     = 1e-6
		maxIter = 100
		ftol    = 1e-20
	)
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	med := weightedMean(x, w, d)
	dist := make([]float64, n)
	objective := func() float64 {
		parallel(n, 256, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var s float64
				for j, v := range x[i*d : (i+1)*d] {
					e := float64(v) - med[j]
					s += e * e
				}
				dist[i] = math.Sqrt(s)
			}
		})
		var s float64
		for _, v := range dist {
			s += v
		}
		return s / float64(n)
	}
	obj := objective()
	for range maxIter {
		prev := obj
		for i, v := range dist { // dist holds ‖x_i − μ‖ for the current μ
			w[i] = 1 / math.Max(v, eps)
		}
		med = weightedMean(x, w, d)
		obj = objective()
		if math.Abs(prev-obj) <= ftol*obj {
			break
		}
	}
	for j, v := range med {
		out[j] = float32(v)
	}
	return out
}

// weightedMean is Σ w_i·x_i / Σ w_i over rows, each column summed in row order.
func weightedMean(x []float32, w []float64, d int) []float64 {
	n := len(w)
	var ws float64
	for _, v := range w {
		ws += v
	}
	out := make([]float64, d)
	parallel(d, 32, func(lo, hi int) {
		acc := out[lo:hi]
		for i := range n {
			wi := w[i] / ws
			for j, v := range x[i*d+lo : i*d+hi] {
				acc[j] += wi * float64(v)
			}
		}
	})
	return out
}
