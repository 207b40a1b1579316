package model

import (
	"math"
	"slices"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/linalg"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Self-attention of every architecture, forward and backward side by side: the per-layer
// attention spec (scale, soft-cap, ALiBi, causal and sliding-window masks), the kernels, the
// run's attention step with its hook points (attn.hook_q … attn.hook_z, attn.hook_result) and
// their gradients.
//
// Per batch row b and head h, with T new queries at cache indices past..past+T-1 and
// tk = past+T keys:
//
//	s[i, j] = cap·tanh(scale·q_i·k_j / cap) + slope_h·(pos_j − pos_i)   (cap and slope optional)
//	s[i, j] = -Inf where key j is masked: padding, j > past+i (causal), past+i − j >= window
//	p[i, :] = softmax(s[i, :]) (all-masked rows are 0),  z_i = Σ_j p[i, j]·v_j
//
// s is attn.hook_attn_scores and p attn.hook_pattern, both [batch, n_heads, T, tk]. When no hook
// wants them, each (batch row, head) runs scores, softmax and mixing in one task on a T×tk
// scratch; the soft-cap, the ALiBi bias and the masks are applied in the same pass over each
// score row as the mask was before, so they cost no extra pass over the activations.

// attnSpec is what one layer's attention computes besides softmax(q·kᵀ)·v.
type attnSpec struct {
	scale   float32   // multiplies q·k
	softcap float32   // > 0: s -> softcap·tanh(s/softcap)
	causal  bool      // query past+i sees keys j <= past+i
	window  int       // > 0: and only keys with past+i − j < window
	alibi   []float32 // per-head slopes: s += slope_h·(pos_j − pos_i)
}

// attnSpec returns layer l's attention spec.
func (c *Config) attnSpec(l int) attnSpec {
	sp := attnSpec{causal: !c.Bidirectional, softcap: float32(c.AttnSoftcap)}
	s := c.AttnScale
	if s == 0 {
		s = 1 / math.Sqrt(float64(c.DHead))
	}
	if c.AttnScaleByLayer {
		s /= float64(l + 1)
	}
	sp.scale = float32(s)
	if c.LocalLayers != nil && c.LocalLayers[l] {
		sp.window = c.Window
	}
	if c.ALiBi {
		sp.alibi = alibiSlopes(c.NHeads)
	}
	return sp
}

// alibiSlopes are BLOOM's per-head ALiBi slopes (HF build_alibi_tensor): with p the largest
// power of two <= n, heads 0..p-1 take base^1..base^p, base = 2^(-8/p); the remaining heads
// take the odd powers 1, 3, 5, … of 2^(-8/(2p)). All are powers of two, exact in float32.
func alibiSlopes(n int) []float32 {
	p := 1
	for p*2 <= n {
		p *= 2
	}
	out := make([]float32, 0, n)
	base := math.Pow(2, -8/float64(p))
	for i := 1; i <= p; i++ {
		out = append(out, float32(math.Pow(base, float64(i))))
	}
	extra := math.Pow(2, -8/float64(2*p))
	for i := 0; len(out) < n; i++ {
		out = append(out, float32(math.Pow(extra, float64(2*i+1))))
	}
	return out
}

// ropeFor returns the RoPE tables of layer l: the local ones on Gemma 3's sliding-window layers.
func (r *run) ropeFor(l int) (cos, sin []float32) {
	if r.cosLocal != nil && r.c.LocalLayers[l] {
		return r.cosLocal, r.sinLocal
	}
	return r.cos, r.sin
}

// headRows is a strided view of n rows of heads×d_head values: head h of row r starts at
// data[at(r) + h*stride]. It lets the hooks see [batch, pos, heads, d_head] tensors of heads
// that live interleaved in a fused projection or in the KV cache.
type headRows struct {
	data          []float32
	at            func(row int) int
	heads, stride int
}

func viewRows(v headView, heads int) headRows {
	return headRows{data: v.Data, at: func(r int) int { return r*v.RowStride + v.Off }, heads: heads, stride: v.HeadStride}
}

// cacheRows views the new rows of a KV-cache buffer [batch, cap, n_kv_heads·d_head].
func (r *run) cacheRows(buf []float32, capacity int) headRows {
	kvDim := r.c.KVDim()
	return headRows{data: buf, heads: r.c.NKVHeads, stride: r.c.DHead,
		at: func(row int) int { return (row/r.t*capacity + r.past + row%r.t) * kvDim }}
}

// gatherHeads copies n rows of v into dst [n, heads, dh]; scatterHeads is its inverse.
func gatherHeads(dst []float32, v headRows, n, dh int) {
	for r := 0; r < n; r++ {
		base := v.at(r)
		for h := 0; h < v.heads; h++ {
			copy(dst[(r*v.heads+h)*dh:(r*v.heads+h+1)*dh], v.data[base+h*v.stride:])
		}
	}
}

func scatterHeads(v headRows, src []float32, n, dh int) {
	for r := 0; r < n; r++ {
		base := v.at(r)
		for h := 0; h < v.heads; h++ {
			copy(v.data[base+h*v.stride:base+h*v.stride+dh], src[(r*v.heads+h)*dh:])
		}
	}
}

// fireHeads fires p on a [batch, pos, heads, d_head] copy of v and writes the (possibly
// edited) values back.
func (r *run) fireHeads(p hooks.Point, v headRows) {
	if !r.call.Wants(p) {
		return
	}
	dh := r.c.DHead
	buf := make([]float32, r.n*v.heads*dh)
	gatherHeads(buf, v, r.n, dh)
	r.fire(p, buf, v.heads, dh)
	scatterHeads(v, buf, r.n, dh)
}

// attention runs self-attention for layer l: q, k and v are views into the projections of the
// new rows and qn, kn the q/k norm weights (nil without). It fires attn.hook_q/k/v, copies k and
// v into the KV cache, applies the q/k norms and RoPE to q and the new keys (one pass), fires
// hook_rot_q/k, then scores, pattern and attn.hook_z, which it writes to r.z
// [n, n_heads·d_head].
func (r *run) attention(l int, q, k, v headView, qn, kn *Param) {
	c := r.c
	lk := &r.kv.layers[l]
	dh, kvDim := c.DHead, c.KVDim()
	r.fireHeads(hooks.At(l, hooks.AttnQ), viewRows(q, c.NHeads))
	r.fireHeads(hooks.At(l, hooks.AttnK), viewRows(k, c.NKVHeads))
	r.fireHeads(hooks.At(l, hooks.AttnV), viewRows(v, c.NKVHeads))
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
	if c.QKNorm || c.RotaryDim > 0 {
		cos, sin := r.ropeFor(l)
		var qNormed, qScale, kNormed, kScale []float32
		if r.tape != nil && c.QKNorm {
			bt := &r.tape.layers[l]
			bt.qNorm = normTape{normed: make([]float32, r.n*c.QDim()), scale: make([]float32, r.n*c.NHeads)}
			bt.kNorm = normTape{normed: make([]float32, r.n*kvDim), scale: make([]float32, r.n*c.NKVHeads)}
			qNormed, qScale, kNormed, kScale = bt.qNorm.normed, bt.qNorm.scale, bt.kNorm.normed, bt.kNorm.scale
		}
		hq := headNorm{w: qn.data(), plusOne: c.NormPlusOne, eps: c.NormEps, normed: qNormed, scale: qScale}
		headNormRope(q.Data, q.Off, q.RowStride, q.HeadStride, c.NHeads, dh, hq, c.RotaryDim, cos, sin, r.n)
		half := c.RotaryDim / 2
		for bi := 0; bi < r.b; bi++ {
			off := (bi*lk.cap + r.past) * kvDim
			hk := headNorm{w: kn.data(), plusOne: c.NormPlusOne, eps: c.NormEps}
			if kNormed != nil {
				hk.normed, hk.scale = kNormed[bi*r.t*kvDim:], kScale[bi*r.t*c.NKVHeads:]
			}
			var bc, bs []float32
			if cos != nil {
				bc, bs = cos[bi*r.t*half:], sin[bi*r.t*half:]
			}
			headNormRope(lk.k[off:], 0, kvDim, dh, c.NKVHeads, dh, hk, c.RotaryDim, bc, bs, r.t)
		}
		r.fireHeads(hooks.At(l, hooks.AttnRotQ), viewRows(q, c.NHeads))
		r.fireHeads(hooks.At(l, hooks.AttnRotK), r.cacheRows(lk.k, lk.cap))
	}
	a := &attnCtx{c: c, sp: c.attnSpec(l), q: q, lk: lk, kv: r.kv, b: r.b, t: r.t, past: r.past}
	var probs []float32
	if r.tape != nil {
		probs = r.tape.layers[l].probs
	}
	scoresP, patternP := hooks.At(l, hooks.AttnScores), hooks.At(l, hooks.AttnPattern)
	nh, tk := c.NHeads, r.past+r.t
	if r.call.Wants(scoresP) || r.call.Wants(patternP) {
		if probs == nil {
			probs = make([]float32, r.b*nh*r.t*tk)
		}
		blk := r.t * tk
		linalg.Parallel(r.b*nh, 1, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				a.scores(probs[bh*blk:(bh+1)*blk], bh)
			}
		})
		r.fireShape(scoresP, probs, r.b, nh, r.t, tk)
		linalg.Parallel(r.b*nh*r.t, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				softmaxRow(probs[i*tk : (i+1)*tk])
			}
		})
		r.fireShape(patternP, probs, r.b, nh, r.t, tk)
		linalg.Parallel(r.b*nh, 1, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				a.mix(r.z, probs[bh*blk:(bh+1)*blk], bh)
			}
		})
	} else {
		a.fused(r.z, probs)
	}
	r.fire(hooks.At(l, hooks.AttnZ), r.z, c.NHeads, c.DHead)
}

// attnOut applies the attention output projection to r.z into r.attn. When a hook wants
// attn.hook_result it computes each head's share z_h·W_O[:, h]ᵀ [n, n_heads, d_model] and fires
// it; if an edit changed it, the output becomes the sum of the heads plus the bias (otherwise
// the fused product stands, so a capture does not change the pass).
func (r *run) attnOut(l int, w, b *Param) {
	linearForward(r.attn, r.z, w, b, r.n)
	p := hooks.At(l, hooks.AttnResult)
	if !r.call.Wants(p) {
		return
	}
	c, n := r.c, r.n
	nh, dh, d, qd := c.NHeads, c.DHead, c.DModel, c.QDim()
	res := make([]float32, n*nh*d)
	for h := 0; h < nh; h++ {
		if w.InOut { // Conv1D [q_dim, d_model]: rows h·d_head…
			linalg.Gemm(blas.NoTrans, blas.NoTrans, n, d, dh, 1, r.z[h*dh:], qd, w.Data[h*dh*d:], d, 0, res[h*d:], nh*d)
		} else { // nn.Linear [d_model, q_dim]: columns h·d_head…
			linalg.Gemm(blas.NoTrans, blas.Trans, n, d, dh, 1, r.z[h*dh:], qd, w.Data[h*dh:], qd, 0, res[h*d:], nh*d)
		}
	}
	orig := slices.Clone(res)
	r.fire(p, res, nh, d)
	if slices.Equal(orig, res) {
		return
	}
	for i := 0; i < n; i++ {
		row := r.attn[i*d : (i+1)*d]
		if b != nil {
			copy(row, b.Data)
		} else {
			clear(row)
		}
		for h := 0; h < nh; h++ {
			addTo(row, res[(i*nh+h)*d:(i*nh+h+1)*d])
		}
	}
}

// attention is run.attention's and run.attnOut's backward for block l: from dProj, the
// gradient of the output projection's output (hook_attn_out, or its input of Gemma's
// post-attention norm), it emits attn.hook_result, hook_z, hook_pattern, hook_attn_scores,
// hook_rot_q/k, hook_q/k/v, and accumulates the gradients of the projections (before the q/k
// norms and RoPE) through the views dq, dk, dv. q is the forward's (rotated) query view on the
// tape; qn, kn the q/k norm weights. The cached keys and values of earlier positions
// (Start.KV) are constants: their gradients are dropped.
func (k *back) attention(l int, dProj []float32, q, dq, dk, dv headView, wO, bO, qn, kn *Param) {
	r := k.r
	c, bt, lk := r.c, &r.tape.layers[l], &r.kv.layers[l]
	nh, dh, kvDim := c.NHeads, c.DHead, c.KVDim()
	if p := hooks.At(l, hooks.AttnResult); k.wants(p) {
		res := make([]float32, r.n*nh*c.DModel)
		for i := 0; i < r.n; i++ {
			for h := 0; h < nh; h++ {
				copy(res[(i*nh+h)*c.DModel:], dProj[i*c.DModel:(i+1)*c.DModel])
			}
		}
		k.emit(p, res, nh, c.DModel)
	}
	clear(k.dz)
	linearBackward(k.dz, k.grad(wO), k.grad(bO), dProj, bt.z, wO, r.n)
	k.emit(hooks.At(l, hooks.AttnZ), k.dz, nh, dh)
	if k.done() {
		return
	}
	clear(k.dk)
	clear(k.dv)
	tk := r.past + r.t
	var dPattern, dScores []float32
	if k.wants(hooks.At(l, hooks.AttnPattern)) {
		dPattern = make([]float32, r.b*nh*r.t*tk)
	}
	if k.wants(hooks.At(l, hooks.AttnScores)) {
		dScores = make([]float32, r.b*nh*r.t*tk)
	}
	a := &attnCtx{c: c, sp: c.attnSpec(l), q: q, lk: lk, kv: r.kv, b: r.b, t: r.t, past: r.past}
	a.backward(dq, k.dk, k.dv, k.dz, bt.probs, dPattern, dScores)
	k.emitShape(hooks.At(l, hooks.AttnPattern), dPattern, r.b, nh, r.t, tk)
	k.emitShape(hooks.At(l, hooks.AttnScores), dScores, r.b, nh, r.t, tk)
	dkRows := r.cacheRows(k.dk, lk.cap)
	k.emitHeads(hooks.At(l, hooks.AttnV), r.cacheRows(k.dv, lk.cap))
	if c.QKNorm || c.RotaryDim > 0 {
		k.emitHeads(hooks.At(l, hooks.AttnRotQ), viewRows(dq, nh))
		k.emitHeads(hooks.At(l, hooks.AttnRotK), dkRows)
		cos, sin := r.ropeFor(l)
		half := c.RotaryDim / 2
		hq := headNorm{w: qn.data(), plusOne: c.NormPlusOne, normed: bt.qNorm.normed, scale: bt.qNorm.scale, dw: k.grad(qn)}
		headNormRopeBackward(dq.Data, dq.Off, dq.RowStride, dq.HeadStride, nh, dh, hq, c.RotaryDim, cos, sin, r.n)
		for bi := 0; bi < r.b; bi++ {
			off := (bi*lk.cap + r.past) * kvDim
			hk := headNorm{w: kn.data(), plusOne: c.NormPlusOne, dw: k.grad(kn)}
			if c.QKNorm {
				hk.normed, hk.scale = bt.kNorm.normed[bi*r.t*kvDim:], bt.kNorm.scale[bi*r.t*c.NKVHeads:]
			}
			var bc, bs []float32
			if cos != nil {
				bc, bs = cos[bi*r.t*half:], sin[bi*r.t*half:]
			}
			headNormRopeBackward(k.dk[off:], 0, kvDim, dh, c.NKVHeads, dh, hk, c.RotaryDim, bc, bs, r.t)
		}
	}
	k.emitHeads(hooks.At(l, hooks.AttnQ), viewRows(dq, nh))
	k.emitHeads(hooks.At(l, hooks.AttnK), dkRows)
	for bi := 0; bi < r.b; bi++ {
		for i := 0; i < r.t; i++ {
			row := bi*r.t + i
			src := (bi*lk.cap + r.past + i) * kvDim
			for h := 0; h < c.NKVHeads; h++ {
				addTo(dk.Data[row*dk.RowStride+dk.Off+h*dk.HeadStride:][:dh], k.dk[src+h*dh:src+(h+1)*dh])
				addTo(dv.Data[row*dv.RowStride+dv.Off+h*dv.HeadStride:][:dh], k.dv[src+h*dh:src+(h+1)*dh])
			}
		}
	}
}

// emitHeads emits the gradient held in the strided view v as [batch, pos, heads, d_head].
func (k *back) emitHeads(p hooks.Point, v headRows) {
	if !k.wants(p) {
		return
	}
	dh := k.r.c.DHead
	buf := make([]float32, k.r.n*v.heads*dh)
	gatherHeads(buf, v, k.r.n, dh)
	k.emitShape(p, buf, k.r.b, k.r.t, v.heads, dh)
}

// attnCtx is one layer's attention over a batch: what the kernels read.
type attnCtx struct {
	c    *Config
	sp   attnSpec
	q    headView
	lk   *layerKV
	kv   *KVCache
	b, t int
	past int
}

// scores writes the masked scores of (batch row, head) bh into dst [t, past+t].
func (a *attnCtx) scores(dst []float32, bh int) {
	c := a.c
	nh, dh, kvDim := c.NHeads, c.DHead, c.KVDim()
	tk := a.past + a.t
	bi, h := bh/nh, bh%nh
	kvh := h / (nh / c.NKVHeads)
	qOff := bi*a.t*a.q.RowStride + a.q.Off + h*a.q.HeadStride
	kOff := bi*a.lk.cap*kvDim + kvh*dh
	blas32.Implementation().Sgemm(blas.NoTrans, blas.Trans, a.t, tk, dh, a.sp.scale, a.q.Data[qOff:], a.q.RowStride, a.lk.k[kOff:], kvDim, 0, dst, tk)
	mask := a.kv.mask[bi*a.kv.cap : bi*a.kv.cap+tk]
	pos := a.kv.pos[bi*a.kv.cap : bi*a.kv.cap+tk]
	var slope float32
	if a.sp.alibi != nil {
		slope = a.sp.alibi[h]
	}
	for i := 0; i < a.t; i++ {
		a.sp.maskRow(dst[i*tk:(i+1)*tk], mask, pos, a.past+i, slope)
	}
}

// maskRow turns one row of scale·q·k into scores for the query at cache index qi: soft-cap,
// ALiBi bias, and -Inf at the keys it may not see.
func (sp *attnSpec) maskRow(row []float32, mask []bool, pos []int, qi int, slope float32) {
	lo, hi := 0, len(row)-1
	if sp.causal {
		hi = qi
	}
	if sp.window > 0 {
		lo = qi - sp.window + 1
	}
	neg := float32(math.Inf(-1))
	cp := sp.softcap
	for j, s := range row {
		if j < lo || j > hi || !mask[j] {
			row[j] = neg
			continue
		}
		if cp > 0 {
			s = cp * tanh32(s/cp)
		}
		if slope != 0 {
			s += slope * float32(pos[j]-pos[qi])
		}
		row[j] = s
	}
}

// softmaxRow replaces a score row by its softmax; -Inf entries become 0, and a row with no
// finite entry becomes all 0 (a query that sees no key). The sum accumulates in float64.
func softmaxRow(row []float32) {
	neg := float32(math.Inf(-1))
	mx := neg
	for _, v := range row {
		if v > mx {
			mx = v
		}
	}
	if mx == neg {
		clear(row)
		return
	}
	var sum float64
	for j, v := range row {
		if v == neg {
			row[j] = 0
			continue
		}
		e := exp32(v - mx)
		row[j] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for j := range row {
		row[j] *= inv
	}
}

// mix writes z of (batch row, head) bh = p·v from its probabilities p [t, past+t].
func (a *attnCtx) mix(z, p []float32, bh int) {
	c := a.c
	nh, dh, kvDim := c.NHeads, c.DHead, c.KVDim()
	tk := a.past + a.t
	bi, h := bh/nh, bh%nh
	kvh := h / (nh / c.NKVHeads)
	kOff := bi*a.lk.cap*kvDim + kvh*dh
	zOff := bi*a.t*nh*dh + h*dh
	blas32.Implementation().Sgemm(blas.NoTrans, blas.NoTrans, a.t, dh, tk, 1, p, tk, a.lk.v[kOff:], kvDim, 0, z[zOff:], nh*dh)
}

// fused runs scores, softmax and mixing for every (batch row, head) in one task each, keeping
// the probabilities in probs [batch, n_heads, t, past+t] when not nil.
func (a *attnCtx) fused(z, probs []float32) {
	nh, tk := a.c.NHeads, a.past+a.t
	blk := a.t * tk
	linalg.Parallel(a.b*nh, 1, func(lo, hi int) {
		scratch := make([]float32, blk)
		for bh := lo; bh < hi; bh++ {
			p := scratch
			if probs != nil {
				p = probs[bh*blk : (bh+1)*blk]
			}
			a.scores(p, bh)
			for i := 0; i < a.t; i++ {
				softmaxRow(p[i*tk : (i+1)*tk])
			}
			a.mix(z, p, bh)
		}
	})
}

// backward is the attention backward for the probabilities p it kept. Per batch row and head,
// with dz the gradient of z: dp = dz·vᵀ (d hook_pattern), dv += pᵀ·dz,
// ds = p ⊙ (dp − rowsum(p ⊙ dp)) (d hook_attn_scores; masked entries have p = 0 and get
// none), through the soft-cap ds ·= 1 − tanh²(scale·q·k/cap) (the raw scores recomputed),
// dq += scale·ds·k and dk += scale·dsᵀ·q. dq is written through a headView like q's; dk and
// dv have the KV cache's layout [batch, kvLen, n_kv_heads·d_head] and sum over the heads of a
// GQA group. dPattern and dScores, when not nil, receive dp and ds [batch, n_heads, t, past+t].
func (a *attnCtx) backward(dq headView, dk, dv, dz, probs, dPattern, dScores []float32) {
	c := a.c
	nh, dh, g := c.NHeads, c.DHead, c.NHeads/c.NKVHeads
	kvDim := c.KVDim()
	t, tk := a.t, a.past+a.t
	scale, cp := a.sp.scale, a.sp.softcap
	q, lk := a.q, a.lk
	impl := blas32.Implementation()
	// One task per (batch row, kv head) owns that head's dk and dv rows: no write is shared.
	linalg.Parallel(a.b*c.NKVHeads, 1, func(lo, hi int) {
		dp := make([]float32, t*tk)
		var raw []float32
		if cp > 0 {
			raw = make([]float32, t*tk)
		}
		for bk := lo; bk < hi; bk++ {
			bi, kvh := bk/c.NKVHeads, bk%c.NKVHeads
			kOff := bi*lk.cap*kvDim + kvh*dh
			for h := kvh * g; h < (kvh+1)*g; h++ {
				bh := bi*nh + h
				p := probs[bh*t*tk : (bh+1)*t*tk]
				zOff := bi*t*nh*dh + h*dh
				qOff := bi*t*q.RowStride + q.Off + h*q.HeadStride
				dqOff := bi*t*dq.RowStride + dq.Off + h*dq.HeadStride
				impl.Sgemm(blas.NoTrans, blas.Trans, t, tk, dh, 1, dz[zOff:], nh*dh, lk.v[kOff:], kvDim, 0, dp, tk)
				if dPattern != nil {
					copy(dPattern[bh*t*tk:], dp)
				}
				impl.Sgemm(blas.Trans, blas.NoTrans, tk, dh, t, 1, p, tk, dz[zOff:], nh*dh, 1, dv[kOff:], kvDim)
				for i := 0; i < t; i++ {
					softmaxBackward(dp[i*tk:(i+1)*tk], p[i*tk:(i+1)*tk])
				}
				if dScores != nil {
					copy(dScores[bh*t*tk:], dp)
				}
				if cp > 0 {
					impl.Sgemm(blas.NoTrans, blas.Trans, t, tk, dh, scale, q.Data[qOff:], q.RowStride, lk.k[kOff:], kvDim, 0, raw, tk)
					for j, x := range raw {
						if dp[j] != 0 {
							th := tanh32(x / cp)
							dp[j] *= 1 - th*th
						}
					}
				}
				impl.Sgemm(blas.NoTrans, blas.NoTrans, t, dh, tk, scale, dp, tk, lk.k[kOff:], kvDim, 1, dq.Data[dqOff:], dq.RowStride)
				impl.Sgemm(blas.Trans, blas.NoTrans, tk, dh, t, scale, dp, tk, q.Data[qOff:], q.RowStride, 1, dk[kOff:], kvDim)
			}
		}
	})
}

// softmaxBackward replaces dp, the gradient of a softmax output row p, with the gradient of its
// input: ds_j = p_j·(dp_j − Σ_k p_k·dp_k). Entries softmaxRow zeroed get 0.
func softmaxBackward(dp, p []float32) {
	var dot float64
	for j, v := range p {
		dot += float64(v) * float64(dp[j])
	}
	d := float32(dot)
	for j, v := range p {
		dp[j] = v * (dp[j] - d)
	}
}

// headNorm is the optional per-head RMSNorm of queries or keys (Qwen3, Gemma 3): weights w
// (nil: no norm), x/rms·w or x/rms·(1+w), eps; normed [n, heads, d_head] and scale
// [n, heads] keep x̂ and the divisors for the backward pass when not nil; dw accumulates the
// weight gradient in the backward pass when not nil.
type headNorm struct {
	w             []float32
	plusOne       bool
	eps           float64
	normed, scale []float32
	dw            []float32
}

// headNormRope normalizes (h.w not nil) and then rotates (rot > 0) in place each head of n rows
// of x, in one pass: head hd of row r starts at x[r*rowStride + off + hd*headStride] and has dh
// values; RoPE rotates its first rot dims with rotate_half, (x1, x2) -> (x1·cos − x2·sin,
// x2·cos + x1·sin), row r of the tables [n, rot/2] rotating row r of x.
func headNormRope(x []float32, off, rowStride, headStride, heads, dh int, h headNorm, rot int, cos, sin []float32, n int) {
	half := rot / 2
	for r := 0; r < n; r++ {
		for hd := 0; hd < heads; hd++ {
			v := x[r*rowStride+off+hd*headStride:][:dh]
			if h.w != nil {
				var ss float64
				for _, e := range v {
					ss += float64(e) * float64(e)
				}
				s := float32(math.Sqrt(ss/float64(dh) + h.eps))
				if h.scale != nil {
					h.scale[r*heads+hd] = s
				}
				sd := float64(s)
				for j, e := range v {
					nv := float32(float64(e) / sd)
					if h.normed != nil {
						h.normed[(r*heads+hd)*dh+j] = nv
					}
					if h.plusOne {
						v[j] = nv * (1 + h.w[j])
					} else {
						v[j] = nv * h.w[j]
					}
				}
			}
			if rot > 0 {
				c := cos[r*half : (r+1)*half]
				s := sin[r*half : (r+1)*half]
				for i := 0; i < half; i++ {
					x1, x2 := v[i], v[i+half]
					v[i] = x1*c[i] - x2*s[i]
					v[i+half] = x2*c[i] + x1*s[i]
				}
			}
		}
	}
}

// headNormRopeBackward is headNormRope's backward, in place on the gradient of its output: the
// transposed rotation (d1, d2) -> (d1·cos + d2·sin, d2·cos − d1·sin), then the RMSNorm backward
// from the saved x̂ and divisors (h.dw += dout·x̂ when not nil).
func headNormRopeBackward(dx []float32, off, rowStride, headStride, heads, dh int, h headNorm, rot int, cos, sin []float32, n int) {
	half := rot / 2
	dn := make([]float32, dh)
	for r := 0; r < n; r++ {
		for hd := 0; hd < heads; hd++ {
			v := dx[r*rowStride+off+hd*headStride:][:dh]
			if rot > 0 {
				c := cos[r*half : (r+1)*half]
				s := sin[r*half : (r+1)*half]
				for i := 0; i < half; i++ {
					d1, d2 := v[i], v[i+half]
					v[i] = d1*c[i] + d2*s[i]
					v[i+half] = d2*c[i] - d1*s[i]
				}
			}
			if h.w == nil {
				continue
			}
			xh := h.normed[(r*heads+hd)*dh : (r*heads+hd+1)*dh]
			var dot float64
			for j, g := range v {
				wj := h.w[j]
				if h.plusOne {
					wj++
				}
				if h.dw != nil {
					h.dw[j] += g * xh[j]
				}
				dn[j] = g * wj
				dot += float64(dn[j]) * float64(xh[j])
			}
			mdot := dot / float64(dh)
			inv := 1 / float64(h.scale[r*heads+hd])
			for j := range v {
				v[j] = float32((float64(dn[j]) - float64(xh[j])*mdot) * inv)
			}
		}
	}
}
