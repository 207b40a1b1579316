package linear

// DiffMeansOptions configures DiffMeans.
type DiffMeansOptions struct {
	// Folds is the number of stratified cross-validation folds (default 5).
	Folds int
	// Seed drives the fold assignment.
	Seed uint64
}

// DiffMeans cross-validates a difference-in-means probe on d and refits it on all examples.
//
// The classifier is the nearest class mean in raw activation space (Euclidean): class c
// scores μ_c·x − ‖μ_c‖²/2. With two classes that is the threshold at the midpoint of the
// means along μ₁ − μ₀. The directions are, for two classes, the single direction μ₁ − μ₀
// (toward class 1); for more, μ_c − μ_{¬c} for each class c, μ_{¬c} the mean of all examples
// not in c. Norms holds ‖μ₁ − μ₀‖ (‖μ_c − μ_{¬c}‖): adding Norms[c]·Directions[c] to an
// activation moves it by the distance between the two means.
func DiffMeans(d Data, opts DiffMeansOptions) (*Result, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if opts.Folds == 0 {
		opts.Folds = 5
	}
	fit := func(x []float64, y []int) (*Probe, Fold, error) {
		return fitDiffMeans(x, y, len(y), d.P, d.Classes), Fold{}, nil
	}
	folds, err := crossValidate(d, opts.Folds, opts.Seed, fit)
	if err != nil {
		return nil, err
	}
	x, y := d.all()
	r := &Result{Method: "diffmeans", Classes: d.Classes, Seed: opts.Seed, Folds: folds, Probe: fitDiffMeans(x, y, d.N, d.P, d.Classes)}
	r.summarize()
	return r, nil
}

// fitDiffMeans computes the class means of x ([n, p]) and the probe they define. A class
// absent from x gets a zero mean and can never win (score −∞ is not representable, so it is
// given a bias of −1e300).
func fitDiffMeans(x []float64, y []int, n, p, classes int) *Probe {
	sum := make([]float64, classes*p)
	total := make([]float64, p)
	count := make([]float64, classes)
	for i := range n {
		c := y[i]
		count[c]++
		row := x[i*p : (i+1)*p]
		for j, v := range row {
			sum[c*p+j] += v
			total[j] += v
		}
	}
	pr := &Probe{Method: "diffmeans", Classes: classes, P: p, Rows: classes,
		Weights: make([]float64, classes*p), Bias: make([]float64, classes)}
	for c := range classes {
		mu := pr.Weights[c*p : (c+1)*p]
		if count[c] == 0 {
			pr.Bias[c] = -1e300
			continue
		}
		var sq float64
		for j := range p {
			mu[j] = sum[c*p+j] / count[c]
			sq += mu[j] * mu[j]
		}
		pr.Bias[c] = -sq / 2
	}
	var vecs [][]float64
	if classes == 2 {
		v := make([]float64, p)
		for j := range p {
			v[j] = pr.Weights[p+j] - pr.Weights[j]
		}
		vecs = [][]float64{v}
	} else {
		for c := range classes {
			v := make([]float64, p)
			rest := float64(n) - count[c]
			for j := range p {
				if rest > 0 {
					v[j] = pr.Weights[c*p+j] - (total[j]-sum[c*p+j])/rest
				}
			}
			vecs = append(vecs, v)
		}
	}
	pr.setDirections(vecs)
	return pr
}
