package linear

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Data is a labelled set of activation vectors: X is [N, P] row-major (N examples of P
// features: neurons of a tap, SAE latents, SNMF coefficients, ...), Labels[i] ∈ [0, Classes).
type Data struct {
	X       []float32
	N, P    int
	Labels  []int
	Classes int
}

// Validate reports the first problem that makes d unusable: shapes, labels out of range,
// a class without examples, fewer than two classes, or a non-finite feature.
func (d Data) Validate() error {
	switch {
	case d.N < 1 || d.P < 1:
		return fmt.Errorf("linear: %d examples of %d features", d.N, d.P)
	case len(d.X) != d.N*d.P:
		return fmt.Errorf("linear: %d values for %d examples × %d features", len(d.X), d.N, d.P)
	case len(d.Labels) != d.N:
		return fmt.Errorf("linear: %d labels for %d examples", len(d.Labels), d.N)
	case d.Classes < 2:
		return fmt.Errorf("linear: %d classes (need at least 2)", d.Classes)
	}
	count := make([]int, d.Classes)
	for i, y := range d.Labels {
		if y < 0 || y >= d.Classes {
			return fmt.Errorf("linear: label %d of example %d outside [0, %d)", y, i, d.Classes)
		}
		count[y]++
	}
	for c, k := range count {
		if k == 0 {
			return fmt.Errorf("linear: class %d has no examples", c)
		}
	}
	for i, v := range d.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("linear: non-finite feature %d of example %d", i%d.P, i/d.P)
		}
	}
	return nil
}

// ClassCounts is the number of examples of each class.
func (d Data) ClassCounts() []int {
	count := make([]int, d.Classes)
	for _, y := range d.Labels {
		count[y]++
	}
	return count
}

// subset returns the examples idx as a float64 [len(idx), P] matrix and their labels.
func (d Data) subset(idx []int) ([]float64, []int) {
	x := make([]float64, len(idx)*d.P)
	y := make([]int, len(idx))
	for r, i := range idx {
		for j, v := range d.X[i*d.P : (i+1)*d.P] {
			x[r*d.P+j] = float64(v)
		}
		y[r] = d.Labels[i]
	}
	return x, y
}

// StratifiedFolds assigns each example to one of k folds: every class's examples are shuffled
// (PCG seeded with seed) and dealt round-robin, continuing from class to class, so each fold
// holds ⌊n_c/k⌋ or ⌈n_c/k⌉ examples of class c and fold sizes differ by at most one. It
// returns the fold of each example.
func StratifiedFolds(labels []int, classes, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	byClass := make([][]int, classes)
	for i, y := range labels {
		byClass[y] = append(byClass[y], i)
	}
	fold := make([]int, len(labels))
	next := 0
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			fold[i] = next % k
			next++
		}
	}
	return fold
}

// Fold is the held-out evaluation of one cross-validation fold.
type Fold struct {
	Train int `json:"train"`
	Test  int `json:"test"`
	// Accuracy is the fraction of the fold's held-out examples classified correctly.
	Accuracy float64 `json:"accuracy"`
	// Majority is the accuracy of always predicting the training set's most frequent class.
	Majority float64 `json:"majority_baseline"`
	// Iterations and Converged describe the solver (logistic regression only).
	Iterations int  `json:"iterations,omitempty"`
	Converged  bool `json:"converged,omitempty"`
}

// Result is a cross-validated probe: held-out accuracy per fold and their mean, and the probe
// refitted on all examples.
type Result struct {
	Method  string `json:"method"`
	Classes int    `json:"classes"`
	// Seed drives the fold assignment.
	Seed         uint64  `json:"seed"`
	Folds        []Fold  `json:"folds"`
	MeanAccuracy float64 `json:"mean_accuracy"`
	// StdAccuracy is the sample standard deviation of the fold accuracies.
	StdAccuracy float64 `json:"std_accuracy"`
	Probe       *Probe  `json:"probe"`
}

// summarize fills the mean and standard deviation of the fold accuracies.
func (r *Result) summarize() {
	var s float64
	for _, f := range r.Folds {
		s += f.Accuracy
	}
	r.MeanAccuracy = s / float64(len(r.Folds))
	if len(r.Folds) > 1 {
		var v float64
		for _, f := range r.Folds {
			v += (f.Accuracy - r.MeanAccuracy) * (f.Accuracy - r.MeanAccuracy)
		}
		r.StdAccuracy = math.Sqrt(v / float64(len(r.Folds)-1))
	}
}

// crossValidate runs k folds: fit trains on the rows given and returns a probe, which is then
// scored on the held-out rows.
func crossValidate(d Data, k int, seed uint64, fit func(x []float64, y []int) (*Probe, Fold, error)) ([]Fold, error) {
	if k < 2 || k > d.N {
		return nil, fmt.Errorf("linear: %d folds for %d examples (need 2 ≤ folds ≤ examples)", k, d.N)
	}
	assign := StratifiedFolds(d.Labels, d.Classes, k, seed)
	folds := make([]Fold, k)
	for f := range k {
		var train, test []int
		for i, a := range assign {
			if a == f {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		xtr, ytr := d.subset(train)
		p, fold, err := fit(xtr, ytr)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", f, err)
		}
		xte, yte := d.subset(test)
		pred := p.predict64(xte, len(test))
		maj := argmax(countInts(ytr, d.Classes))
		var hit, mhit int
		for i, y := range yte {
			if pred[i] == y {
				hit++
			}
			if maj == y {
				mhit++
			}
		}
		fold.Train, fold.Test = len(train), len(test)
		fold.Accuracy = float64(hit) / float64(len(test))
		fold.Majority = float64(mhit) / float64(len(test))
		folds[f] = fold
	}
	return folds, nil
}

func countInts(y []int, classes int) []float64 {
	c := make([]float64, classes)
	for _, v := range y {
		c[v]++
	}
	return c
}

// argmax is the index of the largest value (the first on ties).
func argmax(v []float64) int { return slices.Index(v, slices.Max(v)) }

// all returns every example as a float64 [N, P] matrix and the labels.
func (d Data) all() ([]float64, []int) {
	idx := make([]int, d.N)
	for i := range idx {
		idx[i] = i
	}
	return d.subset(idx)
}
