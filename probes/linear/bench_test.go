package linear

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// plantedData is n examples of p features: Gaussian noise plus, for class c, a shift of 0.5
// along a random unit-scale direction per class.
func plantedData(n, p, classes int, seed uint64) Data {
	rng := rand.New(rand.NewPCG(seed, 3))
	dirs := make([]float64, classes*p)
	for i := range dirs {
		dirs[i] = rng.NormFloat64() / 8
	}
	d := Data{X: make([]float32, n*p), N: n, P: p, Labels: make([]int, n), Classes: classes}
	for i := range n {
		c := i % classes
		d.Labels[i] = c
		for j := range p {
			d.X[i*p+j] = float32(rng.NormFloat64() + dirs[c*p+j])
		}
	}
	return d
}

// BenchmarkLogistic times a full 5-fold cross-validated fit plus the final fit (6 L-BFGS runs)
// on 5000 examples × 512 features (the issue: "train in seconds").
func BenchmarkLogistic(b *testing.B) {
	for _, classes := range []int{2, 10} {
		b.Run(fmt.Sprintf("classes=%d", classes), func(b *testing.B) {
			d := plantedData(5000, 512, classes, 1)
			var r *Result
			for range b.N {
				var err error
				if r, err = Logistic(d, LogisticOptions{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/cv-fit")
			b.ReportMetric(r.MeanAccuracy, "accuracy")
			b.ReportMetric(float64(r.Folds[0].Iterations), "iterations")
		})
	}
}

// BenchmarkDiffMeans times the same cross-validation with the difference-in-means probe.
func BenchmarkDiffMeans(b *testing.B) {
	d := plantedData(5000, 512, 10, 1)
	for range b.N {
		if _, err := DiffMeans(d, DiffMeansOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/cv-fit")
}
