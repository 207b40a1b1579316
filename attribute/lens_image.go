package attribute

import (
	"fmt"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// ClassLensProcedure states what ClassLens computes, for reports.
const ClassLensProcedure = "class lens (the logit lens of an image classifier): for every layer L, class logits_L = " +
	"classifier(ln_final(blocks.L.hook_resid_post[CLS])), the model's own final LayerNorm and classification head applied to " +
	"the CLS token's residual stream after block L; probabilities are their softmax over the classes. The last layer's lens is " +
	"the model's output; next_token is the class the model predicts."

// ClassLens is the logit lens of one image of an image classifier (ViT): the CLS token's
// residual stream after each requested layer goes through the model's final LayerNorm and
// classifier, and the K most probable classes are kept, with the rank of the class the model
// predicts (as Next). pixels are [1, channels, size, size]; names (may be nil) names classes
// (id2label). The lens runs as one batch of one row per layer, each row the image with the
// last block's output replaced by that layer's, so the norm and head are exactly the model's.
func ClassLens(m *model.Model, pixels *tensor.Tensor, opt LensOptions, names []string) (*LensReport, error) {
	c := m.Config
	if !c.ImageModel() {
		return nil, fmt.Errorf("%s is a language model (model_type %s): use LogitLens", m.Dir, c.ModelType)
	}
	if pixels == nil || len(pixels.Shape) != 4 || pixels.Shape[0] != 1 {
		return nil, fmt.Errorf("the class lens takes one image, [1, %d, %d, %d]", c.Channels, c.ImageSize, c.ImageSize)
	}
	opt, points, err := opt.points(c)
	if err != nil {
		return nil, err
	}
	clean, err := m.ForwardImages(pixels, hooks.CapturePoints(points...))
	if err != nil {
		return nil, err
	}
	pred := model.Argmax(clean.Logits.Row(0))
	n, per := len(points), len(pixels.Data)
	px := tensor.New(n, pixels.Shape[1], pixels.Shape[2], pixels.Shape[3])
	for r := 0; r < n; r++ {
		copy(px.Data[r*per:], pixels.Data)
	}
	last := hooks.At(c.NLayers-1, hooks.ResidPost)
	res, err := m.ForwardImages(px, hooks.EditPoint(last, func(_ hooks.Point, a *tensor.Tensor) error {
		w := len(a.Data) / n
		for r, p := range points {
			src, _ := clean.Cache.Get(p)
			copy(a.Data[r*w:(r+1)*w], src.Data)
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	str := func(id int) string {
		if id < len(names) {
			return names[id]
		}
		return ""
	}
	rep := &LensReport{SchemaVersion: 1, Provenance: m.Provenance(), Procedure: ClassLensProcedure, PromptTokens: []string{"[CLS]"}, Top: opt.K}
	for r, p := range points {
		rep.Layers = append(rep.Layers, LensLayer{Layer: p.Layer, Hook: p.String(),
			Positions: []LensPosition{lensPosition(CLS, res.Logits.Row(r), opt.K, pred, str)}})
	}
	return rep, nil
}
