package attribute

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// imageIntervened runs the image with the CLS row of every layer l < len(vecs) replaced by
// vecs[l] at site (the published intervention; every token recomputed) and returns the
// target of class.
func imageIntervened(t *testing.T, m *model.Model, px *tensor.Tensor, class int, site hooks.Site, kind model.MetricKind, vecs [][]float32) float64 {
	t.Helper()
	var opts []hooks.Option
	for l, v := range vecs {
		v := v
		opts = append(opts, hooks.EditPoint(hooks.At(l, site), func(_ hooks.Point, a *tensor.Tensor) error {
			copy(a.Data[CLS*len(v):(CLS+1)*len(v)], v)
			return nil
		}))
	}
	res, err := m.ForwardImages(px, opts...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := imageMetricValue(model.Metric{Kind: kind, Row: 0, Pos: CLS, Tokens: []int{class}}, res.Logits)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestImageJASFiniteDifferences: on a tiny ViT, the JAS of a fixed path at the CLS token
// (JointAttributionImage) equals [Σ_i Σ_l g_l,p_l(α_i)] × [Σ_l a_l,p_l/m] with the gradients
// taken by central finite differences of the intervened forward pass (the CLS rows replaced,
// every other token recomputed), within 2e-3 of Σ|g|·Σ a/m; NeuronPathImage's path has one
// neuron per layer and its JAS is JointAttributionImage's of that path; bad input is an error.
func TestImageJASFiniteDifferences(t *testing.T) {
	m := modeltestViT(t)
	c := m.Config
	px := tensor.New(1, c.Channels, c.ImageSize, c.ImageSize)
	for i := range px.Data {
		px.Data[i] = float32((i*41)%67)/33 - 1
	}
	site := hooks.MLPPost
	cleanRes, err := m.ForwardImages(px, hooks.Capture("blocks.*.mlp.hook_post"))
	if err != nil {
		t.Fatal(err)
	}
	var clean [][]float32
	for l := 0; l < c.NLayers; l++ {
		a, _ := cleanRes.Cache.Get(hooks.At(l, site))
		clean = append(clean, append([]float32(nil), a.Data[:c.DMLP]...))
	}
	for _, target := range []PathTarget{TargetProb, TargetLogit} {
		opt := PathOptions{Steps: 4, Target: target}
		class := 2
		path := [][]int{{3}, {17}}
		jas, err := JointAttributionImage(m, px, class, path, opt)
		if err != nil {
			t.Fatal(err)
		}
		var g, mag, s float64
		for l, p := range path {
			j := p[0]
			s += float64(clean[l][j] / float32(opt.Steps))
			for i := 0; i < opt.Steps; i++ {
				al := float32(i) / float32(opt.Steps)
				vecs := make([][]float32, len(path))
				for k := range vecs {
					vecs[k] = append([]float32(nil), clean[k]...)
					vecs[k][path[k][0]] *= al
				}
				h := float32(3e-3 * math.Max(1, math.Abs(float64(clean[l][j]))))
				shift := func(d float32) float64 {
					vs := make([][]float32, len(vecs))
					for k := range vecs {
						vs[k] = append([]float32(nil), vecs[k]...)
					}
					vs[l][j] += d
					return imageIntervened(t, m, px, class, site, opt.Target.kind(), vs)
				}
				gi := (shift(h) - shift(-h)) / (2 * float64(h))
				g += gi
				mag += math.Abs(gi)
			}
		}
		if jas == 0 || g == 0 {
			t.Fatalf("%v: JAS %g, gradient sum %g: nothing checked", target, jas, g)
		}
		if want := g * s; math.Abs(jas-want) > 2e-3*mag*math.Abs(s)+1e-9 {
			t.Errorf("%v: JAS %.6g, by finite differences %.6g (scale %.3g)", target, jas, want, mag*math.Abs(s))
		}
		res, err := NeuronPathImage(m, px, class, opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Path) != c.NLayers || res.Position != CLS || res.Token != class || res.Passes != c.NLayers+2 {
			t.Fatalf("%v: path %v at %d for %d, %d passes", target, res.Path, res.Position, res.Token, res.Passes)
		}
		var found [][]int
		for l, n := range res.Path {
			if n.Layer != l {
				t.Errorf("path neuron %d in layer %d", l, n.Layer)
			}
			found = append(found, []int{n.Index})
		}
		again, err := JointAttributionImage(m, px, class, found, opt)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(again-res.JAS) > 1e-6*math.Max(1, math.Abs(res.JAS)) {
			t.Errorf("%v: the search's JAS %g, the path's %g", target, res.JAS, again)
		}
	}
	for name, call := range map[string]func() error{
		"class":  func() error { _, err := NeuronPathImage(m, px, c.DVocab, PathOptions{}); return err },
		"steps":  func() error { _, err := NeuronPathImage(m, px, 0, PathOptions{Steps: -1}); return err },
		"pixels": func() error { _, err := NeuronPathImage(m, tensor.New(2, 3, 4, 4), 0, PathOptions{}); return err },
		"path":   func() error { _, err := JointAttributionImage(m, px, 0, [][]int{{1}}, PathOptions{}); return err },
		"neuron": func() error {
			_, err := JointAttributionImage(m, px, 0, [][]int{{1}, {c.DMLP}}, PathOptions{})
			return err
		},
		"text": func() error { _, err := NeuronPathImage(tinyModel(t, "llama"), px, 0, PathOptions{}); return err },
	} {
		if call() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestClassLens: the class lens of a tiny ViT at each layer gives the class logits that a
// pass starting at the final norm (GradientImagesFrom at layer n_layers, an independent route)
// computes from that layer's residual stream; the last layer's lens is the model's output and
// ranks its predicted class first.
func TestClassLens(t *testing.T) {
	m := modeltestViT(t)
	c := m.Config
	px := tensor.New(1, c.Channels, c.ImageSize, c.ImageSize)
	for i := range px.Data {
		px.Data[i] = float32((i*13)%31)/15 - 1
	}
	rep, err := ClassLens(m, px, LensOptions{K: c.DVocab}, c.Labels)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := m.ForwardImages(px, hooks.Capture("blocks.*.hook_resid_post"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != c.NLayers {
		t.Fatalf("%d layers", len(rep.Layers))
	}
	for _, l := range rep.Layers {
		resid, _ := clean.Cache.Get(hooks.At(l.Layer, hooks.ResidPost))
		pos := l.Positions[0]
		if len(pos.Top) != c.DVocab || pos.Next == nil {
			t.Fatalf("layer %d: %d classes, next %v", l.Layer, len(pos.Top), pos.Next)
		}
		for _, tok := range pos.Top {
			g, err := m.GradientImagesFrom(model.Start{Layer: c.NLayers, Resid: resid}, model.Logit(0, CLS, tok.ID), nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(g.Value-float64(tok.Logit)) > 1e-5 {
				t.Errorf("layer %d class %d: lens logit %g, from the final norm %g", l.Layer, tok.ID, tok.Logit, g.Value)
			}
			if tok.Token != c.Labels[tok.ID] {
				t.Errorf("class %d named %q", tok.ID, tok.Token)
			}
		}
	}
	final := rep.Layers[len(rep.Layers)-1].Positions[0]
	for _, tok := range final.Top {
		if d := math.Abs(float64(tok.Logit - clean.Logits.Data[tok.ID])); d > 1e-5 {
			t.Errorf("last layer's lens logit %d differs from the output by %g", tok.ID, d)
		}
	}
	if final.Next.Rank != 1 || final.Top[0].ID != final.Next.ID {
		t.Errorf("predicted class %+v not first in the last layer's lens %+v", final.Next, final.Top[0])
	}
	if _, err := ClassLens(tinyModel(t, "llama"), px, LensOptions{}, nil); err == nil {
		t.Error("a language model: no error")
	}
	if _, err := ClassLens(m, px, LensOptions{Layers: []int{c.NLayers}}, nil); err == nil {
		t.Error("layer out of range: no error")
	}
}
