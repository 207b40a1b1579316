package attribute

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// dlaTinyModels builds one random model per architecture, sorted by name. With perturb, the
// final norm weight is spread over [-0.5, 2] and every write direction gets a sizeable mean, so
// a formula that forgot γ (or 1+γ) or the LayerNorm centering would fail.
func dlaTinyModels(t testing.TB, perturb bool) ([]string, map[string]*model.Model) {
	t.Helper()
	out := map[string]*model.Model{}
	var names []string
	for _, name := range modeltest.TinyNames() {
		m := modeltest.Tiny(t, name, 11)
		cfg := m.Config
		if perturb {
			rng := rand.New(rand.NewPCG(3, 4))
			g, _ := m.FinalNorm()
			for j := range g.Data {
				g.Data[j] = float32(-0.5 + 2.5*rng.Float64())
			}
			for l := 0; l < cfg.NLayers; l++ {
				out := m.MLP(l).Out
				for i := 0; i < cfg.DMLP; i++ {
					shift := float32(0.3 * rng.NormFloat64())
					for j := 0; j < cfg.DModel; j++ {
						if out.InOut {
							out.Data[i*cfg.DModel+j] += shift
						} else {
							out.Data[j*cfg.DMLP+i] += shift
						}
					}
				}
			}
		}
		out[name] = m
		names = append(names, name)
	}
	sort.Strings(names)
	return names, out
}

var dlaPrompts = [][]int{{3, 14, 15, 92, 65, 35, 89}, {27, 18, 28}}

// dlaDirectEffect is the direct effect of one residual-stream write x (d_model) on the target
// direction through the final norm frozen at divisor s, computed naively: center x (LayerNorm),
// divide by s, multiply by the norm weight, dot with W_U[t] (− W_U[t']).
func dlaDirectEffect(m *model.Model, x []float32, s float32, tokens []int) float64 {
	c := m.Config
	var mean float64
	if c.LayerNorm {
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(len(x))
	}
	g, _ := m.FinalNorm()
	wu := m.Unembedding()
	var sum float64
	for j, v := range x {
		gj := float64(g.Data[j])
		if c.NormPlusOne {
			gj++
		}
		u := float64(wu.Row(tokens[0])[j])
		if len(tokens) == 2 {
			u -= float64(wu.Row(tokens[1])[j])
		}
		sum += (float64(v) - mean) / float64(s) * gj * u
	}
	return sum
}

func dlaClose(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// TestDLASumsToMLPOut: on every architecture, Σ_i DLA_i + Bias equals the direct effect of the
// captured hook_mlp_out through the captured final scale, and the direct effects of every
// residual-stream component plus the final norm's bias add up to the model's own logit.
func TestDLASumsToMLPOut(t *testing.T) {
	names, models := dlaTinyModels(t, true)
	for _, name := range names {
		m := models[name]
		c := m.Config
		b, err := model.NewBatch(dlaPrompts, model.PadRight, 0)
		if err != nil {
			t.Fatal(err)
		}
		pats := []string{"hook_embed", "blocks.*.hook_attn_out", "blocks.*.hook_mlp_out", "ln_final.hook_scale"}
		if c.LearnedPos {
			pats = append(pats, "hook_pos_embed")
		}
		ref, err := m.Forward(b, hooks.Capture(pats...))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			row, pos int
			tokens   []int
		}{{0, 6, []int{5}}, {1, 2, []int{40, 7}}, {0, 0, []int{96}}} {
			res, err := DirectLogit(m, b, tc.row, tc.pos, tc.tokens, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			scale, _ := ref.Cache.Get(hooks.Global(hooks.FinalScale))
			s := scale.At(tc.row, tc.pos, 0)
			if res.Scale != s {
				t.Errorf("%s: scale %g, captured %g", name, res.Scale, s)
			}
			if len(res.Layers) != c.NLayers {
				t.Fatalf("%s: %d layers, want %d", name, len(res.Layers), c.NLayers)
			}
			total := 0.0
			for _, p := range ref.Cache.Points() {
				act, _ := ref.Cache.Get(p)
				if p.Site == hooks.FinalScale {
					continue
				}
				direct := dlaDirectEffect(m, act.Row(tc.row, tc.pos), s, tc.tokens)
				total += direct
				if p.Site != hooks.MLPOut {
					continue
				}
				ld := res.Layers[p.Layer]
				if ld.Layer != p.Layer || len(ld.Neurons) != c.DMLP {
					t.Fatalf("%s: layer entry %d is layer %d with %d neurons", name, p.Layer, ld.Layer, len(ld.Neurons))
				}
				if got := ld.Total(); !dlaClose(got, direct, 1e-5) {
					t.Errorf("%s %v layer %d: Σ DLA + bias = %.7g, direct effect of hook_mlp_out = %.7g", name, tc.tokens, p.Layer, got, direct)
				}
				if c.MLPBias == (ld.Bias == 0) {
					t.Errorf("%s: bias term %g with MLPBias=%v", name, ld.Bias, c.MLPBias)
				}
			}
			if _, beta := m.FinalNorm(); beta != nil {
				for j, v := range beta.Data {
					u := float64(m.Unembedding().Row(tc.tokens[0])[j])
					if len(tc.tokens) == 2 {
						u -= float64(m.Unembedding().Row(tc.tokens[1])[j])
					}
					total += float64(v) * u
				}
			}
			if !dlaClose(total, float64(res.Logit), 1e-4) {
				t.Errorf("%s %v: components' direct effects + β·u = %.6g, model logit %.6g", name, tc.tokens, total, res.Logit)
			}
			want := ref.Logits.At(tc.row, tc.pos, tc.tokens[0])
			if len(tc.tokens) == 2 {
				want -= ref.Logits.At(tc.row, tc.pos, tc.tokens[1])
			}
			if res.Logit != want {
				t.Errorf("%s: Logit %g, forward gives %g", name, res.Logit, want)
			}
		}
	}
}

// TestDLABruteForceNeuron checks single neurons two ways: the formula by hand from
// WriteDirection (centering the neuron's vector, not the unembedding direction), and causally,
// by removing a_i·w_i from the final residual stream with the final scale frozen at its clean
// value and reading the change of the model's own logit.
func TestDLABruteForceNeuron(t *testing.T) {
	names, models := dlaTinyModels(t, true)
	b, _ := model.NewBatch(dlaPrompts, model.PadLeft, 0)
	row, pos := 1, 5 // left padding: row 1 has real tokens at 4..6
	for _, name := range names {
		m := models[name]
		c := m.Config
		tokens := []int{11, 60}
		res, err := DirectLogitDiff(m, b, row, pos, tokens[0], tokens[1], nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		clean, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post", "ln_final.hook_scale"))
		if err != nil {
			t.Fatal(err)
		}
		scale, _ := clean.Cache.Get(hooks.Global(hooks.FinalScale))
		s := scale.At(row, pos, 0)
		dir := make([]float32, c.DModel)
		for _, ld := range res.Layers {
			post, _ := clean.Cache.Get(hooks.At(ld.Layer, hooks.MLPPost))
			for _, i := range []int{0, 7, c.DMLP - 1} {
				a := post.At(row, pos, i)
				m.MLP(ld.Layer).WriteDirection(dir, i)
				byHand := float64(a) * dlaDirectEffect(m, dir, s, tokens)
				if got := float64(ld.Neurons[i]); !dlaClose(got, byHand, 1e-5) {
					t.Errorf("%s layer %d neuron %d: DLA %.7g, by hand %.7g", name, ld.Layer, i, got, byHand)
				}
				ablated, err := m.Forward(b,
					hooks.EditPoint(hooks.At(c.NLayers-1, hooks.ResidPost), func(_ hooks.Point, x *tensor.Tensor) error {
						r := x.Row(row, pos)
						for j := range r {
							r[j] -= a * dir[j]
						}
						return nil
					}),
					hooks.EditPoint(hooks.Global(hooks.FinalScale), func(_ hooks.Point, sc *tensor.Tensor) error {
						copy(sc.Data, scale.Data)
						return nil
					}))
				if err != nil {
					t.Fatal(err)
				}
				delta := float64(clean.Logits.At(row, pos, tokens[0])-clean.Logits.At(row, pos, tokens[1])) -
					float64(ablated.Logits.At(row, pos, tokens[0])-ablated.Logits.At(row, pos, tokens[1]))
				if got := float64(ld.Neurons[i]); math.Abs(got-delta) > 2e-5+1e-3*math.Abs(delta) {
					t.Errorf("%s layer %d neuron %d: DLA %.7g, logit change when removing its write %.7g", name, ld.Layer, i, got, delta)
				}
			}
		}
	}
}

func TestDLALayersAndTop(t *testing.T) {
	_, models := dlaTinyModels(t, false)
	m := models["gpt2"]
	b, _ := model.NewBatch(dlaPrompts, model.PadRight, 0)
	all, err := DirectLogit(m, b, 0, 3, []int{9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	one, err := DirectLogit(m, b, 0, 3, []int{9}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Layers) != 1 || one.Layers[0].Layer != 1 {
		t.Fatalf("layers %+v", one.Layers)
	}
	for i, v := range one.Layers[0].Neurons {
		if v != all.Layers[1].Neurons[i] {
			t.Fatalf("neuron %d: %g alone, %g with all layers", i, v, all.Layers[1].Neurons[i])
		}
	}
	top, bottom, abs := all.Top(5), all.Bottom(5), all.TopAbs(1000000)
	if len(top) != 5 || len(bottom) != 5 || len(abs) != 2*m.Config.DMLP {
		t.Fatalf("lengths %d %d %d", len(top), len(bottom), len(abs))
	}
	for i := 1; i < 5; i++ {
		if top[i].Score > top[i-1].Score || bottom[i].Score < bottom[i-1].Score {
			t.Errorf("not sorted: %v %v", top, bottom)
		}
	}
	for _, n := range abs {
		if n.Score > top[0].Score || n.Score < bottom[0].Score {
			t.Errorf("%+v beyond top %+v / bottom %+v", n, top[0], bottom[0])
		}
		if float64(all.Layers[n.Layer].Neurons[n.Index]) != n.Score || n.Site != hooks.MLPPost {
			t.Errorf("%+v does not match its layer entry", n)
		}
	}
}

func TestDLAErrors(t *testing.T) {
	_, models := dlaTinyModels(t, false)
	m := models["llama"]
	b, _ := model.NewBatch(dlaPrompts, model.PadRight, 0)
	for _, tc := range []struct {
		row, pos int
		tokens   []int
		layers   []int
	}{
		{1, 5, []int{1}, nil},       // padding
		{2, 0, []int{1}, nil},       // no such row
		{0, 0, []int{97}, nil},      // token outside the vocabulary
		{0, 0, []int{1, 2, 3}, nil}, // three tokens
		{0, 0, nil, nil},            // none
		{0, 0, []int{1}, []int{2}},  // no such layer
		{0, 0, []int{1}, []int{0, 0}},
	} {
		if _, err := DirectLogit(m, b, tc.row, tc.pos, tc.tokens, tc.layers); err == nil {
			t.Errorf("%+v: no error", tc)
		}
	}
}
