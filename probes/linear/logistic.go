package linear

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/optimize"

	"github.com/neuronscope/neuronscope/probes/internal/kernels"
)

// Multiclass selects how logistic regression handles more than two classes.
type Multiclass int

const (
	// Multinomial fits one softmax model over all classes (scikit-learn's default).
	Multinomial Multiclass = iota
	// OneVsRest fits one binary model per class (class c against the rest) and predicts the
	// class with the largest score.
	OneVsRest
)

// String names the strategy as the JSON and CLI spell it.
func (m Multiclass) String() string {
	if m == OneVsRest {
		return "ovr"
	}
	return "multinomial"
}

// LogisticOptions configures Logistic. The zero value gives the defaults.
type LogisticOptions struct {
	// C is the inverse L2 strength in scikit-learn's parameterisation: the fit minimises
	// ½‖W‖² + C·Σᵢ ℓᵢ (intercepts unpenalised). Default 1.
	C float64
	// Multiclass is the strategy for more than two classes (default Multinomial).
	Multiclass Multiclass
	// Folds is the number of stratified cross-validation folds (default 5).
	Folds int
	// Seed drives the fold assignment.
	Seed uint64
	// GradTol stops L-BFGS when the largest gradient entry of the mean objective
	// (ΣΣℓᵢ/n + ‖W‖²/(2Cn)) is below it (default 1e-8).
	GradTol float64
	// MaxIter caps the L-BFGS iterations of one fit (default 5000).
	MaxIter int
}

func (o *LogisticOptions) defaults() error {
	if o.C == 0 {
		o.C = 1
	}
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.GradTol == 0 {
		o.GradTol = 1e-8
	}
	if o.MaxIter == 0 {
		o.MaxIter = 5000
	}
	if !(o.C > 0) || math.IsInf(o.C, 0) {
		return fmt.Errorf("linear: C = %v (need a positive finite inverse regularisation strength)", o.C)
	}
	if o.GradTol < 0 || o.MaxIter < 0 {
		return fmt.Errorf("linear: GradTol %v and MaxIter %d must not be negative", o.GradTol, o.MaxIter)
	}
	return nil
}

// Logistic cross-validates an L2-regularised logistic-regression probe on d and refits it on
// all examples (see the package documentation for the objective, the standardisation and
// the solver).
func Logistic(d Data, opts LogisticOptions) (*Result, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	fit := func(x []float64, y []int) (*Probe, Fold, error) {
		return fitLogistic(x, y, len(y), d.P, d.Classes, opts)
	}
	folds, err := crossValidate(d, opts.Folds, opts.Seed, fit)
	if err != nil {
		return nil, err
	}
	x, y := d.all()
	p, _, err := fit(x, y)
	if err != nil {
		return nil, fmt.Errorf("final fit: %w", err)
	}
	method := "logistic"
	if d.Classes > 2 {
		method += "-" + opts.Multiclass.String()
	}
	r := &Result{Method: method, Classes: d.Classes, Seed: opts.Seed, Folds: folds, Probe: p}
	r.summarize()
	return r, nil
}

// Standardize returns the column means and population standard deviations of x ([n, p]),
// with scale 1 for a constant column (scikit-learn's StandardScaler).
func Standardize(x []float64, n, p int) (mean, scale []float64) {
	mean, scale = make([]float64, p), make([]float64, p)
	for i := range n {
		for j, v := range x[i*p : (i+1)*p] {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j, v := range x[i*p : (i+1)*p] {
			scale[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / float64(n))
		if scale[j] == 0 {
			scale[j] = 1
		}
	}
	return mean, scale
}

// fitLogistic standardises x ([n, p], training rows), fits, and maps the model back to raw
// activation space.
func fitLogistic(x []float64, y []int, n, p, classes int, opts LogisticOptions) (*Probe, Fold, error) {
	mean, scale := Standardize(x, n, p)
	z := slices.Clone(x)
	for i := range n {
		row := z[i*p : (i+1)*p]
		for j := range row {
			row[j] = (row[j] - mean[j]) / scale[j]
		}
	}
	var (
		w, b []float64 // standardised space, [rows, p] and [rows]
		fold Fold
		rows int
	)
	switch {
	case classes == 2:
		rows = 1
		t := make([]int, n)
		copy(t, y)
		res, err := minimizeLogistic(z, t, n, p, 1, opts)
		if err != nil {
			return nil, fold, err
		}
		w, b, fold = res.w, res.b, res.fold
	case opts.Multiclass == OneVsRest:
		rows = classes
		fold.Converged = true
		for c := range classes {
			t := make([]int, n)
			for i, v := range y {
				if v == c {
					t[i] = 1
				}
			}
			res, err := minimizeLogistic(z, t, n, p, 1, opts)
			if err != nil {
				return nil, fold, fmt.Errorf("class %d vs rest: %w", c, err)
			}
			w, b = append(w, res.w...), append(b, res.b...)
			fold.Iterations += res.fold.Iterations
			fold.Converged = fold.Converged && res.fold.Converged
		}
	default:
		rows = classes
		res, err := minimizeLogistic(z, y, n, p, classes, opts)
		if err != nil {
			return nil, fold, err
		}
		w, b, fold = res.w, res.b, res.fold
		// Softmax is invariant to a common shift of the unpenalised intercepts: report the
		// representative with Σ_c b_c = 0 (the penalty already gives Σ_c W_c = 0).
		var mb float64
		for _, v := range b {
			mb += v
		}
		mb /= float64(rows)
		for c := range b {
			b[c] -= mb
		}
	}
	// Raw space: W_raw[c,j] = W[c,j]/σ_j, B_raw[c] = b[c] − Σ_j W[c,j]·μ_j/σ_j.
	pr := &Probe{Method: "logistic", Classes: classes, P: p, Rows: rows,
		Weights: make([]float64, rows*p), Bias: make([]float64, rows), Mean: mean, Scale: scale}
	vecs := make([][]float64, rows)
	for c := range rows {
		pr.Bias[c] = b[c]
		for j := range p {
			v := w[c*p+j] / scale[j]
			pr.Weights[c*p+j] = v
			pr.Bias[c] -= v * mean[j]
		}
		vecs[c] = pr.Weights[c*p : (c+1)*p]
	}
	pr.setDirections(vecs)
	return pr, fold, nil
}

type fitResult struct {
	w, b []float64
	fold Fold
}

// minimizeLogistic runs L-BFGS on the mean objective over z ([n, p], standardised) with
// targets t: 0/1 when rows == 1 (binary), class indices when rows = classes (softmax).
func minimizeLogistic(z []float64, t []int, n, p, rows int, opts LogisticOptions) (fitResult, error) {
	obj := &objective{z: z, t: t, n: n, p: p, rows: rows, lambda: 1 / (opts.C * float64(n)),
		s: make([]float64, n*rows), g: make([]float64, rows*(p+1))}
	prob := optimize.Problem{
		Func: func(theta []float64) float64 { obj.eval(theta); return obj.f },
		Grad: func(grad, theta []float64) { obj.eval(theta); copy(grad, obj.g) },
	}
	settings := &optimize.Settings{
		GradientThreshold: opts.GradTol,
		MajorIterations:   opts.MaxIter,
		Converger:         optimize.NeverTerminate{},
	}
	theta0 := make([]float64, rows*(p+1))
	res, err := optimize.Minimize(prob, theta0, settings, &optimize.LBFGS{})
	if res == nil {
		return fitResult{}, fmt.Errorf("linear: L-BFGS: %v", err)
	}
	obj.eval(res.X)
	gmax := 0.0
	for _, v := range obj.g {
		gmax = max(gmax, math.Abs(v))
	}
	if math.IsNaN(obj.f) || math.IsNaN(gmax) {
		return fitResult{}, errors.New("linear: logistic objective became NaN")
	}
	// A line search that can make no more progress ends the run with an error; that is
	// convergence to rounding when the gradient is already at the tolerance scale.
	converged := gmax <= opts.GradTol
	if err != nil && !converged && res.Status != optimize.IterationLimit {
		return fitResult{}, fmt.Errorf("linear: L-BFGS stopped at gradient %.3g (tolerance %.3g): %v", gmax, opts.GradTol, err)
	}
	w := slices.Clone(res.X[:rows*p])
	b := slices.Clone(res.X[rows*p:])
	return fitResult{w: w, b: b, fold: Fold{Iterations: res.MajorIterations, Converged: converged}}, nil
}

// objective evaluates the mean L2-regularised logistic loss and its gradient,
//
//	f(W, b) = (1/n) Σᵢ ℓᵢ + (λ/2)‖W‖²,  λ = 1/(C·n),
//
// with ℓᵢ = log(1 + e^{sᵢ}) − tᵢ·sᵢ (binary, sᵢ = w·zᵢ + b) or logsumexp(sᵢ) − s_{i,tᵢ}
// (softmax, s_i = W·zᵢ + b). θ = [W (rows × p, row-major), b (rows)]. The last θ is cached:
// Func and Grad at the same point cost one evaluation.
type objective struct {
	z          []float64
	t          []int
	n, p, rows int
	lambda     float64
	s          []float64 // [n, rows] scores, then residuals ∂ℓ/∂s
	last       []float64
	f          float64
	g          []float64
}

func (o *objective) eval(theta []float64) {
	if o.last != nil && slices.Equal(o.last, theta) {
		return
	}
	o.last = append(o.last[:0], theta...)
	n, p, rows := o.n, o.p, o.rows
	w, b := theta[:rows*p], theta[rows*p:]
	for i := range n {
		copy(o.s[i*rows:(i+1)*rows], b)
	}
	if rows == 1 {
		kernels.Dgemv(blas.NoTrans, n, p, 1, o.z, p, w, 1, o.s)
	} else {
		kernels.Dgemm(blas.NoTrans, blas.Trans, n, rows, p, 1, o.z, p, w, p, 1, o.s, rows)
	}
	var loss float64
	if rows == 1 {
		for i, s := range o.s {
			// log(1+e^s) stably, and σ(s) − t.
			var sp, sig float64
			if s > 0 {
				e := math.Exp(-s)
				sp, sig = s+math.Log1p(e), 1/(1+e)
			} else {
				e := math.Exp(s)
				sp, sig = math.Log1p(e), e/(1+e)
			}
			t := float64(o.t[i])
			loss += sp - t*s
			o.s[i] = sig - t
		}
	} else {
		for i := range n {
			row := o.s[i*rows : (i+1)*rows]
			m := slices.Max(row)
			var se float64
			for _, v := range row {
				se += math.Exp(v - m)
			}
			lse := m + math.Log(se)
			loss += lse - row[o.t[i]]
			for c, v := range row {
				row[c] = math.Exp(v - lse)
			}
			row[o.t[i]] -= 1
		}
	}
	var reg float64
	for _, v := range w {
		reg += v * v
	}
	o.f = loss/float64(n) + 0.5*o.lambda*reg
	// ∇W = Rᵀ Z / n + λW, ∇b = Σᵢ Rᵢ / n.
	gw, gb := o.g[:rows*p], o.g[rows*p:]
	copy(gw, w)
	if rows == 1 {
		kernels.Dgemv(blas.Trans, n, p, 1/float64(n), o.z, p, o.s, o.lambda, gw)
	} else {
		kernels.Dgemm(blas.Trans, blas.NoTrans, rows, p, n, 1/float64(n), o.s, rows, o.z, p, o.lambda, gw, p)
	}
	clear(gb)
	for i := range n {
		for c, v := range o.s[i*rows : (i+1)*rows] {
			gb[c] += v
		}
	}
	for c := range gb {
		gb[c] /= float64(n)
	}
}
