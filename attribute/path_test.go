package attribute

import (
	"math"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// interventedValue runs the whole prompt forward with every layer l <= tgt's unit vector at pos
// replaced by vecs[l] (the published intervention, here on the full sequence with no cache)
// and returns the target at pos.
func interventedValue(t *testing.T, m *model.Model, prompt []int, pos, token int, site hooks.Site, kind model.MetricKind, vecs [][]float32) float64 {
	t.Helper()
	b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	var opts []hooks.Option
	for l, v := range vecs {
		v := v
		opts = append(opts, hooks.EditPoint(hooks.At(l, site), func(_ hooks.Point, a *tensor.Tensor) error {
			copy(a.Data[pos*len(v):(pos+1)*len(v)], v)
			return nil
		}))
	}
	res, err := m.Forward(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := model.Metric{Kind: kind, Row: 0, Pos: pos, Tokens: []int{token}}.Value(b, res.Logits)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// cleanUnits returns the clean unit vectors at pos of every layer.
func cleanUnits(t *testing.T, m *model.Model, prompt []int, pos int, site hooks.Site) [][]float32 {
	b, _ := model.NewBatch([][]int{prompt}, model.PadRight, 0)
	res, err := m.Forward(b, hooks.Capture("blocks.*."+site.String()))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for l := 0; l < m.Config.NLayers; l++ {
		a, _ := res.Cache.Get(hooks.At(l, site))
		w := len(a.Data) / len(prompt)
		out = append(out, append([]float32(nil), a.Data[pos*w:(pos+1)*w]...))
	}
	return out
}

// fdJAS recomputes a joint attribution term by hand: for each step α_i = i/m the vectors of
// layers 0..tgt are the clean ones with the moving units at α_i times their clean value (all
// of layer tgt when whole), every one a constant; the gradient of the target with respect to
// unit j of layer l is a central finite difference of the intervened forward pass (all
// positions recomputed, no cache), summed over the steps. It returns Σ_i g and Σ_i |g|.
func fdJAS(t *testing.T, m *model.Model, prompt []int, pos, token int, opt PathOptions, tgt int, moving [][]int, whole bool, l, j int) (sum, mag float64) {
	clean := cleanUnits(t, m, prompt, pos, opt.Site)
	M := opt.Steps
	for i := 0; i < M; i++ {
		al := float32(i) / float32(M)
		vecs := make([][]float32, tgt+1)
		for k := 0; k <= tgt; k++ {
			v := append([]float32(nil), clean[k]...)
			if k == tgt && whole {
				for q := range v {
					v[q] *= al
				}
			} else {
				for _, q := range moving[k] {
					v[q] *= al
				}
			}
			vecs[k] = v
		}
		h := float32(3e-3 * math.Max(1, math.Abs(float64(clean[l][j]))))
		if w := m.MLP(l); opt.Site == hooks.MLPPost && w.PostNorm != nil {
			// Behind a post-feed-forward norm the target is a function of m/sqrt(mean(m²)+eps),
			// m = W_out·v: linear in unit j only while the step's change of m is small against
			// that divisor. At a step where the layer is scaled to 0 the divisor is sqrt(eps),
			// so the difference step must be far below the 3e-3 that suits the other models.
			_, div := mlpOutByHand(m, l, vecs[l])
			h = min(h, float32(1e-2*div/writeRMS(m, l, j)))
		}
		shift := func(s float32) float64 {
			vs := make([][]float32, len(vecs))
			for k := range vecs {
				vs[k] = append([]float32(nil), vecs[k]...)
			}
			vs[l][j] += s
			return interventedValue(t, m, prompt, pos, token, opt.Site, opt.Target.kind(), vs)
		}
		g := (shift(h) - shift(-h)) / (2 * float64(h))
		sum += g
		mag += math.Abs(g)
	}
	return sum, mag
}

// writeRMS is the root mean square of neuron j's write direction in layer l.
func writeRMS(m *model.Model, l, j int) float64 {
	dir := make([]float32, m.Config.DModel)
	m.MLP(l).WriteDirection(dir, j)
	var ss float64
	for _, v := range dir {
		ss += float64(v) * float64(v)
	}
	return math.Sqrt(ss / float64(len(dir)))
}

// TestJASFiniteDifferences: the JAS of a fixed path, JointAttribution, equals the hand
// computation [Σ_i Σ_l g_l,p_l(α_i)] × [Σ_l a_l,p_l/m] with the gradients taken by finite
// differences of the intervened forward pass (every replaced vector a constant, the whole
// sequence recomputed), within 2e-3 of Σ|g|·Σ a/m; so is the search's first candidate score
// (layer 0 scaled whole, no earlier path). Checked on every tiny model, for the probability and
// the logit targets, at the last and at an inner position.
func TestJASFiniteDifferences(t *testing.T) {
	for _, name := range blockFamilies {
		m := tinyModel(t, name)
		for _, c := range []struct {
			pos    int
			target PathTarget
		}{{len(prompt) - 1, TargetProb}, {3, TargetLogit}} {
			opt := PathOptions{Steps: 4, Target: c.target, Site: hooks.MLPPost}
			var path [][]int
			for l := 0; l < m.Config.NLayers; l++ {
				path = append(path, []int{5 + 6*l})
			}
			token := 40
			jas, err := JointAttribution(m, prompt, c.pos, token, path, opt)
			if err != nil {
				t.Fatal(err)
			}
			clean := cleanUnits(t, m, prompt, c.pos, opt.Site)
			var g, mag, s float64
			for l, p := range path {
				gl, ml := fdJAS(t, m, prompt, c.pos, token, opt, len(path)-1, path, false, l, p[0])
				g, mag = g+gl, mag+ml
				s += float64(clean[l][p[0]] / float32(opt.Steps))
			}
			if want := g * s; math.Abs(jas-want) > 2e-3*mag*math.Abs(s)+1e-9 {
				t.Errorf("%s pos %d %v: JAS %.7g, by finite differences %.7g (Σ|g| %.3g)", name, c.pos, c.target, jas, want, mag)
			}

			res, err := NeuronPath(m, prompt, c.pos, token, opt)
			if err != nil {
				t.Fatal(err)
			}
			first := res.Path[0]
			g0, m0 := fdJAS(t, m, prompt, c.pos, token, opt, 0, nil, true, 0, first.Index)
			s0 := float64(clean[0][first.Index] / float32(opt.Steps))
			if want := g0 * s0; math.Abs(first.Score-want) > 2e-3*m0*math.Abs(s0)+1e-9 {
				t.Errorf("%s pos %d %v: layer-0 candidate score %.7g, by finite differences %.7g", name, c.pos, c.target, first.Score, want)
			}
			if len(res.Path) != m.Config.NLayers || res.Passes != m.Config.NLayers+2 {
				t.Errorf("%s: path %v, %d passes", name, res.Path, res.Passes)
			}
			// The path's own JAS agrees with JointAttribution of its indices.
			var idx [][]int
			for _, n := range res.Path {
				idx = append(idx, []int{n.Index})
			}
			again, err := JointAttribution(m, prompt, c.pos, token, idx, opt)
			if err != nil || math.Abs(again-res.JAS) > 1e-9*math.Max(1, math.Abs(again)) {
				t.Errorf("%s: path JAS %g, JointAttribution %g (%v)", name, res.JAS, again, err)
			}
		}
	}
}

// plantedPathModel is a 4-layer GPT-2 (random embeddings and norms) with attention switched off
// (zero output projections) whose MLPs read nothing (zero input weights): each unit's
// activation is GELU of its bias. In layer l, unit path[l] has bias 2 and writes c·W_U[token]
// into the residual stream; unit decoy[l] has bias 3 (the layer's largest activation) and
// writes nothing; every other unit is 0 and writes nothing.
func plantedPathModel(t *testing.T, token int, path, decoy []int) *model.Model {
	m := modeltest.FromConfig(t, `{"model_type":"gpt2","n_layer":4,"n_embd":32,"n_head":4,"vocab_size":97,"n_positions":64}`, 5)
	params := map[string]*model.Param{}
	for _, p := range m.Params() {
		params[p.Name] = p
	}
	wte := params["wte.weight"]
	d := m.Config.DModel
	u := wte.Data[token*d : (token+1)*d]
	var norm float64
	for _, v := range u {
		norm += float64(v) * float64(v)
	}
	scale := float32(1.5 / math.Sqrt(norm))
	for l := 0; l < 4; l++ {
		pre := "h." + string(rune('0'+l)) + "."
		clear(params[pre+"attn.c_proj.weight"].Data)
		clear(params[pre+"attn.c_proj.bias"].Data)
		clear(params[pre+"mlp.c_fc.weight"].Data)
		clear(params[pre+"mlp.c_proj.weight"].Data)
		clear(params[pre+"mlp.c_proj.bias"].Data)
		bias := params[pre+"mlp.c_fc.bias"].Data
		clear(bias)
		bias[path[l]], bias[decoy[l]] = 2, 3
		out := params[pre+"mlp.c_proj.weight"].Data // Conv1D [d_mlp, d_model]
		for i := 0; i < d; i++ {
			out[path[l]*d+i] = scale * u[i]
		}
	}
	return m
}

// TestNeuronPathRecoversPlanted: on a model whose influential path is planted, the search
// finds it, while the activation argmax baseline picks the decoys (larger activations, no
// effect) and scores a lower JAS.
func TestNeuronPathRecoversPlanted(t *testing.T) {
	token := 17
	path, decoy := []int{9, 77, 40, 101}, []int{3, 120, 41, 100}
	m := plantedPathModel(t, token, path, decoy)
	res, err := NeuronPath(m, prompt, len(prompt)-1, token, PathOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for l, n := range res.Path {
		if n.Layer != l || n.Index != path[l] || n.Site != hooks.MLPPost {
			t.Errorf("layer %d: found %v (score %g), planted %d", l, n.Neuron, n.Score, path[l])
		}
		if a := res.Activation[l]; a.Index != decoy[l] {
			t.Errorf("layer %d: activation argmax %v, want the decoy %d", l, a.Neuron, decoy[l])
		}
	}
	if !(res.JAS > res.ActivationJAS) {
		t.Errorf("planted path JAS %g <= activation baseline's %g", res.JAS, res.ActivationJAS)
	}
	if len(res.ActivationTopK) != 4*5 || res.ActivationTopK[0].Index != decoy[0] || res.ActivationTopK[1].Index != path[0] {
		t.Errorf("activation top-5: %v", res.ActivationTopK)
	}
	// The top-K search keeps the path neuron first in every layer.
	wide, err := NeuronPath(m, prompt, len(prompt)-1, token, PathOptions{Width: 3})
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < 4; l++ {
		if wide.Path[3*l].Index != path[l] {
			t.Errorf("width 3, layer %d: %v", l, wide.Path[3*l:3*l+3])
		}
	}
	if s := PathSimilarity(res.Path, res.Activation); s != 0 {
		t.Errorf("similarity of the path and the decoys %g, want 0", s)
	}
	if s := PathSimilarity(res.Path, res.Path); s != 1 {
		t.Errorf("self-similarity %g", s)
	}
}

// TestNeuronPathBadInput: a position outside the prompt, negative steps, a bad token or site
// and a path of the wrong length are errors.
func TestNeuronPathBadInput(t *testing.T) {
	m := tinyModel(t, "llama")
	for _, c := range []struct {
		pos, token int
		opt        PathOptions
		want       string
	}{
		{len(prompt), 3, PathOptions{}, "outside the prompt"},
		{-1, 3, PathOptions{}, "outside the prompt"},
		{2, 3, PathOptions{Steps: -1}, "steps"},
		{2, 1000, PathOptions{}, "vocabulary"},
		{2, 3, PathOptions{Site: hooks.ResidPost}, "site"},
	} {
		if _, err := NeuronPath(m, prompt, c.pos, c.token, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pos %d token %d %+v: %v, want %q", c.pos, c.token, c.opt, err, c.want)
		}
	}
	if _, err := JointAttribution(m, prompt, 2, 3, [][]int{{1}}, PathOptions{}); err == nil {
		t.Error("a one-layer path of a two-layer model was accepted")
	}
	if _, err := JointAttribution(m, prompt, 2, 3, [][]int{{1}, {1000}}, PathOptions{}); err == nil {
		t.Error("a neuron index out of range was accepted")
	}
}
