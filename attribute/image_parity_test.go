package attribute

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/internal/fixtures"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// imageGolden is the part of an image fixture's golden.json attribution checks read.
type imageGolden struct {
	Grads []struct {
		ImageIndex  int                    `json:"image_index"`
		TargetClass int                    `json:"target_class"`
		Prob        float64                `json:"prob"`
		Grads       map[string][][]float64 `json:"grads"`
	} `json:"grad_prob_wrt_hook_post"`
	IG []struct {
		ImageIndex      int             `json:"image_index"`
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

func flat(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// TestImageAttributionParity: AttributeImage on every image fixture against its float64
// PyTorch golden: the gradient method's scores are d prob / d hook_post of every layer (all
// tokens), grad×act is the activation times that gradient, and integrated gradients (zero
// baseline, m left Riemann steps, CLS row and whole layer) give the reference attributions,
// f(a), f(0) and their sum, within the suite's tolerances.
func TestImageAttributionParity(t *testing.T) {
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
			if len(g.Grads) == 0 || len(g.IG) == 0 {
				t.Fatal("golden.json has no gradients or integrated gradients")
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			all, shape := fixtures.Float32s(t, filepath.Join(dir, "pixel_values.safetensors"), "pixel_values")
			per := len(all) / shape[0]
			image := func(i int) *tensor.Tensor {
				return tensor.From(all[i*per:(i+1)*per], 1, shape[1], shape[2], shape[3])
			}
			var posts []hooks.Point
			for l := 0; l < m.Config.NLayers; l++ {
				posts = append(posts, hooks.At(l, hooks.MLPPost))
			}
			for _, gg := range g.Grads {
				metric := model.Prob(0, CLS, gg.TargetClass)
				grad, _, err := AttributeImage(m, image(gg.ImageIndex), metric, posts, AttributionOptions{Method: MethodGradient, AllPositions: true})
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(grad.MetricValue-gg.Prob) > 1e-5 {
					t.Errorf("image %d: prob %.8g, reference %.8g", gg.ImageIndex, grad.MetricValue, gg.Prob)
				}
				_, garr, _ := AttributeImage(m, image(gg.ImageIndex), metric, posts, AttributionOptions{Method: MethodGradient})
				_, xarr, err := AttributeImage(m, image(gg.ImageIndex), metric, posts, AttributionOptions{Method: MethodGradXAct})
				if err != nil {
					t.Fatal(err)
				}
				for name, rows := range gg.Grads {
					p, _ := hooks.Parse(name)
					want := flat(rows)
					if msg := compareAttr(garr.Scores[p].Data, want); msg != "" {
						t.Errorf("image %d %s gradient: %s", gg.ImageIndex, name, msg)
					}
					act := xarr.Acts[p].Data
					gxa := make([]float64, len(want))
					for i := range want {
						gxa[i] = float64(act[i]) * want[i]
					}
					if msg := compareAttr(xarr.Scores[p].Data, gxa); msg != "" {
						t.Errorf("image %d %s grad×act: %s", gg.ImageIndex, name, msg)
					}
				}
			}
			for _, ig := range g.IG {
				p, err := hooks.Parse(ig.Hook)
				if err != nil {
					t.Fatal(err)
				}
				opt := IGOptions{Steps: ig.M, Rule: Left}
				var want []float64
				if ig.ScaledPositions == "all" {
					opt.Scope = All
					var rows [][]float64
					if err := json.Unmarshal(ig.Attributions, &rows); err != nil {
						t.Fatal(err)
					}
					want = flat(rows)
				} else if err := json.Unmarshal(ig.Attributions, &want); err != nil {
					t.Fatal(err)
				}
				metric := model.Prob(0, CLS, ig.TargetClass)
				res, err := IntegratedGradientsImage(m, image(ig.ImageIndex), p, metric, opt)
				if err != nil {
					t.Fatal(err)
				}
				if msg := compareAttr(res.Attributions.Data, want); msg != "" {
					t.Errorf("%s: attributions: %s", ig.ScaledPositions, msg)
				}
				for _, c := range []struct {
					name      string
					got, want float64
				}{{"f_full", res.FFull, ig.FFull}, {"f_baseline", res.FBaseline, ig.FBaseline}, {"sum_attributions", res.Sum, ig.SumAttributions}} {
					if math.Abs(c.got-c.want) > 1e-4*math.Abs(ig.FFull) {
						t.Errorf("%s: %s %.8g, reference %.8g", ig.ScaledPositions, c.name, c.got, c.want)
					}
				}
				// The report path: the same numbers in its arrays, the CLS row for target scope.
				rep, arr, err := AttributeImage(m, image(ig.ImageIndex), metric, []hooks.Point{p},
					AttributionOptions{Method: MethodIG, IG: IGOptions{Steps: ig.M}, AllPositions: ig.ScaledPositions == "all"})
				if err != nil {
					t.Fatal(err)
				}
				got := arr.Scores[p].Data
				if ig.ScaledPositions != "all" {
					got = got[:len(want)]
				}
				if msg := compareAttr(got, want); msg != "" {
					t.Errorf("%s report: %s", ig.ScaledPositions, msg)
				}
				if rep.Baseline != "zero" || rep.TargetPos != CLS || rep.TargetToken != ig.TargetClass || len(rep.Prompt) != 0 {
					t.Errorf("report: baseline %q, target %d/%d, prompt %v", rep.Baseline, rep.TargetPos, rep.TargetToken, rep.Prompt)
				}
			}
		})
	}
}

// TestImageBaseline: with a baseline image, integrated gradients start from each point's
// activation on that image. At the last residual stream (everything downstream reads only it)
// scaling every token makes f(b) the metric of the baseline image itself, and the
// attributions sum to f(a) − f(b) up to the trapezoid rule's error; the image as its own
// baseline attributes nothing. A baseline of another shape is an error.
func TestImageBaseline(t *testing.T) {
	m := modeltestViT(t)
	c := m.Config
	px, black := tensor.New(1, c.Channels, c.ImageSize, c.ImageSize), tensor.New(1, c.Channels, c.ImageSize, c.ImageSize)
	for i := range px.Data {
		px.Data[i] = float32((i*29)%53)/26 - 1
		black.Data[i] = -1
	}
	metric := model.Prob(0, CLS, 1)
	p := hooks.At(c.NLayers-1, hooks.ResidPost)
	opt := AttributionOptions{Method: MethodIG, IG: IGOptions{Steps: 64, Rule: Trapezoid}, AllPositions: true, BaselineImage: black, BaselineName: "black image"}
	rep, _, err := AttributeImage(m, px, metric, []hooks.Point{p}, opt)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := m.ForwardImages(black)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := imageMetricValue(metric, fb.Logits)
	k := p.String()
	if math.Abs(rep.FBaseline[k]-want) > 1e-6 {
		t.Errorf("f(b) = %.8g, the baseline image's metric %.8g", rep.FBaseline[k], want)
	}
	if gap := rep.CompletenessGap[k]; gap > 1e-3*math.Abs(rep.FFull-want) {
		t.Errorf("completeness gap %.3g of f(a) − f(b) = %.3g", gap, rep.FFull-want)
	}
	if rep.Baseline != "black image" {
		t.Errorf("report baseline %q", rep.Baseline)
	}
	opt.BaselineImage, opt.AllPositions = px, false
	self, arr, err := AttributeImage(m, px, metric, []hooks.Point{p}, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range arr.Scores[p].Data {
		if v != 0 {
			t.Fatalf("the image as its own baseline: attribution %g", v)
		}
	}
	if self.FBaseline[k] != self.FFull {
		t.Errorf("own baseline: f(b) %g, f(a) %g", self.FBaseline[k], self.FFull)
	}
	opt.BaselineImage = tensor.New(1, c.Channels, c.ImageSize, 2)
	if _, _, err := AttributeImage(m, px, metric, []hooks.Point{p}, opt); err == nil {
		t.Error("a baseline of another shape: no error")
	}
}

func modeltestViT(t *testing.T) *model.Model { return modeltest.FromConfig(t, tinyViT, 5) }
