package model

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/tensor"
)

func tinyModels(t *testing.T) map[string]*Model {
	t.Helper()
	out := map[string]*Model{}
	for name, js := range fixtures.TinyConfigs {
		cfg, err := ParseConfig([]byte(js), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, err := NewRandom(cfg, 7)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = m
	}
	return out
}

var prompts = [][]int{{3, 14, 15, 92, 65, 35, 89}, {27, 18, 28}, {1, 2, 3, 4, 5}}

// maxDiff is the largest |a_i − b_i|; equal entries (masked scores: -Inf) count 0.
func maxDiff(a, b []float32) float64 {
	var w float64
	for i := range a {
		if a[i] != b[i] {
			w = math.Max(w, math.Abs(float64(a[i])-float64(b[i])))
		}
	}
	return w
}

func forwardOne(t *testing.T, m *Model, p []int, opts ...hooks.Option) *Result {
	b, err := NewBatch([][]int{p}, PadRight, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Forward(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBatchEqualsSingle: each row of a padded batch (left or right) equals the prompt run
// alone, at its real positions.
func TestBatchEqualsSingle(t *testing.T) {
	for name, m := range tinyModels(t) {
		v := m.Config.DVocab
		for _, side := range []Pad{PadRight, PadLeft} {
			b, _ := NewBatch(prompts, side, 0)
			res, err := m.Forward(b)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range prompts {
				single := forwardOne(t, m, p).Logits.Data
				off := 0
				if side == PadLeft {
					off = b.Len - len(p)
				}
				got := res.Logits.Data[(i*b.Len+off)*v : (i*b.Len+off+len(p))*v]
				if d := maxDiff(got, single); d > 1e-5 {
					t.Errorf("%s %s padding row %d: max diff %.3g vs unbatched", name, side, i, d)
				}
			}
		}
	}
}

// TestKVCacheGeneration: greedy generation with the KV cache equals recomputing the whole
// sequence at every step.
func TestKVCacheGeneration(t *testing.T) {
	for name, m := range tinyModels(t) {
		got, err := m.Generate(prompts, 6)
		if err != nil {
			t.Fatal(err)
		}
		v := m.Config.DVocab
		for i, p := range prompts {
			seq := append([]int(nil), p...)
			for s := 0; s < 6; s++ {
				logits := forwardOne(t, m, seq).Logits.Data
				next := argmax(logits[(len(seq)-1)*v : len(seq)*v])
				if next != got[i][s] {
					t.Fatalf("%s prompt %d step %d: cached %d, recomputed %d", name, i, s, got[i][s], next)
				}
				seq = append(seq, next)
			}
		}
	}
}

// TestNoOpHookChangesNothing: an edit hook that writes nothing, at every point, leaves the
// logits bit-identical, and every requested point fires.
func TestNoOpHookChangesNothing(t *testing.T) {
	for name, m := range tinyModels(t) {
		base := forwardOne(t, m, prompts[0]).Logits.Data
		count := 0
		res := forwardOne(t, m, prompts[0], hooks.Edit("*", func(hooks.Point, *tensor.Tensor) error { count++; return nil }))
		if d := maxDiff(res.Logits.Data, base); d != 0 {
			t.Errorf("%s: no-op hooks changed logits by %g", name, d)
		}
		if n := len(m.Catalog().Points); count != n || len(res.Fired) != n {
			t.Errorf("%s: %d hook calls, %d fired, %d points", name, count, len(res.Fired), n)
		}
	}
}

// TestZeroAblationPropagates: zeroing hook_post of the last layer equals removing the MLP
// output: hook_mlp_out becomes the output bias (or zero).
func TestZeroAblationPropagates(t *testing.T) {
	for name, m := range tinyModels(t) {
		last := m.Config.NLayers - 1
		post := hooks.At(last, hooks.MLPPost)
		res := forwardOne(t, m, prompts[0],
			hooks.EditPoint(post, func(_ hooks.Point, a *tensor.Tensor) error { clear(a.Data); return nil }),
			hooks.Capture(post.String(), hooks.At(last, hooks.MLPOut).String()))
		a, _ := res.Cache.Get(post)
		out, _ := res.Cache.Get(hooks.At(last, hooks.MLPOut))
		for _, v := range a.Data {
			if v != 0 {
				t.Fatalf("%s: capture after a zeroing edit sees %g", name, v)
			}
		}
		base := forwardOne(t, m, prompts[0], hooks.Capture(hooks.At(last, hooks.MLPOut).String()))
		bo, _ := base.Cache.Get(hooks.At(last, hooks.MLPOut))
		if maxDiff(out.Data, bo.Data) == 0 {
			t.Errorf("%s: zero ablation did not change hook_mlp_out", name)
		}
	}
}

func TestHookErrors(t *testing.T) {
	ms := tinyModels(t)
	m := ms["gpt_neox"]
	b, _ := NewBatch(prompts[:1], PadRight, 0)
	for _, pat := range []string{"blocks.0.hook_resid_mid", "blocks.9.mlp.hook_post", "blocks.0.mlp.hook_pre_linear", "nonsense"} {
		if _, err := m.Forward(b, hooks.Capture(pat)); err == nil {
			t.Errorf("capture %q on gpt_neox (parallel residual, 2 layers) succeeded", pat)
		}
	}
	if _, err := ms["llama"].Forward(b, hooks.Capture("model.layers.1.mlp.down_proj:input")); err != nil {
		t.Errorf("HF alias: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	m := tinyModels(t)["llama"]
	long := make([]int, 65)
	cases := map[string]Batch{}
	b, _ := NewBatch([][]int{{1, 200}}, PadRight, 0)
	cases["id outside vocab"] = b
	b, _ = NewBatch([][]int{long}, PadRight, 0)
	cases["too long"] = b
	for name, b := range cases {
		if _, err := m.Forward(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewBatch([][]int{{}}, PadRight, 0); err == nil {
		t.Error("empty prompt: no error")
	}
	if _, err := NewBatch(nil, PadRight, 0); err == nil {
		t.Error("empty batch: no error")
	}
	if _, err := m.Generate([][]int{{1, 2}}, 63); err == nil {
		t.Error("generation past max positions: no error")
	}
	mis := tinyModels(t)["mistral"]
	b, _ = NewBatch([][]int{make([]int, 40)}, PadRight, 0)
	if _, err := mis.Forward(b); err == nil {
		t.Error("mistral input longer than the sliding window: no error")
	}
}

func ExampleModel_Forward() {
	cfg, _ := ParseConfig([]byte(fixtures.TinyConfigs["llama"]), "config.json")
	m, _ := NewRandom(cfg, 1)
	b, _ := NewBatch([][]int{{1, 5, 9}}, PadRight, 0)
	res, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post"))
	if err != nil {
		panic(err)
	}
	fmt.Println("logits", res.Logits.Shape)
	for _, p := range res.Cache.Points() {
		a, _ := res.Cache.Get(p)
		fmt.Println(p, a.Shape)
	}
	// Output:
	// logits [1 3 97]
	// blocks.0.mlp.hook_post [1 3 48]
	// blocks.1.mlp.hook_post [1 3 48]
}

// TestMLPDirections: neuron i's write direction is what hook_mlp_out gains when neuron i's
// hook_post is raised by 1, for every architecture and weight layout.
func TestMLPDirections(t *testing.T) {
	for name, m := range tinyModels(t) {
		if m.Config.SandwichNorm {
			continue // Gemma 2/3: hook_mlp_out is post_feedforward_layernorm(W_out·post), not linear in post
		}
		d := m.Config.DModel
		const neuron = 5
		post, out := hooks.At(0, hooks.MLPPost), hooks.At(0, hooks.MLPOut)
		base := forwardOne(t, m, prompts[1], hooks.Capture(out.String()))
		bump := forwardOne(t, m, prompts[1], hooks.Capture(out.String()), hooks.EditPoint(post, func(_ hooks.Point, a *tensor.Tensor) error {
			for p := 0; p < a.Shape[1]; p++ {
				a.Data[p*a.Shape[2]+neuron]++
			}
			return nil
		}))
		b0, _ := base.Cache.Get(out)
		b1, _ := bump.Cache.Get(out)
		want := make([]float32, d)
		m.MLP(0).WriteDirection(want, neuron)
		for j := 0; j < d; j++ {
			if got := b1.Data[j] - b0.Data[j]; math.Abs(float64(got-want[j])) > 1e-5 {
				t.Fatalf("%s: write direction[%d] = %g, hook delta %g", name, j, want[j], got)
			}
		}
	}
}

// TestCatalogShapes: every point fires a [batch, pos, ...] tensor whose inner shape is the
// catalog's.
func TestCatalogShapes(t *testing.T) {
	for name, m := range tinyModels(t) {
		cat := m.Catalog()
		T := len(prompts[1])
		forwardOne(t, m, prompts[1], hooks.Observe("*", func(p hooks.Point, a *tensor.Tensor) error {
			want := append([]int{1, T}, cat.Shape(p)...)
			if !p.Site.PerPosition() { // [batch, n_heads, query_pos, key_pos]; the catalog has [n_heads, KeyPos]
				s := cat.Shape(p)
				want = []int{1, s[0], T, T}
				if len(s) != 2 || s[1] != hooks.KeyPos || cat.Width(p) != 0 {
					t.Errorf("%s: %s catalog shape %v width %d", name, p, s, cat.Width(p))
				}
			} else if w := cat.Width(p); w*a.Shape[0]*a.Shape[1] != len(a.Data) {
				t.Errorf("%s: %s width %d for %d values", name, p, w, len(a.Data))
			}
			if fmt.Sprint(a.Shape) != fmt.Sprint(want) {
				t.Errorf("%s: %s fired %v, catalog says %v", name, p, a.Shape, want)
			}
			return nil
		}))
	}
}

// TestHookErrorAborts: the first error an edit or observer returns ends the call with that
// error, and nothing after the failing point runs.
func TestHookErrorAborts(t *testing.T) {
	m := tinyModels(t)["llama"]
	b, err := NewBatch([][]int{prompts[0]}, PadRight, 0)
	if err != nil {
		t.Fatal(err)
	}
	boom := fmt.Errorf("boom")
	later := 0
	_, err = m.Forward(b,
		hooks.Observe("blocks.0.mlp.hook_post", func(hooks.Point, *tensor.Tensor) error { return boom }),
		hooks.Observe("blocks.1.*", func(hooks.Point, *tensor.Tensor) error { later++; return nil }))
	if err == nil || !errors.Is(err, boom) {
		t.Fatalf("forward returned %v, want the hook's error", err)
	}
	if later != 0 {
		t.Errorf("%d hooks ran after the failing one", later)
	}
	_, err = m.Gradient(b, LogProb(0, len(prompts[0])-1, 5), []hooks.Point{hooks.At(0, hooks.MLPPost)},
		hooks.Edit("blocks.1.mlp.hook_pre", func(hooks.Point, *tensor.Tensor) error { return boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("gradient returned %v, want the hook's error", err)
	}
	// An observer after an edit at the same point sees the edited values.
	_, err = m.Forward(b,
		hooks.Observe("blocks.0.mlp.hook_post", func(_ hooks.Point, a *tensor.Tensor) error {
			for _, v := range a.Data {
				if v != 0 {
					return fmt.Errorf("observer saw %g before the edit", v)
				}
			}
			return nil
		}),
		hooks.Edit("blocks.0.mlp.hook_post", func(_ hooks.Point, a *tensor.Tensor) error { clear(a.Data); return nil }))
	if err != nil {
		t.Fatal(err)
	}
}
