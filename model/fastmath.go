package model

import "math"

// Float32 elementary functions for the hot elementwise loops (GELU, SiLU, softmax). They use
// the classic Cephes single-precision range reductions and minimax polynomials, accurate to a
// couple of float32 ulps (relative error < 3e-7, checked against math in fastmath_test.go),
// and are 5-10x faster than the float64 math package.

const (
	expHi  = 88.3762626647949
	expLo  = -87.33654475
	log2e  = 1.44269504088896341
	expC1  = 0.693359375
	expC2  = -2.12194440e-4
	tanhLo = 0.625
)

// exp32 is e^x in float32. It returns +Inf above ~88.38 and 0 below ~-87.34.
func exp32(x float32) float32 {
	if x > expHi {
		return float32(math.Inf(1))
	}
	if x < expLo {
		return 0
	}
	t := log2e*x + 0.5
	n := int32(t) // floor(t): truncation, corrected below zero
	if t < 0 && float32(n) != t {
		n--
	}
	fn := float32(n)
	r := x - fn*expC1 - fn*expC2
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return math.Float32frombits(math.Float32bits(p) + uint32(n)<<23)
}

// tanh32 is tanh(x) in float32.
func tanh32(x float32) float32 {
	ax := x
	if ax < 0 {
		ax = -ax
	}
	if ax < tanhLo {
		z := x * x
		return ((((-5.70498872745e-3*z+2.06390887954e-2)*z-5.37397155531e-2)*z+1.33314422036e-1)*z-3.33332819422e-1)*z*x + x
	}
	if ax > 9.01 {
		if x < 0 {
			return -1
		}
		return 1
	}
	r := 1 - 2/(exp32(2*ax)+1)
	if x < 0 {
		return -r
	}
	return r
}

// geluTanh32 is the tanh approximation of GELU (gelu_new, gelu_pytorch_tanh),
// 0.5·x·(1+tanh(u)) with u = sqrt(2/π)(x+0.044715x³), computed as x·sigmoid(2u) (the same
// function) so that no cancellation occurs for negative x.
func geluTanh32(x float32) float32 {
	u := 0.7978845608028654 * (x + 0.044715*x*x*x)
	if u < -43 {
		return 0 * x
	}
	return x / (1 + exp32(-2*u))
}

// geluTanhDeriv32 returns geluTanh32(x) and its derivative
// σ(2u) + x·σ(2u)·(1−σ(2u))·2·u'(x), u'(x) = sqrt(2/π)(1 + 3·0.044715x²).
func geluTanhDeriv32(x float32) (y, dy float32) {
	u := 0.7978845608028654 * (x + 0.044715*x*x*x)
	s := 1 / (1 + exp32(-2*u)) // exp32 saturates to +Inf, so s -> 0 for very negative u
	du := 0.7978845608028654 * (1 + 3*0.044715*x*x)
	return geluTanh32(x), s + x*s*(1-s)*2*du
}

// silu32 is x·sigmoid(x).
func silu32(x float32) float32 {
	if x < -87 {
		return 0 * x
	}
	return x / (1 + exp32(-x))
}

// siluDeriv32 returns silu32(x) and its derivative σ(x)·(1 + x·(1−σ(x))).
func siluDeriv32(x float32) (y, dy float32) {
	s := 1 / (1 + exp32(-x))
	return silu32(x), s * (1 + x*(1-s))
}

// erfGELU is the exact GELU 0.5·x·(1+erf(x/√2)), in float64 (no float32 erf is needed yet).
func erfGELU(x float32) float32 {
	return float32(0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2)))
}

// erfGELUDeriv returns erfGELU(x) and its derivative Φ(x) + x·φ(x), in float64.
func erfGELUDeriv(x float32) (y, dy float32) {
	v := float64(x)
	d := 0.5*(1+math.Erf(v/math.Sqrt2)) + v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi)
	return erfGELU(x), float32(d)
}

func relu32(x float32) float32 { return max(x, 0) }

// reluDeriv32 returns relu32(x) and its derivative (0 at x = 0, as PyTorch).
func reluDeriv32(x float32) (y, dy float32) {
	if x > 0 {
		return x, 1
	}
	return relu32(x), 0
}

// act32 returns the float32 activation function for a config's activation name.
func act32(act string) func(float32) float32 {
	switch act {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "bloom_gelu":
		return geluTanh32
	case "gelu":
		return erfGELU
	case "silu":
		return silu32
	case "relu":
		return relu32
	}
	panic("model: unknown activation " + act)
}

// actDeriv32 returns, for a config's activation name, the function giving act(x) (exactly as
// act32 computes it) and act'(x).
func actDeriv32(act string) func(float32) (float32, float32) {
	switch act {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "bloom_gelu":
		return geluTanhDeriv32
	case "gelu":
		return erfGELUDeriv
	case "silu":
		return siluDeriv32
	case "relu":
		return reluDeriv32
	}
	panic("model: unknown activation " + act)
}
