package hooks

import "github.com/neuronscope/neuronscope/model/tensor"

// Cache holds activations captured during one call, keyed by hook point, in capture order.
// Captured tensors are owned copies ([batch, pos, ...]); later edits do not change them.
type Cache struct {
	m     map[Point]*tensor.Tensor
	order []Point
}

func newCache() *Cache { return &Cache{m: map[Point]*tensor.Tensor{}} }

func (c *Cache) put(p Point, act *tensor.Tensor) {
	if old, ok := c.m[p]; ok && len(old.Data) == len(act.Data) {
		copy(old.Data, act.Data)
		return
	}
	if _, ok := c.m[p]; !ok {
		c.order = append(c.order, p)
	}
	c.m[p] = act.Clone()
}

// Get returns the activation captured at p.
func (c *Cache) Get(p Point) (*tensor.Tensor, bool) {
	t, ok := c.m[p]
	return t, ok
}

// GetName returns the activation captured at the point with this TransformerLens name.
func (c *Cache) GetName(name string) (*tensor.Tensor, bool) {
	p, err := Parse(name)
	if err != nil {
		return nil, false
	}
	return c.Get(p)
}

// Points lists the captured points in capture order.
func (c *Cache) Points() []Point { return append([]Point(nil), c.order...) }

// Len is the number of captured points.
func (c *Cache) Len() int { return len(c.order) }
