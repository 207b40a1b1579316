package attribute

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// CLS is the position of an image classifier's CLS token, where it reads its class logits.
const CLS = 0

// IntegratedGradientsImage is IntegratedGradients for one image of an image classifier (ViT):
// pixels [1, channels, size, size] as model/vision prepares them, metric a function of the
// class logits at the CLS position (model.Prob(0, 0, class), LogProb or Logit; its Row is
// ignored). Scope Target scales only the CLS row of the activation at point, All the whole
// [tokens, width] activation. Attention is bidirectional, so every step reruns every token of
// the image from blocks.L.hook_resid_pre (there is no causal shortcut): the rows the
// intervention does not scale keep their clean values at the point itself and are recomputed
// above it.
func IntegratedGradientsImage(m *model.Model, pixels *tensor.Tensor, point hooks.Point, metric model.Metric, opt IGOptions) (*IGResult, error) {
	cl, err := runCleanImage(m, pixels, []hooks.Point{point}, metric)
	if err != nil {
		return nil, err
	}
	return cl.integrate(point, opt)
}

// runCleanImage is runClean for one image.
func runCleanImage(m *model.Model, pixels *tensor.Tensor, points []hooks.Point, metric model.Metric) (*clean, error) {
	if err := checkImageMetric(m, pixels, metric); err != nil {
		return nil, err
	}
	caps, err := cleanCaptures(points)
	if err != nil {
		return nil, err
	}
	res, err := m.ForwardImages(pixels, hooks.CapturePoints(caps...))
	if err != nil {
		return nil, err
	}
	metric.Row = 0
	cl := &clean{m: m, pixels: pixels, T: m.Config.MaxPos, metric: metric, first: CLS, last: CLS, cache: res.Cache}
	if cl.f, err = imageMetricValue(metric, res.Logits); err != nil {
		return nil, err
	}
	return cl, nil
}

// checkImageMetric checks one image and a metric of its class logits.
func checkImageMetric(m *model.Model, pixels *tensor.Tensor, metric model.Metric) error {
	c := m.Config
	if !c.ImageModel() {
		return fmt.Errorf("%s is a language model (model_type %s): attribute prompts, not images", m.Dir, c.ModelType)
	}
	if pixels == nil || len(pixels.Shape) != 4 || pixels.Shape[0] != 1 {
		var shape []int
		if pixels != nil {
			shape = pixels.Shape
		}
		return fmt.Errorf("pixel values of shape %v: attribution takes one image, [1, %d, %d, %d]", shape, c.Channels, c.ImageSize, c.ImageSize)
	}
	switch metric.Kind {
	case model.ProbMetric, model.LogProbMetric, model.LogitMetric, model.LogitDiffMetric:
	default:
		return fmt.Errorf("%v: an image classifier has one logits row per image; use the probability, log-probability or logit of a class", metric)
	}
	if metric.Pos != CLS {
		return fmt.Errorf("%v: an image classifier's logits are at position %d (the CLS token)", metric, CLS)
	}
	for _, k := range metric.Tokens {
		if k < 0 || k >= c.DVocab {
			return fmt.Errorf("class %d is outside the model's %d classes", k, c.DVocab)
		}
	}
	return nil
}

// imageMetricValue evaluates a metric at CLS on class logits [n, classes] (row r = image r).
func imageMetricValue(metric model.Metric, logits *tensor.Tensor) (float64, error) {
	n := logits.Shape[0]
	b := model.Batch{Size: n, Len: 1, IDs: make([]int, n), Mask: make([]bool, n)}
	for i := range b.Mask {
		b.Mask[i] = true
	}
	return metric.Value(b, logits)
}
