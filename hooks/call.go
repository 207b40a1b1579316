package hooks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/model/tensor"
)

// Func sees the activation at a hook point as a [batch, pos, ...] tensor that aliases the
// model's live buffer. An edit (Edit) may change act.Data in place, which changes what the rest
// of the forward pass sees (ablation, clamping, patching, steering); an observer (Observe) only
// reads it. Neither may keep act after it returns. A non-nil error aborts the model call, which
// returns that error.
type Func func(p Point, act *tensor.Tensor) error

// Option configures the hooks of one model call. Options are values: nothing is registered
// globally, and nothing outlives the call they are passed to.
type Option func(*spec)

type hookFn struct {
	pattern string
	fn      Func
}

type spec struct {
	capture   []string
	edits     []hookFn
	observers []hookFn
	detach    []detachSpec
}

type detachSpec struct {
	pattern string
	rows    []int
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

// Edit runs fn at every point named by pattern, before observers and captures at that point,
// in the order the Edit options were given. fn may change the activation in place.
func Edit(pattern string, fn Func) Option {
	return func(s *spec) { s.edits = append(s.edits, hookFn{pattern, fn}) }
}

// EditPoint runs fn at point p (see Edit).
func EditPoint(p Point, fn Func) Option { return Edit(p.String(), fn) }

// Observe runs fn at every point named by pattern after every edit there (so it sees what the
// rest of the pass sees) and before captures, without copying the activation. fn must not
// change it. Its first error aborts the call with that error.
func Observe(pattern string, fn Func) Option {
	return func(s *spec) { s.observers = append(s.observers, hookFn{pattern, fn}) }
}

// ObservePoint runs fn at point p (see Observe).
func ObservePoint(p Point, fn Func) Option { return Observe(p.String(), fn) }

// Detach makes the activation at every point named by pattern a constant for the backward
// pass of a gradient call (model.Model.Gradient) in the given rows of the batch (flat indices
// batch·pos + position; none given: every row). The gradient at the point itself is still
// reported, but nothing flows from it to what computed it, so the units below see the point
// as an input rather than a function of them. With an Edit that replaces those rows this is
// "replace by a constant" (NeuronPath's intervention); without Detach an edit is
// straight-through. Forward passes ignore it. Models say at which points they support it.
func Detach(pattern string, rows ...int) Option {
	return func(s *spec) { s.detach = append(s.detach, detachSpec{pattern, append([]int(nil), rows...)}) }
}

// DetachPoint is Detach at point p.
func DetachPoint(p Point, rows ...int) Option { return Detach(p.String(), rows...) }

// Call is the hook state of one model call: which points are wanted, what fired, and the
// cache of captured activations. Models create one per call with NewCall.
type Call struct {
	want     map[Point]*action
	fired    []Point
	firedSet map[Point]bool
	cache    *Cache
	err      error
	detached map[Point][]int // nil slice: every row
}

type action struct {
	edits     []Func
	observers []Func
	capture   bool
}

// NewCall resolves the options against a model's catalog. An unknown hook name, or a pattern
// that names nothing this model has, is an error.
func NewCall(cat Catalog, opts ...Option) (*Call, error) {
	var s spec
	for _, o := range opts {
		o(&s)
	}
	c := &Call{want: map[Point]*action{}, firedSet: map[Point]bool{}, cache: newCache(), detached: map[Point][]int{}}
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
	for _, e := range s.observers {
		ps, err := cat.Match(e.pattern)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			a := get(p)
			a.observers = append(a.observers, e.fn)
		}
	}
	for _, d := range s.detach {
		ps, err := cat.Match(d.pattern)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			for _, r := range d.rows {
				if r < 0 {
					return nil, fmt.Errorf("detach at %s: negative row %d", p, r)
				}
			}
			old, seen := c.detached[p]
			if len(d.rows) == 0 || (seen && old == nil) {
				c.detached[p] = nil // every row
			} else {
				c.detached[p] = append(old, d.rows...)
			}
		}
	}
	return c, nil
}

// Detached returns the rows detached at p (nil: every row) and whether p is detached at all.
func (c *Call) Detached(p Point) (rows []int, ok bool) {
	if c == nil {
		return nil, false
	}
	rows, ok = c.detached[p]
	return rows, ok
}

// DetachedPoints lists the points Detach named, in no particular order.
func (c *Call) DetachedPoints() []Point {
	if c == nil {
		return nil
	}
	out := make([]Point, 0, len(c.detached))
	for p := range c.detached {
		out = append(out, p)
	}
	return out
}

// Wants reports whether anything happens at p; models skip building a view otherwise.
func (c *Call) Wants(p Point) bool {
	if c == nil {
		return false
	}
	return c.want[p] != nil
}

// Fire runs the edits at p on act, then the observers, then captures a copy if asked, and
// records that p fired. The first error of an edit or observer is returned, kept (Err), and
// stops everything after it: a model aborts its pass on it.
func (c *Call) Fire(p Point, act *tensor.Tensor) error {
	if c.err != nil {
		return c.err
	}
	a := c.want[p]
	if a == nil {
		return nil
	}
	if !c.firedSet[p] {
		c.firedSet[p] = true
		c.fired = append(c.fired, p)
	}
	for _, fn := range a.edits {
		if err := fn(p, act); err != nil {
			c.err = fmt.Errorf("hook at %s: %w", p, err)
			return c.err
		}
	}
	for _, fn := range a.observers {
		if err := fn(p, act); err != nil {
			c.err = fmt.Errorf("hook at %s: %w", p, err)
			return c.err
		}
	}
	if a.capture {
		c.cache.put(p, act)
	}
	return nil
}

// Err is the first error an edit or observer returned, if any.
func (c *Call) Err() error { return c.err }

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

// Check returns the first hook error, or an error naming every requested point that never
// fired.
func (c *Call) Check() error {
	if c.err != nil {
		return c.err
	}
	var missing []string
	for p := range c.want {
		if !c.firedSet[p] {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("requested hooks did not fire: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Cache returns the captured activations.
func (c *Call) Cache() *Cache { return c.cache }
