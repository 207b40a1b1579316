package decompose

import (
	"context"
	"errors"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// TestModelSource: streaming a model over contexts appends exactly the rows of a direct forward
// of each context, in order, without pads and without BOS tokens; the memory bound stops it.
func TestModelSource(t *testing.T) {
	m := modeltest.Tiny(t, "llama", 5)
	p := hooks.At(1, hooks.MLPPost)
	const bos = 1
	ctxs := []corpus.Context{{IDs: []int{bos, 5, 6, 7}, BOS: 1}, {IDs: []int{bos, 9}, BOS: 1}, {IDs: []int{4, 3, 2, 8, 11}}}
	contexts := func(yield func(corpus.Context) error) error {
		for _, c := range ctxs {
			if err := yield(c); err != nil {
				return err
			}
		}
		return nil
	}
	src := ModelSource{Model: m, Point: p, Contexts: contexts, Batch: 2, Filter: TokenFilter{BOS: bos}, Data: "three contexts"}
	var tokens int64
	src.AfterBatch = func(n int64) { tokens += n }
	a := NewActivations(0, 1<<20)
	if err := src.AppendTo(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var want []float32
	for _, c := range ctxs {
		b, _ := model.NewBatch([][]int{c.IDs}, model.PadRight, 0)
		if _, err := m.Forward(b, hooks.ObservePoint(p, func(_ hooks.Point, act *tensor.Tensor) error {
			for q, id := range c.IDs {
				if id != bos {
					want = append(want, act.Data[q*m.Config.DMLP:(q+1)*m.Config.DMLP]...)
				}
			}
			return nil
		})); err != nil {
			t.Fatal(err)
		}
	}
	d := m.Config.DMLP
	if a.DMLP != d || a.N() != len(want)/d || a.N() != 9 || a.DroppedBOS != 2 || tokens != 11 {
		t.Fatalf("n %d (want %d), d_mlp %d, dropped BOS %d, tokens %d", a.N(), len(want)/d, a.DMLP, a.DroppedBOS, tokens)
	}
	// Row t of A's rows is the t-th kept token (batched forward vs one context at a time).
	for i, w := range want {
		if g := a.Rows[i]; g-w > 1e-5 || w-g > 1e-5 {
			t.Fatalf("token %d neuron %d: %g, want %g", i/d, i%d, g, w)
		}
	}
	small := NewActivations(0, int64(4*d*4))
	var le *LimitError
	if err := src.AppendTo(context.Background(), small); !errors.As(err, &le) {
		t.Errorf("memory bound: %v", err)
	}
	if err := (ModelSource{Model: m, Point: hooks.At(9, hooks.MLPPost), Contexts: contexts}).AppendTo(context.Background(), NewActivations(0, 1<<20)); err == nil {
		t.Error("a hook the model lacks was accepted")
	}
}
