package attribute

import (
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// tinyViT is a random-weight ViT image classifier: 16×16 images in 8×8 patches (5 tokens with
// CLS), 3 classes.
const tinyViT = `{"model_type":"vit","num_hidden_layers":2,"hidden_size":16,"intermediate_size":32,"num_attention_heads":2,
	"image_size":16,"patch_size":8,"num_channels":3,"id2label":{"0":"cat","1":"dog","2":"ship"}}`

// TestImageModelRefused: DLA, LM-head decoding and the logit lens read a vocabulary through a
// language-model head; a ViT has class logits from its CLS token instead, and each method
// refuses it with an error saying so, also when handed a forward pass of images.
func TestImageModelRefused(t *testing.T) {
	m := modeltest.FromConfig(t, tinyViT, 1)
	c := m.Config
	px := tensor.New(1, c.Channels, c.ImageSize, c.ImageSize)
	for i := range px.Data {
		px.Data[i] = float32(i%7) / 7
	}
	layers := []int{0, 1}
	res, err := m.ForwardImages(px, hooks.CapturePoints(DLAPoints(layers)...))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := model.NewBatch([][]int{{0, 1, 2}}, model.PadRight, 0)
	calls := map[string]func() error{
		"DirectLogit": func() error { _, err := DirectLogit(m, b, 0, 0, []int{1}, nil); return err },
		"DirectLogitFromResult": func() error {
			_, err := DirectLogitFromResult(m, model.Batch{Size: 1, Len: c.MaxPos, Mask: make([]bool, c.MaxPos)}, res, 0, 0, []int{1}, layers)
			return err
		},
		"DecodeNeurons": func() error { _, err := DecodeNeurons(m, DecodeOptions{K: 2}); return err },
		"Decode":        func() error { _, err := Decode(m, DecodeOptions{K: 2, NormWeight: true}, nil, ""); return err },
		"LogitLens":     func() error { _, err := LogitLens(m, []int{0, 1}, LensOptions{}, nil); return err },
		"LensLogits":    func() error { _, err := LensLogits(m, []int{0}, tensor.New(1, 1, c.DModel)); return err },
	}
	for name, call := range calls {
		err := call()
		if err == nil || !strings.Contains(err.Error(), "image classifier") || !strings.Contains(err.Error(), "vit") {
			t.Errorf("%s on a ViT: error %v, want one naming the image classifier", name, err)
		}
	}
}
