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
// final norm weight (and the post-feed-forward norm weight of Gemma 2/3) is spread over
// [-0.5, 2] and every write direction gets a sizeable mean, so a formula that forgot γ (or
// 1+γ), the post-norm or the LayerNorm centering would fail.
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
				if pn := m.MLP(l).PostNorm; pn != nil {
					for j := range pn.Data {
						pn.Data[j] = float32(-0.5 + 2.5*rng.Float64())
					}
				}
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

// dlaNeuronWrite is what neuron i of layer l adds to the residual stream at one position,
// computed naively from the weights in float64: a_i·w_i, or, behind a post-feed-forward norm,
// a_i·(1+g) ⊙ w_i / s_post with s_post = sqrt(mean(m²)+eps) of the down_proj output
// m = W_out·act + b_out recomputed from the whole activation vector act. It also returns
// s_post (0 without a post-norm) and m ⊙ (1+g) / s_post (nil without), the post-norm's output
// to compare with the captured hook_mlp_out.
func dlaNeuronWrite(m *model.Model, l, i int, act []float32) (write []float64, sPost float64, normed []float64) {
	c := m.Config
	w := m.MLP(l)
	dir := make([]float32, c.DModel)
	w.WriteDirection(dir, i)
	write = make([]float64, c.DModel)
	for j, v := range dir {
		write[j] = float64(act[i]) * float64(v)
	}
	if w.PostNorm == nil {
		return write, 0, nil
	}
	mOut, sPost := mlpOutByHand(m, l, act)
	normed = make([]float64, c.DModel)
	for j := range write {
		g := float64(w.PostNorm.Data[j])
		if c.NormPlusOne {
			g++
		}
		write[j] *= g / sPost
		normed[j] = mOut[j] * g / sPost
	}
	return write, sPost, normed
}

// mlpOutByHand is layer l's down_proj output m = W_out·act + b_out [d_model] in float64 from
// the write directions, and s = sqrt(mean(m²)+eps), the divisor a post-feed-forward norm
// applies to it.
func mlpOutByHand(m *model.Model, l int, act []float32) ([]float64, float64) {
	c := m.Config
	w := m.MLP(l)
	out := make([]float64, c.DModel)
	dir := make([]float32, c.DModel)
	for k, a := range act {
		w.WriteDirection(dir, k)
		for j, v := range dir {
			out[j] += float64(a) * float64(v)
		}
	}
	var ss float64
	for j := range out {
		if w.OutBias != nil {
			out[j] += float64(w.OutBias.Data[j])
		}
		ss += out[j] * out[j]
	}
	return out, math.Sqrt(ss/float64(c.DModel) + c.NormEps)
}

// dlaPreCap is the logit (difference) before any final soft-cap from one position's
// ln_final.output h: h·(W_U[t] − W_U[t']), in float64.
func dlaPreCap(m *model.Model, h []float32, tokens []int) float64 {
	wu := m.Unembedding()
	var z float64
	for j, v := range h {
		u := float64(wu.Row(tokens[0])[j])
		if len(tokens) == 2 {
			u -= float64(wu.Row(tokens[1])[j])
		}
		z += float64(v) * u
	}
	return z
}

// dlaCapped is the model's logit (difference) from the pre-cap logits of the tokens:
// cap·tanh(z/cap) per token (identity without a cap).
func dlaCapped(m *model.Model, h []float32, tokens []int) float64 {
	cp := m.Config.FinalSoftcap
	capped := func(t int) float64 {
		z := dlaPreCap(m, h, []int{t})
		if cp == 0 {
			return z
		}
		return cp * math.Tanh(z/cp)
	}
	v := capped(tokens[0])
	if len(tokens) == 2 {
		v -= capped(tokens[1])
	}
	return v
}

// TestDLASumsToMLPOut: on every architecture, Σ_i DLA_i + Bias equals the direct effect of the
// captured hook_mlp_out (after the post-feed-forward norm of Gemma 2/3: what is added to the
// residual stream) through the captured final scale, and the direct effects of every
// residual-stream component plus the final norm's bias add up to the model's own logit before
// its soft-cap (DLAResult.Logit), which the soft-cap turns into the model's output.
func TestDLASumsToMLPOut(t *testing.T) {
	names, models := dlaTinyModels(t, true)
	for _, name := range names {
		m := models[name]
		c := m.Config
		b, err := model.NewBatch(dlaPrompts, model.PadRight, 0)
		if err != nil {
			t.Fatal(err)
		}
		pats := []string{"hook_embed", "blocks.*.hook_attn_out", "blocks.*.hook_mlp_out", "ln_final.hook_scale", "ln_final.output"}
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
				if p.Site == hooks.FinalScale || p.Site == hooks.FinalOutput {
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
				if c.SandwichNorm == (ld.PostScale == 0) {
					t.Errorf("%s: post-norm scale %g with SandwichNorm=%v", name, ld.PostScale, c.SandwichNorm)
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
				t.Errorf("%s %v: components' direct effects + β·u = %.6g, model logit before the soft-cap %.6g", name, tc.tokens, total, res.Logit)
			}
			want := ref.Logits.At(tc.row, tc.pos, tc.tokens[0])
			if len(tc.tokens) == 2 {
				want -= ref.Logits.At(tc.row, tc.pos, tc.tokens[1])
			}
			if res.Output != want {
				t.Errorf("%s: Output %g, forward gives %g", name, res.Output, want)
			}
			h, _ := ref.Cache.Get(hooks.Global(hooks.FinalOutput))
			if c.FinalSoftcap == 0 && res.Logit != want {
				t.Errorf("%s: Logit %g, forward gives %g", name, res.Logit, want)
			}
			if z := dlaPreCap(m, h.Row(tc.row, tc.pos), tc.tokens); !dlaClose(float64(res.Logit), z, 1e-5) {
				t.Errorf("%s: Logit %g, ln_final.output·W_U gives %g", name, res.Logit, z)
			}
			if got := dlaCapped(m, h.Row(tc.row, tc.pos), tc.tokens); !dlaClose(float64(want), got, 1e-5) {
				t.Errorf("%s: forward logit %g, soft-capped ln_final.output·W_U %g", name, want, got)
			}
		}
	}
}

// TestDLABruteForceNeuron checks single neurons two ways: the formula by hand from
// WriteDirection (centering the neuron's write, not the unembedding direction), and causally,
// by removing the neuron's write from the final residual stream with the final scale frozen at
// its clean value and reading the change of the model's logit before its soft-cap
// (ln_final.output·W_U).
//
// The neuron's write is a_i·w_i, or a_i·(1+g) ⊙ w_i / s_post behind Gemma 2/3's
// post-feed-forward norm (dlaNeuronWrite), with s_post checked against the captured
// hook_mlp_out. (This reference used to remove a_i·w_i and read the soft-capped output logit,
// which is neither what such a neuron adds to the residual stream nor the quantity DLA
// attributes; see DLAResult.)
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
		clean, err := m.Forward(b, hooks.Capture("blocks.*.mlp.hook_post", "blocks.*.hook_mlp_out", "ln_final.hook_scale", "ln_final.output"))
		if err != nil {
			t.Fatal(err)
		}
		scale, _ := clean.Cache.Get(hooks.Global(hooks.FinalScale))
		s := scale.At(row, pos, 0)
		hClean, _ := clean.Cache.Get(hooks.Global(hooks.FinalOutput))
		zClean := dlaPreCap(m, hClean.Row(row, pos), tokens)
		for _, ld := range res.Layers {
			post, _ := clean.Cache.Get(hooks.At(ld.Layer, hooks.MLPPost))
			mlpOut, _ := clean.Cache.Get(hooks.At(ld.Layer, hooks.MLPOut))
			for _, i := range []int{0, 7, c.DMLP - 1} {
				write, sPost, normed := dlaNeuronWrite(m, ld.Layer, i, post.Row(row, pos))
				if normed != nil {
					for j, v := range mlpOut.Row(row, pos) {
						if !dlaClose(float64(v), normed[j], 1e-5) {
							t.Fatalf("%s layer %d: hook_mlp_out[%d] = %g, post-norm by hand %g", name, ld.Layer, j, v, normed[j])
						}
					}
					if !dlaClose(float64(ld.PostScale), sPost, 1e-6) {
						t.Errorf("%s layer %d: PostScale %g, by hand %g", name, ld.Layer, ld.PostScale, sPost)
					}
				}
				dir := make([]float32, c.DModel)
				for j, v := range write {
					dir[j] = float32(v)
				}
				byHand := dlaDirectEffect(m, dir, s, tokens)
				if got := float64(ld.Neurons[i]); !dlaClose(got, byHand, 1e-5) {
					t.Errorf("%s layer %d neuron %d: DLA %.7g, by hand %.7g", name, ld.Layer, i, got, byHand)
				}
				ablated, err := m.Forward(b,
					hooks.EditPoint(hooks.At(c.NLayers-1, hooks.ResidPost), func(_ hooks.Point, x *tensor.Tensor) error {
						r := x.Row(row, pos)
						for j := range r {
							r[j] -= dir[j]
						}
						return nil
					}),
					hooks.EditPoint(hooks.Global(hooks.FinalScale), func(_ hooks.Point, sc *tensor.Tensor) error {
						copy(sc.Data, scale.Data)
						return nil
					}),
					hooks.Capture("ln_final.output"))
				if err != nil {
					t.Fatal(err)
				}
				h, _ := ablated.Cache.Get(hooks.Global(hooks.FinalOutput))
				delta := zClean - dlaPreCap(m, h.Row(row, pos), tokens)
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
