package attribute

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
)

// TestIGParity: integrated gradients at blocks.0.mlp.hook_post, zero baseline, m = 20 left
// Riemann steps, target = softmax probability, scaling the target row and the whole layer,
// against the float64 PyTorch reference: attributions within 1e-4 of their largest reference
// magnitude, f_full, f_baseline and the attribution sum within 1e-4 of f_full.
func TestIGParity(t *testing.T) {
	for _, dir := range fixtures.Checkpoints(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g := fixtures.ReadGolden(t, dir)
			prompts, igs := g.Prompts, g.IG
			if len(igs) == 0 {
				t.Fatal("golden.json has no integrated_gradients")
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for _, g := range igs {
				p, err := hooks.Parse(g.Hook)
				if err != nil || p.Layer != g.Layer {
					t.Fatalf("hook %q: %v", g.Hook, err)
				}
				opt := IGOptions{Steps: g.M, Rule: Left, Scope: Target}
				var want []float64
				if g.ScaledPositions == "all" {
					opt.Scope = All
					var rows [][]float64
					if err := json.Unmarshal(g.Attributions, &rows); err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						want = append(want, r...)
					}
				} else if err := json.Unmarshal(g.Attributions, &want); err != nil {
					t.Fatal(err)
				}
				res, err := IntegratedGradients(m, prompts[g.PromptIndex], p, model.Prob(0, g.TargetPos, g.TargetToken), opt)
				if err != nil {
					t.Fatal(err)
				}
				if msg := compareAttr(res.Attributions.Data, want); msg != "" {
					t.Errorf("%s: attributions: %s", g.ScaledPositions, msg)
				}
				for _, c := range []struct {
					name      string
					got, want float64
				}{{"f_full", res.FFull, g.FFull}, {"f_baseline", res.FBaseline, g.FBaseline}, {"sum_attributions", res.Sum, g.SumAttributions}} {
					if math.Abs(c.got-c.want) > 1e-4*math.Abs(g.FFull) {
						t.Errorf("%s: %s %.8g, reference %.8g", g.ScaledPositions, c.name, c.got, c.want)
					}
				}
			}
		})
	}
}

// compareAttr checks got within 1e-4 of the largest reference magnitude; "" means it passes.
func compareAttr(got []float32, want []float64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d values, reference %d", len(got), len(want))
	}
	var scale, worst float64
	at := 0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); d > worst {
			worst, at = d, i
		}
	}
	if worst > 1e-4*scale {
		return fmt.Sprintf("max abs diff %.3g at %d (got %.8g, reference %.8g) > 1e-4 × %.3g", worst, at, got[at], want[at], scale)
	}
	return ""
}

// blockFamilies name the tiny model of every architecture and config variant
// (modeltest.TinyNames): sequential, gated and parallel blocks, sandwich norms, soft-caps.
var blockFamilies = modeltest.TinyNames()

func tinyModel(t testing.TB, name string) *model.Model { return modeltest.Tiny(t, name, 3) }

var prompt = []int{3, 14, 15, 92, 65, 35, 89}

// TestIGCompleteness: the completeness gap |Σ attributions − (f(a) − f(b))| shrinks like 1/m
// for the Left and Both rules (halves when m doubles: m = 10, 20, 40, 80) and like 1/m² for
// the trapezoid rule (m = 5, 10, 20, 40, staying above the float32 noise floor), with the
// whole layer scaled.
func TestIGCompleteness(t *testing.T) {
	m := tinyModel(t, "gpt2")
	p := hooks.At(0, hooks.MLPPost)
	metric := model.Prob(0, 6, 42)
	for _, c := range []struct {
		rule   Rule
		steps  []int
		lo, hi float64 // allowed gap(m)/gap(2m)
	}{
		{Left, []int{10, 20, 40, 80}, 1.6, 2.5},
		{Both, []int{10, 20, 40, 80}, 1.6, 2.5},
		{Trapezoid, []int{5, 10, 20, 40}, 3.2, 5},
	} {
		var gaps []float64
		for _, steps := range c.steps {
			r, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Steps: steps, Rule: c.rule, Scope: All})
			if err != nil {
				t.Fatal(err)
			}
			gaps = append(gaps, r.Gap)
		}
		for i := 1; i < len(gaps); i++ {
			if ratio := gaps[i-1] / gaps[i]; ratio < c.lo || ratio > c.hi {
				t.Errorf("%v: gap %.3g at m=%d, %.3g at m=%d: ratio %.3g outside [%g, %g]", c.rule, gaps[i-1], c.steps[i-1], gaps[i], c.steps[i], ratio, c.lo, c.hi)
			}
		}
		t.Logf("%v: completeness gaps at m = %v: %.3g", c.rule, c.steps, gaps)
	}
}

// TestIGTargetPath: Target scope runs only the target position on top of the clean KV cache;
// it must equal All scope with a baseline equal to the clean activation everywhere but the
// target row (which runs every position from the residual stream), for every architecture
// family, layer and Riemann rule, and chunked steps must equal one batch.
func TestIGTargetPath(t *testing.T) {
	for _, name := range blockFamilies {
		m := tinyModel(t, name)
		for l := 0; l < m.Config.NLayers; l++ {
			p := hooks.At(l, hooks.MLPPost)
			const pos = 4
			metric := model.LogitDiff(0, pos, 5, 9)
			for _, rule := range []Rule{Left, Both, Trapezoid} {
				tgt, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Steps: 8, Rule: rule, Batch: 3})
				if err != nil {
					t.Fatal(err)
				}
				w := len(tgt.Attributions.Data)
				all, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Steps: 8, Rule: rule, Scope: All})
				if err != nil {
					t.Fatal(err)
				}
				base := append([]float32(nil), all.Act.Data...)
				clear(base[pos*w : (pos+1)*w])
				ref, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Steps: 8, Rule: rule, Scope: All, Baseline: base})
				if err != nil {
					t.Fatal(err)
				}
				want := make([]float64, w)
				for j := range want {
					want[j] = float64(ref.Attributions.Data[pos*w+j])
				}
				if msg := compareAttr(tgt.Attributions.Data, want); msg != "" {
					t.Errorf("%s layer %d %v: target path vs full path: %s", name, l, rule, msg)
				}
				if math.Abs(tgt.FBaseline-ref.FBaseline) > 1e-5 || math.Abs(tgt.FFull-ref.FFull) > 1e-5 {
					t.Errorf("%s layer %d %v: f(b), f(a) = %g, %g vs %g, %g", name, l, rule, tgt.FBaseline, tgt.FFull, ref.FBaseline, ref.FFull)
				}
				for j := (pos + 1) * w; j < len(ref.Attributions.Data); j++ {
					if ref.Attributions.Data[j] != 0 {
						t.Fatalf("%s: attribution after the target position is %g", name, ref.Attributions.Data[j])
					}
				}
			}
		}
	}
}

// TestIGPostNormZeroBaseline pins down what the package documentation says of Gemma 2/3's
// post-feed-forward norm: with the zero baseline the α = 0 step (MLP output 0, the norm's
// singular point) is nearly the whole Riemann sum, so m·Σ IG does not change with m and Σ IG
// is far from f(a) − f(b); with the mean activation over the positions as the baseline the
// completeness gap shrinks like 1/m, as on the other models. Every tiny model with the norm.
func TestIGPostNormZeroBaseline(t *testing.T) {
	for _, name := range blockFamilies {
		m := tinyModel(t, name)
		if m.MLP(0).PostNorm == nil {
			continue
		}
		p := hooks.At(0, hooks.MLPPost)
		metric := model.Prob(0, 6, 42)
		b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
		res, err := m.Forward(b, hooks.CapturePoints(p))
		if err != nil {
			t.Fatal(err)
		}
		a, _ := res.Cache.Get(p)
		w := m.Config.DMLP
		mean := make([]float32, w)
		for pos := range prompt {
			for j := range mean {
				mean[j] += a.Data[pos*w+j] / float32(len(prompt))
			}
		}
		var zero, avg [2]*IGResult
		for k, steps := range []int{20, 80} {
			if zero[k], err = IntegratedGradients(m, prompt, p, metric, IGOptions{Steps: steps}); err != nil {
				t.Fatal(err)
			}
			if avg[k], err = IntegratedGradients(m, prompt, p, metric, IGOptions{Steps: steps, Baseline: mean}); err != nil {
				t.Fatal(err)
			}
		}
		df := zero[0].FFull - zero[0].FBaseline
		if s20, s80 := 20*zero[0].Sum, 80*zero[1].Sum; math.Abs(s20-s80) > 1e-3*math.Abs(s20) || math.Abs(zero[0].Sum) < 10*math.Abs(df) {
			t.Errorf("%s zero baseline: m·Σ IG = %.6g (m = 20), %.6g (m = 80); Σ IG %.3g, f(a) − f(b) %.3g", name, s20, s80, zero[0].Sum, df)
		}
		dm := avg[1].FFull - avg[1].FBaseline
		if r := avg[0].Gap / avg[1].Gap; r < 3 || r > 5 || avg[1].Gap > 0.05*math.Abs(dm) {
			t.Errorf("%s mean baseline: gaps %.3g (m = 20), %.3g (m = 80), f(a) − f(b) %.3g", name, avg[0].Gap, avg[1].Gap, dm)
		}
	}
}

// TestIGBaseline: with the baseline equal to the activation every attribution is 0 and
// f(b) = f(a); a wrongly sized baseline is an error.
func TestIGBaseline(t *testing.T) {
	m := tinyModel(t, "llama")
	p := hooks.At(1, hooks.MLPPost)
	metric := model.LogProb(0, 3, 8)
	r, err := IntegratedGradients(m, prompt, p, metric, IGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	same, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Baseline: r.Act.Data})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range same.Attributions.Data {
		if v != 0 {
			t.Fatalf("attribution %g with baseline = activation", v)
		}
	}
	if math.Abs(same.FBaseline-same.FFull) > 1e-5 {
		t.Errorf("f(b) = %g, f(a) = %g with b = a", same.FBaseline, same.FFull)
	}
	if _, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Baseline: make([]float32, 3)}); err == nil {
		t.Error("a 3-value baseline was accepted")
	}
	if _, err := IntegratedGradients(m, prompt, p, metric, IGOptions{Rule: Both, Steps: 1}); err == nil {
		t.Error("the both rule with 1 step was accepted")
	}
	if _, err := IntegratedGradients(m, prompt, hooks.Global(hooks.Embed), metric, IGOptions{}); err == nil {
		t.Error("a global hook point was accepted")
	}
}

func TestRuleAlphas(t *testing.T) {
	for _, c := range []struct {
		rule  Rule
		m     int
		alpha []float64
		w     []float64
	}{
		{Left, 4, []float64{0, 0.25, 0.5, 0.75}, []float64{0.25, 0.25, 0.25, 0.25}},
		{Both, 5, []float64{0, 0.25, 0.5, 0.75, 1}, []float64{0.2, 0.2, 0.2, 0.2, 0.2}},
		{Trapezoid, 4, []float64{0, 0.25, 0.5, 0.75, 1}, []float64{0.125, 0.25, 0.25, 0.25, 0.125}},
	} {
		a, w, err := c.rule.alphas(c.m)
		if err != nil || fmt.Sprint(a) != fmt.Sprint(c.alpha) || fmt.Sprint(w) != fmt.Sprint(c.w) {
			t.Errorf("%v m=%d: α %v weights %v (%v), want %v %v", c.rule, c.m, a, w, err, c.alpha, c.w)
		}
	}
}

// TestKnowledgeNeurons: with prompts {P, P, P'} and the default share 0.7, a neuron is kept
// exactly when it is coarse for all three; coarse means attribution >= 0.2 × the prompt's
// largest attribution over all layers.
func TestKnowledgeNeurons(t *testing.T) {
	m := tinyModel(t, "gpt2")
	kn, err := KnowledgeNeurons(m, [][]int{prompt, prompt, prompt[:5]}, 42, KNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(kn.Coarse) != 3 || len(kn.Coarse[0]) == 0 || fmt.Sprint(kn.Coarse[0]) != fmt.Sprint(kn.Coarse[1]) {
		t.Fatalf("coarse neurons: %v", kn.Coarse)
	}
	for n, c := range kn.Count {
		if kept := slices.Contains(kn.Neurons, n); kept != (c == 3) {
			t.Errorf("neuron %v: coarse for %d of 3 prompts, kept %v", n, c, kept)
		}
	}
	var attrs [][]float32
	var top float32
	for l := 0; l < m.Config.NLayers; l++ {
		r, err := IntegratedGradients(m, prompt, hooks.At(l, hooks.MLPPost), model.Prob(0, len(prompt)-1, 42), IGOptions{})
		if err != nil {
			t.Fatal(err)
		}
		attrs = append(attrs, r.Attributions.Data)
		for _, v := range r.Attributions.Data {
			top = max(top, v)
		}
	}
	for l, a := range attrs {
		for j, v := range a {
			if coarse := slices.Contains(kn.Coarse[0], hooks.NeuronAt(l, hooks.MLPPost, j)); coarse != (float64(v) >= 0.2*float64(top)) {
				t.Errorf("neuron {%d %d}: attribution %g, top %g, coarse %v", l, j, v, top, coarse)
			}
		}
	}
}
