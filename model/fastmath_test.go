package model

import (
	"math"
	"testing"
)

// TestFastMath checks the float32 kernels against float64 math over a dense sweep.
func TestFastMath(t *testing.T) {
	worst := map[string]float64{}
	cond := map[string]float64{} // condition factor at the current x
	for i := -200000; i <= 200000; i++ {
		x := float32(i) * 1e-4 * 3 // [-60, 60]
		check := func(name string, got float32, want float64, absFloor float64) {
			d := math.Abs(float64(got) - want)
			rel := d / math.Max(math.Abs(want), absFloor)
			if c := cond[name]; c > 1 {
				rel /= c
			}
			worst[name] = math.Max(worst[name], rel)
		}
		xf := float64(x)
		check("exp32", exp32(x), math.Exp(xf), 1e-30)
		check("tanh32", tanh32(x), math.Tanh(xf), 1e-30)
		// GELU's exp(-2u) term is ill-conditioned in u for large |x|: float32 rounding of u alone
		// moves it by 2|u|·2⁻²⁴ relative, for PyTorch's float32 GELU as much as for ours.
		u := 0.7978845608028654 * (xf + 0.044715*xf*xf*xf)
		cond["geluTanh32"] = math.Max(1, 2*math.Abs(u))
		check("geluTanh32", geluTanh32(x), xf/(1+math.Exp(-2*u)), 1e-6)
		check("silu32", silu32(x), xf/(1+math.Exp(-xf)), 1e-6)
	}
	for name, w := range worst {
		if w > 3e-7 {
			t.Errorf("%s: worst relative error %.3g > 3e-7", name, w)
		}
	}
	if exp32(100) != float32(math.Inf(1)) || exp32(-100) != 0 {
		t.Error("exp32 range ends")
	}
}
