package model

import (
	"math"

	"github.com/neuronscope/neuronscope/internal/linalg"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// Kernels shared by every architecture. Shapes: N = batch·pos rows, row-major; outputs first,
// inputs next, sizes last. Reductions accumulate in float64.

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

// knownActs are the activations act32 implements, as config.json spells them.
var knownActs = map[string]bool{"gelu_new": true, "gelu_pytorch_tanh": true, "gelu_fast": true, "gelu": true, "silu": true, "relu": true}

// ropeTable returns cos and sin [N, rot/2] for the rows' position ids, computed in float64.
func ropeTable(pos []int, rot int, theta float64) (cos, sin []float32) {
	half := rot / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = 1 / math.Pow(theta, float64(2*i)/float64(rot))
	}
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

// ropeForward rotates, in place, the first rot dims of each head with rotate_half:
// (x1, x2) -> (x1·cos − x2·sin, x2·cos + x1·sin). Row r of the table rotates row r of x.
// A head h of row r starts at x[r*rowStride + off + h*headStride].
func ropeForward(x []float32, off, rowStride, headStride, heads, rot int, cos, sin []float32, n int) {
	half := rot / 2
	for r := 0; r < n; r++ {
		c := cos[r*half : (r+1)*half]
		s := sin[r*half : (r+1)*half]
		for h := 0; h < heads; h++ {
			v := x[r*rowStride+off+h*headStride:]
			for i := 0; i < half; i++ {
				x1, x2 := v[i], v[i+half]
				v[i] = x1*c[i] - x2*s[i]
				v[i+half] = x2*c[i] + x1*s[i]
			}
		}
	}
}

// headView locates per-head slices inside a row-major buffer: head h of row r starts at
// Data[r*RowStride + Off + h*HeadStride] and has d_head contiguous values.
type headView struct {
	Data                       []float32
	Off, RowStride, HeadStride int
}

// attentionForward computes z[N, n_heads·d_head] = softmax(q·kᵀ/sqrt(d_head) + mask)·v for every
// batch row and head. Keys and values come from kv ([batch, kvLen, n_kv_heads·d_head]); the
// T queries of batch b sit at absolute cache positions past..past+T-1 and see key j when
// j <= past+i and keyMask[b*kvLen+j]. A query that sees no key gets z = 0.
func attentionForward(z []float32, q headView, kv *layerKV, keyMask []bool, c *Config, b, t, past int) {
	nh, dh, g := c.NHeads, c.DHead, c.NHeads/c.NKVHeads
	kvDim := c.KVDim()
	tk := past + t
	scale := float32(1 / math.Sqrt(float64(dh)))
	impl := blas32.Implementation()
	linalg.Parallel(b*nh, 1, func(lo, hi int) {
		scores := make([]float32, t*tk)
		for bh := lo; bh < hi; bh++ {
			bi, h := bh/nh, bh%nh
			kvh := h / g
			qOff := bi*t*q.RowStride + q.Off + h*q.HeadStride
			kOff := bi*kv.cap*kvDim + kvh*dh
			impl.Sgemm(blas.NoTrans, blas.Trans, t, tk, dh, scale, q.Data[qOff:], q.RowStride, kv.k[kOff:], kvDim, 0, scores, tk)
			mask := keyMask[bi*kv.cap : bi*kv.cap+tk]
			for i := 0; i < t; i++ {
				softmaxMasked(scores[i*tk:(i+1)*tk], mask, past+i)
			}
			zOff := bi*t*nh*dh + h*dh
			impl.Sgemm(blas.NoTrans, blas.NoTrans, t, dh, tk, 1, scores, tk, kv.v[kOff:], kvDim, 0, z[zOff:], nh*dh)
		}
	})
}

// softmaxMasked replaces row with softmax over entries j <= last with mask[j]; others become 0.
func softmaxMasked(row []float32, mask []bool, last int) {
	mx := float32(math.Inf(-1))
	for j := 0; j <= last; j++ {
		if mask[j] && row[j] > mx {
			mx = row[j]
		}
	}
	if math.IsInf(float64(mx), -1) {
		clear(row)
		return
	}
	var sum float64
	for j := range row {
		if j <= last && mask[j] {
			e := exp32(row[j] - mx)
			row[j] = e
			sum += float64(e)
		} else {
			row[j] = 0
		}
	}
	inv := float32(1 / sum)
	for j := 0; j <= last; j++ {
		row[j] *= inv
	}
}

// addTo adds src into dst elementwise.
func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
