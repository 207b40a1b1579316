package ablate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
	"github.com/neuronscope/neuronscope/model/corpus"
	"github.com/neuronscope/neuronscope/model/tensor"
)

// LabelledImages are the items of an image classifier's selectivity check: the images' pixel
// values [n, channels, size, size], each image's class (the answer the accuracy reads) and its
// labels (the group key's value among them, e.g. "class").
type LabelledImages struct {
	Pixels  *tensor.Tensor
	Classes []int
	Labels  []map[string]string
	IDs     []string
}

// SelectivityImages is Selectivity for an image classifier (ViT): the neurons are ablated at
// every token of every image (CLS and patches; Mode Mean uses each unit's mean over every token
// of every image in the unablated model), and accuracy is classification accuracy, the
// predicted class (argmax of the class logits) against each image's class, per group of
// opt.Key. Random sets, drops, selectivity and the verdict are Selectivity's. Images run in
// batches of opt.BatchSize (0: 16).
func SelectivityImages(m *model.Model, imgs *LabelledImages, neurons []hooks.Neuron, opt SelectivityOptions) (*Report, error) {
	opt.defaults()
	c := m.Config
	if !c.ImageModel() {
		return nil, fmt.Errorf("%s is a language model (model_type %s): use Selectivity", m.Dir, c.ModelType)
	}
	n := len(imgs.Classes)
	if s := imgs.Pixels.Shape; len(s) != 4 || s[0] != n || n == 0 || len(imgs.Labels) != n || len(imgs.IDs) != n {
		return nil, fmt.Errorf("labelled images: pixels of shape %v for %d classes, %d label maps and %d ids", s, n, len(imgs.Labels), len(imgs.IDs))
	}
	if opt.Random < 2 {
		return nil, fmt.Errorf("selectivity needs at least 2 random sets for a standard deviation, got %d", opt.Random)
	}
	set := &corpus.PromptSet{Source: "images"}
	for i := range imgs.Classes {
		if k := imgs.Classes[i]; k < 0 || k >= c.DVocab {
			return nil, fmt.Errorf("image %s: class %d outside the model's %d classes", imgs.IDs[i], k, c.DVocab)
		}
		if _, ok := imgs.Labels[i][opt.Key]; !ok {
			return nil, fmt.Errorf("image %s has no label %q", imgs.IDs[i], opt.Key)
		}
		set.Items = append(set.Items, corpus.Prompt{ID: imgs.IDs[i], Labels: imgs.Labels[i], AnswerIDs: []int{imgs.Classes[i]}})
	}
	groups, err := set.Groups(opt.Key)
	if err != nil {
		return nil, err
	}
	if i := sort.SearchStrings(groups, opt.Target); i == len(groups) || groups[i] != opt.Target {
		return nil, fmt.Errorf("no image has %s=%s (the %s groups are %s)", opt.Key, opt.Target, opt.Key, strings.Join(groups, ", "))
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("%s has only one group (%s): selectivity needs others to compare with", opt.Key, opt.Target)
	}
	cat := m.Catalog()
	if err := cat.CheckNeurons(neurons); err != nil {
		return nil, err
	}
	batch := opt.BatchSize
	if batch <= 0 {
		batch = 16
	}
	per := len(imgs.Pixels.Data) / n
	sh := imgs.Pixels.Shape
	// forEach runs the images in batches with opts, calling fn with each batch's first image
	// and result.
	forEach := func(opts []hooks.Option, fn func(lo int, res *model.Result)) error {
		for lo := 0; lo < n; lo += batch {
			hi := min(lo+batch, n)
			px := tensor.From(imgs.Pixels.Data[lo*per:hi*per], hi-lo, sh[1], sh[2], sh[3])
			res, err := m.ForwardImages(px, opts...)
			if err != nil {
				return err
			}
			fn(lo, res)
		}
		return nil
	}
	correct := func(opts []hooks.Option) (*Scores, error) {
		s := &Scores{Correct: make([]bool, n)}
		err := forEach(opts, func(lo int, res *model.Result) {
			for r := 0; r < res.Logits.Shape[0]; r++ {
				s.Correct[lo+r] = model.Argmax(res.Logits.Row(r)) == imgs.Classes[lo+r]
			}
		})
		return s, err
	}
	var means *Means
	if opt.Mode == Mean {
		points, _ := hooks.ByPoint(neurons)
		sums := map[hooks.Point][]float64{}
		var opts []hooks.Option
		for _, p := range points {
			sums[p] = make([]float64, cat.Shape(p)[0])
			opts = append(opts, hooks.ObservePoint(p, func(p hooks.Point, a *tensor.Tensor) error {
				w := len(sums[p])
				for i, v := range a.Data {
					sums[p][i%w] += float64(v)
				}
				return nil
			}))
		}
		if err := forEach(opts, func(int, *model.Result) {}); err != nil {
			return nil, err
		}
		means = &Means{Prompts: n, Positions: n * c.MaxPos, Points: map[hooks.Point][]float32{}}
		for p, s := range sums {
			mv := make([]float32, len(s))
			for i, v := range s {
				mv[i] = float32(v / float64(means.Positions))
			}
			means.Points[p] = mv
		}
	}
	ablation := func(ns []hooks.Neuron) []hooks.Option {
		return Set(ns, func(nn hooks.Neuron) float32 {
			switch opt.Mode {
			case Clamp:
				return opt.Value
			case Mean:
				return means.Points[nn.Point][nn.Index]
			}
			return 0
		})
	}
	base, err := correct(nil)
	if err != nil {
		return nil, err
	}
	run := SetRun{Name: opt.Target, Neurons: neurons, Intervention: fmt.Sprintf("%s ablation of %d neurons at every token of every image", opt.Mode, len(neurons))}
	if run.Claimed, err = correct(ablation(neurons)); err != nil {
		return nil, err
	}
	for k := 0; k < opt.Random; k++ {
		seed := opt.Seed + uint64(k)
		rn := RandomSet(cat, neurons, seed)
		s, err := correct(ablation(rn))
		if err != nil {
			return nil, err
		}
		run.Seeds, run.RandomNeurons, run.Random = append(run.Seeds, seed), append(run.RandomNeurons, rn), append(run.Random, s)
	}
	r := SelectivityOf(set, base, run, opt, means)
	r.Ablation.Positions = "every token (CLS and patches) of every image"
	if means != nil {
		r.Ablation.MeanOver = fmt.Sprintf("every token of the %d images (%d positions), unablated model", n, means.Positions)
	}
	return r, nil
}
