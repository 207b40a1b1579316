package model

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// Whole-model finite-difference checks on the tiny random models of every architecture
// (fixtures.TinyConfigs), padded batches, every metric kind. Central differences of a float32 forward
// pass, with the metric summed in float64.

// TestGradientFD: for every hook point p (the attention points included), the directional
// derivative of the metric along a random direction u, (M(a+hu) − M(a−hu))/2h with the shift
// applied by an edit hook at p, equals Σ ∂M/∂a·u within 1e-3 of Σ|∂M/∂a·u|. The step
// h = 3e-3·rms(a) balances curvature (above) against float32 noise (below) for most points;
// where it does not (a strongly curved norm divisor, soft-capped or q/k-normed attention, a
// small directional derivative), the best of the steps 1e-2, 1e-3, 3e-4·rms(a) is taken (see
// bestFD). Masked attention scores (-Inf) are not perturbed. This checks both the gradients
// and that an edit at every point changes the rest of the pass the way the gradient says.
func TestGradientFD(t *testing.T) {
	const hRel, tol = 3e-3, 1e-3
	metrics := []func(b Batch) Metric{
		func(b Batch) Metric { return LogProb(1, lastReal(b, 1), 7) },
		func(b Batch) Metric { return Prob(0, 4, 11) },
		func(b Batch) Metric { return Logit(1, lastReal(b, 1), 3) },
		func(b Batch) Metric { return LogitDiff(0, 5, 3, 9) },
		func(b Batch) Metric { return MeanLogProb(0, 3, []int{5, 6, 8}) },
	}
	for i, name := range sortedNames(tinyModels(t)) {
		m := tinyModels(t)[name]
		side := []Pad{PadRight, PadLeft}[i%2]
		b, _ := NewBatch(prompts[:2], side, 0)
		metric := metrics[i%len(metrics)](b)
		pts := m.Catalog().Points
		res, err := m.Gradient(b, metric, pts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		worst := 0.0
		for _, p := range pts {
			g := res.Grads[p]
			a, _ := res.Acts.Get(p)
			u := randVec(rng, len(g.Data), 1)
			for j, v := range a.Data {
				if math.IsInf(float64(v), -1) { // a masked attention score: not a value to perturb
					u[j] = 0
				}
			}
			if w := m.Catalog().Shape(p); len(w) == 1 && w[0] == 1 {
				// A norm divisor (ln*.hook_scale) is one unit per position, so a random direction
				// can make the directional derivative tiny against the metric's float32 noise:
				// point u along the gradient's signs (|u_j| >= 1).
				for j, v := range g.Data {
					u[j] = float32(math.Copysign(1+math.Abs(float64(u[j])), float64(v)))
				}
			}
			var an, mag float64
			for j, v := range g.Data {
				an += float64(v) * float64(u[j])
				mag += math.Abs(float64(v) * float64(u[j]))
			}
			shift := func(s float32) float64 {
				out, err := m.Forward(b, hooks.EditPoint(p, func(_ hooks.Point, a *tensor.Tensor) error {
					for j := range a.Data {
						a.Data[j] += s * u[j]
					}
					return nil
				}))
				if err != nil {
					t.Fatal(err)
				}
				v, err := metric.Value(b, out.Logits)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			fd := bestFD(an, []float64{hRel, 1e-2, 1e-3, 3e-4}, func(rel float64) float64 {
				h := float32(rel * rms(a.Data))
				return (shift(h) - shift(-h)) / (2 * float64(h))
			})
			if math.IsNaN(fd) || math.IsNaN(an) {
				t.Fatalf("%s %v %v: finite difference %g, gradient·u %g", name, metric, p, fd, an)
			}
			worst = math.Max(worst, math.Abs(fd-an)/mag)
			if math.Abs(fd-an) > tol*mag+1e-6 {
				t.Errorf("%s %v %v: finite difference %.6g, gradient·u %.6g (Σ|g·u| %.3g)", name, metric, p, fd, an, mag)
			}
		}
		t.Logf("%s %v: worst |fd − g·u| / Σ|g·u| = %.2g over %d points", name, metric, worst, len(pts))
	}
}

// bestFD returns, of the central differences fd(step) at the given steps (tried in order,
// stopping at the first within 1e-4 relative of the analytic value an), the one closest to an.
// The step that balances curvature against float32 noise differs between points and weights;
// a wrong gradient disagrees at every step.
func bestFD(an float64, steps []float64, fd func(step float64) float64) float64 {
	best := math.NaN()
	for _, s := range steps {
		f := fd(s)
		if math.IsNaN(best) || math.Abs(f-an) < math.Abs(best-an) {
			best = f
		}
		if math.Abs(best-an) <= 1e-4*math.Abs(an) {
			break
		}
	}
	return best
}

// rms is the root mean square of the finite entries of x (masked attention scores are -Inf).
func rms(x []float32) float64 {
	var ss float64
	n := 0
	for _, v := range x {
		if !math.IsInf(float64(v), 0) {
			ss += float64(v) * float64(v)
			n++
		}
	}
	return math.Sqrt(ss / float64(n))
}

// lastReal is the last real position of batch row i.
func lastReal(b Batch, i int) int {
	last := 0
	for j := 0; j < b.Len; j++ {
		if b.Mask[i*b.Len+j] {
			last = j
		}
	}
	return last
}

func sortedNames(ms map[string]*Model) []string {
	var out []string
	for n := range ms {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestWeightGradientsFD: for every weight tensor, the loss's central difference at its largest
// gradient entry and at two random entries equals the gradient within 2e-3 of the tensor's
// largest gradient magnitude. The step is 1e-2, or 1e-3 where the loss is too curved for it
// (Gemma's scaled embeddings, q/k-normed projections; see bestFD).
func TestWeightGradientsFD(t *testing.T) {
	const h, tol = 1e-2, 2e-3
	for i, name := range sortedNames(tinyModels(t)) {
		m := tinyModels(t)[name]
		b, _ := NewBatch(prompts, []Pad{PadRight, PadLeft}[i%2], 0)
		targets := nextTokens(b)
		loss, grads, err := m.WeightGradients(b, targets)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := crossEntropy(t, m, b, targets); math.Abs(got-loss) > 1e-5 {
			t.Errorf("%s: loss %.8g, forward cross-entropy %.8g", name, loss, got)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		worst := 0.0
		for _, p := range m.Params() {
			g := grads[p.Name]
			top, scale := 0, 0.0
			for j, v := range g {
				if a := math.Abs(float64(v)); a > scale {
					top, scale = j, a
				}
			}
			if scale == 0 {
				t.Errorf("%s %s: zero gradient", name, p.Name)
				continue
			}
			for _, j := range []int{top, rng.IntN(len(g)), rng.IntN(len(g))} {
				x0 := p.Data[j]
				fd := bestFD(float64(g[j]), []float64{h, 1e-3}, func(step float64) float64 {
					hi, lo := x0+float32(step), x0-float32(step)
					p.Data[j] = hi
					up := crossEntropy(t, m, b, targets)
					p.Data[j] = lo
					down := crossEntropy(t, m, b, targets)
					p.Data[j] = x0
					return (up - down) / float64(hi-lo)
				})
				worst = math.Max(worst, math.Abs(fd-float64(g[j]))/scale)
				if math.Abs(fd-float64(g[j])) > tol*scale {
					t.Errorf("%s %s[%d]: finite difference %.6g, gradient %.6g (max |grad| %.3g)", name, p.Name, j, fd, g[j], scale)
				}
			}
		}
		t.Logf("%s: loss %.6g, worst |fd − grad| / max|grad| = %.2g over %d tensors", name, loss, worst, len(m.Params()))
	}
}

// nextTokens is the next-token target of every real position whose next position is real,
// -1 elsewhere.
func nextTokens(b Batch) []int {
	out := make([]int, len(b.IDs))
	for i := range out {
		out[i] = -1
		if b.Mask[i] && i%b.Len+1 < b.Len && b.Mask[i+1] {
			out[i] = b.IDs[i+1]
		}
	}
	return out
}

// crossEntropy is the mean cross-entropy from a plain forward pass, in float64.
func crossEntropy(t *testing.T, m *Model, b Batch, targets []int) float64 {
	res, err := m.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Config.DVocab
	var sum float64
	var n int
	for i, tok := range targets {
		if tok < 0 {
			continue
		}
		row := res.Logits.Data[i*v : (i+1)*v]
		sum -= float64(row[tok]) - logSoftmaxForward(nil, row)
		n++
	}
	return sum / float64(n)
}
