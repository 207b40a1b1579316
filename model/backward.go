package model

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// back is one backward pass over a taped run. It walks from the logits down through the final
// norm and the blocks in reverse, accumulating d-buffers (every kernel backward adds into its
// d-buffers, so each buffer is cleared before a block writes it), copies out the gradient at
// each requested hook point once it is complete, and, when dw is not nil, accumulates weight
// gradients. Shapes are those of the run: n = batch·pos rows.
//
// Hook edits are treated as the identity (straight-through): the gradient at a point below an
// edited point is computed as if the edited value had been computed from it, unless the call
// detached the point (hooks.Detach), which stops the gradient there.
type back struct {
	r      *run
	dx     []float32 // d residual stream [n, d_model]
	dh     []float32 // d normed block input (attention; sequential MLP) [n, d_model]
	dh2    []float32 // d normed MLP input of a parallel-residual block, or d of a Gemma post-norm input [n, d_model]
	dqkv   []float32 // d projections, laid out like the tape's qkv
	dz     []float32 // d attn.hook_z [n, n_heads·d_head]
	dk, dv []float32 // d keys, d values in the KV cache layout [batch, kvCap, n_kv_heads·d_head]
	dpre   []float32 // [n, d_mlp]
	dlin   []float32 // [n, d_mlp] (gated MLPs)
	dpost  []float32 // [n, d_mlp]

	want  map[hooks.Point]bool // requested points not yet emitted
	grads map[hooks.Point]*tensor.Tensor
	dw    map[*Param][]float32 // weight gradients; nil: activation gradients only
}

func newBack(r *run, wrt []hooks.Point, weights bool) *back {
	c, n := r.c, r.n
	k := &back{r: r, want: map[hooks.Point]bool{}, grads: map[hooks.Point]*tensor.Tensor{}}
	for _, p := range wrt {
		k.want[p] = true
	}
	if weights {
		k.dw = map[*Param][]float32{}
	}
	k.dx = make([]float32, n*c.DModel)
	k.dh = make([]float32, n*c.DModel)
	if c.ParallelResidual || c.SandwichNorm {
		k.dh2 = make([]float32, n*c.DModel)
	}
	k.dqkv = make([]float32, n*(c.QDim()+2*c.KVDim()))
	k.dz = make([]float32, n*c.QDim())
	k.dk = make([]float32, r.b*r.kv.cap*c.KVDim())
	k.dv = make([]float32, r.b*r.kv.cap*c.KVDim())
	k.dpre = make([]float32, n*c.DMLP)
	k.dpost = make([]float32, n*c.DMLP)
	if c.Gated {
		k.dlin = make([]float32, n*c.DMLP)
	}
	return k
}

// done reports that nothing further down is needed.
func (k *back) done() bool { return k.dw == nil && len(k.want) == 0 }

// wants reports whether p was requested and not yet emitted.
func (k *back) wants(p hooks.Point) bool { return k.want[p] }

// emit copies out the gradient at p, held in g as [n, inner...], if p was requested.
func (k *back) emit(p hooks.Point, g []float32, inner ...int) {
	if !k.want[p] {
		return
	}
	k.emitShape(p, g, append([]int{k.r.b, k.r.t}, inner...)...)
}

// emitShape copies out the gradient at p, held in g with the full shape given, if p was
// requested.
func (k *back) emitShape(p hooks.Point, g []float32, shape ...int) {
	if !k.want[p] {
		return
	}
	delete(k.want, p)
	k.grads[p] = tensor.From(append([]float32(nil), g[:tensor.Numel(shape)]...), shape...)
}

// detach zeroes the rows of g ([n, width], the gradient at p about to flow below it) that the
// call detached at p (hooks.Detach): those rows are constants for the rest of the backward
// pass. Only points whose gradient buffer feeds nothing else may be detached (checkDetach).
func (k *back) detach(p hooks.Point, g []float32, width int) {
	rows, ok := k.r.call.Detached(p)
	if !ok {
		return
	}
	if rows == nil {
		clear(g[:k.r.n*width])
		return
	}
	for _, r := range rows {
		clear(g[r*width : (r+1)*width])
	}
}

// detachable are the hook sites whose gradient buffer in the backward pass feeds only what
// computed the point, so zeroing it there detaches the point (back.detach).
var detachable = map[hooks.Site]bool{hooks.MLPPre: true, hooks.MLPPreLinear: true, hooks.MLPPost: true}

// checkDetach checks the call's detached points and rows against the batch.
func checkDetach(call *hooks.Call, b Batch) error {
	for _, p := range call.DetachedPoints() {
		if !detachable[p.Site] {
			return fmt.Errorf("hooks.Detach at %v: only mlp.hook_pre, mlp.hook_pre_linear and mlp.hook_post can be detached", p)
		}
		rows, _ := call.Detached(p)
		for _, r := range rows {
			if r >= b.Size*b.Len {
				return fmt.Errorf("hooks.Detach at %v: row %d outside the %d×%d batch", p, r, b.Size, b.Len)
			}
		}
	}
	return nil
}

// grad returns p's weight-gradient buffer, or nil when weight gradients are off or p is nil
// (an absent bias).
func (k *back) grad(p *Param) []float32 {
	if k.dw == nil || p == nil {
		return nil
	}
	g, ok := k.dw[p]
	if !ok {
		g = make([]float32, len(p.Data))
		k.dw[p] = g
	}
	return g
}

// blocks walks blocks n_layers-1 down to first, then the embeddings when the run started there.
func (k *back) blocks(first int, embedded bool) {
	for l := k.r.c.NLayers - 1; l >= first && !k.done(); l-- {
		k.r.m.net.blockBackward(k, l)
	}
	if embedded && !k.done() {
		k.r.m.net.embedBackward(k)
	}
}

// final is the backward of the final norm and of the unembedding of the given rows: dlogits
// [len(rows), d_vocab] are the gradients of those rows' logits, hRows their ln_final.output.
// It emits the ln_final points and accumulates the residual gradient into dx.
func (k *back) final(rows []int, hRows, dlogits []float32) {
	r := k.r
	n, d := r.n, r.c.DModel
	u := r.m.net.unembedding()
	dRows := make([]float32, len(rows)*d)
	linearBackward(dRows, k.grad(u), k.grad(r.m.unembedBias()), dlogits, hRows, u, len(rows))
	dh := make([]float32, n*d)
	for i, row := range rows {
		addTo(dh[row*d:(row+1)*d], dRows[i*d:(i+1)*d])
	}
	k.emit(hooks.Global(hooks.FinalOutput), dh, d)
	w, b := r.m.net.finalNorm()
	k.normBackward(k.dx, dh, r.tape.final, w, b, hooks.Global(hooks.FinalScale), hooks.Global(hooks.FinalNormalized))
}

// normHooks emits, for a norm's hook points pts (hook_scale, hook_normalized),
// d hook_normalized = dout·w (or dout·(1+w)) and d hook_scale = −Σ_j dnormed_j·x̂_j / s.
func (k *back) normHooks(pts []hooks.Point, dout []float32, nt normTape, w []float32) {
	c, n, d := k.r.c, k.r.n, k.r.c.DModel
	dn := make([]float32, n*d)
	ds := make([]float32, n)
	for i := 0; i < n; i++ {
		var dot float64
		for j := 0; j < d; j++ {
			wj := w[j]
			if c.NormPlusOne {
				wj++
			}
			dn[i*d+j] = dout[i*d+j] * wj
			dot += float64(dn[i*d+j]) * float64(nt.normed[i*d+j])
		}
		ds[i] = float32(-dot / float64(nt.scale[i]))
	}
	k.emit(pts[1], dn, d)
	k.emit(pts[0], ds, 1)
}

// normBackward is run.norm's backward: dx += the gradient through the norm nt of dout. pts,
// when given, are the norm's hook_scale and hook_normalized points, whose gradients it emits.
func (k *back) normBackward(dx, dout []float32, nt normTape, w, b *Param, pts ...hooks.Point) {
	c := k.r.c
	if len(pts) == 2 && (k.wants(pts[0]) || k.wants(pts[1])) {
		k.normHooks(pts, dout, nt, w.Data)
	}
	if c.LayerNorm {
		layerNormBackward(dx, k.grad(w), k.grad(b), dout, nt.normed, nt.scale, w.Data, k.r.n, c.DModel)
	} else {
		rmsNormBackward(dx, k.grad(w), dout, nt.normed, nt.scale, w.Data, c.NormPlusOne, k.r.n, c.DModel)
	}
}

// normOut recomputes a block norm's output (the input of the linears after it) for their
// weight gradients; it returns nil when weight gradients are off.
func (k *back) normOut(nt normTape, w, b *Param) []float32 {
	if k.dw == nil {
		return nil
	}
	out := make([]float32, len(nt.normed))
	normAffine(out, nt.normed, k.r.c, w.Data, b.data(), k.r.n, k.r.c.DModel)
	return out
}

// mlp is run.mlpForward's backward for block l: from dOut = d hook_mlp_out it emits the MLP's
// points and accumulates the gradient of the MLP input into dIn. in is the MLP input (read
// only for weight gradients).
func (k *back) mlp(l int, dIn, dOut, in []float32, wIn, bIn, wUp, bUp, wOut, bOut *Param) {
	k.emit(hooks.At(l, hooks.MLPOut), dOut, k.r.c.DModel)
	k.mlpCore(l, dIn, dOut, in, wIn, bIn, wUp, bUp, wOut, bOut)
}

// mlpCore is run.mlpCore's backward: mlp without emitting hook_mlp_out; dOut is the gradient
// of the down projection's output.
func (k *back) mlpCore(l int, dIn, dOut, in []float32, wIn, bIn, wUp, bUp, wOut, bOut *Param) {
	r := k.r
	c, n, bt := r.c, r.n, &r.tape.layers[l]
	clear(k.dpost)
	linearBackward(k.dpost, k.grad(wOut), k.grad(bOut), dOut, bt.post, wOut, n)
	k.emit(hooks.At(l, hooks.MLPPost), k.dpost, c.DMLP)
	k.detach(hooks.At(l, hooks.MLPPost), k.dpost, c.DMLP)
	if k.done() {
		return
	}
	clear(k.dpre)
	if c.Gated {
		clear(k.dlin)
	}
	activationBackward(k.dpre, k.dlin, k.dpost, bt.pre, bt.lin, c.Act)
	k.emit(hooks.At(l, hooks.MLPPre), k.dpre, c.DMLP)
	k.emit(hooks.At(l, hooks.MLPPreLinear), k.dlin, c.DMLP)
	k.detach(hooks.At(l, hooks.MLPPre), k.dpre, c.DMLP)
	if c.Gated {
		k.detach(hooks.At(l, hooks.MLPPreLinear), k.dlin, c.DMLP)
	}
	if k.done() {
		return
	}
	linearBackward(dIn, k.grad(wIn), k.grad(bIn), k.dpre, in, wIn, n)
	if c.Gated {
		linearBackward(dIn, k.grad(wUp), k.grad(bUp), k.dlin, in, wUp, n)
	}
}
