package ablate

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

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
// per layer, at blocks.L.<site>. An index outside the activation's width makes the model call
// fail with an error naming it (check sets with Validate first).
func Set(site hooks.Site, neurons []Neuron, value func(Neuron) float32) []hooks.Option {
	type layerEdit struct {
		idx  []int
		vals []float32
	}
	per := map[int]*layerEdit{}
	for _, n := range neurons {
		e := per[n.Layer]
		if e == nil {
			e = &layerEdit{}
			per[n.Layer] = e
		}
		e.idx = append(e.idx, n.Index)
		e.vals = append(e.vals, value(n))
	}
	var opts []hooks.Option
	for _, l := range sortedLayers(per) {
		e := per[l]
		opts = append(opts, hooks.EditPoint(hooks.At(l, site), func(p hooks.Point, act *tensor.Tensor) error {
			rows := act.Shape[0] * act.Shape[1]
			w := len(act.Data) / rows
			for _, i := range e.idx {
				if i < 0 || i >= w {
					return fmt.Errorf("neuron %d is outside the width %d of %s", i, w, p)
				}
			}
			for r := 0; r < rows; r++ {
				row := act.Data[r*w : (r+1)*w]
				for k, i := range e.idx {
					row[i] = e.vals[k]
				}
			}
			return nil
		}))
	}
	return opts
}

// Means holds the mean activation of every neuron of a site, per layer, over the real (non-pad)
// positions of an eval set in the unablated model.
type Means struct {
	Site      hooks.Site        `json:"-"`
	Positions int               `json:"positions"` // real positions averaged over
	Prompts   int               `json:"prompts"`
	Layers    map[int][]float32 `json:"-"` // layer → [width] means
}

// ComputeMeans runs the set through the unablated model and averages every neuron of
// blocks.L.<site>, for each given layer, over every real position of every prompt (float64
// sums, in a fixed order).
func ComputeMeans(m *model.Model, set *EvalSet, site hooks.Site, layers []int, batchSize int) (*Means, error) {
	_, means, err := baseline(m, set, site, layers, batchSize)
	return means, err
}

// baseline runs the unablated model over the set once, returning the greedy predictions and,
// when layers is not empty, the means of blocks.L.<site> over every real position.
func baseline(m *model.Model, set *EvalSet, site hooks.Site, layers []int, batchSize int) ([]int, *Means, error) {
	var sums map[int][]float64
	if len(layers) > 0 {
		sums = map[int][]float64{}
	}
	positions := 0
	pred := make([]int, len(set.Items))
	V := m.Config.DVocab
	opts := func(_ int, b model.Batch) []hooks.Option {
		var o []hooks.Option
		for _, l := range layers {
			if sums[l] == nil {
				sums[l] = make([]float64, Width(m.Config, site))
			}
			s := sums[l]
			o = append(o, hooks.ObservePoint(hooks.At(l, site), func(_ hooks.Point, act *tensor.Tensor) error {
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
	err := forEachBatch(m, set, batchSize, opts, func(_ int, rows []int, b model.Batch, res *model.Result) error {
		for k, i := range rows {
			off := (k*b.Len + b.Len - 1) * V
			pred[i] = argmax(res.Logits.Data[off : off+V])
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
	if sums == nil {
		return pred, nil, nil
	}
	means := &Means{Site: site, Positions: positions, Prompts: len(set.Items), Layers: map[int][]float32{}}
	for l, s := range sums {
		mu := make([]float32, len(s))
		for j, v := range s {
			mu[j] = float32(v / float64(positions))
		}
		means.Layers[l] = mu
	}
	return pred, means, nil
}

// Ablation is a neuron set at a tap point and what its neurons are set to.
type Ablation struct {
	Site    hooks.Site
	Mode    Mode
	Neurons []Neuron
	Means   *Means  // Mode Mean: the values, for every layer of Neurons
	Value   float32 // Mode Clamp: the value
}

// Options returns the hook edits that apply the ablation (see Set). Mode Mean without means
// for a layer it needs is an error.
func (a Ablation) Options() ([]hooks.Option, error) {
	if !a.Site.PerLayer() {
		return nil, fmt.Errorf("ablation site %s is not per layer", a.Site)
	}
	switch a.Mode {
	case Zero:
		return Set(a.Site, a.Neurons, func(Neuron) float32 { return 0 }), nil
	case Clamp:
		return Set(a.Site, a.Neurons, func(Neuron) float32 { return a.Value }), nil
	case Mean:
		if a.Means == nil {
			return nil, fmt.Errorf("mean ablation needs means (ComputeMeans)")
		}
		if a.Means.Site != a.Site {
			return nil, fmt.Errorf("mean ablation at %s given means of %s", a.Site, a.Means.Site)
		}
		for _, n := range a.Neurons {
			mu := a.Means.Layers[n.Layer]
			if n.Index < 0 || n.Index >= len(mu) {
				return nil, fmt.Errorf("mean ablation: no mean for neuron %s", n)
			}
		}
		return Set(a.Site, a.Neurons, func(n Neuron) float32 { return a.Means.Layers[n.Layer][n.Index] }), nil
	}
	return nil, fmt.Errorf("unknown ablation mode %v", a.Mode)
}
