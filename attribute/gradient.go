package attribute

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Scores are attribution scores of every unit at some hook points.
type Scores struct {
	// Metric is the metric of the run the gradient was taken in (the corrupt run for
	// AttributionPatching).
	Metric float64
	// At holds each point's scores, [batch, pos, ...] like its activation.
	At map[hooks.Point]*tensor.Tensor
}

// GradXAct scores every unit at the points by gradient × activation, a·∂M/∂a: the first-order
// estimate of M(a) − M(a with that unit set to 0), from one forward and one backward pass (the
// zero-ablation form of attribution patching; the CULNIG score). Hook edits in opts apply in
// the forward pass.
func GradXAct(m *model.Model, b model.Batch, metric model.Metric, points []hooks.Point, opts ...hooks.Option) (*Scores, error) {
	g, err := m.Gradient(b, metric, points, opts...)
	if err != nil {
		return nil, err
	}
	s := &Scores{Metric: g.Value, At: map[hooks.Point]*tensor.Tensor{}}
	for _, p := range points {
		a, _ := g.Acts.Get(p)
		s.At[p] = product(a, nil, g.Grads[p])
	}
	return s, nil
}

// AttributionPatching scores every unit by (a_clean − a_corrupt)·∂M/∂a evaluated at the
// corrupt run: the first-order estimate of how much patching that unit's clean activation
// into the corrupt run changes M (attribution patching, AtP). clean and corrupt must have the
// same shape; metric is evaluated on the corrupt run (its positions index the corrupt batch).
func AttributionPatching(m *model.Model, clean, corrupt model.Batch, metric model.Metric, points []hooks.Point) (*Scores, error) {
	if clean.Size != corrupt.Size || clean.Len != corrupt.Len {
		return nil, fmt.Errorf("clean batch is %d×%d, corrupt batch %d×%d: they must match", clean.Size, clean.Len, corrupt.Size, corrupt.Len)
	}
	cl, err := m.Forward(clean, hooks.CapturePoints(points...))
	if err != nil {
		return nil, err
	}
	g, err := m.Gradient(corrupt, metric, points)
	if err != nil {
		return nil, err
	}
	s := &Scores{Metric: g.Value, At: map[hooks.Point]*tensor.Tensor{}}
	for _, p := range points {
		a, _ := cl.Cache.Get(p)
		c, _ := g.Acts.Get(p)
		s.At[p] = product(a, c, g.Grads[p])
	}
	return s, nil
}

// product is (a − c)·g elementwise (c nil: a·g), summed in float64 per entry.
func product(a, c, g *tensor.Tensor) *tensor.Tensor {
	out := tensor.New(a.Shape...)
	for i, v := range a.Data {
		d := float64(v)
		if c != nil {
			d -= float64(c.Data[i])
		}
		out.Data[i] = float32(d * float64(g.Data[i]))
	}
	return out
}
