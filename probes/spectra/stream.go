package spectra

import (
	"fmt"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// NewPairs returns empty accumulators for the given layers of m (nil: every layer), each of
// width d_mlp, in the order given. It returns an error for a layer the model lacks, a layer
// given twice, or a model without blocks.L.mlp.hook_pre or hook_post at a layer.
func NewPairs(m *model.Model, layers []int, opts Options) ([]*Pair, error) {
	n := m.Config.NLayers
	if layers == nil {
		layers = make([]int, n)
		for l := range layers {
			layers[l] = l
		}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("spectra: no layers")
	}
	cat := m.Catalog()
	var pairs []*Pair
	for i, l := range layers {
		if l < 0 || l >= n {
			return nil, fmt.Errorf("spectra: layer %d: the model has layers 0..%d", l, n-1)
		}
		if slices.Contains(layers[:i], l) {
			return nil, fmt.Errorf("spectra: layer %d given twice", l)
		}
		for _, s := range []hooks.Site{hooks.MLPPre, hooks.MLPPost} {
			if !cat.Has(hooks.At(l, s)) {
				return nil, fmt.Errorf("spectra: this model has no %s", hooks.At(l, s))
			}
		}
		w := cat.Width(hooks.At(l, hooks.MLPPost))
		if pw := cat.Width(hooks.At(l, hooks.MLPPre)); pw != w {
			return nil, fmt.Errorf("spectra: layer %d: hook_pre has width %d, hook_post %d", l, pw, w)
		}
		pairs = append(pairs, NewPair(l, w, opts))
	}
	return pairs, nil
}

// StreamOptions configure Stream.
type StreamOptions struct {
	// Batch is the number of contexts per forward pass (0: 8); PadID fills pad slots.
	Batch, PadID int
	// Skip passes over the first Skip contexts without running them (a resumed run).
	Skip int64
	// IncludeBOS counts each context's leading BOS positions (corpus.Context.BOS); by default
	// they are left out, as profiles leave them out (a BOS activation describes the position,
	// not the text, and is far from every other token's).
	IncludeBOS bool
	// After, if set, runs after every batch with the totals of this call so far (progress,
	// checkpoints, a stop signal); its error ends the run and is returned.
	After func(b *corpus.Batch, s Stats) error
}

// Stats counts what a Stream call has run.
type Stats struct {
	Batches  int64 `json:"batches"`
	Contexts int64 `json:"contexts"`
	// Tokens counts the real (unpadded) tokens; Rows the rows added to each accumulator
	// (Tokens less the BOS positions left out).
	Tokens      int64 `json:"tokens"`
	Rows        int64 `json:"rows"`
	BOSExcluded int64 `json:"bos_excluded"`
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Batches += o.Batches
	s.Contexts += o.Contexts
	s.Tokens += o.Tokens
	s.Rows += o.Rows
	s.BOSExcluded += o.BOSExcluded
}

// Stream runs the contexts through m in batches (corpus.Run, right-padded) and adds every
// real token's blocks.L.mlp.hook_pre activation to pairs[i].Pre and its blocks.L.mlp.hook_post
// activation to pairs[i].Post, for each pair's layer L (a nil Pre or Post is not fed, and its
// hook is not observed). Padding is never added; leading BOS positions are left out unless
// opt.IncludeBOS. The activations are read in place (hooks.Observe), one accumulator after the
// other. It returns the counts of this call; the first error of the data, the model, an
// accumulator (a non-finite activation) or opt.After ends the run.
//
//	pairs, err := spectra.NewPairs(m, nil, spectra.Options{})
//	st, err := spectra.Stream(m, pairs, func(yield func(corpus.Context) error) error {
//		return corpus.Contexts(corpus.FileDocuments("train.txt"), enc, corpus.ContextOptions{Ctx: 64}, yield)
//	}, spectra.StreamOptions{})
//	rep, err := spectra.Analyze(pairs, m.Provenance(), spectra.AnalyzeOptions{})
func Stream(m *model.Model, pairs []*Pair, contexts func(yield func(corpus.Context) error) error, opt StreamOptions) (Stats, error) {
	var st Stats
	if len(pairs) == 0 {
		return st, fmt.Errorf("spectra: no accumulators to stream into")
	}
	cat := m.Catalog()
	type feed struct {
		pt hooks.Point
		c  *Covariance
	}
	var feeds []feed
	for _, p := range pairs {
		for _, f := range []feed{{hooks.At(p.Layer, hooks.MLPPre), p.Pre}, {hooks.At(p.Layer, hooks.MLPPost), p.Post}} {
			if f.c == nil {
				continue
			}
			if !cat.Has(f.pt) {
				return st, fmt.Errorf("spectra: this model has no %s", f.pt)
			}
			if w := cat.Width(f.pt); w != f.c.Width() {
				return st, fmt.Errorf("spectra: %s has width %d, its accumulator %d", f.pt, w, f.c.Width())
			}
			feeds = append(feeds, f)
		}
	}
	if len(feeds) == 0 {
		return st, fmt.Errorf("spectra: every accumulator is nil")
	}
	var mask []bool
	var rows, bos int64
	err := corpus.Run(m, contexts, corpus.RunOptions{Batch: opt.Batch, PadID: opt.PadID, Skip: opt.Skip,
		Hooks: func(b *corpus.Batch) []hooks.Option {
			mask, rows, bos = Mask(mask, b, opt.IncludeBOS)
			o := make([]hooks.Option, len(feeds))
			for i, f := range feeds {
				o[i] = hooks.ObservePoint(f.pt, func(pt hooks.Point, a *tensor.Tensor) error {
					if err := f.c.AddMasked(a.Data, mask); err != nil {
						return fmt.Errorf("%s: %w", pt, err)
					}
					return nil
				})
			}
			return o
		},
		After: func(b *corpus.Batch) error {
			st.Batches++
			st.Contexts += int64(len(b.Contexts))
			st.Tokens += b.Tokens()
			st.Rows += rows
			st.BOSExcluded += bos
			if opt.After != nil {
				return opt.After(b, st)
			}
			return nil
		}})
	return st, err
}

// Mask writes into dst (reallocated when short) the [batch·pos] mask of the positions of b
// whose activations count: the real tokens (b.Mask) less, unless includeBOS, each context's
// leading BOS positions (the batch is right-padded, so context r's BOS positions are
// 0..Contexts[r].BOS−1). It returns the mask and the numbers of positions kept and of BOS
// positions left out.
func Mask(dst []bool, b *corpus.Batch, includeBOS bool) (mask []bool, kept, bos int64) {
	mask = append(dst[:0], b.Mask...)
	for r, c := range b.Contexts {
		if includeBOS {
			break
		}
		for t := 0; t < c.BOS && t < b.Len; t++ {
			if mask[r*b.Len+t] {
				mask[r*b.Len+t] = false
				bos++
			}
		}
	}
	for _, k := range mask {
		if k {
			kept++
		}
	}
	return mask, kept, bos
}
