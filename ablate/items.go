package ablate

import (
	"fmt"
	"math"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// PerItem intervenes on each item with its own neurons: Lists are the distinct neuron lists
// and Of[i] the list question i gets (−1, or i beyond Of: none). At the selected positions of
// its item, every neuron of the item's list is multiplied by Factor, or set to 0 when Factor
// is 0 (remove; 2 enhances): each prompt's influential path at its attributed position, a
// fact's knowledge neurons on the fact's prompts and on another relation's fact. It acts on
// an Eval's questions; a pass over texts is an error.
type PerItem struct {
	Lists  [][]hooks.Neuron
	Of     []int
	Factor float32
	At     Positions
	// What names the lists for reports ("each prompt's path").
	What string
}

// Points implements Intervention.
func (p *PerItem) Points() []hooks.Point {
	seen := map[hooks.Point]bool{}
	var out []hooks.Point
	for _, l := range p.Lists {
		for _, n := range l {
			if !seen[n.Point] {
				seen[n.Point] = true
				out = append(out, n.Point)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// String implements Intervention.
func (p *PerItem) String() string {
	op := fmt.Sprintf("scale ×%g", p.Factor)
	if p.Factor == 0 {
		op = "set to 0"
	}
	return fmt.Sprintf("%s %s (%d lists at %s) %s", op, p.What, len(p.Lists), sitesOf(p.Points()), p.At.describe())
}

// Hooks implements Intervention.
func (p *PerItem) Hooks(b *Batch) ([]hooks.Option, error) {
	if b.Texts {
		return nil, fmt.Errorf("%s: per-item neurons act on questions, not texts", p.What)
	}
	// units[point][row]: the row's units at the point
	units := map[hooks.Point][][]int{}
	for r, it := range b.Items {
		if it >= len(p.Of) || p.Of[it] < 0 {
			continue
		}
		j := p.Of[it]
		if j >= len(p.Lists) {
			return nil, fmt.Errorf("%s: item %d has list %d of %d", p.What, it, j, len(p.Lists))
		}
		for _, n := range p.Lists[j] {
			if units[n.Point] == nil {
				units[n.Point] = make([][]int, b.Size)
			}
			units[n.Point][r] = append(units[n.Point][r], n.Index)
		}
	}
	var opts []hooks.Option
	for _, pt := range p.Points() {
		rows := units[pt]
		if rows == nil {
			continue
		}
		opts = append(opts, hooks.EditPoint(pt, func(_ hooks.Point, act *tensor.Tensor) error {
			if act.Shape[0] != b.Size || act.Shape[1] != b.Len {
				return fmt.Errorf("activation of shape %v in a %d×%d batch", act.Shape, b.Size, b.Len)
			}
			w := len(act.Data) / (b.Size * b.Len)
			for _, us := range rows {
				for _, i := range us {
					if i < 0 || i >= w {
						return fmt.Errorf("unit %d is outside the width %d of %s", i, w, pt)
					}
				}
			}
			p.At.rows(b, func(r int, pos []int) {
				for _, t := range pos {
					row := act.Data[(r*b.Len+t)*w:][:w]
					for _, i := range rows[r] {
						if p.Factor == 0 {
							row[i] = 0
						} else {
							row[i] *= p.Factor
						}
					}
				}
			})
			return nil
		}))
	}
	return opts, nil
}

// itemKind is one kind of per-item lists of an item experiment (the paths, the activation
// argmax baseline, the knowledge neurons).
type itemKind struct {
	name  string
	lists [][]hooks.Neuron
	of    []int
	what  string
}

// itemRuns are the scores of one kind under one factor: its own lists' and each random
// draw's.
type itemRuns struct {
	iv      string
	claimed *Scores
	random  []*Scores
}

// runItemKinds runs every kind under every factor at positions at, with random draws k =
// 0..random−1 of every kind (RandomLists with seed seed+k, the same draw for every factor), all
// in one RunAll over e's questions. runs[kind][factor].
func runItemKinds(e *Eval, kinds []itemKind, factors []float32, at Positions, random int, seed uint64) ([][]itemRuns, error) {
	cat := e.Model.Catalog()
	var ivs []Intervention
	for _, k := range kinds {
		draws := make([][][]hooks.Neuron, random)
		for r := range draws {
			draws[r] = RandomLists(cat, k.lists, seed+uint64(r))
		}
		for _, f := range factors {
			ivs = append(ivs, &PerItem{Lists: k.lists, Of: k.of, Factor: f, At: at, What: k.what})
			for r := range draws {
				ivs = append(ivs, &PerItem{Lists: draws[r], Of: k.of, Factor: f, At: at, What: "random lists like " + k.what})
			}
		}
	}
	e.Reuse(ivs...)
	scores, err := e.RunAll(ivs)
	if err != nil {
		return nil, err
	}
	out := make([][]itemRuns, len(kinds))
	i := 0
	for k := range kinds {
		out[k] = make([]itemRuns, len(factors))
		for f := range factors {
			out[k][f] = itemRuns{iv: ivs[i].String(), claimed: scores[i], random: scores[i+1 : i+1+random]}
			i += 1 + random
		}
	}
	return out, nil
}

// runItemEval evaluates an item experiment's prompts (answer log-probabilities measured):
// every kind under every factor (runItemKinds, whose lowest layers the baseline keeps), and the
// baseline.
func runItemEval(m *model.Model, ps *corpus.PromptSet, batch, workers int, progress func(int), kinds []itemKind, factors []float32,
	at Positions, random int, seed uint64) (*Scores, [][]itemRuns, error) {
	e, err := NewEval(m, ps, nil, EvalOptions{BatchSize: batch, LogProb: true, Workers: workers, Progress: progress})
	if err != nil {
		return nil, nil, err
	}
	runs, err := runItemKinds(e, kinds, factors, at, random, seed)
	if err != nil {
		return nil, nil, err
	}
	base, err := e.Baseline()
	return base, runs, err
}

// probRatio is P_after/P_before of question i, from the log-probabilities (finite whenever
// both are).
func probRatio(before, after *Scores, i int) float64 {
	return math.Exp(after.LogProb[i] - before.LogProb[i])
}

// meanProb is the mean answer probability over items idx.
func meanProb(s *Scores, idx []int) float64 { return AnswerProb.level(s, idx) }

// top1 is the fraction of items idx whose greedy token is the answer.
func top1(s *Scores, idx []int) float64 { return Accuracy.level(s, idx) }

// sign is −1 for an intervention claimed to lower the measure (remove) and +1 for one claimed
// to raise it (enhance).
func sign(helps bool) float64 {
	if helps {
		return 1
	}
	return -1
}

// allItems is 0..n−1.
func allItems(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
