package model

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// gradTol is the gradient parity criterion: every entry within 1e-4 of the largest reference
// magnitude of its tensor.
const gradTol = 1e-4

// TestGradientParity: d log_softmax(logits[target_pos])[target_token] / d blocks.l.mlp.hook_post
// for every layer and both golden targets, against the float64 PyTorch reference.
func TestGradientParity(t *testing.T) {
	for _, dir := range fixtures.Checkpoints(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			g := fixtures.ReadGolden(t, dir)
			if len(g.Grads) == 0 {
				t.Fatal("golden.json has no grad_logprob_wrt_hook_post")
			}
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var wrt []hooks.Point
			for l := 0; l < m.Config.NLayers; l++ {
				wrt = append(wrt, hooks.At(l, hooks.MLPPost))
			}
			for _, gg := range g.Grads {
				b, _ := NewBatch([][]int{g.Prompts[gg.PromptIndex]}, PadRight, 0)
				res, err := m.Gradient(b, LogProb(0, gg.TargetPos, gg.TargetToken), wrt)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(res.Value-gg.LogProb) > 1e-4 {
					t.Errorf("target (%d, %d): logprob %.8g, reference %.8g", gg.TargetPos, gg.TargetToken, res.Value, gg.LogProb)
				}
				for name, want := range gg.Grads {
					p, _ := hooks.Parse(name)
					if msg := compareGrad(res.Grads[p], flatten2(want)); msg != "" {
						t.Errorf("target (%d, %d) %s: %s", gg.TargetPos, gg.TargetToken, name, msg)
					}
				}
			}
		})
	}
}

func flatten2(x [][]float64) []float64 {
	var out []float64
	for _, r := range x {
		out = append(out, r...)
	}
	return out
}

// compareGrad checks got against want within gradTol·max|want|; "" means it passes.
func compareGrad(got *tensor.Tensor, want []float64) string {
	if got == nil {
		return "no gradient returned"
	}
	if len(got.Data) != len(want) {
		return fmt.Sprintf("%d values, reference %d", len(got.Data), len(want))
	}
	var scale, worst float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	at := 0
	for i, w := range want {
		if d := math.Abs(float64(got.Data[i]) - w); d > worst {
			worst, at = d, i
		}
	}
	if worst > gradTol*scale {
		return fmt.Sprintf("max abs diff %.3g at %d (got %.8g, reference %.8g) > %.0e × max|ref| %.3g",
			worst, at, got.Data[at], want[at], gradTol, scale)
	}
	return ""
}

// TestGradientZeroAfterTarget: at every hook point of every architecture, gradients at
// positions after the metric's position, and in batch rows the metric does not read, are
// exactly zero; the taped forward pass sees bit-identical activations to Forward.
func TestGradientZeroAfterTarget(t *testing.T) {
	for name, m := range tinyModels(t) {
		b, _ := NewBatch(prompts, PadRight, 0)
		const row, pos = 0, 3
		pts := m.Catalog().Points
		res, err := m.Gradient(b, LogProb(row, pos, 5), pts)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := m.Forward(b, hooks.CapturePoints(pts...))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := LogProb(row, pos, 5).Value(b, plain.Logits)
		if math.Abs(res.Value-want) > 1e-6 || res.Rows[row] != res.Value {
			t.Errorf("%s: value %.8g (rows %v), forward %.8g", name, res.Value, res.Rows, want)
		}
		for _, p := range pts {
			g := res.Grads[p]
			inner := len(g.Data) / (b.Size * b.Len)
			var before float64
			for i, v := range g.Data {
				r, q := i/inner/b.Len, i/inner%b.Len
				if !p.Site.PerPosition() { // [batch, n_heads, query_pos, key_pos]: the query position
					tk := g.Shape[3]
					r, q = i/(g.Shape[1]*b.Len*tk), i/tk%b.Len
				}
				if (r != row || q > pos) && v != 0 {
					t.Fatalf("%s %v: gradient %g at row %d position %d (metric at row %d position %d)", name, p, v, r, q, row, pos)
				}
				before += math.Abs(float64(v))
			}
			if before == 0 {
				t.Errorf("%s %v: gradient is zero everywhere", name, p)
			}
			a, _ := res.Acts.Get(p)
			f, _ := plain.Cache.Get(p)
			if maxDiff(a.Data, f.Data) != 0 {
				t.Errorf("%s %v: taped activation differs from Forward's", name, p)
			}
		}
	}
}

// TestGradientFrom: starting at blocks.l.hook_resid_pre gives Gradient's gradients; so does
// running only the last positions on top of a forked KV cache of the earlier ones.
func TestGradientFrom(t *testing.T) {
	for name, m := range tinyModels(t) {
		p := prompts[0]
		b, _ := NewBatch([][]int{p}, PadRight, 0)
		const l, pos, split = 1, 5, 4
		metric := MeanLogProb(0, pos, []int{9, 4})
		post := hooks.At(l, hooks.MLPPost)
		full, err := m.Gradient(b, metric, []hooks.Point{post, hooks.At(l, hooks.AttnZ)})
		if err != nil {
			t.Fatal(err)
		}
		kv := m.NewKVCache(1, len(p))
		clean, err := m.ForwardKV(b, kv, hooks.CapturePoints(hooks.At(l, hooks.ResidPre)))
		if err != nil {
			t.Fatal(err)
		}
		resid, _ := clean.Cache.Get(hooks.At(l, hooks.ResidPre))
		from, err := m.GradientFrom(Start{Layer: l, Resid: resid}, b, metric, []hooks.Point{post, hooks.At(l, hooks.AttnZ)})
		if err != nil {
			t.Fatal(err)
		}
		for pt, g := range full.Grads {
			if d := maxDiff(g.Data, from.Grads[pt].Data); d > 1e-5 {
				t.Errorf("%s %v: GradientFrom differs by %g", name, pt, d)
			}
		}
		// Positions split.. on top of the cache of positions < split, three times over.
		tail, _ := NewBatch([][]int{p[split:], p[split:], p[split:]}, PadRight, 0)
		d := m.Config.DModel
		rs := tensor.New(3, len(p)-split, d)
		for i := 0; i < 3; i++ {
			copy(rs.Data[i*(len(p)-split)*d:], resid.Data[split*d:])
		}
		mt := metric
		mt.Row, mt.Pos = AllRows, pos-split
		cont, err := m.GradientFrom(Start{Layer: l, Resid: rs, KV: kv.Fork(0, split, 3, len(p))}, tail, mt, []hooks.Point{post})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(cont.Value-3*full.Value) > 1e-5 {
			t.Errorf("%s: continued metric %g, want 3 × %g", name, cont.Value, full.Value)
		}
		w := m.Config.DMLP
		for i := 0; i < 3; i++ {
			got := cont.Grads[post].Data[i*(len(p)-split)*w : (i+1)*(len(p)-split)*w]
			if dd := maxDiff(got, full.Grads[post].Data[split*w:]); dd > 1e-5 {
				t.Errorf("%s row %d: gradient on a forked cache differs by %g", name, i, dd)
			}
		}
	}
}

func TestGradientErrors(t *testing.T) {
	m := tinyModels(t)["llama"]
	b, _ := NewBatch(prompts[:2], PadRight, 0)
	post := []hooks.Point{hooks.At(0, hooks.MLPPost)}
	bad := map[string]Metric{
		"pad position":       LogProb(1, 5, 3),
		"token out of range": Prob(0, 1, 500),
		"row out of range":   Logit(2, 0, 3),
		"wrong token count":  {Kind: LogitDiffMetric, Row: 0, Pos: 1, Tokens: []int{3}},
		"past the end":       MeanLogProb(0, 5, []int{1, 2, 3}),
	}
	for what, mt := range bad {
		if _, err := m.Gradient(b, mt, post); err == nil {
			t.Errorf("%s: no error", what)
		}
	}
	for _, mb := range []Batch{{Size: 1, Len: 2}, {Size: -1, Len: 3}} {
		if _, err := m.Gradient(mb, LogProb(0, 1, 3), post); err == nil {
			t.Errorf("malformed batch %+v: no error", mb)
		}
		if _, err := m.Forward(mb); err == nil {
			t.Errorf("malformed batch %+v: Forward gave no error", mb)
		}
	}
	resid := tensor.New(2, b.Len, m.Config.DModel)
	if _, err := m.GradientFrom(Start{Layer: 1, Resid: resid}, b, LogProb(0, 1, 3), post); err == nil {
		t.Error("gradient below the start layer: no error")
	}
	if _, err := m.GradientFrom(Start{Layer: 1}, b, LogProb(0, 1, 3), []hooks.Point{hooks.At(1, hooks.MLPPost)}); err == nil {
		t.Error("start layer without a residual: no error")
	}
	if _, err := m.Gradient(b, LogProb(0, 1, 3), []hooks.Point{hooks.At(0, hooks.ResidMid)}, hooks.Capture("blocks.9.mlp.hook_post")); err == nil {
		t.Error("unknown hook in options: no error")
	}
	if _, _, err := m.WeightGradients(b, []int{1, 2}); err == nil {
		t.Error("WeightGradients with too few targets: no error")
	}
	none := make([]int, b.Size*b.Len)
	for i := range none {
		none[i] = -1
	}
	if _, _, err := m.WeightGradients(b, none); err == nil {
		t.Error("WeightGradients with no target: no error")
	}
}

func ExampleModel_Gradient() {
	cfg, _ := ParseConfig([]byte(fixtures.TinyConfigs["llama"]), "config.json")
	m, _ := NewRandom(cfg, 1)
	b, _ := NewBatch([][]int{{1, 5, 9, 4}}, PadRight, 0)
	post := hooks.At(0, hooks.MLPPost)
	g, err := m.Gradient(b, LogProb(0, 2, 7), []hooks.Point{post})
	if err != nil {
		panic(err)
	}
	grad := g.Grads[post]
	fmt.Println("log p =", g.Value < 0, "gradient", grad.Shape)
	fmt.Println("after the target:", grad.Row(0, 3)[:4])
	// Output:
	// log p = true gradient [1 4 48]
	// after the target: [0 0 0 0]
}
