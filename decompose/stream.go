package decompose

import (
	"context"
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ModelSource streams a model over contexts (a dataset cut by corpus.Contexts) and appends the
// activations of one hook point batch by batch through Activations.AppendBatch, so A is built
// without a trace file: pads never become rows, Filter drops BOS tokens (the published rule:
// every token with the BOS id, which includes the BOS that corpus.Contexts re-inserts at the
// start of every continuation context), and the memory bound applies as rows arrive.
type ModelSource struct {
	Model *model.Model
	// Point is the hook point read, e.g. blocks.6.mlp.hook_post; it must be [batch, pos, units].
	Point hooks.Point
	// Contexts yields the contexts (e.g. corpus.Contexts over corpus.FileDocuments).
	Contexts func(yield func(corpus.Context) error) error
	// Batch is the number of contexts per forward pass (0: 8).
	Batch int
	// Filter says which real tokens become rows.
	Filter TokenFilter
	// Data describes the dataset for Describe (e.g. its path and sha256).
	Data string
	// AfterBatch, if set, is called after each batch with its number of real tokens.
	AfterBatch func(tokens int64)
}

// Describe names the model, the hook point and the data.
func (s ModelSource) Describe() string {
	return fmt.Sprintf("%s at %s over %s", s.Model.Dir, s.Point, s.Data)
}

// AppendTo runs the model over every context and appends the kept tokens' activations at
// Point. It stops at the first error: a point the model lacks, a width that differs from a's,
// a context the model refuses, the memory bound (*LimitError), NaN/Inf, or ctx being done
// (checked after every batch). Rows of the batches before the error stay in a.
func (s ModelSource) AppendTo(ctx context.Context, a *Activations) error {
	cat := s.Model.Catalog()
	if !cat.Has(s.Point) || !s.Point.Site.PerPosition() || len(cat.Shape(s.Point)) != 1 {
		return fmt.Errorf("decompose: %s is not a [batch, pos, units] hook point of %s", s.Point, s.Model.Dir)
	}
	w := cat.Width(s.Point)
	if a.DMLP == 0 && a.N() == 0 {
		a.DMLP = w
	}
	if w != a.DMLP {
		return fmt.Errorf("decompose: %s has %d units per position, the activations so far have %d", s.Point, w, a.DMLP)
	}
	return corpus.Run(s.Model, s.Contexts, corpus.RunOptions{Batch: s.Batch, PadID: max(s.Model.Config.Pad, 0),
		Hooks: func(b *corpus.Batch) []hooks.Option {
			return []hooks.Option{hooks.ObservePoint(s.Point, func(_ hooks.Point, act *tensor.Tensor) error {
				_, err := a.AppendBatch(b.Batch, act.Data, s.Filter)
				return err
			})}
		},
		After: func(b *corpus.Batch) error {
			if s.AfterBatch != nil {
				s.AfterBatch(b.Tokens())
			}
			return ctx.Err()
		}})
}
