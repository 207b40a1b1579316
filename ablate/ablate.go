package ablate

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// DefaultSite is the tap point of neuron sets that name none: blocks.L.mlp.hook_post, the
// input of the MLP output projection ("the neuron", see package model).
const DefaultSite = hooks.MLPPost

// Mode says what an ablated neuron is set to.
type Mode int

const (
	// Zero sets the neuron to 0 at every position.
	Zero Mode = iota
	// Mean sets the neuron to its mean over the real positions of an eval set, in the
	// unablated model (Means).
	Mean
	// Clamp sets the neuron to a fixed value at every position.
	Clamp
)

// String is "zero", "mean" or "clamp".
func (m Mode) String() string {
	switch m {
	case Zero:
		return "zero"
	case Mean:
		return "mean"
	case Clamp:
		return "clamp"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "zero", "mean" or "clamp".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "zero":
		return Zero, nil
	case "mean":
		return Mean, nil
	case "clamp":
		return Clamp, nil
	}
	return 0, fmt.Errorf("ablation mode %q: want zero, mean or clamp", s)
}

// Set returns the hook edits that overwrite every listed neuron with value(n) at every
// position of every batch row (pads included, which no real token sees): one hooks.EditPoint
// per hook point. An index outside the activation's width makes the model call fail with an
// error naming it (check sets with hooks.Catalog.CheckNeurons first).
func Set(neurons []hooks.Neuron, value func(hooks.Neuron) float32) []hooks.Option {
	points, idx := hooks.ByPoint(neurons)
	var opts []hooks.Option
	for _, p := range points {
		is := idx[p]
		vals := make([]float32, len(is))
		for k, i := range is {
			vals[k] = value(hooks.Neuron{Point: p, Index: i})
		}
		opts = append(opts, hooks.EditPoint(p, func(p hooks.Point, act *tensor.Tensor) error {
			rows := act.Shape[0] * act.Shape[1]
			w := len(act.Data) / rows
			for _, i := range is {
				if i < 0 || i >= w {
					return fmt.Errorf("neuron %d is outside the width %d of %s", i, w, p)
				}
			}
			for r := 0; r < rows; r++ {
				row := act.Data[r*w : (r+1)*w]
				for k, i := range is {
					row[i] = vals[k]
				}
			}
			return nil
		}))
	}
	return opts
}

// Means holds the mean activation of every unit of some hook points over the real (non-pad)
// positions of an eval set in the unablated model.
type Means struct {
	Positions int                       `json:"positions"` // real positions averaged over
	Prompts   int                       `json:"prompts"`
	Points    map[hooks.Point][]float32 `json:"-"` // point → [width] means
}

// ComputeMeans runs the prompts through the unablated model and averages every unit of each
// point over every real position of every prompt (float64 sums, in a fixed order).
func ComputeMeans(m *model.Model, set *corpus.PromptSet, points []hooks.Point, batchSize int) (*Means, error) {
	_, means, err := baseline(m, set, points, batchSize)
	return means, err
}

// baseline runs the unablated model over the set once, returning the greedy next-token
// predictions and, when points is not empty, the means of every unit of each point over every
// real position.
func baseline(m *model.Model, set *corpus.PromptSet, points []hooks.Point, batchSize int) ([]int, *Means, error) {
	sums := map[hooks.Point][]float64{}
	cat := m.Catalog()
	for _, p := range points {
		sums[p] = make([]float64, cat.Width(p))
	}
	positions := 0
	prompts := set.Prompts()
	pred := make([]int, len(prompts))
	V := m.Config.DVocab
	hooksFor := func(_ []int, b model.Batch) []hooks.Option {
		var o []hooks.Option
		for _, p := range points {
			s := sums[p]
			o = append(o, hooks.ObservePoint(p, func(_ hooks.Point, act *tensor.Tensor) error {
				rows := act.Shape[0] * act.Shape[1]
				w := len(act.Data) / rows
				for r := 0; r < rows; r++ {
					if !b.Mask[r] {
						continue
					}
					for j, x := range act.Data[r*w : (r+1)*w] {
						s[j] += float64(x)
					}
				}
				return nil
			}))
		}
		return o
	}
	err := corpus.ForEachPromptBatch(m, prompts, batchSize, 0, hooksFor, func(rows []int, b model.Batch, res *model.Result) error {
		for k, i := range rows {
			off := (k*b.Len + b.Len - 1) * V
			pred[i] = corpus.Argmax(res.Logits.Data[off : off+V])
		}
		for _, ok := range b.Mask {
			if ok {
				positions++
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(points) == 0 {
		return pred, nil, nil
	}
	means := &Means{Positions: positions, Prompts: len(prompts), Points: map[hooks.Point][]float32{}}
	for p, s := range sums {
		mu := make([]float32, len(s))
		for j, v := range s {
			mu[j] = float32(v / float64(positions))
		}
		means.Points[p] = mu
	}
	return pred, means, nil
}

// Ablation is a neuron set and what its neurons are set to.
type Ablation struct {
	Mode    Mode
	Neurons []hooks.Neuron
	Means   *Means  // Mode Mean: the values, for every point of Neurons
	Value   float32 // Mode Clamp: the value
}

// Options returns the hook edits that apply the ablation (see Set). Mode Mean without means
// for a point it needs is an error.
func (a Ablation) Options() ([]hooks.Option, error) {
	for _, n := range a.Neurons {
		if !n.Site.PerLayer() {
			return nil, fmt.Errorf("ablation site %s is not per layer", n.Site)
		}
	}
	switch a.Mode {
	case Zero:
		return Set(a.Neurons, func(hooks.Neuron) float32 { return 0 }), nil
	case Clamp:
		return Set(a.Neurons, func(hooks.Neuron) float32 { return a.Value }), nil
	case Mean:
		if a.Means == nil {
			return nil, fmt.Errorf("mean ablation needs means (ComputeMeans)")
		}
		for _, n := range a.Neurons {
			mu := a.Means.Points[n.Point]
			if n.Index < 0 || n.Index >= len(mu) {
				return nil, fmt.Errorf("mean ablation: no mean for neuron %s", n)
			}
		}
		return Set(a.Neurons, func(n hooks.Neuron) float32 { return a.Means.Points[n.Point][n.Index] }), nil
	}
	return nil, fmt.Errorf("unknown ablation mode %v", a.Mode)
}
