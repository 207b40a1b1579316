package model

import (
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ForwardFrom is Forward with the pass starting at s (see Start): with s.Layer = l and s.Resid
// the batch's blocks.l.hook_resid_pre, only blocks l.. and the final norm run, and the logits
// are exactly Forward's (the same computation from the same residual stream). An intervention
// at layer l changes nothing below it, so experiments capture hook_resid_pre once in an
// unedited pass and rerun only the layers an edit can reach. Hooks at points below s.Layer
// never fire, so asking for one is an error.
func (m *Model) ForwardFrom(s Start, b Batch, opts ...hooks.Option) (res *Result, err error) {
	if err := m.checkStart(s, b, nil); err != nil {
		return nil, err
	}
	call, err := hooks.NewCall(m.catalog, opts...)
	if err != nil {
		return nil, err
	}
	kv := s.KV
	if kv == nil {
		kv = m.NewKVCache(b.Size, b.Len)
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
	if s.Resid != nil {
		copy(r.x, s.Resid.Data)
	} else {
		m.net.embed(r)
	}
	r.blocks(s.Layer)
	kv.len += b.Len
	return r.final(), nil
}
