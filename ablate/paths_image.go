package ablate

import (
	"fmt"
	"math"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// imageItems says whether path items are images (all of them) or prompts (none), and checks
// each image's shape.
func imageItems(m *model.Model, items []PathItem) (bool, error) {
	img := items[0].Image != nil
	c := m.Config
	for _, it := range items {
		if (it.Image != nil) != img {
			return false, fmt.Errorf("path item %s: items mix images and prompts", it.ID)
		}
		if !img {
			continue
		}
		if !c.ImageModel() {
			return false, fmt.Errorf("path item %s is an image and %s is a language model", it.ID, m.Dir)
		}
		if s := it.Image.Shape; len(s) != 4 || s[0] != 1 || s[1] != c.Channels || s[2] != c.ImageSize || s[3] != c.ImageSize {
			return false, fmt.Errorf("path item %s: image of shape %v, want [1, %d, %d, %d]", it.ID, s, c.Channels, c.ImageSize, c.ImageSize)
		}
	}
	if !img && c.ImageModel() {
		return false, fmt.Errorf("%s is an image classifier: path items must be images", m.Dir)
	}
	return img, nil
}

// runImageItemEval is runItemEval for images of an image classifier: every kind under every
// factor, with random draws k = 0..random−1 (RandomLists with seed seed+k, as runItemKinds),
// the item's neurons edited at the CLS token (position 0), where the class logits are read.
// Each image runs once per intervention as a row of batches of at most batch rows (0: all of an
// image's interventions in one batch); the baseline is the unedited image. Scores hold, per
// item, log P(target) and whether the predicted class is the target.
func runImageItemEval(m *model.Model, items []PathItem, kinds []itemKind, factors []float32, random int, seed uint64, batch int,
	progress func(int)) (*Scores, [][]itemRuns, error) {
	cat := m.Catalog()
	type run struct {
		lists  [][]hooks.Neuron // per item
		factor float32
		scores *Scores
	}
	n := len(items)
	newScores := func() *Scores { return &Scores{Correct: make([]bool, n), LogProb: make([]float64, n)} }
	runs := []*run{{factor: 1, scores: newScores()}} // the baseline: no lists
	out := make([][]itemRuns, len(kinds))
	for k, kind := range kinds {
		draws := make([][][]hooks.Neuron, random)
		for r := range draws {
			draws[r] = RandomLists(cat, kind.lists, seed+uint64(r))
		}
		out[k] = make([]itemRuns, len(factors))
		for f, fac := range factors {
			per := func(lists [][]hooks.Neuron) [][]hooks.Neuron {
				l := make([][]hooks.Neuron, n)
				for i := range l {
					l[i] = lists[kind.of[i]]
				}
				return l
			}
			claimed := &run{lists: per(kind.lists), factor: fac, scores: newScores()}
			runs = append(runs, claimed)
			iv := &PerItem{Lists: kind.lists, Of: kind.of, Factor: fac, At: Positions{List: []int{0}}, What: kind.what}
			out[k][f] = itemRuns{iv: iv.String() + " (the CLS token)", claimed: claimed.scores}
			for r := range draws {
				rr := &run{lists: per(draws[r]), factor: fac, scores: newScores()}
				runs = append(runs, rr)
				out[k][f].random = append(out[k][f].random, rr.scores)
			}
		}
	}
	if batch <= 0 {
		batch = len(runs)
	}
	c := m.Config
	T := c.MaxPos
	per := len(items[0].Image.Data)
	for i, it := range items {
		for lo := 0; lo < len(runs); lo += batch {
			rs := runs[lo:min(lo+batch, len(runs))]
			px := tensor.New(len(rs), c.Channels, c.ImageSize, c.ImageSize)
			for r := range rs {
				copy(px.Data[r*per:], it.Image.Data)
			}
			// units[point][row]: the row's units at the point
			units := map[hooks.Point][][]int{}
			for r, ru := range rs {
				if ru.lists == nil {
					continue
				}
				for _, nn := range ru.lists[i] {
					if units[nn.Point] == nil {
						units[nn.Point] = make([][]int, len(rs))
					}
					units[nn.Point][r] = append(units[nn.Point][r], nn.Index)
				}
			}
			var opts []hooks.Option
			for pt, rows := range units {
				opts = append(opts, hooks.EditPoint(pt, func(_ hooks.Point, a *tensor.Tensor) error {
					w := len(a.Data) / (len(rs) * T)
					for r, us := range rows {
						cls := a.Data[r*T*w:][:w] // position 0: CLS
						for _, j := range us {
							if j < 0 || j >= w {
								return fmt.Errorf("unit %d is outside the width %d of %s", j, w, pt)
							}
							if f := rs[r].factor; f == 0 {
								cls[j] = 0
							} else {
								cls[j] *= f
							}
						}
					}
					return nil
				}))
			}
			res, err := m.ForwardImages(px, opts...)
			if err != nil {
				return nil, nil, fmt.Errorf("path item %s: %w", it.ID, err)
			}
			for r, ru := range rs {
				row := res.Logits.Row(r)
				ru.scores.LogProb[i] = logProb(row, it.Target)
				ru.scores.Correct[i] = model.Argmax(row) == it.Target
				if math.IsNaN(ru.scores.LogProb[i]) {
					return nil, nil, fmt.Errorf("path item %s: non-finite logits", it.ID)
				}
			}
		}
		if progress != nil {
			progress(1)
		}
	}
	return runs[0].scores, out, nil
}
