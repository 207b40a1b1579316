package model

import (
	"math"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"gonum.org/v1/gonum/blas"
)

// Kernels shared by every architecture. Shapes: N = batch·pos rows, row-major; outputs first,
// inputs next, sizes last. Reductions accumulate in float64. Each xxxBackward follows its
// xxxForward and accumulates (+=) into its d-buffers (d = gradient of the final scalar).

// linearForward computes out[N, out] = x[N, in] · W + b for an HF weight W stored either as
// nn.Linear [out, in] (W is used transposed) or as GPT-2 Conv1D [in, out].
func linearForward(out, x []float32, w, b *Param, n int) {
	in, outDim := w.In(), w.Out()
	if len(x) < n*in || len(out) < n*outDim {
		panic("model: linearForward buffer too small")
	}
	if b != nil {
		for i := 0; i < n; i++ {
			copy(out[i*outDim:(i+1)*outDim], b.Data)
		}
	}
	beta := float32(0)
	if b != nil {
		beta = 1
	}
	tB := blas.Trans
	ldb := in
	if w.InOut {
		tB = blas.NoTrans
		ldb = outDim
	}
	linalg.Gemm(blas.NoTrans, tB, n, outDim, in, 1, x, in, w.Data, ldb, beta, out, outDim)
}

// linearBackward is linearForward's backward. It accumulates dx[N, in] += dout[N, out]·W,
// dw += doutᵀ·x (in W's stored layout: [out, in], or [in, out] for Conv1D) and
// db[out] += Σ_rows dout. Any of dx, dw, db may be nil to skip it; x is read only for dw.
func linearBackward(dx, dw, db, dout, x []float32, w *Param, n int) {
	in, outDim := w.In(), w.Out()
	if len(dout) < n*outDim || (dx != nil && len(dx) < n*in) || (dw != nil && len(x) < n*in) {
		panic("model: linearBackward buffer too small")
	}
	if dx != nil {
		if w.InOut {
			linalg.Gemm(blas.NoTrans, blas.Trans, n, in, outDim, 1, dout, outDim, w.Data, outDim, 1, dx, in)
		} else {
			linalg.Gemm(blas.NoTrans, blas.NoTrans, n, in, outDim, 1, dout, outDim, w.Data, in, 1, dx, in)
		}
	}
	if dw != nil {
		if w.InOut {
			linalg.Gemm(blas.Trans, blas.NoTrans, in, outDim, n, 1, x, in, dout, outDim, 1, dw, outDim)
		} else {
			linalg.Gemm(blas.Trans, blas.NoTrans, outDim, in, n, 1, dout, outDim, x, in, 1, dw, in)
		}
	}
	if db != nil {
		for i := 0; i < n; i++ {
			addTo(db, dout[i*outDim:(i+1)*outDim])
		}
	}
}

// layerNormForward: normed = (x-mean)/scale, out = normed·w + b, scale = sqrt(var + eps).
// scale is [N], normed and out are [N, C]; normed may be nil.
func layerNormForward(out, normed, scale, x, w, b []float32, eps float64, n, c int) {
	linalg.Parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*c : (i+1)*c]
			var sum float64
			for _, v := range row {
				sum += float64(v)
			}
			mean := sum / float64(c)
			var ss float64
			for _, v := range row {
				d := float64(v) - mean
				ss += d * d
			}
			// The divisor is rounded to float32 (it is what ln_final.hook_scale shows) and used as
			// rounded, so recomputing from the hook's value (normApply) is bit-identical.
			scale[i] = float32(math.Sqrt(ss/float64(c) + eps))
			s := float64(scale[i])
			o := out[i*c : (i+1)*c]
			for j, v := range row {
				nv := float32((float64(v) - mean) / s)
				if normed != nil {
					normed[i*c+j] = nv
				}
				o[j] = nv*w[j] + b[j]
			}
		}
	})
}

// layerNormBackward is layerNormForward's backward, from the saved normed rows x̂ and
// divisors s: dx̂ = dout·w, dw += Σ_rows dout·x̂, db += Σ_rows dout, and
// dx += (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / s. dw and db may be nil.
func layerNormBackward(dx, dw, db, dout, normed, scale, w []float32, n, c int) {
	normBackward(dx, dw, db, dout, normed, scale, w, false, true, n, c)
}

// rmsNormForward: normed = x/scale, out = normed·w (or normed·(1+w)), scale = sqrt(mean(x²) + eps).
func rmsNormForward(out, normed, scale, x, w []float32, plusOne bool, eps float64, n, c int) {
	linalg.Parallel(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*c : (i+1)*c]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			scale[i] = float32(math.Sqrt(ss/float64(c) + eps))
			s := float64(scale[i])
			o := out[i*c : (i+1)*c]
			for j, v := range row {
				nv := float32(float64(v) / s)
				if normed != nil {
					normed[i*c+j] = nv
				}
				if plusOne {
					o[j] = nv * (1 + w[j])
				} else {
					o[j] = nv * w[j]
				}
			}
		}
	})
}

// rmsNormBackward is rmsNormForward's backward: dx̂ = dout·w (or dout·(1+w)),
// dw += Σ_rows dout·x̂, dx += (dx̂ − x̂·mean(dx̂·x̂)) / s. dw may be nil.
func rmsNormBackward(dx, dw, dout, normed, scale, w []float32, plusOne bool, n, c int) {
	normBackward(dx, dw, nil, dout, normed, scale, w, plusOne, false, n, c)
}

// normBackward is the backward of both norms. With x̂ = (x − mean)/s (LayerNorm, center) or
// x/s (RMSNorm) and ∂s/∂x_k = x̂_k/C, the Jacobian is ∂x̂_j/∂x_k = (δ_jk − [center]/C − x̂_j·x̂_k/C)/s.
func normBackward(dx, dw, db, dout, normed, scale, w []float32, plusOne, center bool, n, c int) {
	linalg.Parallel(n, 16, func(lo, hi int) {
		dn := make([]float32, c)
		for i := lo; i < hi; i++ {
			g := dout[i*c : (i+1)*c]
			xh := normed[i*c : (i+1)*c]
			var sum, dot float64
			for j, v := range g {
				wj := w[j]
				if plusOne {
					wj++
				}
				dn[j] = v * wj
				sum += float64(dn[j])
				dot += float64(dn[j]) * float64(xh[j])
			}
			mean, mdot := sum/float64(c), dot/float64(c)
			if !center {
				mean = 0
			}
			inv := 1 / float64(scale[i])
			d := dx[i*c : (i+1)*c]
			for j := range d {
				d[j] += float32((float64(dn[j]) - mean - float64(xh[j])*mdot) * inv)
			}
		}
	})
	for i := 0; i < n && (dw != nil || db != nil); i++ {
		for j := 0; j < c; j++ {
			g := dout[i*c+j]
			if dw != nil {
				dw[j] += g * normed[i*c+j]
			}
			if db != nil {
				db[j] += g
			}
		}
	}
}

// normApply recomputes a norm's output from its (possibly edited) scale: used by the final norm,
// whose hook_scale and hook_normalized may be changed by hooks.
func normApply(out, normed, scale, x []float32, c *Config, w, b []float32, n, d int) {
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		var mean float64
		if c.LayerNorm {
			for _, v := range row {
				mean += float64(v)
			}
			mean /= float64(d)
		}
		s := float64(scale[i])
		for j, v := range row {
			normed[i*d+j] = float32((float64(v) - mean) / s)
		}
	}
	normAffine(out, normed, c, w, b, n, d)
}

// normAffine applies the norm weight (and bias) to already-normalized rows.
func normAffine(out, normed []float32, c *Config, w, b []float32, n, d int) {
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			v := normed[i*d+j]
			switch {
			case c.LayerNorm:
				out[i*d+j] = v*w[j] + b[j]
			case c.NormPlusOne:
				out[i*d+j] = v * (1 + w[j])
			default:
				out[i*d+j] = v * w[j]
			}
		}
	}
}

// activationForward applies the MLP nonlinearity elementwise: out = act(x). For gated MLPs
// up is multiplied in: out = act(x) * up.
func activationForward(out, x, up []float32, act string) {
	f := act32(act)
	linalg.Parallel(len(x), 4096, func(lo, hi int) {
		if up == nil {
			for i := lo; i < hi; i++ {
				out[i] = f(x[i])
			}
			return
		}
		for i := lo; i < hi; i++ {
			out[i] = f(x[i]) * up[i]
		}
	})
}

// activationBackward is activationForward's backward: dx += dout·act'(x)·up (up = 1 when
// nil) and, for gated MLPs, dup += dout·act(x).
func activationBackward(dx, dup, dout, x, up []float32, act string) {
	f := actDeriv32(act)
	linalg.Parallel(len(x), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y, dy := f(x[i])
			if up == nil {
				dx[i] += dout[i] * dy
				continue
			}
			dx[i] += dout[i] * dy * up[i]
			dup[i] += dout[i] * y
		}
	})
}

// knownActs are the activations act32 implements, as config.json spells them.
var knownActs = map[string]bool{"gelu_new": true, "gelu_pytorch_tanh": true, "gelu_fast": true, "gelu": true, "silu": true, "relu": true}

// bloom_gelu (BLOOM's own tanh GELU, not a config value) is the tanh approximation too: its
// literal 0.79788456 equals sqrt(2/π) in float32.

// ropeTable returns cos and sin [N, rot/2] for the rows' position ids, computed in float64,
// with inverse frequencies theta^(-2i/rot) rescaled as sc says (nil: none).
func ropeTable(pos []int, rot int, theta float64, sc *RopeScaling) (cos, sin []float32) {
	half := rot / 2
	inv := ropeInvFreq(rot, theta, sc)
	cos = make([]float32, len(pos)*half)
	sin = make([]float32, len(pos)*half)
	for r, p := range pos {
		for i, f := range inv {
			a := float64(p) * f
			cos[r*half+i] = float32(math.Cos(a))
			sin[r*half+i] = float32(math.Sin(a))
		}
	}
	return cos, sin
}

// ropeInvFreq returns RoPE's rot/2 inverse frequencies f_i = theta^(-2i/rot), rescaled as HF's
// modeling_rope_utils does: "linear" divides each by the factor; "llama3" keeps f when its
// wavelength 2π/f is below original/high_freq_factor, divides it by the factor above
// original/low_freq_factor, and in between takes (1−s)·f/factor + s·f with
// s = (original/wavelength − low_freq_factor)/(high_freq_factor − low_freq_factor).
func ropeInvFreq(rot int, theta float64, sc *RopeScaling) []float64 {
	inv := make([]float64, rot/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(theta, float64(2*i)/float64(rot))
	}
	if sc == nil {
		return inv
	}
	switch sc.Type {
	case "linear":
		for i := range inv {
			inv[i] /= sc.Factor
		}
	case "llama3":
		orig := float64(sc.OriginalMaxPos)
		lowWL, highWL := orig/sc.LowFreqFactor, orig/sc.HighFreqFactor
		for i, f := range inv {
			wl := 2 * math.Pi / f
			switch {
			case wl < highWL:
			case wl > lowWL:
				inv[i] = f / sc.Factor
			default:
				s := (orig/wl - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor)
				inv[i] = (1-s)*f/sc.Factor + s*f
			}
		}
	default:
		panic("model: unknown RoPE scaling " + sc.Type)
	}
	return inv
}

// headView locates per-head slices inside a row-major buffer: head h of row r starts at
// Data[r*RowStride + Off + h*HeadStride] and has d_head contiguous values.
type headView struct {
	Data                       []float32
	Off, RowStride, HeadStride int
}

// logSoftmaxForward returns lse = log Σ_v exp(x_v) for one logits row (float64 sum) and, when
// out is not nil, writes out_v = x_v − lse.
func logSoftmaxForward(out, x []float32) float64 {
	mx := x[0]
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range x {
		sum += float64(exp32(v - mx))
	}
	lse := float64(mx) + math.Log(sum)
	for i := range out {
		out[i] = float32(float64(x[i]) - lse)
	}
	return lse
}

// logSoftmaxBackward is logSoftmaxForward's backward for the gradient g of one output entry,
// log_softmax(x)[tok]: dx_v += g·(δ_v,tok − exp(x_v − lse)).
func logSoftmaxBackward(dx, x []float32, lse float64, tok int, g float64) {
	gf := float32(g)
	for v, xv := range x {
		dx[v] -= gf * exp32(float32(float64(xv)-lse))
	}
	dx[tok] += gf
}

// addTo adds src into dst elementwise: the residual add. Its backward is the identity for both
// summands, which is why block backwards let the skip path and the branch read the same d-buffer.
func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// embedForward writes out[N, C] = scale·w[id] (scale 0 means 1) for the rows' ids; an id
// outside [0, vocab) (a masked pad slot) reads row 0.
func embedForward(out, w []float32, ids []int, scale float32, vocab, c int) {
	for i, id := range ids {
		if id < 0 || id >= vocab {
			id = 0
		}
		row := w[id*c : (id+1)*c]
		dst := out[i*c : (i+1)*c]
		if scale != 0 {
			for j, v := range row {
				dst[j] = v * scale
			}
		} else {
			copy(dst, row)
		}
	}
}

// embedBackward is embedForward's backward: dw[id] += scale·dout[i] (scale 0 means 1).
func embedBackward(dw, dout []float32, ids []int, scale float32, vocab, c int) {
	if scale == 0 {
		scale = 1
	}
	for i, id := range ids {
		if id < 0 || id >= vocab {
			id = 0
		}
		row := dw[id*c : (id+1)*c]
		for j, v := range dout[i*c : (i+1)*c] {
			row[j] += scale * v
		}
	}
}
