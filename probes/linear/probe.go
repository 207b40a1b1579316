package linear

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"

	"github.com/neuronscope/neuronscope/probes/internal/kernels"
)

// Probe is a linear classifier on raw activations (the space the model computes in, before
// any standardisation): scores s = W·x + B.
//
// With one row (a binary logistic probe) the prediction is class 1 when s > 0, else 0; with
// one row per class the prediction is the class of the largest score.
//
// Directions are unit vectors (L2 norm 1) in raw activation space, one per class (one for a
// binary logistic probe, pointing toward class 1); Norms holds the L2 norm of the raw vector
// each was normalised from (see Logistic and DiffMeans for what that vector is). A steering
// intervention adds α·Directions[c] to the activation; α is in activation units.
type Probe struct {
	Method  string `json:"method"`
	Classes int    `json:"classes"`
	P       int    `json:"features"`
	// Rows is the number of score rows (1 or Classes).
	Rows int `json:"rows"`
	// Weights is [Rows, P] row-major; Bias is [Rows].
	Weights []float64 `json:"weights"`
	Bias    []float64 `json:"bias"`
	// Directions is [len(Norms)][P]: unit steering directions in raw activation space.
	Directions [][]float64 `json:"directions"`
	Norms      []float64   `json:"norms"`
	// Mean and Scale are the standardisation the logistic probe was trained with,
	// z = (x − Mean)/Scale (Scale 1 for a constant feature); Weights already include it.
	Mean  []float64 `json:"mean,omitempty"`
	Scale []float64 `json:"scale,omitempty"`
}

// Scores writes the [n, Rows] scores W·x + B of the rows of x ([n, P] row-major) to dst
// (allocated when nil) and returns it. It returns an error when len(x) is not n·P.
func (p *Probe) Scores(dst []float64, x []float32, n int) ([]float64, error) {
	if n < 0 || len(x) != n*p.P {
		return nil, fmt.Errorf("linear: %d values for %d examples of %d features", len(x), n, p.P)
	}
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	return p.scores64(dst, x64, n), nil
}

func (p *Probe) scores64(dst, x []float64, n int) []float64 {
	if dst == nil {
		dst = make([]float64, n*p.Rows)
	}
	for i := range n {
		copy(dst[i*p.Rows:(i+1)*p.Rows], p.Bias)
	}
	kernels.Dgemm(blas.NoTrans, blas.Trans, n, p.Rows, p.P, 1, x, p.P, p.Weights, p.P, 1, dst, p.Rows)
	return dst
}

// Predict returns the predicted class of each row of x ([n, P] row-major).
func (p *Probe) Predict(x []float32, n int) ([]int, error) {
	s, err := p.Scores(nil, x, n)
	if err != nil {
		return nil, err
	}
	return p.classes(s, n), nil
}

func (p *Probe) predict64(x []float64, n int) []int { return p.classes(p.scores64(nil, x, n), n) }

func (p *Probe) classes(s []float64, n int) []int {
	out := make([]int, n)
	for i := range n {
		if p.Rows == 1 {
			if s[i] > 0 {
				out[i] = 1
			}
			continue
		}
		out[i] = argmax(s[i*p.Rows : (i+1)*p.Rows])
	}
	return out
}

// setDirections normalises each vector to a unit direction.
func (p *Probe) setDirections(vecs [][]float64) {
	p.Directions, p.Norms = make([][]float64, len(vecs)), make([]float64, len(vecs))
	for c, v := range vecs {
		var s float64
		for _, x := range v {
			s += x * x
		}
		s = math.Sqrt(s)
		d := make([]float64, len(v))
		if s > 0 {
			for j, x := range v {
				d[j] = x / s
			}
		}
		p.Directions[c], p.Norms[c] = d, s
	}
}
