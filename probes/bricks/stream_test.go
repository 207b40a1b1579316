package bricks

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/probes/spectra"
)

// idContexts is a producer of the contexts of n random id documents starting with BOS id 1.
func idContexts(n, vocab int) func(yield func(corpus.Context) error) error {
	rng := rand.New(rand.NewPCG(5, 6))
	var docs []corpus.Document
	for i := range n {
		ids := []int{1}
		for range 3 + rng.IntN(20) {
			ids = append(ids, 2+rng.IntN(vocab-2))
		}
		docs = append(docs, corpus.Document{Ordinal: int64(i), IDs: ids, HasIDs: true})
	}
	return func(yield func(corpus.Context) error) error {
		return corpus.Contexts(func(y func(corpus.Document) error) error {
			for _, d := range docs {
				if err := y(d); err != nil {
					return err
				}
			}
			return nil
		}, corpus.Encoder{BOS: 1, Vocab: vocab}, corpus.ContextOptions{Ctx: 12}, yield)
	}
}

// TestCoActivateAndGroupMass: CoActivate accumulates exactly the non-BOS rows a capture of
// the same batches gives, and AddGroupMass the masses of each prompt's non-BOS tokens.
func TestCoActivateAndGroupMass(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 2)
	p := hooks.At(1, hooks.MLPPost)
	w := m.Catalog().Width(p)
	contexts := idContexts(10, m.Config.DVocab)
	co := NewCoActivation(w, CoActivationOptions{Pattern: Firing})
	st, err := CoActivate(m, p, co, contexts, spectra.StreamOptions{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	ref := NewCoActivation(w, CoActivationOptions{Pattern: Firing})
	err = corpus.Run(m, contexts, corpus.RunOptions{Batch: 4,
		Hooks: func(*corpus.Batch) []hooks.Option { return []hooks.Option{hooks.CapturePoints(p)} },
		After: func(b *corpus.Batch) error {
			a, _ := b.Result.Cache.Get(p)
			for r, c := range b.Contexts {
				for pos := c.BOS; pos < len(c.IDs); pos++ {
					if err := ref.Add(a.Data[(r*b.Len+pos)*w:(r*b.Len+pos+1)*w], 1); err != nil {
						return err
					}
				}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if co.N() != ref.N() || st.Rows != co.N() || st.BOSExcluded != 10 {
		t.Fatalf("rows %d, reference %d, stats %+v", co.N(), ref.N(), st)
	}
	a, b := co.Covariance().Scatter(nil), ref.Covariance().Scatter(nil)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9*(1+math.Abs(b[i])) {
			t.Fatalf("scatter %d: %g, reference %g", i, a[i], b[i])
		}
	}

	prompts := [][]int{{1, 5, 6, 7}, {1, 9}, {1, 1, 3, 4, 8}, {2, 3}}
	groups := []int{0, 1, 0, -1}
	gm := NewGroupMass(w, 2, AbsMass)
	if err := AddGroupMass(gm, m, p, prompts, groups, 1, 3); err != nil {
		t.Fatal(err)
	}
	want := NewGroupMass(w, 2, AbsMass)
	for i, ids := range prompts {
		if groups[i] < 0 {
			continue
		}
		bt, _ := model.NewBatch([][]int{ids}, model.PadRight, 0)
		res, err := m.Forward(bt, hooks.CapturePoints(p))
		if err != nil {
			t.Fatal(err)
		}
		act, _ := res.Cache.Get(p)
		lab := make([]int, len(ids))
		for k := range lab {
			lab[k] = groups[i]
			if k < 2 && ids[k] == 1 && (k == 0 || ids[0] == 1) {
				lab[k] = -1
			}
		}
		if err := want.Add(act.Data, lab); err != nil {
			t.Fatal(err)
		}
	}
	if g, h := gm.Tokens(), want.Tokens(); g[0] != 6 || g[1] != 1 || h[0] != 6 || h[1] != 1 {
		t.Fatalf("tokens %v, reference %v", g, h)
	}
	ga, wa := gm.MeanMass(), want.MeanMass()
	for i := range ga {
		if math.Abs(ga[i]-wa[i]) > 1e-5*(1+math.Abs(wa[i])) {
			t.Fatalf("mean mass %d: %g, reference %g", i, ga[i], wa[i])
		}
	}
	if err := AddGroupMass(gm, m, hooks.At(5, hooks.MLPPost), prompts, groups, 1, 3); err == nil {
		t.Error("a point the model lacks was accepted")
	}
	if err := AddGroupMass(gm, m, p, prompts, groups[:2], 1, 3); err == nil {
		t.Error("too few groups were accepted")
	}
	if _, err := CoActivate(m, hooks.At(0, hooks.AttnPattern), co, contexts, spectra.StreamOptions{}); err == nil {
		t.Error("a per-head point was accepted")
	}
}

// TestPartitionSets: the sets hold every non-constant neuron once, named per brick.
func TestPartitionSets(t *testing.T) {
	p := &Partition{Width: 5, Bricks: 2, Assign: []int{1, 0, -1, 1, 0}, Sizes: []int{2, 2}}
	pt := hooks.At(3, hooks.MLPPost)
	sets := p.Sets(pt, nil)
	if len(sets) != 2 || sets[0].Name != "brick-00" || len(sets[0].Neurons) != 2 || sets[1].Neurons[1].Neuron != hooks.NeuronAt(3, hooks.MLPPost, 3) {
		t.Errorf("sets %+v", sets)
	}
}
