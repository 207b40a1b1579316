package attribute

import (
	"testing"
	"time"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// vitTiny is a ViT-Ti/16-shaped image classifier (12 layers, d_model 192, d_mlp 768, 3 heads,
// 224×224 images in 16×16 patches: 197 tokens), random weights, 10 classes.
const vitTiny = `{"model_type":"vit","num_hidden_layers":12,"hidden_size":192,"intermediate_size":768,"num_attention_heads":3,
	"image_size":224,"patch_size":16,"num_channels":3,"num_labels":10}`

// BenchmarkNeuronPathImage: NeuronPath on one image of a ViT-Ti/16-shaped model (m = 20):
// L + 2 batched passes of m rows of the whole image (attention is bidirectional, so no row
// can be cut to one token as for a causal prompt). s/image is the time per image; Lm-equiv is
// that time over L·m single forward+backward passes of the image (GradientImages of the class
// probability at every layer's hook_post).
func BenchmarkNeuronPathImage(b *testing.B) {
	m := modeltest.FromConfig(b, vitTiny, 1)
	c := m.Config
	px := tensor.New(1, c.Channels, c.ImageSize, c.ImageSize)
	for i := range px.Data {
		px.Data[i] = float32((i*37)%101)/50 - 1
	}
	L, steps := c.NLayers, 20
	var pts []hooks.Point
	for l := 0; l < L; l++ {
		pts = append(pts, hooks.At(l, hooks.MLPPost))
	}
	single := func() time.Duration {
		t0 := time.Now()
		for i := 0; i < 3; i++ {
			if _, err := m.GradientImages(px, model.Prob(0, CLS, 3), pts); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0) / 3
	}
	single()
	one := min(single(), single())
	b.Logf("one forward+backward of the image: %v; L·m = %d of them: %v", one, L*steps, one*time.Duration(L*steps))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NeuronPathImage(m, px, 3, PathOptions{Steps: steps}); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/image")
	b.ReportMetric(per.Seconds()/(one.Seconds()*float64(L*steps)), "Lm-equiv")
}
