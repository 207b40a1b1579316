package linear

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// refData is the data set of the scikit-learn reference below: 90 examples of 4 features with
// exact quarter values, a binary and a 3-class labelling with some flipped labels.
func refData() (x []float32, y2, y3 []int) {
	const n, p = 90, 4
	x = make([]float32, n*p)
	for i := range n {
		for j := range p {
			x[i*p+j] = float32(float64((i*37+j*11+i*i*j)%17-8) / 4 * float64(j+1))
		}
	}
	at := func(i, j int) float64 { return float64(x[i*p+j]) }
	for i := range n {
		l := 2
		if at(i, 0)+0.5*at(i, 1) > 1 {
			l = 0
		} else if at(i, 2)-0.3*at(i, 3) > 0 {
			l = 1
		}
		if (i*5)%11 == 0 {
			l = (l + 1) % 3
		}
		y3 = append(y3, l)
		b := 0
		if at(i, 0)-0.7*at(i, 2)+0.2*at(i, 3) > 0 {
			b = 1
		}
		if (i*7)%13 == 0 {
			b = 1 - b
		}
		y2 = append(y2, b)
	}
	return x, y2, y3
}

// standardisedModel recovers the standardised-space weights and (for several rows, centred)
// intercepts from a probe's raw-space ones.
func standardisedModel(p *Probe) (w, b []float64) {
	w, b = make([]float64, len(p.Weights)), make([]float64, p.Rows)
	for c := range p.Rows {
		b[c] = p.Bias[c]
		for j := range p.P {
			w[c*p.P+j] = p.Weights[c*p.P+j] * p.Scale[j]
			b[c] += p.Weights[c*p.P+j] * p.Mean[j]
		}
	}
	if p.Rows > 1 {
		var m float64
		for _, v := range b {
			m += v
		}
		for c := range b {
			b[c] -= m / float64(p.Rows)
		}
	}
	return w, b
}

// TestLogisticMatchesScikitLearn compares with scikit-learn's objective (LogisticRegression,
// C=0.5: ½‖W‖² + C·Σℓ, multinomial for 3 classes) on StandardScaler().fit_transform(X) of
// refData, float64, minimised to a gradient of 1e-7 by scipy's L-BFGS-B (gtol=1e-14, ftol=0;
// intercepts centred for 3 classes). scikit-learn 1.2.1's own fit stops at a gradient of
// 6e-5 (its L-BFGS ftol is 64ε) and differs from this optimum by up to 1e-5.
func TestLogisticMatchesScikitLearn(t *testing.T) {
	x, y2, y3 := refData()
	cases := []struct {
		y       []int
		classes int
		w, b    []float64
	}{
		{y2, 2, []float64{1.0608249049709289, 0.4550336313531213, -1.721424261477412, 0.5613205370851957}, []float64{0.2763180331762647}},
		{y3, 3, []float64{0.8646413766117064, 0.734701932792994, -0.054663258404212454, 0.19273385510091318,
			-0.07246133753600115, 0.3118718408606022, 0.6188630778702953, -0.4066853903692756,
			-0.792180039075705, -1.0465737736535965, -0.564199819466083, 0.21395153526836225},
			[]float64{-0.26780137271469256, 0.342540415235755, -0.07473904252106246}},
	}
	for _, c := range cases {
		r, err := Logistic(Data{X: x, N: 90, P: 4, Labels: c.y, Classes: c.classes}, LogisticOptions{C: 0.5, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		w, b := standardisedModel(r.Probe)
		for i := range c.w {
			if math.Abs(w[i]-c.w[i]) > 1e-6 {
				t.Errorf("%d classes: w[%d] = %.9f, reference %.9f", c.classes, i, w[i], c.w[i])
			}
		}
		for i := range c.b {
			if math.Abs(b[i]-c.b[i]) > 1e-6 {
				t.Errorf("%d classes: b[%d] = %.9f, reference %.9f", c.classes, i, b[i], c.b[i])
			}
		}
		if len(r.Folds) != 5 || r.MeanAccuracy <= r.Folds[0].Majority-0.3 {
			t.Errorf("%d classes: folds %+v", c.classes, r.Folds)
		}
		for _, f := range r.Folds {
			if !f.Converged {
				t.Errorf("%d classes: a fold did not converge: %+v", c.classes, f)
			}
		}
	}
}

// TestLogisticOneDimensional checks the optimum of a 1-D problem solved by hand. Examples
// x = +1: a of class 1, b of class 0; x = −1: a of class 0, b of class 1 (standardised x = x,
// intercept 0 by symmetry). The stationarity condition of ½w² + C·Σℓ is
// 2C[(a+b)σ(w) − a] + w = 0, solved below by bisection; with C → ∞, w = ln(a/b).
func TestLogisticOneDimensional(t *testing.T) {
	const a, b = 30, 10
	var x []float32
	var y []int
	for _, s := range []struct {
		x     float32
		label int
		k     int
	}{{1, 1, a}, {1, 0, b}, {-1, 0, a}, {-1, 1, b}} {
		for range s.k {
			x = append(x, s.x)
			y = append(y, s.label)
		}
	}
	sig := func(w float64) float64 { return 1 / (1 + math.Exp(-w)) }
	for _, C := range []float64{0.01, 1, 1e6} {
		lo, hi := 0.0, 10.0
		for range 200 {
			mid := (lo + hi) / 2
			if 2*C*((a+b)*sig(mid)-a)+mid < 0 {
				lo = mid
			} else {
				hi = mid
			}
		}
		want := (lo + hi) / 2
		r, err := Logistic(Data{X: x, N: len(y), P: 1, Labels: y, Classes: 2}, LogisticOptions{C: C, Folds: 4})
		if err != nil {
			t.Fatal(err)
		}
		p := r.Probe
		if math.Abs(p.Weights[0]-want) > 1e-6 || math.Abs(p.Bias[0]) > 1e-6 {
			t.Errorf("C=%g: w %.9f b %.3g, want w %.9f b 0", C, p.Weights[0], p.Bias[0], want)
		}
		if C == 1e6 && math.Abs(want-math.Log(3)) > 1e-4 {
			t.Errorf("C→∞: hand solution %.6f, want ln 3", want)
		}
		// Every fold predicts the majority label of each x: accuracy a/(a+b) = 0.75.
		if math.Abs(r.MeanAccuracy-0.75) > 1e-12 || p.Directions[0][0] != 1 || math.Abs(p.Norms[0]-want) > 1e-6 {
			t.Errorf("C=%g: accuracy %v, direction %v norm %v", C, r.MeanAccuracy, p.Directions, p.Norms)
		}
	}
}

// TestObjectiveGradient compares the analytic gradient with central differences.
func TestObjectiveGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, p = 23, 5
	z := make([]float64, n*p)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	for _, rows := range []int{1, 4} {
		tgt := make([]int, n)
		for i := range tgt {
			tgt[i] = rng.IntN(max(rows, 2))
		}
		o := &objective{z: z, t: tgt, n: n, p: p, rows: rows, lambda: 0.3, s: make([]float64, n*rows), g: make([]float64, rows*(p+1))}
		theta := make([]float64, rows*(p+1))
		for i := range theta {
			theta[i] = rng.NormFloat64()
		}
		o.eval(theta)
		g := slices.Clone(o.g)
		for k := range theta {
			h := 1e-5
			tp, tm := slices.Clone(theta), slices.Clone(theta)
			tp[k] += h
			tm[k] -= h
			o.eval(tp)
			fp := o.f
			o.eval(tm)
			fd := (fp - o.f) / (2 * h)
			if math.Abs(fd-g[k]) > 1e-8*(1+math.Abs(g[k])) {
				t.Errorf("rows %d: ∂f/∂θ[%d] = %.10f, finite difference %.10f", rows, k, g[k], fd)
			}
		}
	}
}

// TestTwoClassSoftmaxIsBinary: a 2-class softmax with C equals the binary model with 2C,
// w = W₁ − W₀ (the penalty ½(‖W₀‖²+‖W₁‖²) with W₁ = −W₀ = w/2 is ¼‖w‖²).
func TestTwoClassSoftmaxIsBinary(t *testing.T) {
	x, y2, _ := refData()
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	mean, scale := Standardize(x64, 90, 4)
	for i := range x64 {
		x64[i] = (x64[i] - mean[i%4]) / scale[i%4]
	}
	opts := LogisticOptions{C: 0.7}
	_ = opts.defaults()
	soft, err := minimizeLogistic(x64, y2, 90, 4, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.C = 1.4
	bin, err := minimizeLogistic(x64, y2, 90, 4, 1, opts)
	if err != nil {
		t.Fatal(err)
	}
	for j := range 4 {
		if d := soft.w[4+j] - soft.w[j]; math.Abs(d-bin.w[j]) > 1e-7 {
			t.Errorf("W₁−W₀ [%d] = %.9f, binary w %.9f", j, d, bin.w[j])
		}
		if s := soft.w[4+j] + soft.w[j]; math.Abs(s) > 1e-7 {
			t.Errorf("W₁+W₀ [%d] = %.3g, want 0", j, s)
		}
	}
	if d := soft.b[1] - soft.b[0]; math.Abs(d-bin.b[0]) > 1e-7 {
		t.Errorf("b₁−b₀ = %.9f, binary b %.9f", d, bin.b[0])
	}
}

func TestLogisticSeparableAndRawSpace(t *testing.T) {
	// Separable 1-D data far from the origin with a large scale: every fold is perfect.
	var x []float32
	var y []int
	for i := range 40 {
		v := float32(1000 + 5*i)
		x = append(x, v)
		y = append(y, i/20)
	}
	r, err := Logistic(Data{X: x, N: 40, P: 1, Labels: y, Classes: 2}, LogisticOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.MeanAccuracy != 1 || r.StdAccuracy != 0 || r.Probe.Weights[0] <= 0 {
		t.Errorf("separable: %+v, w %v", r.Folds, r.Probe.Weights)
	}
	// Raw-space scores equal standardised-space scores.
	x3, _, y3 := refData()
	r, err = Logistic(Data{X: x3, N: 90, P: 4, Labels: y3, Classes: 3}, LogisticOptions{Multiclass: OneVsRest})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Probe
	if r.Method != "logistic-ovr" || p.Rows != 3 || len(p.Directions) != 3 {
		t.Fatalf("ovr probe: %s rows %d", r.Method, p.Rows)
	}
	w, b := standardisedModel(p)
	s, err := p.Scores(nil, x3, 90)
	if err != nil {
		t.Fatal(err)
	}
	var mb float64
	for c := range 3 { // standardisedModel centred the intercepts; undo for the comparison
		mb += p.Bias[c]
		for j := range 4 {
			mb += p.Weights[c*4+j] * p.Mean[j]
		}
	}
	mb /= 3
	for i := range 90 {
		for c := range 3 {
			want := b[c] + mb
			for j := range 4 {
				want += w[c*4+j] * (float64(x3[i*4+j]) - p.Mean[j]) / p.Scale[j]
			}
			if math.Abs(s[i*3+c]-want) > 1e-9 {
				t.Fatalf("score[%d,%d] = %v, standardised %v", i, c, s[i*3+c], want)
			}
		}
	}
	for c, d := range p.Directions {
		var nrm float64
		for j, v := range d {
			nrm += v * v
			if math.Abs(v*p.Norms[c]-p.Weights[c*4+j]) > 1e-12 {
				t.Errorf("direction %d is not Weights/‖Weights‖", c)
			}
		}
		if math.Abs(nrm-1) > 1e-12 {
			t.Errorf("direction %d has norm² %v", c, nrm)
		}
	}
}

func TestDeterminismAndFolds(t *testing.T) {
	x, _, y3 := refData()
	d := Data{X: x, N: 90, P: 4, Labels: y3, Classes: 3}
	a, err := Logistic(d, LogisticOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Logistic(d, LogisticOptions{Seed: 7})
	if !reflect.DeepEqual(a, b) {
		t.Error("two runs with seed 7 differ")
	}
	c, _ := Logistic(d, LogisticOptions{Seed: 8})
	if reflect.DeepEqual(a.Folds, c.Folds) {
		t.Error("seeds 7 and 8 gave identical folds")
	}
	dm1, _ := DiffMeans(d, DiffMeansOptions{Seed: 7})
	dm2, _ := DiffMeans(d, DiffMeansOptions{Seed: 7})
	if !reflect.DeepEqual(dm1, dm2) {
		t.Error("diff-in-means runs with seed 7 differ")
	}
	// Stratification: fold sizes differ by ≤ 1, and so do each class's counts per fold.
	folds := StratifiedFolds(y3, 3, 4, 3)
	size := make([]int, 4)
	per := make([][]int, 3)
	for c := range per {
		per[c] = make([]int, 4)
	}
	for i, f := range folds {
		size[f]++
		per[y3[i]][f]++
	}
	for _, v := range append([][]int{size}, per...) {
		if slices.Max(v)-slices.Min(v) > 1 {
			t.Errorf("unbalanced folds %v", v)
		}
	}
}

func TestDiffMeans(t *testing.T) {
	// Class 0 at (0,0),(2,0); class 1 at (0,4),(2,4): means (1,0) and (1,4).
	x := []float32{0, 0, 2, 0, 0, 4, 2, 4}
	y := []int{0, 0, 1, 1}
	r, err := DiffMeans(Data{X: x, N: 4, P: 2, Labels: y, Classes: 2}, DiffMeansOptions{Folds: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Probe
	if !slices.Equal(p.Directions[0], []float64{0, 1}) || p.Norms[0] != 4 || len(p.Directions) != 1 {
		t.Errorf("direction %v norm %v, want (0,1) and 4", p.Directions, p.Norms)
	}
	pred, err := p.Predict([]float32{5, 1.9, -5, 2.1}, 2)
	if err != nil || !slices.Equal(pred, []int{0, 1}) {
		t.Errorf("midpoint threshold at y = 2: %v %v", pred, err)
	}
	if r.MeanAccuracy != 1 {
		t.Errorf("accuracy %v", r.MeanAccuracy)
	}
	// Three classes: μ_c − μ_{¬c}.
	x3 := []float32{0, 0, 0, 2, 6, 0, 6, 2, 3, 9, 3, 11}
	y3 := []int{0, 0, 1, 1, 2, 2}
	r, err = DiffMeans(Data{X: x3, N: 6, P: 2, Labels: y3, Classes: 3}, DiffMeansOptions{Folds: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Means (0,1), (6,1), (3,10); rest of class 0: (4.5, 5.5) → μ₀ − μ_{¬0} = (−4.5, −4.5).
	d0 := r.Probe.Directions[0]
	if math.Abs(d0[0]+math.Sqrt2/2) > 1e-12 || math.Abs(d0[1]+math.Sqrt2/2) > 1e-12 || math.Abs(r.Probe.Norms[0]-4.5*math.Sqrt2) > 1e-12 {
		t.Errorf("class 0 direction %v norm %v", d0, r.Probe.Norms[0])
	}
}

func TestValidation(t *testing.T) {
	x, y2, _ := refData()
	good := Data{X: x, N: 90, P: 4, Labels: y2, Classes: 2}
	bad := []struct {
		d    Data
		want string
	}{
		{Data{X: x[:5], N: 90, P: 4, Labels: y2, Classes: 2}, "5 values"},
		{Data{X: x, N: 90, P: 4, Labels: y2[:3], Classes: 2}, "3 labels"},
		{Data{X: x, N: 90, P: 4, Labels: y2, Classes: 1}, "1 classes"},
		{Data{X: x, N: 90, P: 4, Labels: append([]int{5}, y2[1:]...), Classes: 2}, "label 5"},
		{Data{X: x, N: 90, P: 4, Labels: y2, Classes: 3}, "class 2 has no examples"},
		{Data{X: append([]float32{float32(math.NaN())}, x[1:]...), N: 90, P: 4, Labels: y2, Classes: 2}, "non-finite"},
	}
	for _, b := range bad {
		if _, err := Logistic(b.d, LogisticOptions{}); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("want error with %q, got %v", b.want, err)
		}
	}
	if _, err := Logistic(good, LogisticOptions{C: -1}); err == nil {
		t.Error("negative C accepted")
	}
	if _, err := DiffMeans(good, DiffMeansOptions{Folds: 1}); err == nil {
		t.Error("one fold accepted")
	}
	p := &Probe{P: 4, Rows: 1, Weights: make([]float64, 4), Bias: []float64{0}}
	if _, err := p.Predict(x[:6], 2); err == nil {
		t.Error("Predict with a wrong length accepted")
	}
}
