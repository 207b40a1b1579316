package attribute

import (
	"fmt"
	"sort"

	"github.com/neuronscope/neuronscope/hooks"
	"github.com/neuronscope/neuronscope/model"
)

// Neuron is one MLP neuron: index Index of blocks.Layer.mlp.hook_post.
type Neuron struct {
	Layer int `json:"layer"`
	Index int `json:"index"`
}

// KNOptions configures KnowledgeNeurons; zero fields take Dai et al.'s values.
type KNOptions struct {
	// IG is the per-prompt, per-layer integrated gradients (Scope is always Target).
	IG IGOptions
	// Layers to search; nil means every layer.
	Layers []int
	// Threshold t: a neuron is coarse for a prompt when its attribution is >= t times the
	// prompt's largest attribution over all searched layers. 0 means 0.2.
	Threshold float64
	// Share p: a coarse neuron is a knowledge neuron when it is coarse for >= p of the
	// prompts. 0 means 0.7.
	Share float64
}

// KNResult lists the knowledge neurons of one fact.
type KNResult struct {
	Neurons []Neuron       // coarse for >= Share of the prompts, by layer then index
	Coarse  [][]Neuron     // each prompt's coarse neurons, by layer then index
	Count   map[Neuron]int // prompts each coarse neuron is coarse for
}

// KnowledgeNeurons finds the knowledge neurons of a fact (Dai et al. 2022): for each prompt
// (paraphrases of one fact, each ending just before the answer), integrated gradients
// attribute the probability of answer at the prompt's last position to every
// blocks.L.mlp.hook_post neuron of the searched layers, scaling that position only; neurons
// with attribution >= Threshold·(the prompt's maximum) are the prompt's coarse neurons, and
// those coarse for at least Share of the prompts are kept. (Dai et al. further tune the share
// per relation, by ±0.05, until 2-5 neurons remain per fact; that loop is the caller's.)
func KnowledgeNeurons(m *model.Model, prompts [][]int, answer int, opt KNOptions) (*KNResult, error) {
	if len(prompts) == 0 {
		return nil, fmt.Errorf("knowledge neurons need at least one prompt")
	}
	if opt.Threshold == 0 {
		opt.Threshold = 0.2
	}
	if opt.Share == 0 {
		opt.Share = 0.7
	}
	layers := opt.Layers
	if layers == nil {
		for l := 0; l < m.Config.NLayers; l++ {
			layers = append(layers, l)
		}
	}
	opt.IG.Scope = Target
	res := &KNResult{Count: map[Neuron]int{}}
	for i, p := range prompts {
		coarse, err := coarseNeurons(m, p, answer, layers, opt)
		if err != nil {
			return nil, fmt.Errorf("prompt %d: %w", i, err)
		}
		res.Coarse = append(res.Coarse, coarse)
		for _, n := range coarse {
			res.Count[n]++
		}
	}
	for n, c := range res.Count {
		if float64(c) >= opt.Share*float64(len(prompts)) {
			res.Neurons = append(res.Neurons, n)
		}
	}
	sortNeurons(res.Neurons)
	return res, nil
}

// coarseNeurons runs one prompt's integrated gradients over the layers (one clean pass).
func coarseNeurons(m *model.Model, prompt []int, answer int, layers []int, opt KNOptions) ([]Neuron, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	var points []hooks.Point
	for _, l := range layers {
		points = append(points, hooks.At(l, hooks.MLPPost))
	}
	cl, err := runClean(m, prompt, points, model.Prob(0, len(prompt)-1, answer))
	if err != nil {
		return nil, err
	}
	attrs := make([][]float32, len(points))
	var top float32
	for i, p := range points {
		r, err := cl.integrate(p, opt.IG)
		if err != nil {
			return nil, err
		}
		attrs[i] = r.Attributions.Data
		for _, v := range attrs[i] {
			top = max(top, v)
		}
	}
	var out []Neuron
	if top <= 0 {
		return out, nil
	}
	for i, a := range attrs {
		for j, v := range a {
			if float64(v) >= opt.Threshold*float64(top) {
				out = append(out, Neuron{layers[i], j})
			}
		}
	}
	sortNeurons(out)
	return out, nil
}

func sortNeurons(ns []Neuron) {
	sort.Slice(ns, func(i, j int) bool {
		if ns[i].Layer != ns[j].Layer {
			return ns[i].Layer < ns[j].Layer
		}
		return ns[i].Index < ns[j].Index
	})
}
