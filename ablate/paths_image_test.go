package ablate

import (
	"math"
	"testing"

	"github.com/neuronscope/neuronscope/attribute"
	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model/modeltest"
	"github.com/neuronscope/neuronscope/model/tensor"
)

const tinyViT = `{"model_type":"vit","num_hidden_layers":2,"hidden_size":16,"intermediate_size":32,"num_attention_heads":2,
	"image_size":16,"patch_size":8,"num_channels":3,"id2label":{"0":"cat","1":"dog","2":"ship"}}`

// TestVerifyPathsImages: path items that are images of a ViT: each run's log-probability of
// the class is that of a plain forward pass with the item's neurons set to 0 (remove) or
// doubled (enhance) at the CLS token; batches of one row give the same scores as one batch;
// VerifyPaths labels every kind with remove and enhance verifications; mixing images and
// prompts, or images on a language model, is an error.
func TestVerifyPathsImages(t *testing.T) {
	m := modeltest.FromConfig(t, tinyViT, 3)
	c := m.Config
	var items []PathItem
	for i := 0; i < 4; i++ {
		px := tensor.New(1, c.Channels, c.ImageSize, c.ImageSize)
		for k := range px.Data {
			px.Data[k] = float32((k*(7+i))%29)/14 - 1
		}
		res, err := attribute.NeuronPathImage(m, px, i%3, attribute.PathOptions{Steps: 4, TopK: 2})
		if err != nil {
			t.Fatal(err)
		}
		it := PathItem{ID: string(rune('a' + i)), Labels: map[string]string{"class": c.Labels[i%3]}, Target: i % 3, Image: px, Paths: map[string][]hooks.Neuron{}}
		for _, g := range res.PathGroups("") {
			it.Paths[g.Name] = hooks.Plain(g.Neurons)
		}
		items = append(items, it)
	}
	kinds := make([]itemKind, len(attribute.PathKinds))
	for k, name := range attribute.PathKinds {
		kinds[k] = itemKind{name: name, of: allItems(len(items)), what: name}
		for _, it := range items {
			kinds[k].lists = append(kinds[k].lists, it.Paths[name])
		}
	}
	base, runs, err := runImageItemEval(m, items, kinds, []float32{0, 2}, 3, 5, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	base1, runs1, err := runImageItemEval(m, items, kinds, []float32{0, 2}, 3, 5, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	edited := func(it PathItem, ns []hooks.Neuron, f float32) float64 {
		var opts []hooks.Option
		for _, n := range ns {
			n := n
			opts = append(opts, hooks.EditPoint(n.Point, func(_ hooks.Point, a *tensor.Tensor) error {
				a.Data[n.Index] *= f // row 0 = CLS
				return nil
			}))
		}
		res, err := m.ForwardImages(it.Image, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return logProb(res.Logits.Row(0), it.Target)
	}
	for i, it := range items {
		if d := math.Abs(base.LogProb[i] - edited(it, nil, 1)); d > 1e-6 {
			t.Errorf("item %d baseline differs by %g", i, d)
		}
		for k, kind := range kinds {
			for f, fac := range []float32{0, 2} {
				r, r1 := runs[k][f], runs1[k][f]
				if d := math.Abs(r.claimed.LogProb[i] - edited(it, kind.lists[i], fac)); d > 1e-5 {
					t.Errorf("item %d %s ×%g: log-prob differs from the edited forward by %g", i, kind.name, fac, d)
				}
				for j := range r.random {
					if math.Abs(r.random[j].LogProb[i]-r1.random[j].LogProb[i]) > 1e-5 || r.random[j].Correct[i] != r1.random[j].Correct[i] {
						t.Errorf("item %d %s random %d: batches of 1 and of all differ", i, kind.name, j)
					}
				}
			}
		}
		if base.Correct[i] != base1.Correct[i] {
			t.Errorf("item %d: baseline top-1 differs between batchings", i)
		}
	}
	lf, err := VerifyPaths(m, items, PathVerifyOptions{Random: 3, Resamples: 50, Permutations: 20, Compare: []string{"class"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lf.Labels) != 3 || len(lf.Labels[0].Verifications) != 2 || len(lf.ItemEffects) != 1 || lf.ItemEffects[0].Positions != "each image's CLS token" ||
		len(lf.ItemEffects[0].Similarity) != 1 {
		t.Fatalf("labels %d, verifications %d, table %+v", len(lf.Labels), len(lf.Labels[0].Verifications), lf.ItemEffects)
	}
	if got, want := lf.ItemEffects[0].Rows[0].Before, meanProb(base, allItems(4)); math.Abs(got-want) > 1e-12 {
		t.Errorf("table's P before %g, baseline %g", got, want)
	}
	mixed := append([]PathItem{{ID: "p", Prompt: []int{1, 2}, Target: 1, Paths: items[0].Paths}}, items...)
	if _, err := VerifyPaths(m, mixed, PathVerifyOptions{Random: 2}); err == nil {
		t.Error("mixed items: no error")
	}
	if _, err := VerifyPaths(modeltest.Tiny(t, "llama", 1), items, PathVerifyOptions{Random: 2}); err == nil {
		t.Error("images on a language model: no error")
	}
}

// TestSelectivityImages: on a tiny ViT whose images are labelled with their predicted class
// (baseline accuracy 1), the claimed set's per-group accuracy after zero ablation is that of a
// plain forward with the neurons set to 0 at every token; mean ablation uses each unit's mean
// over every token of every image; the report has the random sets and a verdict; bad input is
// an error.
func TestSelectivityImages(t *testing.T) {
	m := modeltest.FromConfig(t, tinyViT, 3)
	c := m.Config
	n := 9
	px := tensor.New(n, c.Channels, c.ImageSize, c.ImageSize)
	for k := range px.Data {
		px.Data[k] = float32((k*31+k/97)%53)/26 - 1
	}
	clean, err := m.ForwardImages(px, hooks.Capture("blocks.*.mlp.hook_post"))
	if err != nil {
		t.Fatal(err)
	}
	imgs := &LabelledImages{Pixels: px}
	for i := 0; i < n; i++ {
		row := clean.Logits.Row(i)
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		imgs.Classes = append(imgs.Classes, best)
		imgs.Labels = append(imgs.Labels, map[string]string{"class": c.Labels[best], "half": []string{"a", "b"}[i%2]})
		imgs.IDs = append(imgs.IDs, string(rune('a'+i)))
	}
	var neurons []hooks.Neuron
	for j := 0; j < 12; j++ {
		neurons = append(neurons, hooks.NeuronAt(1, hooks.MLPPost, 2*j), hooks.NeuronAt(0, hooks.MLPPost, 2*j+1))
	}
	ablated := func(val func(hooks.Neuron) float32) []bool {
		res, err := m.ForwardImages(px, Set(neurons, val)...)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]bool, n)
		for i := range out {
			row := res.Logits.Row(i)
			best := 0
			for k, v := range row {
				if v > row[best] {
					best = k
				}
			}
			out[i] = best == imgs.Classes[i]
		}
		return out
	}
	mean := func(nn hooks.Neuron) float32 {
		a, _ := clean.Cache.Get(nn.Point)
		var s float64
		rows := len(a.Data) / c.DMLP
		for r := 0; r < rows; r++ {
			s += float64(a.Data[r*c.DMLP+nn.Index])
		}
		return float32(s / float64(rows))
	}
	changed := false
	for _, mode := range []Mode{Zero, Mean, Clamp} {
		val := func(hooks.Neuron) float32 { return 0 }
		switch mode {
		case Mean:
			val = mean
		case Clamp:
			val = func(hooks.Neuron) float32 { return 3 }
		}
		want := ablated(val)
		rep, err := SelectivityImages(m, imgs, neurons, SelectivityOptions{Key: "half", Target: "a", Mode: mode, Value: 3, Random: 3, BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		if rep.BaselineAccuracy != 1 || len(rep.Random.Sets) != 3 || rep.Verdict == "" {
			t.Fatalf("%v: baseline %g, %d random sets, verdict %q", mode, rep.BaselineAccuracy, len(rep.Random.Sets), rep.Verdict)
		}
		for _, g := range rep.Claimed.Groups {
			var ok, cnt int
			for i := range want {
				if imgs.Labels[i]["half"] == g.Group {
					cnt++
					if want[i] {
						ok++
					}
				}
			}
			changed = changed || ok < cnt
			if g.N != cnt || math.Abs(g.Ablated-float64(ok)/float64(cnt)) > 1e-12 {
				t.Errorf("%v group %s: ablated accuracy %g of %d, by hand %d/%d", mode, g.Group, g.Ablated, g.N, ok, cnt)
			}
		}
	}
	if !changed {
		t.Error("no ablation changed any prediction: nothing checked")
	}
	for name, o := range map[string]SelectivityOptions{
		"target": {Key: "half", Target: "c", Random: 2},
		"key":    {Key: "colour", Target: "a", Random: 2},
		"random": {Key: "half", Target: "a", Random: 1},
	} {
		if _, err := SelectivityImages(m, imgs, neurons, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := SelectivityImages(m, imgs, []hooks.Neuron{hooks.NeuronAt(0, hooks.MLPPost, c.DMLP)}, SelectivityOptions{Key: "half", Target: "a", Random: 2}); err == nil {
		t.Error("neuron out of range: no error")
	}
}
