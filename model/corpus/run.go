package corpus

import (
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// Batch is one forward pass of Run: its contexts, the padded model batch built from them
// (right-padded, so row r's real tokens are positions 0..len(Contexts[r].IDs)-1), and, once it
// has run, the model's result.
type Batch struct {
	Contexts []Context
	model.Batch
	Result *model.Result
	// Number is the batch's ordinal in the run, counting skipped batches.
	Number int64
}

// Tokens counts the batch's real tokens.
func (b *Batch) Tokens() int64 {
	var n int64
	for _, c := range b.Contexts {
		n += int64(len(c.IDs))
	}
	return n
}

// RunOptions configure Run.
type RunOptions struct {
	// Batch is the number of contexts per forward pass (0: 8).
	Batch int
	// PadID fills pad slots (masked; any valid id).
	PadID int
	// Skip passes over the first Skip contexts without running them (a resumed run).
	Skip int64
	// Hooks returns the hook options of one batch's forward pass (nil: none). Observers it
	// returns can close over the batch to know which context each row holds.
	Hooks func(b *Batch) []hooks.Option
	// After is called with each batch once its forward pass has run; its error ends the run
	// and is returned.
	After func(b *Batch) error
}

// Run streams contexts through the model, Batch at a time: the unit every dataset pass
// (profiling, activation counting, SNMF or SAE activation collection) is built on. The
// contexts come from a Contexts-style producer, e.g.
//
//	corpus.Run(m, func(yield func(corpus.Context) error) error {
//		return corpus.Contexts(corpus.FileDocuments("train.txt"), enc, corpus.ContextOptions{Ctx: 64}, yield)
//	}, corpus.RunOptions{Hooks: ..., After: ...})
//
// The first error of the producer, the model, a hook or After ends the run.
func Run(m *model.Model, contexts func(yield func(Context) error) error, opt RunOptions) error {
	size := opt.Batch
	if size <= 0 {
		size = 8
	}
	var rows []Context
	var seen, number int64
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		seqs := make([][]int, len(rows))
		for i, r := range rows {
			seqs[i] = r.IDs
		}
		mb, err := model.NewBatch(seqs, model.PadRight, opt.PadID)
		if err != nil {
			return err
		}
		b := &Batch{Contexts: rows, Batch: mb, Number: number}
		number++
		var o []hooks.Option
		if opt.Hooks != nil {
			o = opt.Hooks(b)
		}
		if b.Result, err = m.Forward(mb, o...); err != nil {
			return err
		}
		if opt.After != nil {
			if err := opt.After(b); err != nil {
				return err
			}
		}
		rows = make([]Context, 0, size)
		return nil
	}
	err := contexts(func(c Context) error {
		if seen++; seen <= opt.Skip {
			if seen%int64(size) == 0 {
				number++
			}
			return nil
		}
		rows = append(rows, c)
		if len(rows) == size {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
