package bricks

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
	"github.com/neuronscope/neuronscope/probes/spectra"
)

// CoActivate streams contexts through m (corpus.Run, right-padded, opt.Batch contexts per
// pass) and adds every real token's activation at point p ([batch, pos, width], e.g.
// blocks.L.mlp.hook_post) to co; leading BOS positions are left out unless
// opt.IncludeBOS (spectra.Mask). opt.After runs after each batch. It returns the counts of
// the call; a point the model lacks or whose width is not co's is an error.
func CoActivate(m *model.Model, p hooks.Point, co *CoActivation, contexts func(yield func(corpus.Context) error) error, opt spectra.StreamOptions) (spectra.Stats, error) {
	var st spectra.Stats
	if err := checkPoint(m, p, co.Width()); err != nil {
		return st, err
	}
	var mask []bool
	var rows, bos int64
	err := corpus.Run(m, contexts, corpus.RunOptions{Batch: opt.Batch, PadID: opt.PadID, Skip: opt.Skip,
		Hooks: func(b *corpus.Batch) []hooks.Option {
			mask, rows, bos = spectra.Mask(mask, b, opt.IncludeBOS)
			return []hooks.Option{hooks.ObservePoint(p, func(pt hooks.Point, a *tensor.Tensor) error {
				if err := co.AddMasked(a.Data, mask); err != nil {
					return fmt.Errorf("%s: %w", pt, err)
				}
				return nil
			})}
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

// AddGroupMass runs the prompts through m (corpus.ForEachPromptBatch: batches of batch
// prompts, left-padded) and adds the activation at point p of every real token of prompt i
// to group groups[i] of gm (groups[i] < 0: the prompt is skipped); a prompt's leading tokens
// equal to bos are left out (bos < 0: none). A point the model lacks, a width other than
// gm's, or len(groups) ≠ len(prompts) is an error.
func AddGroupMass(gm *GroupMass, m *model.Model, p hooks.Point, prompts [][]int, groups []int, bos, batch int) error {
	if len(groups) != len(prompts) {
		return fmt.Errorf("bricks: %d groups for %d prompts", len(groups), len(prompts))
	}
	if err := checkPoint(m, p, gm.width); err != nil {
		return err
	}
	var labels []int
	hooksFor := func(rows []int, b model.Batch) []hooks.Option {
		labels = labels[:0]
		for k, i := range rows {
			ids := prompts[i]
			first := b.Len - len(ids) // left-padded
			lead := 0
			for bos >= 0 && lead < len(ids) && ids[lead] == bos {
				lead++
			}
			for t := range b.Len {
				g := -1
				if t >= first+lead && b.Mask[k*b.Len+t] {
					g = groups[i]
				}
				labels = append(labels, g)
			}
		}
		return []hooks.Option{hooks.ObservePoint(p, func(pt hooks.Point, a *tensor.Tensor) error {
			if err := gm.Add(a.Data, labels); err != nil {
				return fmt.Errorf("%s: %w", pt, err)
			}
			return nil
		})}
	}
	return corpus.ForEachPromptBatch(m, prompts, batch, 0, hooksFor, func([]int, model.Batch, *model.Result) error { return nil })
}

// checkPoint checks that m has per-position point p of the given width.
func checkPoint(m *model.Model, p hooks.Point, width int) error {
	cat := m.Catalog()
	if !cat.Has(p) || !p.Site.PerLayer() || !p.Site.PerPosition() || len(cat.Shape(p)) != 1 {
		return fmt.Errorf("bricks: this model has no per-token point %s", p)
	}
	if w := cat.Width(p); w != width {
		return fmt.Errorf("bricks: %s has width %d, the accumulator %d", p, w, width)
	}
	return nil
}

// Sets returns the bricks of p as neuron groups at point pt, named name(b) (nil: "brick-B",
// zero-padded), for package ablate's experiments and neuron-set files; constant neurons belong
// to no group.
func (p *Partition) Sets(pt hooks.Point, name func(b int) string) []hooks.NeuronGroup {
	if name == nil {
		name = BrickName
	}
	sets := make([]hooks.NeuronGroup, p.Bricks)
	for b := range sets {
		sets[b].Name = name(b)
	}
	for i, b := range p.Assign {
		if b >= 0 {
			sets[b].Neurons = append(sets[b].Neurons, hooks.ScoredNeuron{Neuron: hooks.Neuron{Point: pt, Index: i}})
		}
	}
	return sets
}

// BrickName is the default name of brick b: "brick-00", "brick-01", ...
func BrickName(b int) string { return fmt.Sprintf("brick-%02d", b) }
