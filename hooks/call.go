package hooks

import (
	"fmt"
	"strings"

	"github.com/neuronscope/neuronscope/model/tensor"
)

// Func sees the activation at a hook point as a [batch, pos, ...] tensor that aliases the
// model's live buffer: changing act.Data in place changes what the rest of the forward pass
// sees (ablation, clamping, patching, steering). It must not keep act after it returns.
type Func func(p Point, act *tensor.Tensor)

// Option configures the hooks of one model call. Options are values: nothing is registered
// globally, and nothing outlives the call they are passed to.
type Option func(*spec)

type edit struct {
	pattern string
	fn      Func
}

type spec struct {
	capture []string
	edits   []edit
}

// Capture stores a copy of the activation at every point named by the patterns (TransformerLens
// names, HF aliases, or globs). Only what is asked is stored.
func Capture(patterns ...string) Option {
	return func(s *spec) { s.capture = append(s.capture, patterns...) }
}

// CapturePoints stores a copy of the activation at each given point.
func CapturePoints(ps ...Point) Option {
	return func(s *spec) {
		for _, p := range ps {
			s.capture = append(s.capture, p.String())
		}
	}
}

// Edit runs fn at every point named by pattern, before captures at that point, in the order
// the Edit options were given.
func Edit(pattern string, fn Func) Option {
	return func(s *spec) { s.edits = append(s.edits, edit{pattern, fn}) }
}

// EditPoint runs fn at point p.
func EditPoint(p Point, fn Func) Option { return Edit(p.String(), fn) }

// Call is the hook state of one model call: which points are wanted, what fired, and the
// cache of captured activations. Models create one per call with NewCall.
type Call struct {
	want     map[Point]*action
	fired    []Point
	firedSet map[Point]bool
	cache    *Cache
}

type action struct {
	edits   []Func
	capture bool
}

// NewCall resolves the options against a model's catalog. An unknown hook name, or a pattern
// that names nothing this model has, is an error.
func NewCall(cat Catalog, opts ...Option) (*Call, error) {
	var s spec
	for _, o := range opts {
		o(&s)
	}
	c := &Call{want: map[Point]*action{}, firedSet: map[Point]bool{}, cache: newCache()}
	get := func(p Point) *action {
		a := c.want[p]
		if a == nil {
			a = &action{}
			c.want[p] = a
		}
		return a
	}
	for _, pat := range s.capture {
		ps, err := cat.Match(pat)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			get(p).capture = true
		}
	}
	for _, e := range s.edits {
		ps, err := cat.Match(e.pattern)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			a := get(p)
			a.edits = append(a.edits, e.fn)
		}
	}
	return c, nil
}

// Wants reports whether anything happens at p; models skip building a view otherwise.
func (c *Call) Wants(p Point) bool {
	if c == nil {
		return false
	}
	return c.want[p] != nil
}

// Fire runs the edits at p on act, then captures a copy if asked, and records that p fired.
func (c *Call) Fire(p Point, act *tensor.Tensor) {
	a := c.want[p]
	if a == nil {
		return
	}
	for _, fn := range a.edits {
		fn(p, act)
	}
	if a.capture {
		c.cache.put(p, act)
	}
	if !c.firedSet[p] {
		c.firedSet[p] = true
		c.fired = append(c.fired, p)
	}
}

// Fired lists the requested points that fired, in firing order.
func (c *Call) Fired() []Point { return append([]Point(nil), c.fired...) }

// Requested lists every point that the options named.
func (c *Call) Requested() []Point {
	out := make([]Point, 0, len(c.want))
	for p := range c.want {
		out = append(out, p)
	}
	return out
}

// Check returns an error naming every requested point that never fired.
func (c *Call) Check() error {
	var missing []string
	for p := range c.want {
		if !c.firedSet[p] {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("requested hooks did not fire: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Cache returns the captured activations.
func (c *Call) Cache() *Cache { return c.cache }
