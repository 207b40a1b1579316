package model

import (
	"strings"
	"testing"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// TestGradientImagesFrom: starting an image batch at a layer's cached residual stream gives
// the value and the gradients of the full pass from the pixels at that layer and above; bad
// starts and ForwardFrom on an image model are errors, not panics.
func TestGradientImagesFrom(t *testing.T) {
	cfg, err := ParseConfig([]byte(tinyViT), "vit/config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	px := tensor.New(2, 3, 32, 32)
	for i := range px.Data {
		px.Data[i] = float32((i*37)%101)/50 - 1
	}
	metric := Prob(AllRows, 0, 1)
	wrt := []hooks.Point{hooks.At(1, hooks.MLPPost), hooks.At(1, hooks.ResidPre)}
	full, err := m.GradientImages(px, metric, wrt, hooks.CapturePoints(hooks.At(1, hooks.ResidPre)))
	if err != nil {
		t.Fatal(err)
	}
	resid, _ := full.Acts.Get(hooks.At(1, hooks.ResidPre))
	from, err := m.GradientImagesFrom(Start{Layer: 1, Resid: resid}, metric, wrt)
	if err != nil {
		t.Fatal(err)
	}
	if d := from.Value - full.Value; d > 1e-6 || d < -1e-6 {
		t.Errorf("value %g from layer 1, %g from the pixels", from.Value, full.Value)
	}
	for _, p := range wrt {
		if d := maxDiff(from.Grads[p].Data, full.Grads[p].Data); d > 1e-6 {
			t.Errorf("%v: gradients differ by %g", p, d)
		}
	}
	for name, call := range map[string]func() error{
		"no resid": func() error { _, err := m.GradientImagesFrom(Start{Layer: 1}, metric, wrt); return err },
		"wrong shape": func() error {
			_, err := m.GradientImagesFrom(Start{Layer: 1, Resid: tensor.New(1, 3, 32)}, metric, wrt)
			return err
		},
		"kv": func() error {
			_, err := m.GradientImagesFrom(Start{Layer: 1, Resid: resid, KV: m.NewKVCache(2, cfg.MaxPos)}, metric, wrt)
			return err
		},
		"position": func() error {
			_, err := m.GradientImagesFrom(Start{Layer: 1, Resid: resid}, Prob(0, 2, 1), wrt)
			return err
		},
		"below start": func() error {
			_, err := m.GradientImagesFrom(Start{Layer: 1, Resid: resid}, metric, []hooks.Point{hooks.At(0, hooks.MLPPost)})
			return err
		},
		"ForwardFrom": func() error {
			_, err := m.ForwardFrom(Start{Layer: 1, Resid: resid}, Batch{Size: 2, Len: cfg.MaxPos})
			return err
		},
		"language": func() error {
			_, err := tinyModels(t)["llama"].GradientImagesFrom(Start{Layer: 1, Resid: resid}, metric, wrt)
			return err
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "ForwardFrom" && !strings.Contains(err.Error(), "image classifier") {
			t.Errorf("ForwardFrom on a ViT: %v", err)
		}
	}
}
