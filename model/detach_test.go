package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// TestDetachFD: replacing blocks.1.mlp.hook_post at the last position by a constant (an edit
// plus hooks.Detach at that row) makes the gradient at blocks.0.mlp.hook_post the derivative
// of the intervened forward pass, in which the replaced row no longer depends on layer 0:
// central finite differences of that forward pass along a random direction agree within 1e-3
// of Σ|g·u|. Without Detach (straight-through) the gradient differs, so the check has power;
// the gradient at the detached point itself is the same either way.
func TestDetachFD(t *testing.T) {
	const hRel, tol = 3e-3, 1e-3
	for i, name := range sortedNames(tinyModels(t)) {
		m := tinyModels(t)[name]
		b, _ := NewBatch(prompts[:1], PadRight, 0)
		last := b.Len - 1
		metric := LogProb(0, last, 7)
		p0, p1 := hooks.At(0, hooks.MLPPost), hooks.At(1, hooks.MLPPost)
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		width := m.Catalog().Width(p1)
		constant := randVec(rng, width, 0.5)
		replace := hooks.EditPoint(p1, func(_ hooks.Point, a *tensor.Tensor) error {
			copy(a.Data[last*width:(last+1)*width], constant)
			return nil
		})
		det, err := m.Gradient(b, metric, []hooks.Point{p0, p1}, replace, hooks.DetachPoint(p1, last))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		st, err := m.Gradient(b, metric, []hooks.Point{p0, p1}, replace)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(det.Grads[p1].Data, st.Grads[p1].Data); d != 0 {
			t.Errorf("%s: the gradient at the detached point changed by %g", name, d)
		}
		g := det.Grads[p0].Data
		a, _ := det.Acts.Get(p0)
		h := float32(hRel * rms(a.Data))
		u := randVec(rng, len(g), 1)
		var an, mag, stAn float64
		for j, v := range g {
			an += float64(v) * float64(u[j])
			mag += math.Abs(float64(v) * float64(u[j]))
			stAn += float64(st.Grads[p0].Data[j]) * float64(u[j])
		}
		shift := func(s float32) float64 {
			out, err := m.Forward(b, hooks.EditPoint(p0, func(_ hooks.Point, a *tensor.Tensor) error {
				for j := range a.Data {
					a.Data[j] += s * u[j]
				}
				return nil
			}), replace)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := metric.Value(b, out.Logits)
			return v
		}
		fd := (shift(h) - shift(-h)) / (2 * float64(h))
		if math.Abs(fd-an) > tol*mag+1e-6 {
			t.Errorf("%s: finite difference %.6g, detached gradient·u %.6g (Σ|g·u| %.3g)", name, fd, an, mag)
		}
		if math.Abs(fd-stAn) <= tol*mag+1e-6 {
			t.Errorf("%s: the straight-through gradient·u %.6g passes the same check against the finite difference %.6g: it has no power", name, stAn, fd)
		}
	}
	m := tinyModels(t)["llama"]
	b, _ := NewBatch(prompts[:1], PadRight, 0)
	for _, bad := range []hooks.Option{hooks.DetachPoint(hooks.At(0, hooks.ResidPost)), hooks.DetachPoint(hooks.At(0, hooks.MLPPost), b.Len)} {
		if _, err := m.Gradient(b, LogProb(0, 2, 3), []hooks.Point{hooks.At(0, hooks.MLPPost)}, bad); err == nil {
			t.Error("an unsupported detach was accepted")
		}
	}
}
