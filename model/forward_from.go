package model

import (
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ForwardFrom is Forward starting at s (see Start): blocks s.Layer.. run on s.Resid, the
// residual stream entering block s.Layer, [batch, pos, d_model], and the blocks below are not
// run at all. With s.Layer = n_layers only the final norm and the unembedding run: the logit
// lens of a residual stream. Hooks fire as in Forward for the parts that run.
func (m *Model) ForwardFrom(s Start, b Batch, opts ...hooks.Option) (*Result, error) {
	if err := m.textOnly(); err != nil {
		return nil, err
	}
	if err := m.checkStart(s, b, nil); err != nil {
		return nil, err
	}
	call, err := hooks.NewCall(m.catalog, opts...)
	if err != nil {
		return nil, err
	}
	kv := s.KV
	if kv == nil {
		kv = m.newKVCache(b.Size, b.Len, s.Layer)
	}
	logits, err := m.forwardFrom(s, b, kv, call)
	if err != nil {
		return nil, err
	}
	if err := call.Check(); err != nil {
		return nil, err
	}
	return &Result{Logits: tensor.From(logits, b.Size, b.Len, m.Config.DVocab), Cache: call.Cache(), Fired: call.Fired()}, nil
}

func (m *Model) forwardFrom(s Start, b Batch, kv *KVCache, call *hooks.Call) (logits []float32, err error) {
	defer recoverHookError(&err)
	r := m.newRun(b, kv, call)
	r.from(s)
	return r.final(), nil
}
