package spectra

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Observers returns the hook options that feed one forward pass into pairs: every
// blocks.L.mlp.hook_pre activation ([batch, pos, d_mlp]) into pairs[L].Pre and every
// blocks.L.mlp.hook_post into pairs[L].Post, keeping the positions where mask() is true
// (mask() is called at each hook and must return the current batch's [batch·pos] attention
// mask; nil keeps every position). A layer without a pair (index out of range or nil) is an
// error, as is an activation whose width differs from the pair's.
func Observers(pairs []*Pair, mask func() []bool) []hooks.Option {
	feed := func(pt hooks.Point, act *tensor.Tensor) error {
		if pt.Layer < 0 || pt.Layer >= len(pairs) || pairs[pt.Layer] == nil {
			return fmt.Errorf("spectra: no accumulators for %s", pt)
		}
		c := pairs[pt.Layer].Post
		if pt.Site == hooks.MLPPre {
			c = pairs[pt.Layer].Pre
		}
		if w := act.Shape[len(act.Shape)-1]; w != c.Width() {
			return fmt.Errorf("spectra: %s has width %d, the accumulator %d", pt, w, c.Width())
		}
		var m []bool
		if mask != nil {
			m = mask()
		}
		if m == nil {
			return c.Add(act.Data, len(act.Data)/c.Width())
		}
		return c.AddMasked(act.Data, m)
	}
	return []hooks.Option{hooks.Observe("blocks.*.mlp.hook_pre", feed), hooks.Observe("blocks.*.mlp.hook_post", feed)}
}
