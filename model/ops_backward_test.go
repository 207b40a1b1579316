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

func TestRopeBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, heads, dh = 3, 2, 8
	pos := []int{0, 3, 7}
	for _, rot := range []int{dh, dh / 2} { // full and partial (GPT-NeoX) rotary
		cos, sin := ropeTable(pos, rot, 10000)
		x, r := randVec(rng, n*heads*dh, 1), randVec(rng, n*heads*dh, 1)
		y := make([]float32, len(x))
		loss := func() float64 {
			copy(y, x)
			ropeForward(y, 0, heads*dh, dh, heads, rot, cos, sin, n)
			return dot64(r, y)
		}
		dx := append([]float32(nil), r...)
		ropeBackward(dx, 0, heads*dh, dh, heads, rot, cos, sin, n)
		checkFD(t, fmt.Sprintf("rope rot=%d", rot), loss, fdInput{"x", x, dx})
	}
}

// TestAttentionBackward: causal + padding mask (one query sees no key at all), GQA (4 query
// heads on 2 kv heads), earlier cached positions (past = 2) and a cache larger than used.
func TestAttentionBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := &Config{NHeads: 4, NKVHeads: 2, DHead: 4}
	const b, tq, past, capacity = 2, 3, 2, 6
	tk, qd, kvd := past+tq, c.QDim(), c.KVDim()
	q := headView{Data: randVec(rng, b*tq*qd, 1), RowStride: qd, HeadStride: c.DHead}
	kv := &layerKV{cap: capacity, k: randVec(rng, b*capacity*kvd, 1), v: randVec(rng, b*capacity*kvd, 1)}
	mask := []bool{
		true, true, true, true, true, false, // row 0: all real
		false, false, false, true, true, false, // row 1: left padded; its first query sees nothing
	}
	r := randVec(rng, b*tq*qd, 1)
	z, probs := make([]float32, b*tq*qd), make([]float32, b*c.NHeads*tq*tk)
	loss := func() float64 { attentionForward(z, probs, q, kv, mask, c, b, tq, past); return dot64(r, z) }
	loss()
	dq := headView{Data: make([]float32, len(q.Data)), RowStride: qd, HeadStride: c.DHead}
	dk, dv := make([]float32, len(kv.k)), make([]float32, len(kv.v))
	attentionBackward(dq, dk, dv, r, probs, q, kv, c, b, tq, past)
	checkFD(t, "attention", loss, fdInput{"q", q.Data, dq.Data}, fdInput{"k", kv.k, dk}, fdInput{"v", kv.v, dv})
	for i := 0; i < qd; i++ {
		if z[(1*tq+0)*qd+i] != 0 || dq.Data[(1*tq+0)*qd+i] != 0 {
			t.Fatal("a query that sees no key must have z = 0 and no gradient")
		}
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
