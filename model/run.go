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
	if err := m.textOnly(); err != nil {
		return nil, err
	}
	if err := m.Config.validateBatch(b, kv.len); err != nil {
		return nil, err
	}
	if b.Size != kv.size || kv.len+b.Len > kv.cap {
		return nil, fmt.Errorf("KV cache of %d×%d (used %d) cannot take a %d×%d batch", kv.size, kv.cap, kv.len, b.Size, b.Len)
	}
	logits, err := m.forward(b, kv, call, nil)
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
	pixels  []float32 // image models: [batch, channels, size, size]
	pos     []int     // position ids [batch, pos]
	kv      *KVCache
	call    *hooks.Call
	cos     []float32 // RoPE tables [n, rot/2]
	sin     []float32
	// cosLocal, sinLocal are the RoPE tables of the sliding-window layers when they use their
	// own base (Gemma 3), else nil.
	cosLocal, sinLocal []float32

	x     []float32 // residual stream [n, d_model]
	h     []float32 // normed input of attention / MLP [n, d_model]
	h2    []float32 // second normed input (parallel residual), or the post-norm output (Gemma 2/3) [n, d_model]
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

// textOnly refuses the token-id entry points for an image model.
func (m *Model) textOnly() error {
	if m.Config.ImageModel() {
		return fmt.Errorf("%s is an image classifier (model_type %s): run images (ForwardImages, --image), not token ids", m.Dir, m.Config.ModelType)
	}
	return nil
}

// forward runs the pass (pixels [batch, channels, size, size] for an image model, else nil);
// an error returned by a hook aborts it (see hookAbort).
func (m *Model) forward(b Batch, kv *KVCache, call *hooks.Call, pixels []float32) (logits []float32, err error) {
	defer recoverHookError(&err)
	r := m.newRun(b, kv, call)
	r.pixels = pixels
	r.from(Start{})
	return r.final(), nil
}

// from runs the blocks from s: blocks s.Layer.. on s.Resid (or on the embedding when s.Resid is
// nil), appending the batch's positions to the KV cache.
func (r *run) from(s Start) {
	if s.Resid != nil {
		copy(r.x, s.Resid.Data)
	} else {
		r.m.net.embed(r)
	}
	r.blocks(s.Layer)
	r.kv.len += r.t
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
	if c.ParallelResidual || c.SandwichNorm {
		r.h2 = make([]float32, n*d)
	}
	if c.RotaryDim > 0 {
		r.cos, r.sin = ropeTable(r.pos, c.RotaryDim, c.RopeTheta, c.RopeScaling)
		if c.RopeLocalTheta > 0 {
			r.cosLocal, r.sinLocal = ropeTable(r.pos, c.RotaryDim, c.RopeLocalTheta, nil)
		}
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
	r.fireShape(p, data, append([]int{r.b, r.t}, inner...)...)
}

// fireShape hands the hooks a view of data with the full shape given.
func (r *run) fireShape(p hooks.Point, data []float32, shape ...int) {
	if !r.call.Wants(p) {
		return
	}
	if err := r.call.Fire(p, tensor.From(data[:tensor.Numel(shape)], shape...)); err != nil {
		panic(hookAbort{err})
	}
}

// final applies the final norm and the unembedding, returning logits [n, d_vocab] (soft-capped
// when the model caps them); for an image classifier, the class logits of the CLS rows
// [batch, n_classes].
func (r *run) final() []float32 {
	r.finalNorm()
	c, n, d := r.c, r.n, r.c.DModel
	if c.ImageModel() {
		rows := make([]int, r.b)
		for i := range rows {
			rows[i] = i * r.t
		}
		logits, _ := r.unembedRows(rows)
		return logits
	}
	u := r.m.net.unembedding()
	logits := make([]float32, n*c.DVocab)
	linalg.Gemm(blas.NoTrans, blas.Trans, n, c.DVocab, d, 1, r.h, d, u.Data, d, 0, logits, c.DVocab)
	softcapLogits(logits, c.FinalSoftcap)
	return logits
}

// unembedRows returns the logits [len(rows), d_vocab] of the given flat rows of ln_final.output
// (bias added and soft-capped as the model does) and those rows' ln_final.output
// [len(rows), d_model].
func (r *run) unembedRows(rows []int) (logits, hRows []float32) {
	d, v := r.c.DModel, r.c.DVocab
	hRows = make([]float32, len(rows)*d)
	for i, row := range rows {
		copy(hRows[i*d:(i+1)*d], r.h[row*d:(row+1)*d])
	}
	logits = make([]float32, len(rows)*v)
	linearForward(logits, hRows, r.m.net.unembedding(), r.m.unembedBias(), len(rows))
	softcapLogits(logits, r.c.FinalSoftcap)
	return logits, hRows
}

// softcapLogits applies the final-logit soft-cap x -> cap·tanh(x/cap) in place (cap 0: none).
func softcapLogits(logits []float32, cp float64) {
	if cp == 0 {
		return
	}
	f := float32(cp)
	linalg.Parallel(len(logits), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			logits[i] = f * tanh32(logits[i]/f)
		}
	})
}

// finalNorm applies the final norm to r.x into r.h, firing the ln_final hooks.
func (r *run) finalNorm() {
	w, b := r.m.net.finalNorm()
	if r.tape != nil {
		r.tape.cur = &r.tape.finalBlock
	}
	r.norm(r.h, r.x, w, b, hooks.Global(hooks.FinalScale), hooks.Global(hooks.FinalNormalized))
	if r.tape != nil {
		r.tape.final = r.tape.finalBlock.norms[0]
	}
	r.fire(hooks.Global(hooks.FinalOutput), r.h, r.c.DModel)
}

// ln1 and ln2 are block l's norm hook points (hook_scale, hook_normalized) of the attention and
// the MLP input norms.
func ln1(l int) []hooks.Point {
	return []hooks.Point{hooks.At(l, hooks.LN1Scale), hooks.At(l, hooks.LN1Normalized)}
}
func ln2(l int) []hooks.Point {
	return []hooks.Point{hooks.At(l, hooks.LN2Scale), hooks.At(l, hooks.LN2Normalized)}
}

// mlpForward runs the MLP on in, firing mlp.hook_pre, hook_pre_linear, hook_post and
// hook_mlp_out, writing r.mlp.
func (r *run) mlpForward(l int, in []float32, wIn, bIn, wUp, bUp, wOut, bOut *Param) {
	r.mlpCore(l, in, wIn, bIn, wUp, bUp, wOut, bOut)
	r.fire(hooks.At(l, hooks.MLPOut), r.mlp, r.c.DModel)
}

// mlpCore is mlpForward without hook_mlp_out (Gemma 2/3 fire it after their post-norm).
func (r *run) mlpCore(l int, in []float32, wIn, bIn, wUp, bUp, wOut, bOut *Param) {
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
}

// norm applies a norm (LayerNorm or RMSNorm per config) to in [n, d_model] into out. pts, when
// given, are its hook_scale and hook_normalized points: an edit of the divisor recomputes the
// normalized rows from in, an edit of those recomputes the output. With a tape, the normalized
// rows and divisors are kept, in call order, for the backward pass.
func (r *run) norm(out, in []float32, w, b *Param, pts ...hooks.Point) {
	c := r.c
	n, d := r.n, c.DModel
	var normed []float32
	if r.tape != nil {
		normed, r.scale = r.tape.addNorm(n, d)
	}
	hooked := len(pts) == 2 && (r.call.Wants(pts[0]) || r.call.Wants(pts[1]))
	if hooked && normed == nil {
		normed = make([]float32, n*d)
	}
	if c.LayerNorm {
		layerNormForward(out, normed, r.scale, in, w.Data, b.Data, c.NormEps, n, d)
	} else {
		rmsNormForward(out, normed, r.scale, in, w.Data, c.NormPlusOne, c.NormEps, n, d)
	}
	if !hooked {
		return
	}
	if r.call.Wants(pts[0]) {
		r.fire(pts[0], r.scale, 1)
		normApply(out, normed, r.scale, in, c, w.Data, b.data(), n, d)
	}
	if r.call.Wants(pts[1]) {
		r.fire(pts[1], normed, d)
		normAffine(out, normed, c, w.Data, b.data(), n, d)
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
	pos            []int  // position ids [batch, cap]
	real           []int  // real tokens so far per batch row
}

type layerKV struct {
	cap  int
	k, v []float32 // [batch, cap, n_kv_heads·d_head]
}

// NewKVCache allocates a cache for batch rows of up to capacity positions.
func (m *Model) NewKVCache(batch, capacity int) *KVCache { return m.newKVCache(batch, capacity, 0) }

// newKVCache allocates keys and values only for layers first.. (the only ones a pass starting
// at block first writes).
func (m *Model) newKVCache(batch, capacity, first int) *KVCache {
	c := m.Config
	kv := &KVCache{size: batch, cap: capacity, mask: make([]bool, batch*capacity), pos: make([]int, batch*capacity), real: make([]int, batch)}
	kv.layers = make([]layerKV, c.NLayers)
	for l := first; l < c.NLayers; l++ {
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
	f := &KVCache{size: times, cap: capacity, len: keep, mask: make([]bool, times*capacity), pos: make([]int, times*capacity), real: make([]int, times)}
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
		copy(f.pos[i*capacity:], kv.pos[row*kv.cap:row*kv.cap+keep])
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
			kv.pos[i*kv.cap+kv.len+j] = pos[i*b.Len+j]
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
