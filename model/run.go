package model

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"github.com/neuronscope/neuronscope/model/tensor"
	"gonum.org/v1/gonum/blas"
)

// Result is what one forward pass returns.
type Result struct {
	Logits *tensor.Tensor // [batch, pos, d_vocab]; values at pad positions are unspecified
	Cache  *hooks.Cache   // captured activations, [batch, pos, ...]
	Fired  []hooks.Point  // requested hook points that fired
}

// Forward runs the batch through the model, firing the hooks the options ask for. Every
// requested hook must fire, or Forward returns an error.
func (m *Model) Forward(b Batch, opts ...hooks.Option) (*Result, error) {
	if err := m.Config.validateBatch(b, 0); err != nil {
		return nil, err
	}
	return m.ForwardKV(b, m.NewKVCache(b.Size, b.Len), opts...)
}

// ForwardKV is Forward continuing the positions already in kv: the batch's positions attend to
// them, their position ids follow them, and their keys and values are appended to kv.
func (m *Model) ForwardKV(b Batch, kv *KVCache, opts ...hooks.Option) (*Result, error) {
	call, err := hooks.NewCall(m.catalog, opts...)
	if err != nil {
		return nil, err
	}
	if err := m.Config.validateBatch(b, kv.len); err != nil {
		return nil, err
	}
	if b.Size != kv.size || kv.len+b.Len > kv.cap {
		return nil, fmt.Errorf("KV cache of %d×%d (used %d) cannot take a %d×%d batch", kv.size, kv.cap, kv.len, b.Size, b.Len)
	}
	logits, err := m.forward(b, kv, call)
	if err != nil {
		return nil, err
	}
	if err := call.Check(); err != nil {
		return nil, err
	}
	return &Result{Logits: tensor.From(logits, b.Size, b.Len, m.Config.DVocab), Cache: call.Cache(), Fired: call.Fired()}, nil
}

// run is the state of one forward call over n = batch·pos rows.
type run struct {
	m       *Model
	c       *Config
	b, t, n int
	past    int // positions already in the KV cache
	ids     []int
	pos     []int // position ids [batch, pos]
	kv      *KVCache
	call    *hooks.Call
	cos     []float32 // RoPE tables [n, rot/2]
	sin     []float32

	x     []float32 // residual stream [n, d_model]
	h     []float32 // normed input of attention / MLP [n, d_model]
	h2    []float32 // second normed input (parallel residual) [n, d_model]
	scale []float32 // norm divisors [n]
	qkv   []float32 // projections [n, q_dim + 2 kv_dim]
	z     []float32 // attention heads [n, n_heads·d_head]
	attn  []float32 // attention output [n, d_model]
	pre   []float32 // [n, d_mlp]
	lin   []float32 // [n, d_mlp]
	post  []float32 // [n, d_mlp]
	mlp   []float32 // [n, d_model]

	// tape, when not nil, keeps what a backward pass needs (tape.go): every block then gets
	// its own buffers instead of the scratch above, and attention keeps its probabilities.
	tape *tape
}

// forward runs the pass; an error returned by a hook aborts it (see hookAbort).
func (m *Model) forward(b Batch, kv *KVCache, call *hooks.Call) (logits []float32, err error) {
	defer recoverHookError(&err)
	r := m.newRun(b, kv, call)
	m.net.embed(r)
	r.blocks(0)
	kv.len += b.Len
	return r.final(), nil
}

// hookAbort carries a hook's error from the point that fired it up to the model call, which
// returns it: the rest of the pass is not computed.
type hookAbort struct{ err error }

// recoverHookError turns a hookAbort panic into *err; other panics propagate.
func recoverHookError(err *error) {
	if v := recover(); v != nil {
		a, ok := v.(hookAbort)
		if !ok {
			panic(v)
		}
		*err = a.err
	}
}

// newRun allocates the state of one forward call.
func (m *Model) newRun(b Batch, kv *KVCache, call *hooks.Call) *run {
	c := m.Config
	r := &run{m: m, c: c, b: b.Size, t: b.Len, n: b.Size * b.Len, past: kv.len, ids: b.IDs, kv: kv, call: call}
	r.pos = kv.appendMask(b)
	n, d := r.n, c.DModel
	r.x = make([]float32, n*d)
	r.h = make([]float32, n*d)
	r.scale = make([]float32, n)
	r.qkv = make([]float32, n*(c.QDim()+2*c.KVDim()))
	r.z = make([]float32, n*c.QDim())
	r.attn = make([]float32, n*d)
	r.pre = make([]float32, n*c.DMLP)
	r.post = make([]float32, n*c.DMLP)
	r.mlp = make([]float32, n*d)
	if c.Gated {
		r.lin = make([]float32, n*c.DMLP)
	}
	if c.ParallelResidual {
		r.h2 = make([]float32, n*d)
	}
	if c.RotaryDim > 0 {
		r.cos, r.sin = ropeTable(r.pos, c.RotaryDim, c.RopeTheta)
	}
	return r
}

// blocks runs blocks first..n_layers-1 on the residual stream r.x.
func (r *run) blocks(first int) {
	d := r.c.DModel
	for l := first; l < r.c.NLayers; l++ {
		r.fire(hooks.At(l, hooks.ResidPre), r.x, d)
		if r.tape != nil {
			r.tape.beginBlock(r, l)
		}
		r.m.net.block(r, l)
		r.fire(hooks.At(l, hooks.ResidPost), r.x, d)
	}
}

// fire hands the hooks a [batch, pos, inner...] view of data, if anything wants point p.
func (r *run) fire(p hooks.Point, data []float32, inner ...int) {
	if !r.call.Wants(p) {
		return
	}
	shape := append([]int{r.b, r.t}, inner...)
	if err := r.call.Fire(p, tensor.From(data[:tensor.Numel(shape)], shape...)); err != nil {
		panic(hookAbort{err})
	}
}

// final applies the final norm and the unembedding, returning logits [n, d_vocab].
func (r *run) final() []float32 {
	r.finalNorm()
	c, n, d := r.c, r.n, r.c.DModel
	u := r.m.net.unembedding()
	logits := make([]float32, n*c.DVocab)
	linalg.Gemm(blas.NoTrans, blas.Trans, n, c.DVocab, d, 1, r.h, d, u.Data, d, 0, logits, c.DVocab)
	return logits
}

// finalNorm applies the final norm to r.x into r.h, firing the ln_final hooks.
func (r *run) finalNorm() {
	c, n, d := r.c, r.n, r.c.DModel
	w, b := r.m.net.finalNorm()
	normed := make([]float32, n*d)
	if r.tape != nil {
		r.scale = make([]float32, n)
		r.tape.final = normTape{normed: normed, scale: r.scale}
	}
	if c.LayerNorm {
		layerNormForward(r.h, normed, r.scale, r.x, w.Data, b.Data, c.NormEps, n, d)
	} else {
		rmsNormForward(r.h, normed, r.scale, r.x, w.Data, c.NormPlusOne, c.NormEps, n, d)
	}
	if p := hooks.Global(hooks.FinalScale); r.call.Wants(p) {
		r.fire(p, r.scale, 1)
		normApply(r.h, normed, r.scale, r.x, c, w.Data, b.data(), n, d)
	}
	if p := hooks.Global(hooks.FinalNormalized); r.call.Wants(p) {
		r.fire(p, normed, d)
		normAffine(r.h, normed, c, w.Data, b.data(), n, d)
	}
	r.fire(hooks.Global(hooks.FinalOutput), r.h, d)
}

// attention runs self-attention for layer l: q, k and v are views into the projections of the
// new rows; k and v are copied into the KV cache, RoPE is applied to q and the new keys, and the
// heads are written to r.z [n, n_heads·d_head], firing attn.hook_z.
func (r *run) attention(l int, q, k, v headView) {
	c := r.c
	lk := &r.kv.layers[l]
	dh, kvDim := c.DHead, c.KVDim()
	for bi := 0; bi < r.b; bi++ {
		for i := 0; i < r.t; i++ {
			row := bi*r.t + i
			dst := (bi*lk.cap + r.past + i) * kvDim
			for h := 0; h < c.NKVHeads; h++ {
				copy(lk.k[dst+h*dh:dst+(h+1)*dh], k.Data[row*k.RowStride+k.Off+h*k.HeadStride:])
				copy(lk.v[dst+h*dh:dst+(h+1)*dh], v.Data[row*v.RowStride+v.Off+h*v.HeadStride:])
			}
		}
	}
	if c.RotaryDim > 0 {
		ropeForward(q.Data, q.Off, q.RowStride, q.HeadStride, c.NHeads, c.RotaryDim, r.cos, r.sin, r.n)
		half := c.RotaryDim / 2
		for bi := 0; bi < r.b; bi++ {
			off := (bi*lk.cap + r.past) * kvDim
			ropeForward(lk.k[off:], 0, kvDim, dh, c.NKVHeads, c.RotaryDim, r.cos[bi*r.t*half:], r.sin[bi*r.t*half:], r.t)
		}
	}
	var probs []float32
	if r.tape != nil {
		probs = r.tape.layers[l].probs
	}
	attentionForward(r.z, probs, q, lk, r.kv.mask, c, r.b, r.t, r.past)
	r.fire(hooks.At(l, hooks.AttnZ), r.z, c.NHeads, c.DHead)
}

// mlp runs the MLP on r.h (or in), firing mlp.hook_pre, hook_pre_linear, hook_post, writing r.mlp.
func (r *run) mlpForward(l int, in []float32, wIn, bIn, wUp, bUp, wOut, bOut *Param) {
	c := r.c
	linearForward(r.pre, in, wIn, bIn, r.n)
	r.fire(hooks.At(l, hooks.MLPPre), r.pre, c.DMLP)
	var up []float32
	if c.Gated {
		linearForward(r.lin, in, wUp, bUp, r.n)
		r.fire(hooks.At(l, hooks.MLPPreLinear), r.lin, c.DMLP)
		up = r.lin
	}
	activationForward(r.post, r.pre, up, c.Act)
	r.fire(hooks.At(l, hooks.MLPPost), r.post, c.DMLP)
	linearForward(r.mlp, r.post, wOut, bOut, r.n)
	r.fire(hooks.At(l, hooks.MLPOut), r.mlp, c.DModel)
}

// norm applies a block norm (LayerNorm or RMSNorm per config) from r.x into out. With a tape,
// the normalized rows and divisors are kept, in call order, for the backward pass.
func (r *run) norm(out []float32, w, b *Param) {
	c := r.c
	var normed []float32
	if r.tape != nil {
		normed, r.scale = r.tape.addNorm(r.n, c.DModel)
	}
	if c.LayerNorm {
		layerNormForward(out, normed, r.scale, r.x, w.Data, b.Data, c.NormEps, r.n, c.DModel)
	} else {
		rmsNormForward(out, normed, r.scale, r.x, w.Data, c.NormPlusOne, c.NormEps, r.n, c.DModel)
	}
}

// embedTokens writes the token embedding rows into r.x. A pad slot with an out-of-range pad id
// reads row 0: it is masked and never seen.
func (r *run) embedTokens(wte *Param, scale float32) {
	embedForward(r.x, wte.Data, r.ids, scale, r.c.DVocab, r.c.DModel)
}

// KVCache holds every layer's keys and values (after RoPE) for incremental decoding.
type KVCache struct {
	size, cap, len int
	layers         []layerKV
	mask           []bool // [batch, cap]
	real           []int  // real tokens so far per batch row
}

type layerKV struct {
	cap  int
	k, v []float32 // [batch, cap, n_kv_heads·d_head]
}

// NewKVCache allocates a cache for batch rows of up to capacity positions.
func (m *Model) NewKVCache(batch, capacity int) *KVCache {
	c := m.Config
	kv := &KVCache{size: batch, cap: capacity, mask: make([]bool, batch*capacity), real: make([]int, batch)}
	kv.layers = make([]layerKV, c.NLayers)
	for l := range kv.layers {
		kv.layers[l] = layerKV{cap: capacity, k: make([]float32, batch*capacity*c.KVDim()), v: make([]float32, batch*capacity*c.KVDim())}
	}
	return kv
}

// Len is the number of positions already cached.
func (kv *KVCache) Len() int { return kv.len }

// Fork returns a new cache of times batch rows, each holding a copy of the first keep cached
// positions of row (keys, values and mask), with room for capacity positions in all: the
// shared prefix of several continuations, computed once.
func (kv *KVCache) Fork(row, keep, times, capacity int) *KVCache {
	if row < 0 || row >= kv.size || keep < 0 || keep > kv.len || keep > capacity || times < 1 {
		panic(fmt.Sprintf("model: cannot fork %d positions of row %d of a %d×%d cache (used %d)", keep, row, kv.size, kv.cap, kv.len))
	}
	f := &KVCache{size: times, cap: capacity, len: keep, mask: make([]bool, times*capacity), real: make([]int, times)}
	f.layers = make([]layerKV, len(kv.layers))
	for l, src := range kv.layers {
		dim := len(src.k) / (kv.size * src.cap)
		dst := layerKV{cap: capacity, k: make([]float32, times*capacity*dim), v: make([]float32, times*capacity*dim)}
		from := row * src.cap * dim
		for i := 0; i < times; i++ {
			copy(dst.k[i*capacity*dim:], src.k[from:from+keep*dim])
			copy(dst.v[i*capacity*dim:], src.v[from:from+keep*dim])
		}
		f.layers[l] = dst
	}
	real := 0
	for j := 0; j < keep; j++ {
		if kv.mask[row*kv.cap+j] {
			real++
		}
	}
	for i := 0; i < times; i++ {
		copy(f.mask[i*capacity:], kv.mask[row*kv.cap:row*kv.cap+keep])
		f.real[i] = real
	}
	return f
}

// appendMask records the batch's mask after the cached positions and returns its position ids.
func (kv *KVCache) appendMask(b Batch) []int {
	if b.Size != kv.size || kv.len+b.Len > kv.cap {
		panic(fmt.Sprintf("model: KV cache of %d×%d (used %d) cannot take a %d×%d batch", kv.size, kv.cap, kv.len, b.Size, b.Len))
	}
	pos := make([]int, b.Size*b.Len)
	for i := 0; i < b.Size; i++ {
		for j := 0; j < b.Len; j++ {
			m := b.Mask[i*b.Len+j]
			kv.mask[i*kv.cap+kv.len+j] = m
			if m {
				kv.real[i]++
			}
			pos[i*b.Len+j] = max(kv.real[i]-1, 0)
		}
	}
	return pos
}

// ApplyFinalNorm applies the model's final norm (ln_final: LayerNorm with weight and bias, or
// RMSNorm, Gemma's with 1 + w) to n rows of x [n, d_model] into dst [n, d_model], exactly as
// the forward pass does before the unembedding. dst and x may be the same slice.
func (m *Model) ApplyFinalNorm(dst, x []float32, n int) {
	c, d := m.Config, m.Config.DModel
	if len(x) < n*d || len(dst) < n*d {
		panic(fmt.Sprintf("model: ApplyFinalNorm of %d rows of %d needs %d values", n, d, n*d))
	}
	w, b := m.net.finalNorm()
	out := dst
	if &dst[0] == &x[0] {
		out = make([]float32, n*d)
	}
	normed, scale := make([]float32, n*d), make([]float32, n)
	if c.LayerNorm {
		layerNormForward(out, normed, scale, x, w.Data, b.Data, c.NormEps, n, d)
	} else {
		rmsNormForward(out, normed, scale, x, w.Data, c.NormPlusOne, c.NormEps, n, d)
	}
	if &out[0] != &dst[0] {
		copy(dst, out[:n*d])
	}
}
