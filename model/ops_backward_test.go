package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Finite-difference checks of every backward kernel. Each test runs a kernel's forward on
// small random float32 inputs, takes L = Σ_j r_j·out_j (r random, summed in float64), gets the
// analytic gradients from the kernel's backward with dout = r, and compares every input
// element with the central difference (L(x+h) − L(x−h))/2h, h = fdStep. An entry passes when
// it is within fdTol of the largest analytic gradient magnitude of its input tensor.
const (
	fdStep = 1e-2
	fdTol  = 1e-3
)

// fdInput is one kernel input, perturbed in place by checkFD, and L's analytic gradient.
type fdInput struct {
	name string
	x    []float32
	grad []float32
}

func checkFD(t *testing.T, what string, loss func() float64, ins ...fdInput) {
	t.Helper()
	for _, in := range ins {
		var scale, worst float64
		at := -1
		for i := range in.x {
			scale = math.Max(scale, math.Abs(float64(in.grad[i])))
		}
		for i := range in.x {
			x0 := in.x[i]
			hi, lo := x0+fdStep, x0-fdStep // float32: the step actually taken is hi − lo
			in.x[i] = hi
			up := loss()
			in.x[i] = lo
			down := loss()
			in.x[i] = x0
			fd := (up - down) / float64(hi-lo)
			if d := math.Abs(fd - float64(in.grad[i])); d > worst {
				worst, at = d, i
			}
		}
		if scale == 0 {
			t.Errorf("%s %s: analytic gradient is all zero", what, in.name)
			continue
		}
		t.Logf("%s d%s: max |fd − analytic| / max|analytic| = %.2g", what, in.name, worst/scale)
		if worst > fdTol*scale {
			t.Errorf("%s d%s: max |fd − analytic| %.3g at %d (analytic %.6g) > %.0e × %.3g",
				what, in.name, worst, at, in.grad[at], fdTol, scale)
		}
	}
}

func randVec(rng *rand.Rand, n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s * rng.NormFloat64())
	}
	return v
}

func dot64(r, out []float32) float64 {
	var s float64
	for i, v := range out {
		s += float64(r[i]) * float64(v)
	}
	return s
}

func TestLinearBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, in, out = 3, 5, 4
	for _, inOut := range []bool{false, true} {
		shape := []int{out, in}
		if inOut {
			shape = []int{in, out}
		}
		w := &Param{Name: "w", Shape: shape, Data: randVec(rng, in*out, 0.5), InOut: inOut}
		b := &Param{Name: "b", Shape: []int{out}, Data: randVec(rng, out, 0.5)}
		x, r := randVec(rng, n*in, 1), randVec(rng, n*out, 1)
		y := make([]float32, n*out)
		loss := func() float64 { linearForward(y, x, w, b, n); return dot64(r, y) }
		dx, dw, db := make([]float32, n*in), make([]float32, in*out), make([]float32, out)
		linearBackward(dx, dw, db, r, x, w, n)
		checkFD(t, fmt.Sprintf("linear inOut=%v", inOut), loss,
			fdInput{"x", x, dx}, fdInput{"w", w.Data, dw}, fdInput{"b", b.Data, db})
	}
}

func TestNormBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, c = 3, 8
	for _, kind := range []string{"layernorm", "rmsnorm", "rmsnorm(1+w)"} {
		x, r := randVec(rng, n*c, 1.5), randVec(rng, n*c, 1)
		for i := range x {
			x[i] += 0.3 // a mean to remove
		}
		w, b := randVec(rng, c, 1), randVec(rng, c, 0.5)
		y, normed, scale := make([]float32, n*c), make([]float32, n*c), make([]float32, n)
		plusOne := kind == "rmsnorm(1+w)"
		loss := func() float64 {
			if kind == "layernorm" {
				layerNormForward(y, normed, scale, x, w, b, 1e-5, n, c)
			} else {
				rmsNormForward(y, normed, scale, x, w, plusOne, 1e-5, n, c)
			}
			return dot64(r, y)
		}
		loss()
		dx, dw, db := make([]float32, n*c), make([]float32, c), make([]float32, c)
		if kind == "layernorm" {
			layerNormBackward(dx, dw, db, r, normed, scale, w, n, c)
			checkFD(t, kind, loss, fdInput{"x", x, dx}, fdInput{"w", w, dw}, fdInput{"b", b, db})
		} else {
			rmsNormBackward(dx, dw, r, normed, scale, w, plusOne, n, c)
			checkFD(t, kind, loss, fdInput{"x", x, dx}, fdInput{"w", w, dw})
		}
	}
}

func TestActivationBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 64
	for _, act := range []string{"gelu_new", "gelu", "silu", "relu"} {
		for _, gated := range []bool{false, true} {
			x, r := randVec(rng, n, 2), randVec(rng, n, 1)
			for i, v := range x {
				if math.Abs(float64(v)) < 3*fdStep { // keep ReLU's kink out of the stencil
					x[i] = 0.1
				}
			}
			var up, dup []float32
			if gated {
				up, dup = randVec(rng, n, 1), make([]float32, n)
			}
			y := make([]float32, n)
			loss := func() float64 { activationForward(y, x, up, act); return dot64(r, y) }
			dx := make([]float32, n)
			activationBackward(dx, dup, r, x, up, act)
			ins := []fdInput{{"x", x, dx}}
			if gated {
				ins = append(ins, fdInput{"up", up, dup})
			}
			checkFD(t, fmt.Sprintf("%s gated=%v", act, gated), loss, ins...)
		}
	}
}

// TestHeadNormRopeBackward: RoPE alone (full and partial rotary), the q/k RMSNorm alone, and
// both (Qwen3's x·w and Gemma 3's x·(1+w)), on strided heads.
func TestHeadNormRopeBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, heads, dh = 3, 2, 8
	pos := []int{0, 3, 7}
	cases := []struct {
		rot           int
		norm, plusOne bool
	}{{dh, false, false}, {dh / 2, false, false}, {0, true, false}, {dh, true, false}, {dh, true, true}}
	for _, tc := range cases {
		var cos, sin []float32
		if tc.rot > 0 {
			cos, sin = ropeTable(pos, tc.rot, 10000, nil)
		}
		// heads sit at stride dh+3 inside rows of width heads·(dh+3)+1, offset 1.
		stride, row := dh+3, heads*(dh+3)+1
		x, r := randVec(rng, n*row, 1), randVec(rng, n*row, 1)
		w := randVec(rng, dh, 0.5)
		h := headNorm{plusOne: tc.plusOne, eps: 1e-6}
		if tc.norm {
			h.w = w
			h.normed, h.scale = make([]float32, n*heads*dh), make([]float32, n*heads)
		}
		y := make([]float32, len(x))
		loss := func() float64 {
			copy(y, x)
			headNormRope(y, 1, row, stride, heads, dh, h, tc.rot, cos, sin, n)
			var s float64
			for i := 0; i < n; i++ {
				for hd := 0; hd < heads; hd++ {
					for j := 0; j < dh; j++ {
						k := i*row + 1 + hd*stride + j
						s += float64(r[k]) * float64(y[k])
					}
				}
			}
			return s
		}
		loss()
		dx := append([]float32(nil), r...)
		hb := h
		if tc.norm {
			hb.dw = make([]float32, dh)
		}
		headNormRopeBackward(dx, 1, row, stride, heads, dh, hb, tc.rot, cos, sin, n)
		grad := make([]float32, len(x))
		for i := 0; i < n; i++ {
			for hd := 0; hd < heads; hd++ {
				for j := 0; j < dh; j++ {
					k := i*row + 1 + hd*stride + j
					grad[k] = dx[k]
				}
			}
		}
		ins := []fdInput{{"x", x, grad}}
		if tc.norm {
			ins = append(ins, fdInput{"w", w, hb.dw})
		}
		checkFD(t, fmt.Sprintf("head norm=%v plusOne=%v rot=%d", tc.norm, tc.plusOne, tc.rot), loss, ins...)
	}
}

func TestRopeScaling(t *testing.T) {
	// llama3-random's NOTES: theta 500000, head_dim 16, factor 8, low 1, high 4, original 64.
	got := ropeInvFreq(16, 500000, &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPos: 64})
	want := []float64{1, 0.079403009, 0.0047007539, 0.00091158309, 0.0001767767, 3.4281022e-05, 6.6478699e-06, 1.2891732e-06}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-7*want[i] {
			t.Errorf("llama3 inverse frequency %d: %.8g, want %.8g", i, got[i], want[i])
		}
	}
	plain := ropeInvFreq(16, 10000, nil)
	lin := ropeInvFreq(16, 10000, &RopeScaling{Type: "linear", Factor: 8})
	for i := range plain {
		if math.Abs(lin[i]-plain[i]/8) > 1e-15 {
			t.Errorf("linear %d: %g, want %g", i, lin[i], plain[i]/8)
		}
	}
}

// TestAttentionBackward: causal + padding mask (one query sees no key at all), GQA (4 query
// heads on 2 kv heads), earlier cached positions (past = 2) and a cache larger than used; also
// soft-capping, ALiBi, a sliding window and bidirectional attention. The pattern and score
// gradients it emits are checked against finite differences of edits at those points.
func TestAttentionBackward(t *testing.T) {
	specs := map[string]attnSpec{
		"plain":         {scale: 0.5, causal: true},
		"softcap":       {scale: 0.9, causal: true, softcap: 1.5},
		"alibi":         {scale: 0.5, causal: true, alibi: alibiSlopes(4)},
		"window":        {scale: 0.5, causal: true, window: 2},
		"bidirectional": {scale: 0.5},
	}
	for name, sp := range specs {
		rng := rand.New(rand.NewPCG(9, 10))
		c := &Config{NHeads: 4, NKVHeads: 2, DHead: 4}
		const b, tq, past, capacity = 2, 3, 2, 6
		tk, qd, kvd := past+tq, c.QDim(), c.KVDim()
		q := headView{Data: randVec(rng, b*tq*qd, 1), RowStride: qd, HeadStride: c.DHead}
		lk := &layerKV{cap: capacity, k: randVec(rng, b*capacity*kvd, 1), v: randVec(rng, b*capacity*kvd, 1)}
		kv := &KVCache{size: b, cap: capacity, mask: []bool{
			true, true, true, true, true, false, // row 0: all real
			false, false, false, true, true, false, // row 1: left padded; its first query sees nothing (causal)
		}, pos: []int{0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 1, 0}}
		a := &attnCtx{c: c, sp: sp, q: q, lk: lk, kv: kv, b: b, t: tq, past: past}
		r := randVec(rng, b*tq*qd, 1)
		z, probs := make([]float32, b*tq*qd), make([]float32, b*c.NHeads*tq*tk)
		loss := func() float64 { a.fused(z, probs); return dot64(r, z) }
		loss()
		dq := headView{Data: make([]float32, len(q.Data)), RowStride: qd, HeadStride: c.DHead}
		dk, dv := make([]float32, len(lk.k)), make([]float32, len(lk.v))
		dPattern, dScores := make([]float32, len(probs)), make([]float32, len(probs))
		a.backward(dq, dk, dv, r, probs, dPattern, dScores)
		checkFD(t, "attention "+name, loss, fdInput{"q", q.Data, dq.Data}, fdInput{"k", lk.k, dk}, fdInput{"v", lk.v, dv})
		if sp.causal {
			for i := 0; i < qd; i++ {
				if z[(1*tq+0)*qd+i] != 0 || dq.Data[(1*tq+0)*qd+i] != 0 {
					t.Fatalf("%s: a query that sees no key must have z = 0 and no gradient", name)
				}
			}
		}
		// d pattern: z is linear in p; d scores: through the softmax of the (edited) scores.
		blk := tq * tk
		pz := func(p []float32) float64 {
			zz := make([]float32, len(z))
			for bh := 0; bh < b*c.NHeads; bh++ {
				a.mix(zz, p[bh*blk:(bh+1)*blk], bh)
			}
			return dot64(r, zz)
		}
		pat := append([]float32(nil), probs...)
		checkFD(t, "pattern "+name, func() float64 { return pz(pat) }, fdInput{"pattern", pat, dPattern})
		sc := make([]float32, len(probs))
		for bh := 0; bh < b*c.NHeads; bh++ {
			a.scores(sc[bh*blk:(bh+1)*blk], bh)
		}
		fin := make([]float32, 0, len(sc)) // finite-difference only the visible scores
		idx := []int{}
		gs := []float32{}
		for i, v := range sc {
			if !math.IsInf(float64(v), -1) {
				idx = append(idx, i)
				fin = append(fin, v)
				gs = append(gs, dScores[i])
			} else if dScores[i] != 0 {
				t.Fatalf("%s: gradient %g at a masked score", name, dScores[i])
			}
		}
		checkFD(t, "scores "+name, func() float64 {
			s := append([]float32(nil), sc...)
			for j, i := range idx {
				s[i] = fin[j]
			}
			for i := 0; i < len(s)/tk; i++ {
				softmaxRow(s[i*tk : (i+1)*tk])
			}
			return pz(s)
		}, fdInput{"scores", fin, gs})
	}
}

func TestEmbedBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const vocab, c = 5, 3
	ids := []int{2, 0, 2, 4, -1} // a repeated id and an out-of-range pad id (reads row 0)
	for _, scale := range []float32{0, 2.5} {
		w, r := randVec(rng, vocab*c, 1), randVec(rng, len(ids)*c, 1)
		y := make([]float32, len(ids)*c)
		loss := func() float64 { embedForward(y, w, ids, scale, vocab, c); return dot64(r, y) }
		dw := make([]float32, vocab*c)
		embedBackward(dw, r, ids, scale, vocab, c)
		checkFD(t, fmt.Sprintf("embed scale=%g", scale), loss, fdInput{"w", w, dw})
	}
}

func TestLogSoftmaxBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := randVec(rng, 11, 3)
	const tok, g = 4, 0.7
	loss := func() float64 { return g * (float64(x[tok]) - logSoftmaxForward(nil, x)) }
	dx := make([]float32, len(x))
	logSoftmaxBackward(dx, x, logSoftmaxForward(nil, x), tok, g)
	checkFD(t, "log_softmax", loss, fdInput{"x", x, dx})
}
