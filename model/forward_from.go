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
	if err := m.checkStart(s, b, nil); err != nil {
		return nil, err
	}
	call, err := hooks.NewCall(m.catalog, opts...)
	if err != nil {
		return nil, err
	}
	kv := s.KV
	if kv == nil {
		kv = m.newKVCacheFrom(b.Size, b.Len, s.Layer)
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

// newKVCacheFrom is NewKVCache holding keys and values only for layers first.. (the only
// ones a pass starting at block first writes).
func (m *Model) newKVCacheFrom(batch, capacity, first int) *KVCache {
	c := m.Config
	kv := &KVCache{size: batch, cap: capacity, mask: make([]bool, batch*capacity), real: make([]int, batch)}
	kv.layers = make([]layerKV, c.NLayers)
	for l := first; l < c.NLayers; l++ {
		kv.layers[l] = layerKV{cap: capacity, k: make([]float32, batch*capacity*c.KVDim()), v: make([]float32, batch*capacity*c.KVDim())}
	}
	return kv
}
