package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// imageGolden mirrors golden.json of an image fixture (vit-random's NOTES.md).
type imageGolden struct {
	HookNames   []string                        `json:"hook_names"`
	Images      []string                        `json:"images"`
	Logits      [][]float64                     `json:"logits"`
	ArgmaxClass []int                           `json:"argmax_class"`
	Probs       [][]float64                     `json:"probs"`
	Hooks       []map[string]fixtures.HookStats `json:"hooks"`
	Grads       []struct {
		ImageIndex  int                    `json:"image_index"`
		TargetClass int                    `json:"target_class"`
		Prob        float64                `json:"prob"`
		CLSRow      map[string][]float64   `json:"grads_cls_row"`
		Grads       map[string][][]float64 `json:"grads"`
	} `json:"grad_prob_wrt_hook_post"`
	IG []struct {
		ImageIndex      int             `json:"image_index"`
		Layer           int             `json:"layer"`
		Hook            string          `json:"hook"`
		M               int             `json:"m"`
		TargetClass     int             `json:"target_class"`
		ScaledPositions string          `json:"scaled_positions"`
		Attributions    json.RawMessage `json:"attributions"`
		FFull           float64         `json:"f_full"`
		FBaseline       float64         `json:"f_baseline"`
		SumAttributions float64         `json:"sum_attributions"`
	} `json:"integrated_gradients"`
}

// fixturePixels reads a float32 tensor of the fixture's pixel_values.safetensors.
func fixturePixels(t *testing.T, dir, name string) *tensor.Tensor {
	t.Helper()
	data, shape := fixtures.Float32s(t, filepath.Join(dir, "pixel_values.safetensors"), name)
	return tensor.From(data, shape...)
}

// imageRow is image i of a [n, C, H, W] batch as a [1, C, H, W] batch.
func imageRow(px *tensor.Tensor, i int) *tensor.Tensor {
	per := len(px.Data) / px.Shape[0]
	return tensor.From(px.Data[i*per:(i+1)*per], 1, px.Shape[1], px.Shape[2], px.Shape[3])
}

// TestImageParity: every image fixture against its float64 PyTorch golden: class logits of
// each image alone and of both as one batch, every hook point's statistics, d prob / d
// hook_post of every layer (all tokens), and integrated gradients at layer 0 (CLS row and
// whole activation), float32 within the suite's tolerances.
func TestImageParity(t *testing.T) {
	for _, dir := range fixtures.ImageCheckpoints(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			var g imageGolden
			if err := json.Unmarshal(data, &g); err != nil {
				t.Fatal(err)
			}
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if len(m.Warnings) > 0 {
				t.Errorf("load warnings: %q", m.Warnings)
			}
			px := fixturePixels(t, dir, "pixel_values")
			t.Run("hook_names", func(t *testing.T) {
				var ours []string
				for _, p := range m.Catalog().Points {
					ours = append(ours, p.String())
				}
				want := append([]string(nil), g.HookNames...)
				for l := 0; l < m.Config.NLayers; l++ {
					for _, s := range attnSites {
						if m.Config.hasSite(s) {
							want = append(want, hooks.At(l, s).String())
						}
					}
				}
				sort.Strings(ours)
				sort.Strings(want)
				if strings.Join(ours, " ") != strings.Join(want, " ") {
					t.Errorf("hook points differ:\nours %v\nwant %v", ours, want)
				}
			})
			t.Run("single", func(t *testing.T) {
				for i := range g.Images {
					res, err := m.ForwardImages(imageRow(px, i), hooks.Capture("*"))
					if err != nil {
						t.Fatal(err)
					}
					checkClassLogits(t, fmt.Sprintf("image %d", i), res.Logits.Data, g.Logits[i])
					if a := argmax(res.Logits.Data); a != g.ArgmaxClass[i] {
						t.Errorf("image %d: class %d, reference %d", i, a, g.ArgmaxClass[i])
					}
					checkHookStats(t, fmt.Sprintf("image %d", i), res.Cache, g.Hooks[i])
				}
			})
			t.Run("batched", func(t *testing.T) {
				res, err := m.ForwardImages(px)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(res.Logits.Shape) != fmt.Sprint([]int{len(g.Images), m.Config.DVocab}) {
					t.Fatalf("logits shape %v", res.Logits.Shape)
				}
				for i := range g.Images {
					checkClassLogits(t, fmt.Sprintf("batch row %d", i), res.Logits.Row(i), g.Logits[i])
				}
			})
			t.Run("gradients", func(t *testing.T) {
				var wrt []hooks.Point
				for l := 0; l < m.Config.NLayers; l++ {
					wrt = append(wrt, hooks.At(l, hooks.MLPPost))
				}
				for _, gg := range g.Grads {
					res, err := m.GradientImages(imageRow(px, gg.ImageIndex), Prob(0, 0, gg.TargetClass), wrt)
					if err != nil {
						t.Fatal(err)
					}
					if math.Abs(res.Value-gg.Prob) > 1e-5 {
						t.Errorf("image %d: prob %.8g, reference %.8g", gg.ImageIndex, res.Value, gg.Prob)
					}
					for name, want := range gg.Grads {
						p, _ := hooks.Parse(name)
						if msg := compareGrad(res.Grads[p], flatten2(want)); msg != "" {
							t.Errorf("image %d %s: %s", gg.ImageIndex, name, msg)
						}
						if cls := res.Grads[p].Data[:m.Config.DMLP]; compareGrad(tensor.From(cls, len(cls)), gg.CLSRow[name]) != "" {
							t.Errorf("image %d %s: CLS row differs", gg.ImageIndex, name)
						}
					}
				}
			})
			t.Run("integrated_gradients", func(t *testing.T) {
				for _, ig := range g.IG {
					p, err := hooks.Parse(ig.Hook)
					if err != nil || p.Layer != ig.Layer {
						t.Fatalf("hook %q: %v", ig.Hook, err)
					}
					var want []float64
					if ig.ScaledPositions == "all" {
						var rows [][]float64
						if err := json.Unmarshal(ig.Attributions, &rows); err != nil {
							t.Fatal(err)
						}
						want = flatten2(rows)
					} else if err := json.Unmarshal(ig.Attributions, &want); err != nil {
						t.Fatal(err)
					}
					attr, fFull, fBase := imageIG(t, m, imageRow(px, ig.ImageIndex), p, ig.TargetClass, ig.M, ig.ScaledPositions == "cls")
					if msg := compareGrad(tensor.From(attr, len(attr)), want); msg != "" {
						t.Errorf("%s: attributions: %s", ig.ScaledPositions, msg)
					}
					var sum float64
					for _, v := range attr {
						sum += float64(v)
					}
					for _, c := range []struct {
						name      string
						got, want float64
					}{{"f_full", fFull, ig.FFull}, {"f_baseline", fBase, ig.FBaseline}, {"sum_attributions", sum, ig.SumAttributions}} {
						if math.Abs(c.got-c.want) > 1e-4*math.Abs(ig.FFull) {
							t.Errorf("%s: %s %.8g, reference %.8g", ig.ScaledPositions, c.name, c.got, c.want)
						}
					}
				}
			})
		})
	}
}

func checkClassLogits(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	for k, w := range want {
		if !close32(got[k], w) {
			t.Errorf("%s: logit %d = %.8g, reference %.8g", what, k, got[k], w)
		}
	}
}

// imageIG is the NeuronPath/Dai integrated gradients the golden holds: zero baseline, m left
// Riemann steps α = k/m, f = softmax probability of class; the activation at p is replaced by
// α·a (only the CLS row when cls, that row's attributions returned) and attributions are
// a/m·Σ_k ∂f/∂a(α_k·a). It returns them with f(a) and f(0).
func imageIG(t *testing.T, m *Model, px *tensor.Tensor, p hooks.Point, class, steps int, cls bool) (attr []float32, fFull, fBase float64) {
	t.Helper()
	clean, err := m.ForwardImages(px, hooks.CapturePoints(p))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := clean.Cache.Get(p)
	w := a.Shape[2]
	scaled := func(alpha float32) hooks.Option {
		return hooks.EditPoint(p, func(_ hooks.Point, x *tensor.Tensor) error {
			n := len(x.Data)
			if cls {
				n = w
			}
			for i := 0; i < n; i++ {
				x.Data[i] = alpha * a.Data[i]
			}
			return nil
		})
	}
	sum := make([]float64, len(a.Data))
	for k := 0; k < steps; k++ {
		res, err := m.GradientImages(px, Prob(0, 0, class), []hooks.Point{p}, scaled(float32(k)/float32(steps)))
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			fBase = res.Value
		}
		for i, v := range res.Grads[p].Data {
			sum[i] += float64(v)
		}
	}
	full, err := m.GradientImages(px, Prob(0, 0, class), []hooks.Point{p})
	if err != nil {
		t.Fatal(err)
	}
	n := len(a.Data)
	if cls {
		n = w
	}
	attr = make([]float32, n)
	for i := range attr {
		attr[i] = float32(float64(a.Data[i]) / float64(steps) * sum[i])
	}
	return attr, full.Value, fBase
}

// TestImageModelErrors: an image model refuses token ids and wrong pixel shapes, naming the
// expected shape; a language model refuses images.
func TestImageModelErrors(t *testing.T) {
	cfg, err := ParseConfig([]byte(tinyViT), "vit/config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewBatch([][]int{{1, 2}}, PadRight, 0)
	if _, err := m.Forward(b); err == nil || !strings.Contains(err.Error(), "image classifier") {
		t.Errorf("Forward on a ViT: %v", err)
	}
	if _, err := m.Generate([][]int{{1}}, 2); err == nil {
		t.Error("Generate on a ViT: no error")
	}
	if _, _, err := m.WeightGradients(b, []int{1, 2}); err == nil {
		t.Error("WeightGradients on a ViT: no error")
	}
	for _, shape := range [][]int{{1, 3, 16, 16}, {1, 1, 32, 32}, {3, 32, 32}, {0, 3, 32, 32}} {
		px := tensor.New(shape...)
		if _, err := m.ForwardImages(px); err == nil || !strings.Contains(err.Error(), "[batch, 3, 32, 32]") {
			t.Errorf("pixels %v: %v", shape, err)
		}
	}
	if _, err := m.GradientImages(tensor.New(1, 3, 32, 32), Prob(0, 3, 1), nil); err == nil {
		t.Error("image metric at position 3: no error")
	}
	if _, err := tinyModels(t)["llama"].ForwardImages(tensor.New(1, 3, 32, 32)); err == nil || !strings.Contains(err.Error(), "language model") {
		t.Errorf("ForwardImages on a language model: %v", err)
	}
}

const tinyViT = `{"model_type":"vit","num_hidden_layers":2,"hidden_size":32,"num_attention_heads":4,"intermediate_size":48,
	"image_size":32,"patch_size":8,"num_channels":3,"id2label":{"0":"a","1":"b","2":"c"}}`

// TestViTInvariants: the tiny random ViT's gradients at every hook point match finite
// differences of edits there; attention is bidirectional (every pattern row covers all
// tokens); each image of a batch computes what it computes alone.
func TestViTInvariants(t *testing.T) {
	cfg, err := ParseConfig([]byte(tinyViT), "vit/config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	px := tensor.New(2, 3, 32, 32)
	for i := range px.Data {
		px.Data[i] = float32(math.Sin(float64(i)*0.37)) * 0.8
	}
	T := cfg.MaxPos
	both, err := m.ForwardImages(px, hooks.Capture("blocks.0.attn.hook_pattern"))
	if err != nil {
		t.Fatal(err)
	}
	pat, _ := both.Cache.GetName("blocks.0.attn.hook_pattern")
	for r := 0; r < len(pat.Data)/T; r++ {
		var s float64
		for j := 0; j < T; j++ {
			if pat.Data[r*T+j] <= 0 {
				t.Fatalf("bidirectional pattern row %d has p = %g at key %d", r, pat.Data[r*T+j], j)
			}
			s += float64(pat.Data[r*T+j])
		}
		if math.Abs(s-1) > 1e-6 {
			t.Fatalf("pattern row sums to %g", s)
		}
	}
	for i := 0; i < 2; i++ {
		one, err := m.ForwardImages(imageRow(px, i))
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(one.Logits.Data, both.Logits.Row(i)); d > 1e-5 {
			t.Errorf("image %d: batched logits differ by %g", i, d)
		}
	}
	metric := Prob(1, 0, 2)
	pts := m.Catalog().Points
	res, err := m.GradientImages(px, metric, pts)
	if err != nil {
		t.Fatal(err)
	}
	value := func(opts ...hooks.Option) float64 {
		out, err := m.ForwardImages(px, opts...)
		if err != nil {
			t.Fatal(err)
		}
		l := out.Logits.Row(1)
		lse := logSoftmaxForward(nil, l)
		return math.Exp(float64(l[2]) - lse)
	}
	if math.Abs(value()-res.Value) > 1e-6 {
		t.Errorf("GradientImages value %g, forward %g", res.Value, value())
	}
	for _, p := range pts {
		g := res.Grads[p]
		a, _ := res.Acts.Get(p)
		u := make([]float32, len(g.Data))
		var an, mag float64
		for j := range u {
			u[j] = float32(math.Cos(float64(j) * 1.3))
			an += float64(g.Data[j]) * float64(u[j])
			mag += math.Abs(float64(g.Data[j]) * float64(u[j]))
		}
		if mag == 0 {
			t.Errorf("%v: zero gradient", p)
			continue
		}
		fd := bestFD(an, []float64{3e-3, 1e-2, 1e-3}, func(rel float64) float64 {
			h := float32(rel * rms(a.Data))
			shift := func(s float32) float64 {
				return value(hooks.EditPoint(p, func(_ hooks.Point, x *tensor.Tensor) error {
					for j := range x.Data {
						x.Data[j] += s * u[j]
					}
					return nil
				}))
			}
			return (shift(h) - shift(-h)) / (2 * float64(h))
		})
		if math.Abs(fd-an) > 1e-3*mag+1e-7 {
			t.Errorf("%v: finite difference %.6g, gradient·u %.6g (Σ|g·u| %.3g)", p, fd, an, mag)
		}
	}
}
